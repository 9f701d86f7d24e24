//! Sound devices end to end on a private PulseAudio daemon: the studio creating "Streaming
//! Studio Microphone" and playing processed audio into it while a recorder listens on that
//! source; and a microphone and an output device (the Windows/macOS virtual-microphone path)
//! through cpal, by way of ALSA's PulseAudio plugin. Each
//! recording is compared with what went in. Needs `pulseaudio` and `pulseaudio-utils`
//! (`.ci/run` installs them).

#![cfg(target_os = "linux")]

mod common;
mod pulse;

use common::studio;
use pulse::{PulseDaemon, read_raw_f32, record};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use studio_media::wav::WavWriter;

/// Three seconds that never repeat: a few incommensurate tones under a slow swell.
fn test_signal(rate: u32) -> Vec<f32> {
    let tones = [(173.0, 0.3), (401.3, 0.2), (937.7, 0.15), (2_311.1, 0.1)];
    (0..3 * rate)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            let swell = 0.6 + 0.4 * (std::f64::consts::TAU * 0.7 * t).sin();
            let sum: f64 = tones
                .iter()
                .map(|(hz, amp)| amp * (std::f64::consts::TAU * hz * t + hz).sin())
                .sum();
            (swell * sum) as f32
        })
        .collect()
}

/// Pearson correlation of `recorded` against `expected` shifted by `lag` (recorded[i] is
/// compared with expected[i + lag]) over their overlap.
fn correlation(recorded: &[f32], expected: &[f32], lag: i64) -> (f64, usize) {
    let start = (-lag).max(0) as usize;
    let end = (recorded.len() as i64)
        .min(expected.len() as i64 - lag)
        .max(0) as usize;
    if end <= start + 1 {
        return (0.0, 0);
    }
    let r = &recorded[start..end];
    let e = &expected[(start as i64 + lag) as usize..(end as i64 + lag) as usize];
    let n = r.len() as f64;
    let mr = r.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let me = e.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let (mut cov, mut vr, mut ve) = (0.0, 0.0, 0.0);
    for (r, e) in r.iter().zip(e) {
        let (dr, de) = (f64::from(*r) - mr, f64::from(*e) - me);
        cov += dr * de;
        vr += dr * dr;
        ve += de * de;
    }
    (cov / (vr.sqrt() * ve.sqrt()).max(1e-12), r.len())
}

/// The best alignment: a coarse search on 8× decimated signals, then a fine one around it.
fn best_correlation(recorded: &[f32], expected: &[f32]) -> (f64, i64, usize) {
    let decimate = |s: &[f32]| -> Vec<f32> {
        s.chunks(8)
            .map(|c| c.iter().sum::<f32>() / c.len() as f32)
            .collect()
    };
    let (r8, e8) = (decimate(recorded), decimate(expected));
    let min_overlap = r8.len().min(48_000 / 8 / 2);
    // Among equally good alignments (a looped signal has several), the longest overlap.
    let mut best = (f64::MIN, 0i64, 0usize);
    for lag in -(r8.len() as i64)..e8.len() as i64 {
        let (c, n) = correlation(&r8, &e8, lag);
        if n >= min_overlap && (c > best.0 + 1e-3 || (c > best.0 - 1e-3 && n > best.2)) {
            best = (c.max(best.0), lag, n);
        }
    }
    let mut fine = (f64::MIN, 0i64, 0usize);
    for lag in best.1 * 8 - 16..=best.1 * 8 + 16 {
        let (c, n) = correlation(recorded, expected, lag);
        if c > fine.0 {
            fine = (c, lag, n);
        }
    }
    fine
}

#[test]
fn processed_audio_comes_out_of_the_streaming_studio_microphone() {
    let daemon = PulseDaemon::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("voice.wav");
    let signal = test_signal(48_000);
    write_wav(&input, &after_lead_in(&signal));
    let config = small_video_config(dir.path());

    let run = studio()
        .envs(daemon.env())
        .arg("--config")
        .arg(&config)
        .args(["run", "--headless", "--video-in", "test", "--audio-in"])
        .arg(&input)
        .args(["--audio-out", "pulse", "--seconds", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // As soon as call apps could see the microphone, a recorder opens it.
    let listed = common::wait_until(Duration::from_secs(20), || {
        daemon
            .pactl(&["list", "short", "sources"])
            .is_some_and(|s| s.contains("streaming_studio_microphone"))
    });
    assert!(listed, "the microphone never appeared");
    let description = daemon.pactl(&["list", "sources"]).unwrap();
    assert!(
        description.contains("Description: Streaming Studio Microphone"),
        "{description}"
    );
    let recording = dir.path().join("recorded.raw");
    let mut recorder = record(&daemon, "streaming_studio_microphone", &recording);

    let output = run.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    let _ = recorder.kill();
    let _ = recorder.wait();

    let recorded = read_raw_f32(&recording);
    assert!(
        recorded.len() > 48_000,
        "only {} samples recorded",
        recorded.len()
    );
    let (r, lag, overlap) = best_correlation(&recorded, &signal);
    println!(
        "correlation {r:.4} over {:.2} s at lag {lag} samples",
        overlap as f64 / 48_000.0
    );
    assert!(
        overlap >= 48_000,
        "at least a second of the voice was heard ({overlap} samples)"
    );
    assert!(r > 0.9, "correlation {r}");

    // The studio removed its sink and source when it stopped.
    let modules = daemon.pactl(&["list", "short", "modules"]).unwrap();
    assert!(!modules.contains("streaming_studio"), "{modules}");
}

/// Two seconds of silence, then `signal`. Devices play in real time and drop what comes
/// before they (and the test's recorder) are running, as a call would; the lead-in keeps the
/// voice itself clear of that start.
fn after_lead_in(signal: &[f32]) -> Vec<f32> {
    let mut padded = vec![0.0; 2 * 48_000];
    padded.extend_from_slice(signal);
    padded
}

fn write_wav(path: &Path, samples: &[f32]) {
    let mut writer = WavWriter::create(path, 48_000).unwrap();
    writer.write(samples).unwrap();
    writer.finish().unwrap();
}

fn small_video_config(dir: &Path) -> PathBuf {
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"video": {"width": 160, "height": 120}}"#).unwrap();
    config
}

#[test]
fn doctor_and_devices_see_the_sound_server() {
    let daemon = PulseDaemon::start();
    let output = studio()
        .envs(daemon.env())
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mic = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "virtual_microphone")
        .unwrap();
    assert_eq!(mic["status"], "ok", "{mic}");
    let output = studio()
        .envs(daemon.env())
        .args(["devices", "--json"])
        .output()
        .unwrap();
    let devices: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["kind"] == "virtual-microphone" && d["spec"] == "pulse"),
        "{devices}"
    );
}

