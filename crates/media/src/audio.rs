//! Audio blocks: mono f32 samples in [-1, 1] with their capture time.

use crate::time::Timestamp;

/// A block of mono samples as captured, 10–20 ms long.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBlock {
    /// Position in the stream, from 0, assigned at capture.
    pub seq: u64,
    /// Capture time of the first sample.
    pub capture: Timestamp,
    pub sample_rate: u32,
    pub samples: Vec<f32>,
}

impl AudioBlock {
    /// Length in microseconds.
    pub fn duration_us(&self) -> u64 {
        self.samples.len() as u64 * 1_000_000 / self.sample_rate.max(1) as u64
    }
}
