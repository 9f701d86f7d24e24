//! `studio run --headless --transport webrtc` end to end, over UDP and over ICE-TCP: real
//! `studio` and `studio-server` processes, H.264 and Opus both ways, files out, and a report.

mod common;

use common::studio;
use serde_json::Value;
use std::path::Path;

fn run_webrtc(dir: &Path, ice: &str) -> Value {
    let report = dir.join(format!("report-{ice}.json"));
    let output = studio()
        .args(["run", "--headless", "--transport", "webrtc", "--ice", ice])
        // A smaller picture keeps the codecs' share of two shared CPU cores modest.
        .env("STUDIO_CONFIG", dir.join("small.json"))
        .args(["--seconds", "8", "--report"])
        .arg(&report)
        .output()
        .expect("run studio");
    assert!(
        output.status.success(),
        "studio failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&report).expect("report written"))
        .expect("report is JSON")
}

#[test]
fn headless_runs_over_webrtc_on_udp_and_tcp_keep_frames_audio_and_report_latency() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("small.json"),
        r#"{"video": {"width": 640, "height": 360, "fps": 30}}"#,
    )
    .unwrap();
    for ice in ["udp", "tcp"] {
        let report = run_webrtc(dir.path(), ice);
        assert_eq!(report["transport"], format!("webrtc-{ice}"));
        let frames_in = report["video"]["frames_in"].as_u64().unwrap();
        let frames_out = report["video"]["frames_out"].as_u64().unwrap();
        assert!(frames_in >= 230, "{ice}: {frames_in} frames captured");
        assert!(
            frames_out as f64 >= frames_in as f64 * 0.95,
            "{ice}: {frames_out} of {frames_in} frames came back"
        );
        let samples_in = report["audio"]["samples_in"].as_u64().unwrap();
        let samples_out = report["audio"]["samples_out"].as_u64().unwrap();
        assert!(
            samples_in.abs_diff(samples_out) <= 4_800,
            "{ice}: {samples_out} of {samples_in} samples came back"
        );
        for path in ["video", "audio"] {
            let latency = &report["latency_ms"][path];
            let (p50, p95) = (
                latency["p50"].as_f64().unwrap(),
                latency["p95"].as_f64().unwrap(),
            );
            assert!(p50 > 0.0 && p50 <= p95, "{ice} {path}: p50 {p50} p95 {p95}");
            assert!(p95 < 1_000.0, "{ice} {path}: p95 {p95} ms");
        }
    }
}
