//! The local server manager under failure: a server killed mid-run is restarted and the run
//! completes with the gap counted; a killed or stopped app leaves no server behind.

#![cfg(target_os = "linux")]

mod common;

use common::{alive, signal, studio, wait_for_server, wait_until};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use studio_media::source::AudioSource;

#[test]
fn a_killed_server_is_restarted_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let app = studio()
        .args([
            "run",
            "--headless",
            "--video-in",
            "test",
            "--audio-in",
            "tone:440",
            "--seconds",
            "6",
        ])
        .arg("--video-out")
        .arg(dir.path().join("out.y4m"))
        .arg("--audio-out")
        .arg(dir.path().join("out.wav"))
        .arg("--report")
        .arg(&report_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let app_pid = app.id();
    let video = wait_for_server(app_pid, "video", None, Duration::from_secs(20));
    let audio = wait_for_server(app_pid, "audio", None, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500));
    signal(video, libc::SIGKILL);
    let new_video = wait_for_server(app_pid, "video", Some(video), Duration::from_secs(10));
    assert_ne!(new_video, video);
    std::thread::sleep(Duration::from_millis(1000));
    signal(audio, libc::SIGKILL);

    let output = app.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();

    assert_eq!(report["restarts"], 2);
    let servers = report["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 4, "two first servers and two replacements");
    let killed = servers
        .iter()
        .find(|s| s["pid"] == video)
        .expect("killed server listed");
    assert!(killed["exit_status"].as_str().unwrap().contains("signal 9"));

    let gaps = report["gaps"].as_array().unwrap();
    for role in ["video", "audio"] {
        let gap = gaps
            .iter()
            .find(|g| g["role"] == role)
            .unwrap_or_else(|| panic!("{role} gap"));
        let ms = gap["duration_ms"].as_f64().expect("the gap closed");
        assert!(ms > 0.0 && ms < 5000.0, "{role} gap {ms} ms");
    }

    // The timeline is kept: every captured frame and sample has a slot in the output.
    let video_report = &report["video"];
    assert_eq!(video_report["frames_in"], 180);
    assert_eq!(video_report["frames_written"], 180);
    let missing =
        video_report["frames_in"].as_u64().unwrap() - video_report["frames_out"].as_u64().unwrap();
    assert!(missing > 0, "the gap cost frames");
    assert_eq!(video_report["frames_concealed"].as_u64().unwrap(), missing);
    let audio_report = &report["audio"];
    assert_eq!(audio_report["samples_in"], 288_000);
    assert_eq!(audio_report["samples_written"], 288_000);
    assert!(audio_report["samples_concealed"].as_u64().unwrap() > 0);

    let mut wav = studio_media::wav::WavReader::open(&dir.path().join("out.wav")).unwrap();
    let samples = wav.read(400_000).unwrap().unwrap();
    assert_eq!(samples.len(), 288_000, "6 s of audio despite the gap");
}

#[test]
fn killing_the_app_leaves_no_server_behind() {
    let mut app = studio()
        .args(["run", "--headless", "--seconds", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let video = wait_for_server(app.id(), "video", None, Duration::from_secs(20));
    let audio = wait_for_server(app.id(), "audio", None, Duration::from_secs(20));
    assert!(alive(video) && alive(audio));
    app.kill().unwrap();
    app.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !alive(video) && !alive(audio)),
        "servers outlived the killed app"
    );
}

#[test]
fn stopping_the_app_stops_both_servers_and_keeps_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let app = studio()
        .args(["run", "--headless", "--seconds", "60", "--report"])
        .arg(&report_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let video = wait_for_server(app.id(), "video", None, Duration::from_secs(20));
    let audio = wait_for_server(app.id(), "audio", None, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    signal(app.id(), libc::SIGTERM);
    let output = app.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(
        !alive(video) && !alive(audio),
        "servers stopped with the app"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["ended_by"], "interrupted");
    assert!(report["video"]["frames_in"].as_u64().unwrap() > 0);
}
