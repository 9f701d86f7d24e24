//! YIN pitch estimation (de Cheveigné & Kawahara 2002) at 16 kHz, one estimate per 10 ms:
//! the classical estimator that is always available and costs about a millisecond per block.

/// Samples per frame hop at 16 kHz (10 ms), as RVC expects.
pub const HOP: usize = 160;
const RATE: f32 = 16000.0;
/// Integration window: 32 ms.
const WINDOW: usize = 512;
const F0_MIN: f32 = 50.0;
const F0_MAX: f32 = 1100.0;
/// Aperiodicity threshold: below it a dip counts as a period.
const THRESHOLD: f32 = 0.15;

/// f0 in Hz per 10 ms frame (0 = unvoiced); frame `i` is centred on sample `i * HOP`.
pub fn estimate(audio: &[f32], frames: usize) -> Vec<f32> {
    let max_lag = (RATE / F0_MIN) as usize;
    let min_lag = (RATE / F0_MAX) as usize;
    let mut diff = vec![0.0f32; max_lag + 1];
    let mut f0 = Vec::with_capacity(frames);
    let sample = |i: isize| -> f32 {
        if i < 0 || i as usize >= audio.len() {
            0.0
        } else {
            audio[i as usize]
        }
    };
    for frame in 0..frames {
        let start = (frame * HOP) as isize - (WINDOW / 2) as isize;
        let seg: Vec<f32> = (0..(WINDOW + max_lag) as isize)
            .map(|i| sample(start + i))
            .collect();
        let energy: f32 = seg[..WINDOW].iter().map(|x| x * x).sum();
        if energy < 1e-6 {
            f0.push(0.0);
            continue;
        }
        // Difference function and its cumulative-mean normalisation.
        diff[0] = 1.0;
        let mut running = 0.0;
        for lag in 1..=max_lag {
            let d: f32 = (0..WINDOW)
                .map(|i| {
                    let e = seg[i] - seg[i + lag];
                    e * e
                })
                .sum();
            running += d;
            diff[lag] = if running > 0.0 {
                d * lag as f32 / running
            } else {
                1.0
            };
        }
        let mut found = None;
        let mut lag = min_lag.max(2);
        while lag < max_lag {
            if diff[lag] < THRESHOLD {
                while lag + 1 < max_lag && diff[lag + 1] < diff[lag] {
                    lag += 1;
                }
                found = Some(lag);
                break;
            }
            lag += 1;
        }
        match found {
            Some(l) => {
                // Parabolic interpolation around the dip for sub-sample precision.
                let (a, b, c) = (diff[l - 1], diff[l], diff[l + 1]);
                let denom = a - 2.0 * b + c;
                let shift = if denom.abs() > 1e-9 {
                    0.5 * (a - c) / denom
                } else {
                    0.0
                };
                f0.push(RATE / (l as f32 + shift));
            }
            None => f0.push(0.0),
        }
    }
    f0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_220_hz_tone_reads_as_220_hz() {
        let audio: Vec<f32> = (0..16000)
            .map(|i| (2.0 * std::f32::consts::PI * 220.0 * i as f32 / RATE).sin() * 0.3)
            .collect();
        let f0 = estimate(&audio, 100);
        for &f in &f0[5..95] {
            assert!((f - 220.0).abs() < 1.0, "{f}");
        }
    }

    #[test]
    fn silence_is_unvoiced() {
        assert!(estimate(&[0.0; 8000], 50).iter().all(|&f| f == 0.0));
    }
}
