//! The converter interface every voice implements: a stream of 48 kHz samples in, the same
//! number out, delayed by a fixed algorithmic latency.

/// A voice's stream processor.
pub trait Converter: Send {
    /// Algorithmic latency in samples at 48 kHz (the delay the method itself needs, not
    /// counting computation time).
    fn latency_samples(&self) -> usize;
    /// Converts `input` and appends exactly `input.len()` samples to `out`.
    fn process(&mut self, input: &[f32], out: &mut Vec<f32>);
    /// Forgets all history (the talk gate closed): the next input starts a fresh stream.
    fn reset(&mut self);
    /// Moves the pitch by `key` and the formants by `formant` semitones from the voice's own
    /// settings, from the next samples on. Returns whether this converter has anything to
    /// move (a plain denoiser does not).
    fn shift(&mut self, key: f32, formant: f32) -> bool {
        let _ = (key, formant);
        false
    }
}

/// Several converters one after another.
pub struct Chain(pub Vec<Box<dyn Converter>>);

impl Converter for Chain {
    fn latency_samples(&self) -> usize {
        self.0.iter().map(|c| c.latency_samples()).sum()
    }
    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let mut current = input.to_vec();
        let mut next = Vec::with_capacity(input.len());
        for stage in &mut self.0 {
            next.clear();
            stage.process(&current, &mut next);
            std::mem::swap(&mut current, &mut next);
        }
        out.extend_from_slice(&current);
    }
    fn reset(&mut self) {
        for stage in &mut self.0 {
            stage.reset();
        }
    }
    fn shift(&mut self, key: f32, formant: f32) -> bool {
        let mut taken = false;
        for stage in &mut self.0 {
            taken |= stage.shift(key, formant);
        }
        taken
    }
}

/// The voice that changes nothing.
#[derive(Debug, Default)]
pub struct Passthrough;

impl Converter for Passthrough {
    fn latency_samples(&self) -> usize {
        0
    }
    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        out.extend_from_slice(input);
    }
    fn reset(&mut self) {}
}
