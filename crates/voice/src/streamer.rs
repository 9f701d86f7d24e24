//! Block streaming for converters that work on whole windows (neural voices): gather `block`
//! new samples, convert them with `context` samples of history before them, align the result
//! to the previous block with SOLA (the offset, within `search` samples, where the two agree
//! best by normalised cross-correlation) and join them with a sin² crossfade of `crossfade`
//! samples. This is what keeps block boundaries free of clicks.

use crate::convert::Converter;
use std::collections::VecDeque;
use std::f32::consts::FRAC_PI_2;

/// Converts one window of 48 kHz samples of `sizes` and returns its last
/// [`BlockSizes::kept`] samples converted (all the streamer uses, so a converter may skip the
/// work for the rest). Windows come one block apart until [`WindowConverter::reset`].
pub trait WindowConverter: Send {
    fn convert(&mut self, window: &[f32], sizes: BlockSizes) -> Vec<f32>;
    /// The stream starts again: forget what earlier windows left behind.
    fn reset(&mut self) {}
    /// See [`Converter::shift`].
    fn shift(&mut self, key: f32, formant: f32) -> bool {
        let _ = (key, formant);
        false
    }
}

/// Sizes in samples at 48 kHz.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSizes {
    pub block: usize,
    pub context: usize,
    pub crossfade: usize,
    pub search: usize,
}

impl BlockSizes {
    /// The window each conversion sees.
    pub fn window(&self) -> usize {
        self.context + self.block + self.crossfade + self.search
    }

    /// Worst-case delay of a sample through the streamer: it waits for its block to fill,
    /// then sits behind the crossfade and search regions.
    pub fn latency(&self) -> usize {
        self.kept()
    }

    /// The part of each converted window the streamer uses: the newest block with its
    /// crossfade and search room.
    pub fn kept(&self) -> usize {
        self.block + self.crossfade + self.search
    }
}

pub struct BlockStreamer<C: WindowConverter> {
    converter: C,
    sizes: BlockSizes,
    fade_in: Vec<f32>,
    /// The last `window` input samples.
    history: Vec<f32>,
    /// New input since the last conversion.
    fresh: usize,
    /// The tail of the previous output, to crossfade into the next.
    sola_buffer: Vec<f32>,
    have_previous: bool,
    output: VecDeque<f32>,
    blocks_converted: u64,
}

impl<C: WindowConverter> BlockStreamer<C> {
    pub fn new(converter: C, sizes: BlockSizes) -> BlockStreamer<C> {
        let fade_in = (0..sizes.crossfade)
            .map(|i| {
                let t = i as f32 / sizes.crossfade.max(1) as f32;
                (FRAC_PI_2 * t).sin().powi(2)
            })
            .collect();
        let mut s = BlockStreamer {
            converter,
            sizes,
            fade_in,
            history: Vec::new(),
            fresh: 0,
            sola_buffer: vec![0.0; sizes.crossfade],
            have_previous: false,
            output: VecDeque::new(),
            blocks_converted: 0,
        };
        s.clear();
        s
    }

    fn clear(&mut self) {
        self.converter.reset();
        self.history = vec![0.0; self.sizes.window()];
        self.fresh = 0;
        self.sola_buffer.fill(0.0);
        self.have_previous = false;
        // Primed with one block of silence: output is due before the first block is full.
        self.output = std::iter::repeat_n(
            0.0,
            self.sizes.latency() - self.sizes.search - self.sizes.crossfade,
        )
        .collect();
    }

    pub fn sizes(&self) -> BlockSizes {
        self.sizes
    }

    pub fn blocks_converted(&self) -> u64 {
        self.blocks_converted
    }

    pub fn converter_mut(&mut self) -> &mut C {
        &mut self.converter
    }

