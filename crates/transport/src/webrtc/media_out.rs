//! Audio on its way out, without I/O: blocks cut into frames Opus can encode, each with its
//! RTP time, then encoded.

use super::codec::{AudioEncoder, is_opus_frame};

/// Samples in the frames odd-sized blocks are cut into (20 ms at 48 kHz).
const FRAME: usize = 960;

/// The sending half of an audio track.
#[derive(Default)]
pub struct AudioSender {
    encoder: Option<AudioEncoder>,
    /// Samples waiting to fill a frame when blocks are not a legal frame size.
    pending: Vec<f32>,
    /// RTP time of the first pending sample.
    pending_ticks: u64,
}

impl AudioSender {
    pub fn new() -> AudioSender {
        AudioSender::default()
    }

    /// A block at RTP time `ticks` as frames to encode, each with its RTP time: the block
    /// itself when Opus takes its size and nothing is pending, else 20 ms frames.
    pub fn frames(&mut self, ticks: u64, samples: &[f32]) -> Vec<(u64, Vec<f32>)> {
        if self.pending.is_empty() && is_opus_frame(samples.len()) {
            return vec![(ticks, samples.to_vec())];
        }
        if self.pending.is_empty() {
            self.pending_ticks = ticks;
        }
        self.pending.extend_from_slice(samples);
        let mut frames = Vec::new();
        while self.pending.len() >= FRAME {
            let frame: Vec<f32> = self.pending.drain(..FRAME).collect();
            frames.push((self.pending_ticks, frame));
            // The wire keeps the low 32 bits, which wrapping preserves.
            self.pending_ticks = self.pending_ticks.wrapping_add(FRAME as u64);
        }
        frames
    }

    /// One frame as an Opus packet; `None` (logged) when the encoder cannot start or fails.
    pub fn encode(&mut self, frame: &[f32]) -> Option<Vec<u8>> {
        if self.encoder.is_none() {
            match AudioEncoder::new() {
                Ok(encoder) => self.encoder = Some(encoder),
                Err(e) => {
                    tracing::warn!("{e}");
                    return None;
                }
            }
        }
        match self.encoder.as_mut()?.encode(frame) {
            Ok(data) => Some(data.to_vec()),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_blocks_are_cut_into_frames_that_keep_their_time() {
        let mut sender = AudioSender::new();
        assert_eq!(sender.frames(0, &[0.0; 960]).len(), 1);
        // 10 ms blocks of 441 samples: frames come out as 960 accumulate.
        let mut frames = Vec::new();
        for n in 0..5u64 {
            frames.extend(sender.frames(10_000 + n * 441, &[0.5; 441]));
        }
        let times: Vec<u64> = frames.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [10_000, 10_960]);
        assert!(frames.iter().all(|(_, f)| f.len() == 960));
    }

    #[test]
    fn frame_times_wrap_instead_of_overflowing() {
        let mut sender = AudioSender::new();
        let frames = sender.frames(u64::MAX - 10, &[0.0; 2000]);
        assert_eq!(frames[1].0, 949);
    }
}
