//! Background-noise removal with RNNoise (`nnnoiseless`), streamed in its 10 ms frames.

use crate::convert::Converter;
use nnnoiseless::DenoiseState;

const FRAME: usize = DenoiseState::FRAME_SIZE;

pub struct Denoiser {
    state: Box<DenoiseState<'static>>,
    pending: Vec<f32>,
    ready: std::collections::VecDeque<f32>,
    frame_out: Vec<f32>,
}

impl Default for Denoiser {
    fn default() -> Self {
        Denoiser::new()
    }
}

impl Denoiser {
    pub fn new() -> Denoiser {
        Denoiser {
            state: DenoiseState::new(),
            pending: Vec::with_capacity(FRAME),
            ready: std::iter::repeat_n(0.0, FRAME).collect(),
            frame_out: vec![0.0; FRAME],
        }
    }
}

impl Converter for Denoiser {
    fn latency_samples(&self) -> usize {
        FRAME
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for &x in input {
            // RNNoise works on 16-bit sample magnitudes.
            self.pending.push(x * 32768.0);
            if self.pending.len() == FRAME {
                self.state.process_frame(&mut self.frame_out, &self.pending);
                self.ready
                    .extend(self.frame_out.iter().map(|v| v / 32768.0));
                self.pending.clear();
            }
            out.push(self.ready.pop_front().unwrap_or(0.0));
        }
    }

    fn reset(&mut self) {
        *self = Denoiser::new();
    }
}
