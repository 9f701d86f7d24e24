//! The model manager against a real HTTP server on loopback with injected faults: what lands
//! in the cache, what the server had to send, and what the status said along the way.

mod support;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use studio_models::cache::hex;
use studio_models::{
    Cached, ManagerOptions, ModelError, ModelManager, RetryPolicy, StatusSink, Verified,
};
use studio_proto::Role;
use studio_proto::api::{ModelState, ModelStatus};
use studio_proto::config::{ModelEntry, ModelKind, ModelRole};
use support::file_server::{Fault, FileServer, refused_url};

/// Every status report, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<ModelStatus>>);

impl StatusSink for Recorder {
    fn model_status(&self, status: ModelStatus) {
        self.0.lock().unwrap().push(status);
    }
}

impl Recorder {
    fn states(&self, id: &str) -> Vec<&'static str> {
        let mut states: Vec<&'static str> = Vec::new();
        for s in self.0.lock().unwrap().iter().filter(|s| s.id == id) {
            if states.last() != Some(&s.state.as_str()) {
                states.push(s.state.as_str());
            }
        }
        states
    }

    fn last(&self, id: &str) -> ModelStatus {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.id == id)
            .cloned()
            .expect("a status was reported")
    }
}

/// Deterministic bytes that do not compress or repeat.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn entry(urls: Vec<String>, sha256: Option<String>, bytes: Option<u64>) -> ModelEntry {
    ModelEntry {
        role: ModelRole::Only(Role::Video),
        required: true,
        kind: ModelKind::Model,
        file: "model.onnx".to_owned(),
        urls,
        sha256,
        bytes,
        license: "MIT".to_owned(),
        archive_member: None,
        platform: None,
    }
}

fn options(cache: &Path) -> ManagerOptions {
    let mut options = ManagerOptions::new(cache.to_owned());
    options.retry = RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_rounds: 3,
    };
    options.progress_every = Duration::from_millis(10);
    options
}

fn manager(cache: &Path, id: &str, entry: ModelEntry) -> (ModelManager, Arc<Recorder>) {
    manager_with(options(cache), id, entry)
}

fn manager_with(
    options: ManagerOptions,
    id: &str,
    entry: ModelEntry,
) -> (ModelManager, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let entries = BTreeMap::from([(id.to_owned(), entry)]);
    let manager = ModelManager::new(entries, options, recorder.clone()).expect("manager");
    (manager, recorder)
}

/// File names in the cache's models folder, bookkeeping (locks, pins) left out.
fn cached_files(cache: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(cache.join("models")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != ".locks" && n != "pins.json")
        .collect();
    names.sort();
    names
}

const LEN: usize = 256 * 1024;