#[test]
fn a_microphone_through_cpal_is_captured_and_processed() {
    let daemon = PulseDaemon::start();
    // A "microphone": the monitor of a sink we play the voice into.
    daemon
        .pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=voice",
            "rate=48000",
        ])
        .unwrap();
    daemon
        .pactl(&["set-default-source", "voice.monitor"])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signal = test_signal(48_000);
    // Played in a loop for as long as the studio listens.
    let mut looped = Vec::new();
    for _ in 0..4 {
        looped.extend_from_slice(&signal);
    }
    let raw = dir.path().join("voice.raw");
    std::fs::write(
        &raw,
        looped
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let mut player = Command::new("pacat")
        .args([
            "--playback",
            "--device=voice",
            "--format=float32le",
            "--rate=48000",
            "--channels=1",
        ])
        .arg(&raw)
        .envs(daemon.env())
        .spawn()
        .expect("pacat");
    // Only once the voice is really playing does the studio start listening.
    let playing = common::wait_until(Duration::from_secs(10), || {
        daemon.pactl(&["list", "short", "sinks"]).is_some_and(|s| {
            s.lines()
                .any(|l| l.contains("voice") && l.contains("RUNNING"))
        })
    });
    assert!(playing, "the test's voice never started playing");
    let out = dir.path().join("out.wav");
    let output = studio()
        .envs(daemon.env())
        .arg("--config")
        .arg(small_video_config(dir.path()))
        .args([
            "run",
            "--headless",
            "--video-in",
            "test",
            "--audio-in",
            "mic:PulseAudio",
            "--seconds",
            "3",
            "--audio-out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let _ = player.kill();
    let _ = player.wait();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut reader = studio_media::wav::WavReader::open(&out).unwrap();
    let captured = studio_media::source::AudioSource::read(&mut reader, 200_000)
        .unwrap()
        .unwrap();
    // The voice loops every 3 s: compare against three periods so any phase matches fully.
    let expected = signal.repeat(3);
    let (r, lag, overlap) = best_correlation(&captured, &expected);
    println!(
        "microphone: correlation {r:.4} over {:.2} s at lag {lag}",
        overlap as f64 / 48_000.0
    );
    assert!(overlap >= 48_000, "{overlap} samples overlap");
    assert!(r > 0.9, "correlation {r}");
}

/// A rising chirp: every stretch of it sits at one place only, so short windows align.
fn chirp(rate: u32) -> Vec<f32> {
    (0..3 * rate)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            (0.5 * (std::f64::consts::TAU * (200.0 + 300.0 * t) * t).sin()) as f32
        })
        .collect()
}

#[test]
fn an_output_device_through_cpal_plays_the_processed_audio() {
    let daemon = PulseDaemon::start();
    daemon
        .pactl(&[
            "load-module",
            "module-null-sink",
            "sink_name=speakers",
            "rate=48000",
        ])
        .unwrap();
    daemon.pactl(&["set-default-sink", "speakers"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("voice.wav");
    let signal = chirp(48_000);
    write_wav(&input, &after_lead_in(&signal));
    let recording = dir.path().join("speakers.raw");
    let mut recorder = record(&daemon, "speakers.monitor", &recording);
    let output = studio()
        .envs(daemon.env())
        .arg("--config")
        .arg(small_video_config(dir.path()))
        .args(["run", "--headless", "--video-in", "test", "--audio-in"])
        .arg(&input)
        .args(["--audio-out", "device:PulseAudio", "--seconds", "5"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    let _ = recorder.kill();
    let _ = recorder.wait();
    let recorded = read_raw_f32(&recording);
    // A real-time device on a busy machine may glitch now and then (an ALSA underrun costs
    // a few milliseconds): judge it by 100 ms windows, each aligned on its own.
    let window = 4_800;
    let scores: Vec<(f64, i64)> = recorded
        .chunks_exact(window)
        .filter(|w| w.iter().any(|s| s.abs() > 0.05))
        .map(|w| {
            let (r, lag, _) = best_correlation(w, &signal);
            (r, lag)
        })
        .collect();
    let good = scores.iter().filter(|(r, _)| *r > 0.9).count();
    println!(
        "output device: {good} of {} windows of 100 ms correlate > 0.9",
        scores.len()
    );
    assert!(
        scores.len() >= 20,
        "only {} windows with sound",
        scores.len()
    );
    assert!(
        good * 10 >= scores.len() * 8,
        "{good} of {} windows correlate > 0.9",
        scores.len()
    );
}
