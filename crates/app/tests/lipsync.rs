//! Lip sync end to end: a flash and a click captured together, one server made slow with
//! `--inject-delay`, and the flash/click offset measured in the output files.

mod common;

use common::studio;
use serde_json::Value;
use std::path::Path;
use studio_media::source::VideoSource;
use studio_media::y4m::Y4mReader;

/// Seconds at which the output video turns bright (the first frame of each flash).
fn flash_times(path: &Path) -> Vec<f64> {
    let mut reader = Y4mReader::open(path).expect("output Y4M");
    let fps = reader.format().rate.as_f64();
    let mut times = Vec::new();
    let (mut slot, mut was_bright) = (0u64, false);
    while let Some(image) = reader.next_image().expect("frame") {
        let luma = image.planes().0;
        let mean = luma.iter().map(|&v| u64::from(v)).sum::<u64>() / luma.len() as u64;
        let bright = mean > 128;
        if bright && !was_bright {
            times.push(slot as f64 / fps);
        }
        was_bright = bright;
        slot += 1;
    }
    times
}

/// Seconds at which a click starts in the output audio (after at least 100 ms of quiet).
fn click_times(path: &Path) -> Vec<f64> {
    let (rate, samples) = common::read_all_samples(path);
    let rate = f64::from(rate);
    let quiet_needed = (rate * 0.1) as usize;
    let mut times = Vec::new();
    let mut quiet = quiet_needed;
    for (i, s) in samples.iter().enumerate() {
        if s.abs() > 0.1 {
            if quiet >= quiet_needed {
                times.push(i as f64 / rate);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    times
}

/// Flash minus nearest click, in milliseconds, for every flash.
fn offsets_ms(flashes: &[f64], clicks: &[f64]) -> Vec<f64> {
    flashes
        .iter()
        .map(|f| {
            let nearest = clicks
                .iter()
                .min_by(|a, b| (*a - f).abs().total_cmp(&(*b - f).abs()))
                .expect("a click");
            (f - nearest) * 1000.0
        })
        .collect()
}

fn run_sync(dir: &Path, extra: &[&str]) -> (Vec<f64>, Value) {
    let (video, audio, report) = (
        dir.join("out.y4m"),
        dir.join("out.wav"),
        dir.join("report.json"),
    );
    let output = studio()
        .args([
            "run",
            "--headless",
            "--video-in",
            "sync",
            "--audio-in",
            "sync",
            "--seconds",
            "3",
            "--inject-delay",
            "video=150",
        ])
        .args(extra)
        .arg("--video-out")
        .arg(&video)
        .arg("--audio-out")
        .arg(&audio)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("run studio");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let flashes = flash_times(&video);
    let clicks = click_times(&audio);
    assert_eq!(flashes.len(), 3, "flashes at {flashes:?}");
    assert_eq!(clicks.len(), 3, "clicks at {clicks:?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    (offsets_ms(&flashes, &clicks), report)
}

#[test]
fn a_slow_video_server_is_made_up_for_flash_and_click_stay_within_20_ms() {
    let dir = tempfile::tempdir().unwrap();
    let (offsets, report) = run_sync(dir.path(), &[]);
    println!("flash minus click (ms): {offsets:?}");
    assert!(
        offsets.iter().all(|o| o.abs() <= 20.0),
        "offsets {offsets:?} ms"
    );
    // The video path really was slow, and audio was held to match it.
    let video_latency = report["latency_ms"]["video"]["p50"].as_f64().unwrap();
    assert!(video_latency >= 150.0, "video latency {video_latency} ms");
    let held = report["lip_sync"]["audio"]["held_ms_mean"]
        .as_f64()
        .unwrap();
    assert!(held >= 130.0, "audio held {held} ms on average");
    assert_eq!(report["lip_sync"]["enabled"], true);
}

#[test]
fn without_lip_sync_the_injected_delay_shows_in_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (offsets, report) = run_sync(dir.path(), &["--no-lip-sync"]);
    println!("flash minus click without lip sync (ms): {offsets:?}");
    assert!(
        offsets.iter().all(|o| (130.0..=190.0).contains(o)),
        "offsets {offsets:?} ms"
    );
    assert_eq!(report["lip_sync"]["enabled"], false);
}