    /// Where, within `search`, the new output best continues the previous tail.
    fn sola_offset(&self, out: &[f32]) -> usize {
        let n = self.sizes.crossfade;
        if !self.have_previous || self.sizes.search == 0 || n == 0 {
            return 0;
        }
        let mut best = 0;
        let mut best_score = f32::NEG_INFINITY;
        for offset in 0..=self.sizes.search {
            let seg = &out[offset..offset + n];
            let num: f32 = seg.iter().zip(&self.sola_buffer).map(|(a, b)| a * b).sum();
            let den = (seg.iter().map(|a| a * a).sum::<f32>() + 1e-8).sqrt();
            let score = num / den;
            if score > best_score {
                best_score = score;
                best = offset;
            }
        }
        best
    }

    fn convert_block(&mut self) {
        let sizes = self.sizes;
        let mut tail = self.converter.convert(&self.history, sizes);
        tail.resize(sizes.kept(), 0.0);
        let offset = self.sola_offset(&tail);
        let mut piece: Vec<f32> = tail[offset..offset + sizes.block + sizes.crossfade].to_vec();
        let head = piece[..sizes.crossfade].iter_mut().zip(&self.fade_in);
        if self.have_previous {
            for ((v, fade_in), previous) in head.zip(&self.sola_buffer) {
                *v = *v * fade_in + previous * (1.0 - fade_in);
            }
        } else {
            for (v, fade_in) in head {
                *v *= fade_in;
            }
        }
        self.sola_buffer
            .copy_from_slice(&piece[sizes.block..sizes.block + sizes.crossfade]);
        self.have_previous = true;
        self.output.extend(&piece[..sizes.block]);
        self.blocks_converted += 1;
    }
}

impl<C: WindowConverter> Converter for BlockStreamer<C> {
    fn latency_samples(&self) -> usize {
        self.sizes.latency()
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for chunk in input.chunks(self.sizes.block.max(1)) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let take = rest.len().min(self.sizes.block - self.fresh);
                let window = self.history.len();
                self.history.copy_within(take.., 0);
                self.history[window - take..].copy_from_slice(&rest[..take]);
                self.fresh += take;
                rest = &rest[take..];
                if self.fresh == self.sizes.block {
                    self.fresh = 0;
                    self.convert_block();
                }
            }
        }
        for _ in 0..input.len() {
            out.push(self.output.pop_front().unwrap_or(0.0));
        }
    }

    fn reset(&mut self) {
        self.clear();
    }

    fn shift(&mut self, key: f32, formant: f32) -> bool {
        self.converter.shift(key, formant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts nothing: output = input. The streamer must then be a pure delay with no
    /// seams.
    struct Identity;
    impl WindowConverter for Identity {
        fn convert(&mut self, window: &[f32], sizes: BlockSizes) -> Vec<f32> {
            window[window.len() - sizes.kept()..].to_vec()
        }
    }

    #[test]
    fn identity_converter_gives_a_delayed_copy_without_seams() {
        let sizes = BlockSizes {
            block: 4800,
            context: 9600,
            crossfade: 960,
            search: 480,
        };
        let mut s = BlockStreamer::new(Identity, sizes);
        let input: Vec<f32> = (0..48000 * 2)
            .map(|i| (2.0 * std::f32::consts::PI * 220.0 * i as f32 / 48000.0).sin() * 0.5)
            .collect();
        let mut out = Vec::new();
        for chunk in input.chunks(960) {
            s.process(chunk, &mut out);
        }
        assert_eq!(out.len(), input.len());
        // Find the delay by matching, then compare after the first blocks.
        let delay = (0..=sizes.latency())
            .min_by(|&a, &b| {
                let err = |d: usize| -> f32 {
                    (20000..30000).map(|i| (out[i] - input[i - d]).abs()).sum()
                };
                err(a).total_cmp(&err(b))
            })
            .unwrap();
        let max_err = (sizes.window()..out.len())
            .map(|i| (out[i] - input[i - delay]).abs())
            .fold(0.0f32, f32::max);
        assert!(max_err < 1e-3, "delay {delay}, max error {max_err}");
        assert!(delay <= sizes.latency());
    }
}
