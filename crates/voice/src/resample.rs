//! Whole-window resampling (48 kHz ↔ 16 kHz ↔ the model's rate) with rubato's FFT resampler,
//! delay-compensated so input and output line up sample for sample.

use rubato::{FftFixedInOut, Resampler};

pub struct WindowResampler {
    from: usize,
    to: usize,
    inner: Option<(usize, FftFixedInOut<f32>)>,
}

impl WindowResampler {
    pub fn new(from: u32, to: u32) -> WindowResampler {
        WindowResampler {
            from: from as usize,
            to: to as usize,
            inner: None,
        }
    }

    /// `input` at the source rate → `input.len() * to / from` samples at the target rate.
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        if self.from == self.to || input.is_empty() {
            return input.to_vec();
        }
        let want = input.len() * self.to / self.from;
        if self.inner.as_ref().map(|(n, _)| *n) != Some(input.len()) {
            match FftFixedInOut::<f32>::new(self.from, self.to, input.len(), 1) {
                Ok(r) => self.inner = Some((input.len(), r)),
                Err(e) => {
                    tracing::warn!("resampler {}→{}: {e}", self.from, self.to);
                    return vec![0.0; want];
                }
            }
        }
        let Some((_, r)) = self.inner.as_mut() else {
            return vec![0.0; want];
        };
        r.reset();
        let chunk = r.input_frames_next();
        let delay = r.output_delay();
        let mut padded = input.to_vec();
        let mut out = Vec::with_capacity(want + delay + chunk);
        // The window, then silence to flush the filter's delay.
        while out.len() < want + delay {
            let take = padded.len().min(chunk);
            let mut frame: Vec<f32> = padded.drain(..take).collect();
            frame.resize(chunk, 0.0);
            match r.process(&[frame], None) {
                Ok(mut o) => out.append(&mut o[0]),
                Err(e) => {
                    tracing::warn!("resampling failed: {e}");
                    return vec![0.0; want];
                }
            }
        }
        out.drain(..delay);
        out.truncate(want);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_keeps_its_frequency_and_phase_across_rates() {
        let n = 48000 / 10 * 3;
        let input: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 48000.0).sin())
            .collect();
        let out = WindowResampler::new(48000, 16000).process(&input);
        assert_eq!(out.len(), n / 3);
        for (i, v) in out.iter().enumerate().skip(200).take(4000) {
            let expect = (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 16000.0).sin();
            assert!((v - expect).abs() < 0.02, "sample {i}: {v} vs {expect}");
        }
    }
}
