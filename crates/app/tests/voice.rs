//! `studio run --headless --voice ... --talk ...` end to end, through real servers.

mod common;

use common::studio;
use std::path::Path;
use studio_media::source::AudioSource;
use studio_media::wav::WavReader;

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
    let mut reader = WavReader::open(&out).expect("output WAV");
    let mut samples = Vec::new();
    while let Some(chunk) = reader.read(48_000).expect("samples") {
        if chunk.is_empty() {
            break;
        }
        samples.extend(chunk);
    }
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
