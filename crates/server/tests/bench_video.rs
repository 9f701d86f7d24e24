//! What `studio-server bench video`, a real process running the server's own session on the
//! stand-in models, reports of that session: whether `face.detect_ahead` reached it (and how
//! much of the detector's time it spent on its own thread), and where the detector's and the
//! swapper's bound inputs and outputs live.

use std::path::Path;
use std::process::Command;

/// The bench's JSON on tract with the user config `config` (none when `None`) and `extra`
/// flags.
fn bench(dir: &Path, config: Option<&str>, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--backend", "tract", "--frames", "8"];
    args.extend_from_slice(extra);
    bench_with(dir, config, &args)
}

/// The JSON of `studio-server bench video` with `args` and the user config `config`.
fn bench_with(dir: &Path, config: Option<&str>, args: &[&str]) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_studio-server"));
    command.args(["bench", "video", "--json"]).args(args);
    command.env_remove("STUDIO_CONFIG");
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

/// The bench says where the bound buffers are; CUDA graphs asked for where there is no CUDA
/// provider are refused with the reason, and the run goes on bound in host memory.
#[test]
fn the_bench_says_where_the_bound_buffers_live() {
    let dir = tempfile::tempdir().unwrap();
    let report = bench(dir.path(), None, &[]);
    let bound = report["bound_io"].as_str().expect("bound_io");
    assert!(
        bound.starts_with("detector: host memory") && bound.contains("; swapper: host memory"),
        "{bound}"
    );
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("ORT_DYLIB_PATH not set: the ort backend is not exercised here");
        return;
    }
    let args = [
        "--backend",
        "ort",
        "--device",
        "cpu",
        "--frames",
        "4",
        "--cuda-graphs",
    ];
    let report = bench_with(dir.path(), None, &args);
    let bound = report["bound_io"].as_str().expect("bound_io");
    assert_eq!(
        bound.matches("CUDA graphs not used").count(),
        2,
        "both models say why: {bound}"
    );
    assert!(report["fps"].as_f64().is_some_and(|f| f > 0.0), "{report}");
}
