//! Signal helpers shared by the voice tests.
#![allow(dead_code)]

use std::f64::consts::PI;

pub const RATE: f64 = 48000.0;

pub fn sine(freq: f64, amplitude: f32, samples: usize) -> Vec<f32> {
    (0..samples)
        .map(|i| ((2.0 * PI * freq * i as f64 / RATE).sin() as f32) * amplitude)
        .collect()
}

/// Amplitude of the component at `freq` (Hann-windowed DFT at that exact frequency).
pub fn amplitude_at(signal: &[f32], freq: f64) -> f64 {
    let n = signal.len();
    let (mut re, mut im, mut wsum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in signal.iter().enumerate() {
        let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos();
        let ph = 2.0 * PI * freq * i as f64 / RATE;
        re += x as f64 * w * ph.cos();
        im -= x as f64 * w * ph.sin();
        wsum += w;
    }
    2.0 * (re * re + im * im).sqrt() / wsum
}

/// The dominant frequency between `lo` and `hi`: a coarse scan, then a fine one.
pub fn dominant_frequency(signal: &[f32], lo: f64, hi: f64) -> f64 {
    let mut best = (lo, 0.0);
    let mut f = lo;
    while f <= hi {
        let a = amplitude_at(signal, f);
        if a > best.1 {
            best = (f, a);
        }
        f += 2.0;
    }
    let center = best.0;
    let mut top = best;
    let mut f = center - 2.0;
    while f <= center + 2.0 {
        let a = amplitude_at(signal, f);
        if a > top.1 {
            top = (f, a);
        }
        f += 0.05;
    }
    top.0
}

pub fn run_converter(
    c: &mut dyn studio_voice::convert::Converter,
    input: &[f32],
    block: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(input.len());
    for chunk in input.chunks(block) {
        c.process(chunk, &mut out);
    }
    out
}