#[tokio::test]
async fn a_full_download_lands_verified_in_the_cache() {
    let server = FileServer::start().await;
    let body = data(LEN, 1);
    server.serve("m.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let e = entry(
        vec![server.url("m.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, status) = manager(cache.path(), "m", e);

    let path = models.ensure("m").await.expect("downloaded");
    assert_eq!(path, cache.path().join("models/model.onnx"));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(
        cached_files(cache.path()),
        ["model.onnx"],
        "no partial file left"
    );
    assert_eq!(server.bytes_sent("m.onnx"), LEN as u64);
    assert_eq!(
        status.states("m"),
        ["pending", "downloading", "verifying", "ready"]
    );
    let last = status.last("m");
    assert_eq!(last.bytes_done, LEN as u64);
    assert_eq!(last.bytes_total, Some(LEN as u64));
    assert_eq!(last.sha256, Some(sha256(&body)));
    assert_eq!(last.trust.as_deref(), Some("pinned"));
    assert_eq!(last.error, None);

    // Asking again is answered at once; a new manager verifies the cached copy, no request.
    assert_eq!(models.ensure("m").await.expect("ready"), path);
    let e = entry(vec![server.url("m.onnx")], Some(sha256(&body)), None);
    let (again, status) = manager(cache.path(), "m", e);
    assert_eq!(again.ensure("m").await.expect("cached"), path);
    assert_eq!(server.requests("m.onnx").len(), 1);
    assert_eq!(status.states("m"), ["pending", "verifying", "ready"]);
}

#[tokio::test]
async fn a_cut_connection_resumes_where_it_broke() {
    let server = FileServer::start().await;
    let body = data(LEN, 2);
    server.serve("m.onnx", body.clone());
    server.fail_next("m.onnx", Fault::CutAfter(LEN as u64 / 2));
    let cache = tempfile::tempdir().unwrap();
    let e = entry(
        vec![server.url("m.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, _) = manager(cache.path(), "m", e);

    let path = models.ensure("m").await.expect("downloaded after the cut");
    assert_eq!(std::fs::read(path).unwrap(), body);
    let requests = server.requests("m.onnx");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0], None);
    let resumed_from: u64 = requests[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the second request resumes with a Range: {requests:?}"));
    assert!(resumed_from > 0, "{requests:?}");
    let sent = server.bytes_sent("m.onnx");
    assert!(
        (sent as f64) < 1.5 * LEN as f64,
        "{sent} bytes sent for a {LEN}-byte file"
    );
}

#[tokio::test]
async fn a_partial_file_left_by_an_earlier_run_is_resumed() {
    let server = FileServer::start().await;
    let body = data(LEN, 3);
    server.serve("m.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cache.path().join("models")).unwrap();
    std::fs::write(
        cache.path().join("models/model.onnx.part"),
        &body[..LEN / 4],
    )
    .unwrap();
    let e = entry(
        vec![server.url("m.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, _) = manager(cache.path(), "m", e);
    assert_eq!(models.cached("m").unwrap(), Cached::Partial(LEN as u64 / 4));
    let path = models.ensure("m").await.expect("downloaded");
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(
        server.requests("m.onnx"),
        [Some(format!("bytes={}-", LEN / 4))]
    );
    assert_eq!(server.bytes_sent("m.onnx"), (LEN - LEN / 4) as u64);
}

#[tokio::test]
async fn a_complete_partial_file_is_verified_without_a_request() {
    let server = FileServer::start().await;
    let body = data(LEN, 15);
    server.serve("m.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cache.path().join("models")).unwrap();
    std::fs::write(cache.path().join("models/model.onnx.part"), &body).unwrap();
    let e = entry(
        vec![server.url("m.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, status) = manager(cache.path(), "m", e);
    let path = models.ensure("m").await.expect("verified");
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert!(server.requests("m.onnx").is_empty());
    assert_eq!(status.last("m").state, ModelState::Ready);
}

#[tokio::test]
async fn a_corrupt_file_fails_and_nothing_is_kept() {
    let server = FileServer::start().await;
    let body = data(LEN, 4);
    server.serve("m.onnx", body);
    let cache = tempfile::tempdir().unwrap();
    let wanted = sha256(&data(LEN, 5));
    let e = entry(vec![server.url("m.onnx")], Some(wanted.clone()), None);
    let (models, status) = manager(cache.path(), "m", e);

    let err = models.ensure("m").await.expect_err("the checksum differs");
    assert!(matches!(err, ModelError::Checksum { .. }), "{err:?}");
    assert!(err.to_string().contains(&wanted), "{err}");
    assert_eq!(cached_files(cache.path()), Vec::<String>::new());
    let last = status.last("m");
    assert_eq!(last.state, ModelState::Failed);
    assert!(
        last.error
            .as_deref()
            .unwrap_or_default()
            .contains("SHA-256"),
        "{last:?}"
    );
    assert_eq!(models.cached("m").unwrap(), Cached::Missing);
}

async fn falls_back_after(fault_url: impl Fn(&FileServer) -> String) {
    let server = FileServer::start().await;
    let body = data(LEN, 6);
    server.serve("good.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let e = entry(
        vec![fault_url(&server), server.url("good.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, status) = manager(cache.path(), "m", e);
    let path = models.ensure("m").await.expect("the second mirror works");
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(server.requests("good.onnx").len(), 1);
    assert_eq!(status.last("m").state, ModelState::Ready);
}

#[tokio::test]
async fn a_mirror_answering_404_falls_back_to_the_next() {
    falls_back_after(|server| server.url("missing.onnx")).await;
}

#[tokio::test]
async fn a_mirror_answering_500_falls_back_to_the_next() {
    falls_back_after(|server| {
        server.serve("broken.onnx", data(LEN, 6));
        server.fail_next("broken.onnx", Fault::Status(500));
        server.url("broken.onnx")
    })
    .await;
}

#[tokio::test]
async fn a_refused_connection_falls_back_to_the_next_mirror() {
    falls_back_after(|_| refused_url()).await;
}

#[tokio::test]
async fn when_every_mirror_fails_the_error_says_what_each_answered() {
    let server = FileServer::start().await;
    server.serve("flaky.onnx", data(LEN, 7));
    for _ in 0..10 {
        server.fail_next("flaky.onnx", Fault::Status(503));
    }
    let cache = tempfile::tempdir().unwrap();
    let e = entry(
        vec![server.url("gone.onnx"), server.url("flaky.onnx")],
        None,
        None,
    );
    let (models, status) = manager(cache.path(), "m", e);
    let err = models.ensure("m").await.expect_err("nothing works");
    let text = err.to_string();
    assert!(text.contains("gone.onnx: HTTP 404"), "{text}");
    assert!(text.contains("flaky.onnx: HTTP 503"), "{text}");
    // 404 is final; 503 is retried each round (three rounds).
    assert_eq!(server.requests("gone.onnx").len(), 1);
    assert_eq!(server.requests("flaky.onnx").len(), 3);
    assert_eq!(status.last("m").state, ModelState::Failed);
}

#[tokio::test]
async fn two_requests_for_one_model_share_one_download() {
    let server = FileServer::start().await;
    let body = data(LEN, 8);
    server.serve_slowly("m.onnx", body.clone(), 16 * 1024, Duration::from_millis(5));
    let cache = tempfile::tempdir().unwrap();
    let e = entry(vec![server.url("m.onnx")], Some(sha256(&body)), None);
    let (models, _) = manager(cache.path(), "m", e);
    let other = models.clone();
    let (a, b) = tokio::join!(models.ensure("m"), other.ensure("m"));
    assert_eq!(a.expect("first"), b.expect("second"));
    assert_eq!(server.requests("m.onnx").len(), 1);
    assert_eq!(server.bytes_sent("m.onnx"), LEN as u64);
}

#[tokio::test]
async fn no_free_space_is_a_clear_error_before_any_download() {
    let server = FileServer::start().await;
    let body = data(LEN, 9);
    server.serve("m.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(cache.path());
    opts.free_space = Arc::new(|_| Ok(10_000));

    // Size known from the configuration: refused before asking the server.
    let e = entry(
        vec![server.url("m.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, status) = manager_with(opts.clone(), "m", e);
    let err = models.ensure("m").await.expect_err("the disk is full");
    assert!(matches!(err, ModelError::NoSpace { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("not enough free space")
            && text.contains("262.1 kB")
            && text.contains("10.0 kB"),
        "{text}"
    );
    assert!(server.requests("m.onnx").is_empty());
    assert_eq!(status.last("m").state, ModelState::Failed);
    assert_eq!(status.last("m").error, Some(text));

    // Size learnt from the server: refused before writing anything.
    let e = entry(vec![server.url("m.onnx")], None, None);
    let (models, _) = manager_with(opts, "m", e);
    let err = models.ensure("m").await.expect_err("the disk is full");
    assert!(matches!(err, ModelError::NoSpace { .. }), "{err:?}");
    assert_eq!(cached_files(cache.path()), Vec::<String>::new());
}

#[tokio::test]
async fn cancelling_stops_the_download_and_a_later_fetch_resumes_it() {
    let server = FileServer::start().await;
    let body = data(LEN, 10);
    server.serve_slowly("m.onnx", body.clone(), 8 * 1024, Duration::from_millis(20));
    let cache = tempfile::tempdir().unwrap();
    let e = entry(
        vec![server.url("m.onnx")],
        Some(sha256(&body)),
        Some(LEN as u64),
    );
    let (models, status) = manager(cache.path(), "m", e);
    let task = tokio::spawn({
        let models = models.clone();
        async move { models.ensure("m").await }
    });
    while status.0.lock().unwrap().iter().all(|s| s.bytes_done == 0) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(models.cancel("m"));
    let err = task.await.unwrap().expect_err("cancelled");
    assert_eq!(err, ModelError::Cancelled("m".into()));
    assert_eq!(status.last("m").state, ModelState::Failed);
    assert_eq!(status.last("m").error.as_deref(), Some("m: cancelled"));
    let Cached::Partial(kept) = models.cached("m").unwrap() else {
        panic!("the partial file stays for a resume");
    };
    assert!(kept > 0 && kept < LEN as u64);

    server.serve("m.onnx", body.clone());
    let path = models.ensure("m").await.expect("resumed");
    assert_eq!(std::fs::read(path).unwrap(), body);
    assert_eq!(
        server.requests("m.onnx").last().cloned().flatten(),
        Some(format!("bytes={kept}-"))
    );
}

#[tokio::test]
async fn without_a_checksum_the_first_download_is_pinned() {
    let server = FileServer::start().await;
    let body = data(LEN, 11);
    server.serve("m.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let e = entry(vec![server.url("m.onnx")], None, None);
    let (models, status) = manager(cache.path(), "m", e.clone());
    models.ensure("m").await.expect("downloaded");
    let last = status.last("m");
    assert_eq!(last.trust.as_deref(), Some("first_use"));
    assert_eq!(last.sha256, Some(sha256(&body)));
    assert_eq!(
        models.verify("m").await.unwrap(),
        Verified::Good {
            sha256: sha256(&body),
            trust: studio_models::Trust::FirstUse
        }
    );

    // The mirror now serves something else: it must not replace the pinned file.
    std::fs::remove_file(cache.path().join("models/model.onnx")).unwrap();
    server.serve("m.onnx", data(LEN, 12));
    let (models, _) = manager(cache.path(), "m", e);
    let err = models.ensure("m").await.expect_err("differs from the pin");
    assert!(
        err.to_string().contains("pinned at the first download"),
        "{err}"
    );
    assert_eq!(cached_files(cache.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_damaged_cached_file_is_deleted_by_verify_and_downloaded_again_when_needed() {
    let server = FileServer::start().await;
    let body = data(LEN, 13);
    server.serve("m.onnx", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let e = entry(vec![server.url("m.onnx")], Some(sha256(&body)), None);
    let (models, _) = manager(cache.path(), "m", e.clone());
    let path = models.ensure("m").await.expect("downloaded");

    std::fs::write(&path, b"bit rot").unwrap();
    let (models, _) = manager(cache.path(), "m", e.clone());
    assert!(matches!(
        models.verify("m").await.unwrap(),
        Verified::Deleted { .. }
    ));
    assert!(!path.exists());
    assert_eq!(models.verify("m").await.unwrap(), Verified::Missing);

    std::fs::write(&path, b"bit rot again").unwrap();
    let (models, _) = manager(cache.path(), "m", e);
    models.ensure("m").await.expect("downloaded again");
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(server.requests("m.onnx").len(), 2);

    assert_eq!(models.clear("m").unwrap(), LEN as u64);
    assert_eq!(models.cached("m").unwrap(), Cached::Missing);
}

/// A zip like the `onnxruntime` wheel: the library under `onnxruntime/capi/` among others.
fn wheel(library: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("onnxruntime/__init__.py", b"# runtime\n".as_slice()),
        (
            "onnxruntime/capi/libonnxruntime_providers_shared.so",
            b"shared",
        ),
        ("onnxruntime/capi/libonnxruntime.so.1.99.0", library),
        ("onnxruntime-1.99.0.dist-info/RECORD", b"..."),
    ] {
        zip.start_file(name, deflated).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

#[tokio::test]
async fn the_onnx_runtime_library_is_taken_out_of_its_verified_wheel() {
    let server = FileServer::start().await;
    let library = data(LEN, 14);
    let wheel = wheel(&library);
    server.serve("onnxruntime.whl", wheel.clone());
    server.fail_next("onnxruntime.whl", Fault::CutAfter(wheel.len() as u64 / 3));
    let cache = tempfile::tempdir().unwrap();
    let e = ModelEntry {
        role: ModelRole::Any,
        kind: ModelKind::OnnxRuntime,
        file: "libonnxruntime.so".to_owned(),
        archive_member: Some("onnxruntime/capi/libonnxruntime.so.*".to_owned()),
        ..entry(
            vec![server.url("onnxruntime.whl")],
            Some(sha256(&wheel)),
            Some(wheel.len() as u64),
        )
    };
    let (models, status) = manager(cache.path(), "onnxruntime", e.clone());
    let path = models.ensure("onnxruntime").await.expect("extracted");
    assert_eq!(path, cache.path().join("models/libonnxruntime.so"));
    assert_eq!(std::fs::read(&path).unwrap(), library);
    assert_eq!(cached_files(cache.path()), ["libonnxruntime.so"]);
    assert!((server.bytes_sent("onnxruntime.whl") as f64) < 1.5 * wheel.len() as f64);
    let last = status.last("onnxruntime");
    assert_eq!(last.state, ModelState::Ready);
    assert_eq!(last.sha256, Some(sha256(&wheel)));
    assert_eq!(last.trust.as_deref(), Some("pinned"));

    // Later starts check the library against the record of its verified wheel.
    let (again, status) = manager(cache.path(), "onnxruntime", e.clone());
    assert_eq!(again.ensure("onnxruntime").await.expect("cached"), path);
    assert_eq!(server.requests("onnxruntime.whl").len(), 2);
    assert_eq!(
        status.states("onnxruntime"),
        ["pending", "verifying", "ready"]
    );

    // A wheel without the library is refused, and nothing is kept.
    let empty = tempfile::tempdir().unwrap();
    let other = wheel_without_library();
    server.serve("other.whl", other.clone());
    let e = ModelEntry {
        urls: vec![server.url("other.whl")],
        sha256: Some(sha256(&other)),
        bytes: None,
        ..e
    };
    let (models, _) = manager(empty.path(), "onnxruntime", e);
    let err = models
        .ensure("onnxruntime")
        .await
        .expect_err("no library inside");
    assert!(err.to_string().contains("no member matching"), "{err}");
    assert_eq!(cached_files(empty.path()), Vec::<String>::new());
}

fn wheel_without_library() -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    zip.start_file(
        "onnxruntime/__init__.py",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(b"# no library\n").unwrap();
    zip.finish().unwrap();
    out.into_inner()
}
