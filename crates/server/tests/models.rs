//! A real `studio-server` fetching its role's models from a loopback file server at start:
//! health answers at once, and the event stream shows the download rising to `ready`.

mod common;
#[path = "../../models/tests/support/file_server.rs"]
mod file_server;

use common::Server;

use file_server::FileServer;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::time::Duration;
use studio_proto::api::{ModelState, ModelStatus, ServerStatus};

const TOKEN: &str = "test-token-models-0123456789";

fn start(role: &str, config: &std::path::Path, cache: &std::path::Path) -> Server {
    let mut command = common::command(&["--role", role, "--port", "0", "--config"], TOKEN);
    command
        .arg(config)
        .env("STUDIO_CACHE_DIR", cache)
        .env_remove("ORT_DYLIB_PATH");
    common::spawn(command)
}

/// Deterministic bytes that do not compress or repeat.
fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn the_event_stream_shows_a_required_model_rising_to_ready() {
    const LEN: usize = 2 * 1024 * 1024;
    let files = FileServer::start().await;
    let body = data(LEN);
    let sha: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // About a second end to end, so several progress events go out.
    files.serve_slowly(
        "swapper.onnx",
        body.clone(),
        32 * 1024,
        Duration::from_millis(15),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let cache = dir.path().join("cache");
    let user = serde_json::json!({"models": {
        "swapper": {
            "role": "video", "required": true, "file": "swapper.onnx",
            "urls": [files.url("missing.onnx"), files.url("swapper.onnx")],
            "sha256": sha, "bytes": LEN, "license": "test"
        },
        "voice": {
            "role": "audio", "required": true, "file": "voice.onnx",
            "urls": [files.url("voice.onnx")], "sha256": null, "bytes": null, "license": "test"
        }
    }});
    std::fs::write(&config, user.to_string()).unwrap();

    let server = start("video", &config, &cache);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/v1/health", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let early: ServerStatus = common::get_json(&http, &server.url, "/v1/status", TOKEN).await;
    assert_eq!(early.models.len(), 1, "listed from the start: {early:?}");
    assert_ne!(
        early.models[0].state,
        ModelState::Ready,
        "the server answers while the model is still on its way"
    );

    let events = http
        .get(format!("{}/v1/events", server.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    let mut buffer = String::new();
    let mut seen: Vec<ModelStatus> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    'events: while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let status: ServerStatus = serde_json::from_str(data.trim()).unwrap();
            assert!(
                status.models.iter().all(|m| m.id == "swapper"),
                "a video server fetches only video models: {:?}",
                status.models
            );
            if let Some(model) = status.models.into_iter().next() {
                let done = model.state == ModelState::Ready;
                seen.push(model);
                if done {
                    break 'events;
                }
            }
        }
    }

    let last = seen.last().expect("model status events");
    assert_eq!(last.state, ModelState::Ready, "{seen:#?}");
    assert_eq!(last.bytes_done, LEN as u64);
    assert_eq!(last.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(last.trust.as_deref(), Some("pinned"));
    let progress: Vec<u64> = seen
        .iter()
        .filter(|m| m.state == ModelState::Downloading)
        .map(|m| m.bytes_done)
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only rises: {progress:?}"
    );
    let distinct_partial = {
        let mut p: Vec<u64> = progress
            .iter()
            .copied()
            .filter(|&b| b > 0 && b < LEN as u64)
            .collect();
        p.dedup();
        p
    };
    assert!(
        distinct_partial.len() >= 2,
        "several progress steps between 0 and the end: {progress:?}"
    );
    assert!(
        seen.iter().any(|m| m.state == ModelState::Downloading
            && m.bytes_total == Some(LEN as u64)
            && m.rate_bytes_per_s.is_some_and(|r| r > 0.0)
            && m.eta_s.is_some()),
        "progress carries rate and ETA: {seen:#?}"
    );
    assert_eq!(
        std::fs::read(cache.join("models/swapper.onnx")).unwrap(),
        body
    );

    let status: ServerStatus = common::get_json(&http, &server.url, "/v1/status", TOKEN).await;
    assert_eq!(status.models.len(), 1);
    assert_eq!(status.models[0].state, ModelState::Ready);
    assert!(files.requests("voice.onnx").is_empty());
}

async fn model_status(http: &reqwest::Client, server: &Server, id: &str) -> Option<ModelStatus> {
    let status: ServerStatus = common::get_json(http, &server.url, "/v1/status", TOKEN).await;
    status.models.into_iter().find(|m| m.id == id)
}

/// Polls status until `done` holds for the model, or fails after 20 s.
async fn wait_for(
    http: &reqwest::Client,
    server: &Server,
    id: &str,
    done: impl Fn(&ModelStatus) -> bool,
) -> ModelStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = model_status(http, server, id).await
            && done(&status)
        {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{id} never got there");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_optional_model_is_fetched_on_request_cancelled_and_resumed() {
    const LEN: usize = 1024 * 1024;
    let files = FileServer::start().await;
    let body = data(LEN);
    files.serve_slowly(
        "extra.onnx",
        body.clone(),
        16 * 1024,
        Duration::from_millis(20),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let cache = dir.path().join("cache");
    let user = serde_json::json!({"models": {
        "extra": {
            "role": "video", "required": false, "file": "extra.onnx",
            "urls": [files.url("extra.onnx")], "sha256": null, "bytes": LEN, "license": "test"
        },
        "voice": {
            "role": "audio", "required": false, "file": "voice.onnx",
            "urls": [files.url("voice.onnx")], "sha256": null, "bytes": null, "license": "test"
        }
    }});
    std::fs::write(&config, user.to_string()).unwrap();
    let server = start("video", &config, &cache);
    let http = reqwest::Client::new();
    let url = |id: &str| format!("{}/v1/models/{id}", server.url);

    assert!(
        model_status(&http, &server, "extra").await.is_none(),
        "not fetched at start"
    );
    let other_role = http
        .post(url("voice"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(other_role.status(), 404);
    let no_token = http.post(url("extra")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let idle = http
        .delete(url("extra"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(idle.status(), 409, "nothing to cancel yet");

    let asked = http
        .post(url("extra"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    wait_for(&http, &server, "extra", |m| m.bytes_done > 0).await;
    let cancel = http
        .delete(url("extra"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    let cancelled = wait_for(&http, &server, "extra", |m| m.state == ModelState::Failed).await;
    assert_eq!(cancelled.error.as_deref(), Some("extra: cancelled"));
    assert!(cancelled.bytes_done > 0 && cancelled.bytes_done < LEN as u64);

    files.serve("extra.onnx", body.clone());
    let again = http
        .post(url("extra"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    let ready = wait_for(&http, &server, "extra", |m| m.state == ModelState::Ready).await;
    assert_eq!(ready.trust.as_deref(), Some("first_use"));
    let ranges = files.requests("extra.onnx");
    assert_eq!(ranges.len(), 2);
    assert!(
        ranges[1].as_deref().is_some_and(|r| r != "bytes=0-"),
        "{ranges:?}"
    );
    assert_eq!(
        std::fs::read(cache.join("models/extra.onnx")).unwrap(),
        body
    );
    let done = http
        .post(url("extra"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200, "already ready");
}

/// A zip shaped like the `onnxruntime` wheel.
fn wheel(library: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in [
        ("onnxruntime/__init__.py", b"# runtime\n".as_slice()),
        ("onnxruntime/capi/libonnxruntime.so.1.99.0", library),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

#[tokio::test]
async fn an_ort_server_without_a_runtime_fetches_it_from_the_wheel() {
    let files = FileServer::start().await;
    let library = data(200_000);
    let wheel = wheel(&library);
    let sha: String = Sha256::digest(&wheel)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    files.serve("ort.whl", wheel.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let cache = dir.path().join("cache");
    // Replaces the default entry for this platform (same id), so nothing leaves loopback.
    let platform = studio_proto::config::this_platform();
    let id = format!("onnxruntime-{platform}");
    let user = serde_json::json!({
        "servers": {"audio": {"backend": "ort"}},
        "models": {
            id.clone(): {
                "role": "any", "required": false, "kind": "onnxruntime",
                "file": "libonnxruntime.so", "urls": [files.url("ort.whl")],
                "sha256": sha, "bytes": wheel.len(), "license": "MIT",
                "archive_member": "onnxruntime/capi/libonnxruntime.so.*",
                "platform": platform
            }
        }
    });
    std::fs::write(&config, user.to_string()).unwrap();
    let http = reqwest::Client::new();

    // The video server's backend is `auto`: it leaves the runtime alone.
    let video = start("video", &config, &cache);
    assert!(model_status(&http, &video, &id).await.is_none());

    let audio = start("audio", &config, &cache);
    let ready = wait_for(&http, &audio, &id, |m| m.state == ModelState::Ready).await;
    assert_eq!(ready.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(
        std::fs::read(cache.join("models/libonnxruntime.so")).unwrap(),
        library
    );
    drop(audio);

    // With an installed runtime named by ORT_DYLIB_PATH, nothing is fetched.
    let installed = dir.path().join("libonnxruntime.so.installed");
    std::fs::write(&installed, b"installed").unwrap();
    let other_cache = dir.path().join("other-cache");
    let mut command = common::command(&["--role", "audio", "--port", "0", "--config"], TOKEN);
    command
        .arg(&config)
        .env("STUDIO_CACHE_DIR", &other_cache)
        .env("ORT_DYLIB_PATH", &installed);
    let with_runtime = common::spawn(command);
    assert!(model_status(&http, &with_runtime, &id).await.is_none());
    assert_eq!(files.requests("ort.whl").len(), 1);
}
