//! `studio run --headless --voice ... --talk ...` end to end, through real servers.

mod common;
#[path = "../../models/tests/support/file_server.rs"]
mod file_server;

use common::studio;
use std::path::Path;

fn run(dir: &Path, extra: &[&str]) -> Vec<f32> {
    let out = dir.join("out.wav");
    let output = studio()
        .args([
            "run",
            "--headless",
            "--video-in",
            "test",
            "--seconds",
            "2",
            "--audio-out",
        ])
        .arg(&out)
        .args(extra)
        .output()
        .expect("run studio");
    assert!(
        output.status.success(),
        "studio failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, samples) = common::read_all_samples(&out);
    samples
}

/// Frequency from rising zero crossings (linearly interpolated) over a steady stretch.
fn frequency(x: &[f32]) -> f64 {
    let crossings: Vec<f64> = (1..x.len())
        .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
        .map(|i| (i - 1) as f64 + (x[i - 1] / (x[i - 1] - x[i])) as f64)
        .collect();
    assert!(crossings.len() > 10, "no tone in the output");
    let span = crossings[crossings.len() - 1] - crossings[0];
    (crossings.len() - 1) as f64 * 48000.0 / span
}

#[test]
fn an_octave_up_turns_a_220_hz_tone_into_440_hz() {
    let dir = tempfile::tempdir().unwrap();
    let samples = run(
        dir.path(),
        &[
            "--audio-in",
            "tone:220",
            "--voice",
            "dsp:pitch=12",
            "--talk",
            "always",
        ],
    );
    assert!(samples.len() >= 48000 * 3 / 2, "{} samples", samples.len());
    let steady = &samples[24000..samples.len() - 4800];
    let f = frequency(steady);
    assert!((f - 440.0).abs() <= 4.4, "got {f:.2} Hz");
}

#[test]
fn talk_never_gives_exact_silence() {
    let dir = tempfile::tempdir().unwrap();
    let samples = run(
        dir.path(),
        &[
            "--audio-in",
            "tone:220",
            "--voice",
            "dsp:pitch=12",
            "--talk",
            "never",
        ],
    );
    assert!(samples.len() >= 48000, "{} samples", samples.len());
    assert!(samples.iter().all(|&v| v == 0.0));
}

#[test]
fn an_unknown_voice_fails_before_anything_starts() {
    let output = studio()
        .args([
            "run",
            "--headless",
            "--seconds",
            "1",
            "--voice",
            "no-such-voice",
        ])
        .output()
        .expect("run studio");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown voice \"no-such-voice\"") && stderr.contains("deeper"),
        "{stderr}"
    );
}

#[test]
fn a_voice_file_is_used_once_its_shared_models_are_fetched() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let files = runtime.block_on(file_server::FileServer::start());
    let dir = tempfile::tempdir().unwrap();
    let models = common::standin_voice_model_entries(|name, bytes| {
        files.serve(name, bytes);
        files.url(name)
    });
    let config = dir.path().join("config.json");
    let json = serde_json::json!({
        "servers": {
            "audio": {"backend": "tract"},
            "cache_dir": dir.path().join("cache").display().to_string()
        },
        "models": models,
    });
    std::fs::write(&config, json.to_string()).unwrap();
    let voice = dir.path().join("Alto.onnx");
    std::fs::copy(
        common::standin_voice_models().join("synth_rvc_40k.onnx"),
        &voice,
    )
    .unwrap();
    let out = dir.path().join("out.wav");
    let output = studio()
        .arg("--config")
        .arg(&config)
        .args([
            "run",
            "--headless",
            "--video-in",
            "test",
            "--audio-in",
            "tone:220",
            "--talk",
            "always",
            "--seconds",
            "6",
            "--voice-file",
        ])
        .arg(&voice)
        .arg("--audio-out")
        .arg(&out)
        .output()
        .expect("run studio");
    assert!(
        output.status.success(),
        "studio failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(files.requests("contentvec.onnx").len(), 1);
    assert!(
        files.requests("rmvpe.onnx").is_empty(),
        "YIN needs no RMVPE"
    );
    let (_, samples) = common::read_all_samples(&out);
    // The last second is the voice's, not the microphone's tone: unconverted, it would be
    // the input sine exactly (to 1e-7) at some delay; the stand-in voice, which regenerates a
    // sine at the detected pitch, is not.
    let last = &samples[samples.len() - 48_000..];
    let period = (48_000.0_f64 / 220.0).ceil() as usize;
    let closest = (0..period)
        .map(|delay| {
            last.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let t = (i + delay) as f64 / 48_000.0;
                    (f64::from(x) - 0.5 * (std::f64::consts::TAU * 220.0 * t).sin()).abs()
                })
                .fold(0.0_f64, f64::max)
        })
        .fold(f64::INFINITY, f64::min);
    assert!(
        closest > 0.05,
        "the output is the microphone's tone (within {closest} at the closest delay)"
    );
    assert!(last.iter().any(|x| x.abs() > 1e-3), "and not silence");
}
