//! `face.detect_ahead` reaches the face session: `studio-server bench video`, a real process
//! running the server's own session on the stand-in models, reports whether its session
//! detected ahead and how much of the detector's time it spent on its own thread.

use std::path::Path;
use std::process::Command;

/// The bench's JSON with the user config `config` (none when `None`) and `extra` flags.
fn bench(dir: &Path, config: Option<&str>, extra: &[&str]) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-server"));
    command.args([
        "bench",
        "video",
        "--backend",
        "tract",
        "--frames",
        "8",
        "--json",
    ]);
    command.args(extra).env_remove("STUDIO_CONFIG");
    command.env("STUDIO_CACHE_DIR", dir.join("cache"));
    if let Some(text) = config {
        let path = dir.join("config.json");
        std::fs::write(&path, text).unwrap();
        command.arg("--config").arg(path);
    }
    let out = command.output().expect("run studio-server bench video");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().last().expect("a JSON line");
    serde_json::from_str(last).expect("the bench's JSON")
}

fn overlapped_ms(report: &serde_json::Value) -> f64 {
    report["detect_overlapped_ms"]
        .as_f64()
        .expect("detect_overlapped_ms")
}

#[test]
fn the_config_turns_detection_ahead_on_by_default_and_off_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let on = bench(dir.path(), None, &[]);
    assert_eq!(on["detect_ahead"], true);
    assert!(
        overlapped_ms(&on) > 0.0,
        "no detection ran on the worker: {on}"
    );

    let off = bench(
        dir.path(),
        Some(r#"{"face": {"detect_ahead": false}}"#),
        &[],
    );
    assert_eq!(off["detect_ahead"], false);
    assert_eq!(overlapped_ms(&off), 0.0);

    // The flag wins over the config.
    let flag = bench(
        dir.path(),
        Some(r#"{"face": {"detect_ahead": false}}"#),
        &["--detect-ahead", "on"],
    );
    assert_eq!(flag["detect_ahead"], true);
    assert!(overlapped_ms(&flag) > 0.0);
}
