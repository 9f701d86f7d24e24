//! The pitch a neural voice is given, block after block, as RVC's real-time path makes it
//! (`infer/rtrvc.py`): the estimator sees only the window's newest part (the new block and
//! 50 ms before it; for RMVPE rounded up to its 320 ms unit), unvoiced frames take the pitch
//! interpolated from their voiced neighbours, and the result goes into a cache that slides by
//! one block per window, so the context keeps the pitch it was given when it was new. Its
//! first three frames and its last are left out: they sit at the segment's edges.

/// Samples (16 kHz) the estimator sees per window, for a block of `block` samples: RVC's
/// `block_frame_16k + 800`, which for RMVPE becomes `5120·⌈x/5120⌉ − 160`.
pub fn extractor_samples(block: usize, rmvpe: bool) -> usize {
    let plain = block + 800;
    if rmvpe {
        5120 * ((plain - 1) / 5120 + 1) - 160
    } else {
        plain
    }
}

/// Fills each unvoiced (zero) value with the pitch interpolated linearly between the nearest
/// voiced values, held flat before the first and after the last (`np.interp`). Without a
/// voiced value, nothing changes.
pub fn fill_unvoiced(f0: &mut [f32]) {
    let voiced: Vec<usize> = (0..f0.len()).filter(|&i| f0[i] != 0.0).collect();
    let (Some(&first), Some(&last)) = (voiced.first(), voiced.last()) else {
        return;
    };
    let (head, tail) = (f0[first], f0[last]);
    f0[..first].fill(head);
    f0[last + 1..].fill(tail);
    for pair in voiced.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b > a + 1 {
            let (fa, fb) = (f64::from(f0[a]), f64::from(f0[b]));
            let span = (b - a) as f64;
            for (step, f) in f0[a + 1..b].iter_mut().enumerate() {
                *f = (fa + (fb - fa) * (step + 1) as f64 / span) as f32;
            }
        }
    }
}

/// The pitch of the last windows, one value per 10 ms frame, newest last.
#[derive(Debug, Clone, Default)]
pub struct PitchTrack {
    cache: Vec<f32>,
}

impl PitchTrack {
    /// Slides the cache by `shift` frames (the new block) and writes the estimate of the
    /// newest segment, `f0` (one value per frame, the last one centred on the window's end),
    /// over its newest frames, less the segment's first three and its last.
    pub fn push(&mut self, f0: &[f32], shift: usize) {
        let len = self.cache.len();
        let shift = shift.min(len);
        self.cache.copy_within(shift.., 0);
        self.cache[len - shift..].fill(0.0);
        if f0.len() > 4 {
            let fresh = &f0[3..f0.len() - 1];
            let n = fresh.len().min(len);
            self.cache[len - n..].copy_from_slice(&fresh[fresh.len() - n..]);
        }
    }

    /// Makes the cache `frames` long, keeping its newest values.
    pub fn resize(&mut self, frames: usize) {
        let len = self.cache.len();
        if frames < len {
            self.cache.drain(..len - frames);
        } else {
            self.cache
                .splice(0..0, std::iter::repeat_n(0.0, frames - len));
        }
    }

    /// The pitch of the window's frames, oldest first.
    pub fn window(&self) -> &[f32] {
        &self.cache
    }

    pub fn clear(&mut self) {
        self.cache.fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unvoiced_frames_take_the_pitch_between_their_neighbours() {
        let mut f0 = [0.0, 0.0, 100.0, 0.0, 0.0, 160.0, 0.0];
        fill_unvoiced(&mut f0);
        assert_eq!(f0, [100.0, 100.0, 100.0, 120.0, 140.0, 160.0, 160.0]);
        let mut silent = [0.0; 4];
        fill_unvoiced(&mut silent);
        assert_eq!(silent, [0.0; 4]);
    }

    #[test]
    fn the_cache_slides_by_a_block_and_keeps_the_segment_inside_its_edges() {
        let mut track = PitchTrack::default();
        track.resize(6);
        track.push(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 2);
        assert_eq!(track.window(), [0.0, 0.0, 0.0, 4.0, 5.0, 6.0]);
        track.push(&[8.0, 9.0, 10.0, 11.0, 12.0, 13.0], 2);
        assert_eq!(track.window(), [0.0, 4.0, 5.0, 6.0, 11.0, 12.0]);
    }
}
