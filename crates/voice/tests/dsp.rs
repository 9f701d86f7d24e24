//! DSP voices: pitch accuracy, formant preservation, latency.

mod common;

use common::*;
use studio_voice::convert::Converter;
use studio_voice::pitch_shift::{PitchShifter, ShiftSettings};

fn shifter(pitch: f32, formant: f32) -> PitchShifter {
    PitchShifter::new(ShiftSettings {
        pitch_semitones: pitch,
        formant_semitones: formant,
        robot: false,
    })
}

#[test]
fn an_octave_up_turns_220_hz_into_440_hz_within_one_percent() {
    let input = sine(220.0, 0.5, 48000 * 2);
    let out = run_converter(&mut shifter(12.0, 0.0), &input, 960);
    let f = dominant_frequency(&out[24000..72000], 300.0, 600.0);
    assert!((f - 440.0).abs() <= 4.4, "got {f} Hz");
    // And it is not silent: the level follows the input.
    let rms = (out[24000..].iter().map(|v| v * v).sum::<f32>() / 72000.0).sqrt();
    assert!(rms > 0.1, "output RMS {rms}");
}

#[test]
fn a_fifth_down_is_accurate_too() {
    let input = sine(300.0, 0.5, 48000 * 2);
    let out = run_converter(&mut shifter(-7.0, 0.0), &input, 960);
    let want = 300.0 * 2f64.powf(-7.0 / 12.0);
    let f = dominant_frequency(&out[24000..72000], 120.0, 280.0);
    assert!((f - want).abs() <= want * 0.01, "got {f} Hz, want {want}");
}

/// Tolerance: 4 dB RMS over the harmonics below 4 kHz, after the overall level is removed.
/// The vowel's spectral envelope in linear amplitude: three formants over a floor.
fn envelope(f: f64) -> f64 {
    [(600.0, 1.0), (1400.0, 0.4), (2700.0, 0.16)]
        .iter()
        .map(|(c, g)| g * (-0.5 * ((f - c) / 250.0f64).powi(2)).exp())
        .sum::<f64>()
        + 0.01
}

/// A vowel-like signal: harmonics of `f0` weighted by the envelope.
fn vowel(f0: f64, samples: usize) -> Vec<f32> {
    let harmonics: Vec<(f64, f64)> = (1..)
        .map(|k| k as f64 * f0)
        .take_while(|&f| f < 8000.0)
        .map(|f| (f, envelope(f)))
        .collect();
    (0..samples)
        .map(|i| {
            let t = i as f64 / RATE;
            harmonics
                .iter()
                .map(|(f, a)| a * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum::<f64>() as f32
                * 0.3
        })
        .collect()
}

/// RMS difference in dB between the output's harmonic amplitudes and the envelope, after
/// removing the overall level (only the shape counts), over harmonics below 4 kHz.
fn envelope_error_db(out: &[f32], f0: f64) -> f64 {
    let errors: Vec<f64> = (1..)
        .map(|k| k as f64 * f0)
        .take_while(|&f| f < 4000.0)
        .map(|f| 20.0 * (amplitude_at(out, f) / envelope(f)).log10())
        .collect();
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / errors.len() as f64).sqrt()
}

#[test]
fn formant_preservation_keeps_the_vowel_envelope_within_4_db() {
    let f0 = 140.0;
    let shifted_f0 = f0 * 2f64.powf(5.0 / 12.0);
    let input = vowel(f0, 48000 * 2);
    let steady = 24000..96000;

    let preserved = run_converter(&mut shifter(5.0, 0.0), &input, 960);
    let kept = envelope_error_db(&preserved[steady.clone()], shifted_f0);
    // Without preservation the envelope moves with the pitch (the "chipmunk" voice).
    let moved = run_converter(&mut shifter(5.0, 5.0), &input, 960);
    let lost = envelope_error_db(&moved[steady], shifted_f0);
    eprintln!("envelope error: preserved {kept:.2} dB, shifted with pitch {lost:.2} dB");
    assert!(kept <= 4.0, "preserved envelope off by {kept:.2} dB RMS");
    assert!(
        lost > 2.0 * kept,
        "the comparison shows no difference ({lost:.2} dB)"
    );
}

#[test]
fn dsp_voices_have_at_most_20_ms_of_algorithmic_latency() {
    let config = studio_proto::config::Config::defaults().unwrap();
    let catalog = studio_voice::Catalog::new(config.voices.clone(), Default::default());
    let entries = catalog.entries();
    assert!(
        entries
            .iter()
            .filter(|e| e.kind == studio_proto::api::VoiceKind::Dsp)
            .count()
            >= 5
    );
    for e in entries
        .iter()
        .filter(|e| e.kind == studio_proto::api::VoiceKind::Dsp)
    {
        assert!(e.latency_ms <= 20.0, "{} has {} ms", e.id, e.latency_ms);
        assert!(e.ready);
        // The figure is the converter's own.
        let built = catalog.build(&e.id).unwrap();
        assert_eq!(
            built.converter.latency_samples() as f64 / 48.0,
            e.latency_ms
        );
    }
}

#[test]
fn the_reported_latency_is_the_real_delay() {
    // A click goes through an octave-neutral formant shift and comes out where reported.
    let mut s = shifter(0.0, 3.0);
    let mut input = vec![0.0f32; 48000];
    for (i, v) in sine(1000.0, 0.5, 480).into_iter().enumerate() {
        input[10000 + i] = v * (std::f32::consts::PI * i as f32 / 480.0).sin();
    }
    let out = run_converter(&mut s, &input, 960);
    let energy = |x: &[f32], start: usize| x[start..start + 480].iter().map(|v| v * v).sum::<f32>();
    let onset = (0..47000)
        .max_by(|&a, &b| energy(&out, a).total_cmp(&energy(&out, b)))
        .unwrap();
    let delay = onset as i64 - 10000;
    let reported = s.latency_samples() as i64;
    assert!(
        (delay - reported).abs() <= 64,
        "delay {delay}, reported {reported}"
    );
}

/// A live shift moves a DSP voice from its own settings: a fifth up plus a fifth more is an
/// octave up.
#[test]
fn a_live_shift_adds_to_a_dsp_voices_own_pitch() {
    let mut voice = shifter(7.0, 0.0);
    assert!(voice.shift(5.0, 0.0));
    let out = run_converter(&mut voice, &sine(220.0, 0.5, 48000 * 2), 960);
    let f = dominant_frequency(&out[24000..72000], 300.0, 600.0);
    assert!((f - 440.0).abs() <= 4.4, "got {f} Hz");
}
