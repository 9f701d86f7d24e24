//! Streaming linear resampling between a device's rate and the studio's (a microphone at
//! 44.1 kHz, a 48 kHz studio). Linear interpolation is enough for speech going into a voice
//! model that resamples again; it keeps its phase across calls, so blocks join seamlessly.

/// Converts a stream from one rate to another, block by block.
#[derive(Debug, Clone)]
pub struct LinearResampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples, relative to `previous`.
    position: f64,
    /// The last input sample of the previous block (index -1 of the next one).
    previous: f32,
    passthrough: bool,
}

impl LinearResampler {
    pub fn new(from_hz: u32, to_hz: u32) -> LinearResampler {
        LinearResampler {
            step: f64::from(from_hz.max(1)) / f64::from(to_hz.max(1)),
            position: 1.0,
            previous: 0.0,
            passthrough: from_hz == to_hz,
        }
    }

    /// Resample the next block of input.
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        if self.passthrough {
            return input.to_vec();
        }
        let mut out = Vec::with_capacity((input.len() as f64 / self.step) as usize + 2);
        // Index 0 is `previous`; input[i] is index i + 1.
        let at = |i: usize, previous: f32| if i == 0 { previous } else { input[i - 1] };
        let available = input.len() as f64;
        while self.position <= available {
            let i = self.position.floor() as usize;
            let frac = (self.position - i as f64) as f32;
            let a = at(i, self.previous);
            let b = if i < input.len() { input[i] } else { a };
            out.push(a + (b - a) * frac);
            self.position += self.step;
        }
        self.position -= available;
        if let Some(last) = input.last() {
            self.previous = *last;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn same_rate_is_untouched() {
        let input = sine(440.0, 48_000, 480);
        assert_eq!(LinearResampler::new(48_000, 48_000).process(&input), input);
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_the_length_scales_across_blocks() {
        let input = sine(1_000.0, 44_100, 44_100);
        let mut resampler = LinearResampler::new(44_100, 48_000);
        let out: Vec<f32> = input
            .chunks(441)
            .flat_map(|block| resampler.process(block))
            .collect();
        assert!(
            (out.len() as i64 - 48_000).abs() <= 2,
            "{} samples",
            out.len()
        );
        // Output sample k sits at input time k / 48000 s: a 1 kHz sine made at 48 kHz.
        let expected = sine(1_000.0, 48_000, out.len());
        let worst = out
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.02, "worst error {worst}");
    }
}
