//! `studio models list|fetch|verify|clear` against a loopback file server and a temporary
//! cache folder.

#[path = "../../models/tests/support/file_server.rs"]
mod file_server;

use file_server::{Fault, FileServer};
use sha2::{Digest, Sha256};
use std::path::Path;

fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Runs `studio models ARGS` and returns (success, stdout, stderr).
async fn studio_models(config: &Path, cache: &Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_studio"))
        .arg("--config")
        .arg(config)
        .arg("models")
        .args(args)
        .env("STUDIO_CACHE_DIR", cache)
        .output()
        .await
        .expect("run studio");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn fetch_list_verify_and_clear_the_cache() {
    const LEN: usize = 300_000;
    let files = FileServer::start().await;
    let body = data(LEN);
    files.serve("face.onnx", body.clone());
    files.fail_next("face.onnx", Fault::CutAfter(100_000));
    let sha: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let cache = dir.path().join("cache");
    let user = serde_json::json!({"models": {
        "face": {
            "role": "video", "required": true, "file": "face.onnx",
            "urls": [files.url("face.onnx")], "sha256": sha, "bytes": LEN, "license": "MIT"
        },
        "extra": {
            "role": "audio", "required": false, "file": "extra.onnx",
            "urls": [files.url("extra.onnx")], "sha256": null, "bytes": null, "license": "MIT"
        }
    }});
    std::fs::write(&config, user.to_string()).unwrap();

    let (ok, stdout, _) = studio_models(&config, &cache, &["list"]).await;
    assert!(ok);
    assert!(
        stdout.contains("face") && stdout.contains("missing"),
        "{stdout}"
    );
    assert!(stdout.contains("pinned on first download"), "{stdout}");

    // Without ids: the required models only.
    let (ok, stdout, stderr) = studio_models(&config, &cache, &["fetch"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 model(s) ready"), "{stdout}");
    assert!(
        stderr.contains("face: downloading") && stderr.contains("face: ready"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(cache.join("models/face.onnx")).unwrap(), body);
    assert!(files.requests("extra.onnx").is_empty());
    assert!((files.bytes_sent("face.onnx") as f64) < 1.5 * LEN as f64);

    let (ok, stdout, _) = studio_models(&config, &cache, &["list"]).await;
    assert!(ok);
    assert!(stdout.contains("cached (300.0 kB)"), "{stdout}");

    let (ok, stdout, _) = studio_models(&config, &cache, &["verify"]).await;
    assert!(ok);
    assert!(
        stdout.contains(&format!("face: ok (sha256 {sha}, pinned)")),
        "{stdout}"
    );

    std::fs::write(cache.join("models/face.onnx"), b"damaged").unwrap();
    let (ok, stdout, stderr) = studio_models(&config, &cache, &["verify", "face"]).await;
    assert!(!ok, "a mismatch fails the command");
    assert!(stdout.contains("face: MISMATCH"), "{stdout}");
    assert!(stderr.contains("fetch them again"), "{stderr}");
    assert!(!cache.join("models/face.onnx").exists());

    let (ok, _, stderr) = studio_models(&config, &cache, &["fetch", "nope"]).await;
    assert!(!ok);
    assert!(stderr.contains("unknown model \"nope\""), "{stderr}");
    assert!(stderr.contains("extra, face"), "{stderr}");

    let (ok, _, stderr) = studio_models(&config, &cache, &["fetch", "extra"]).await;
    assert!(!ok, "the file server has no extra.onnx");
    assert!(stderr.contains("extra.onnx: HTTP 404"), "{stderr}");

    let (ok, stdout, _) = studio_models(&config, &cache, &["fetch", "face"]).await;
    assert!(ok);
    assert!(stdout.contains("1 model(s) ready"));
    let (ok, stdout, _) = studio_models(&config, &cache, &["clear", "face", "extra"]).await;
    assert!(ok);
    assert!(
        stdout.contains("cleared 2 model(s), 300.0 kB freed"),
        "{stdout}"
    );
    assert!(!cache.join("models/face.onnx").exists());
}
