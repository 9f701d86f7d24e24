//! `studio run --headless` end to end: real `studio` and `studio-server` processes, a real
//! session to each, files out, and a report.

mod common;

use common::studio;
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use studio_media::source::{AudioSource, FrameRate, VideoFormat, VideoSource};
use studio_media::synthetic::{TestPattern, Tone};
use studio_media::y4m::Y4mReader;

fn run_headless(dir: &Path, extra: &[&str]) -> (Output, Value) {
    let report = dir.join("report.json");
    let output = studio()
        .args(["run", "--headless", "--video-out"])
        .arg(dir.join("out.y4m"))
        .arg("--audio-out")
        .arg(dir.join("out.wav"))
        .arg("--report")
        .arg(&report)
        .args(extra)
        .output()
        .expect("run studio");
    assert!(
        output.status.success(),
        "studio failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report written"))
            .expect("report is JSON");
    (output, report)
}

fn read_all_frames(path: &Path) -> (VideoFormat, Vec<studio_media::I420Image>) {
    let mut reader = Y4mReader::open(path).expect("output Y4M");
    let format = reader.format();
    let mut frames = Vec::new();
    while let Some(image) = reader.next_image().expect("frame") {
        frames.push(image);
    }
    (format, frames)
}

#[test]
fn identity_run_through_two_servers_returns_the_input_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, report) = run_headless(
        dir.path(),
        &[
            "--video-in",
            "test",
            "--audio-in",
            "tone:440",
            "--seconds",
            "3",
        ],
    );

    let (format, frames) = read_all_frames(&dir.path().join("out.y4m"));
    assert_eq!((format.width, format.height), (1280, 720));
    assert_eq!(format.rate, FrameRate::per_second(30));
    assert!((87..=93).contains(&frames.len()), "{} frames", frames.len());
    let mut pattern = TestPattern::new(format);
    for (n, frame) in frames.iter().enumerate() {
        let expected = pattern.next_image().unwrap().unwrap();
        assert!(frame == &expected, "frame {n} differs from the input");
    }

    let (rate, samples) = common::read_all_samples(&dir.path().join("out.wav"));
    assert_eq!(rate, 48_000);
    let seconds = samples.len() as f64 / rate as f64;
    assert!((seconds - 3.0).abs() <= 0.05, "{seconds} s of audio");
    let expected = Tone::new(440.0, 48_000)
        .read(samples.len())
        .unwrap()
        .unwrap();
    assert!(samples == expected, "audio differs from the input");

    assert_eq!(report["video"]["frames_in"], frames.len());
    assert_eq!(report["video"]["frames_out"], frames.len());
    assert_eq!(report["audio"]["samples_in"], samples.len());
    assert_eq!(report["audio"]["samples_out"], samples.len());
    let servers = report["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let roles: Vec<&str> = servers
        .iter()
        .map(|s| s["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "video").count(), 1);
    assert_eq!(roles.iter().filter(|r| **r == "audio").count(), 1);
    assert_ne!(servers[0]["pid"], servers[1]["pid"]);
    assert!(servers.iter().all(|s| s["pid"].as_u64().unwrap_or(0) > 0));
    assert!(
        servers
            .iter()
            .all(|s| s["url"].as_str().unwrap().starts_with("http://127.0.0.1:"))
    );
    for path in ["video", "audio"] {
        let latency = &report["latency_ms"][path];
        assert!(
            latency["count"].as_u64().unwrap() > 0,
            "{path} latency measured"
        );
        let (p50, p95) = (
            latency["p50"].as_f64().unwrap(),
            latency["p95"].as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p50 <= p95, "{path}: p50 {p50} p95 {p95}");
    }
    assert_eq!(report["restarts"], 0);
    assert!(report["gaps"].as_array().unwrap().is_empty());
}

#[test]
fn the_input_and_output_gains_scale_the_voice_on_its_way() {
    let dir = tempfile::tempdir().unwrap();
    run_headless(
        dir.path(),
        &[
            "--video-in",
            "test",
            "--audio-in",
            "tone:440",
            "--seconds",
            "1",
            "--input-gain-db",
            "-6",
            "--output-gain-db",
            "-14",
        ],
    );
    let (_, samples) = common::read_all_samples(&dir.path().join("out.wav"));
    let expected = Tone::new(440.0, 48_000)
        .read(samples.len())
        .unwrap()
        .unwrap();
    // −20 dB in all: a tenth of the amplitude, sample for sample (the voice is `none`).
    for (i, (out, tone)) in samples.iter().zip(&expected).enumerate() {
        assert!(
            (out - tone * 0.1).abs() < 1e-5,
            "sample {i}: {out} for {tone}"
        );
    }
}

#[test]
fn a_file_input_runs_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.y4m");
    let format = VideoFormat {
        width: 64,
        height: 48,
        rate: FrameRate { num: 25, den: 1 },
    };
    let mut writer = studio_media::y4m::Y4mWriter::create(&input, format).unwrap();
    let mut pattern = TestPattern::new(format);
    let mut written = Vec::new();
    for _ in 0..20 {
        let image = pattern.next_image().unwrap().unwrap();
        writer.write(&image).unwrap();
        written.push(image);
    }
    writer.finish().unwrap();
    let (_, report) = run_headless(
        dir.path(),
        &[
            "--video-in",
            input.to_str().unwrap(),
            "--audio-in",
            "sync",
            "--seconds",
            "2",
        ],
    );
    let (out_format, frames) = read_all_frames(&dir.path().join("out.y4m"));
    assert_eq!(out_format, format);
    assert_eq!(frames, written);
    assert_eq!(report["video"]["frames_in"], 20);
    let (_, samples) = common::read_all_samples(&dir.path().join("out.wav"));
    assert_eq!(samples.len(), 96_000);
    assert!(samples[..480].iter().any(|s| *s != 0.0), "click at 0 s");
    assert!(
        samples[480..48_000].iter().all(|s| *s == 0.0),
        "silence after it"
    );
}

#[test]
fn bad_input_fails_clearly_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let output = studio()
        .args(["run", "--headless", "--seconds", "1", "--video-in"])
        .arg(dir.path().join("missing.y4m"))
        .arg("--video-out")
        .arg(dir.path().join("out.y4m"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.y4m"), "{stderr}");
    assert!(
        !dir.path().join("out.y4m").exists(),
        "no output was created"
    );

    let spec = studio()
        .args(["run", "--headless", "--audio-in", "tone:loud"])
        .output()
        .unwrap();
    assert_eq!(spec.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&spec.stderr).contains("tone:loud"));
}

#[test]
fn a_bad_config_file_is_reported_by_key_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"video": {"fps": "thirty", "fsp": 3}, "audio": {"frame_ms": 7}}"#,
    )
    .unwrap();
    let output = studio()
        .arg("--config")
        .arg(&path)
        .args(["run", "--headless", "--seconds", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"video.fps: expected a positive integer, got "thirty""#),
        "{stderr}"
    );
    assert!(stderr.contains("video.fsp: unknown key"), "{stderr}");
    assert!(stderr.contains("audio.frame_ms:"), "{stderr}");

    // The same file named through the environment.
    let output = studio()
        .env("STUDIO_CONFIG", &path)
        .args(["run", "--headless", "--seconds", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_user_config_file_changes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"video": {"width": 320, "height": 240, "fps": 10}}"#,
    )
    .unwrap();
    let output = studio()
        .arg("--config")
        .arg(&path)
        .args(["run", "--headless", "--seconds", "1", "--video-out"])
        .arg(dir.path().join("out.y4m"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (format, frames) = read_all_frames(&dir.path().join("out.y4m"));
    assert_eq!((format.width, format.height), (320, 240));
    assert_eq!(frames.len(), 10);
}

/// With no display, `studio` runs in the terminal: the test pattern and a tone where this
/// machine has no camera or microphone, a status line every second, and Ctrl-C stops it and
/// both servers cleanly.
#[cfg(target_os = "linux")]
#[test]
fn without_a_display_studio_runs_in_the_terminal_until_ctrl_c() {
    use std::io::{BufRead, Read};
    let output_dir = tempfile::tempdir().unwrap();
    let mut child = common::studio()
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("STUDIO_OUTPUT_DIR", output_dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let video = common::wait_for_server(pid, "video", None, std::time::Duration::from_secs(60));
    let audio = common::wait_for_server(pid, "audio", None, std::time::Duration::from_secs(60));

    // Status lines come once the media flows: two of them, a second apart.
    let mut seen = Vec::new();
    let mut status_lines = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while status_lines < 2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no status lines; printed so far: {seen:#?}"));
        if line.starts_with("video ") && line.contains("fps") && line.contains("audio") {
            status_lines += 1;
        }
        seen.push(line);
    }
    assert!(
        seen.iter().any(|l| l.contains("no display found")),
        "it says why it runs in the terminal: {seen:#?}"
    );

    common::signal(pid, libc::SIGINT);
    assert!(
        common::wait_until(std::time::Duration::from_secs(30), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "studio did not stop on Ctrl-C"
    );
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(lines.try_iter());
    assert!(status.success(), "{status}; printed: {seen:#?}");
    assert!(
        seen.iter().any(|l| l.starts_with("studio: stopped after")),
        "it says what the run did: {seen:#?}"
    );
    assert!(
        common::wait_until(std::time::Duration::from_secs(10), || !common::alive(video)
            && !common::alive(audio)),
        "both servers stop with the studio"
    );

    // Where this system has no virtual camera or microphone, the output went to files in the
    // folder it named, and says so.
    let errors = errors.join().unwrap();
    let folder = output_dir.path().display().to_string();
    assert!(
        seen.iter().any(|l| l.contains(&folder)),
        "it names the folder: {seen:#?}"
    );
    if errors.contains("no virtual camera") {
        let mut video =
            studio_media::y4m::Y4mReader::open(&output_dir.path().join("processed.y4m")).unwrap();
        assert!(
            video.next_image().unwrap().is_some(),
            "no frame in the file"
        );
    }
    if errors.contains("no virtual microphone") {
        let mut audio =
            studio_media::wav::WavReader::open(&output_dir.path().join("processed.wav")).unwrap();
        let samples = audio.read(48_000).unwrap().unwrap_or_default();
        assert!(!samples.is_empty(), "no sample in the file");
    }
}
