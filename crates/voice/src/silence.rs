//! The silence gate before a neural voice (RVC's real-time `threhold`): each 10 ms whose
//! level over the last 40 ms is below the threshold goes on as silence, so breath and room
//! noise between words do not come out as a voice's murmur. RVC centres its 40 ms level on
//! the 10 ms it judges (and delays the input for it); this gate looks only back, so it adds
//! no delay, and a word's first 10 ms is judged with what came just before it.

use crate::RATE;
use crate::convert::Converter;
use std::collections::VecDeque;

/// 10 ms: the unit the gate decides on.
const HOP: usize = RATE as usize / 100;
/// 40 ms: the level is measured over this much, ending at the samples judged.
const WINDOW: usize = 4 * HOP;

pub struct SilenceGate {
    threshold_db: f32,
    /// The last `WINDOW` samples seen.
    recent: VecDeque<f32>,
    /// Samples into the current 10 ms.
    into_hop: usize,
}

impl SilenceGate {
    /// Silences what is quieter than `threshold_db` (dBFS RMS, e.g. −50).
    pub fn new(threshold_db: f32) -> SilenceGate {
        SilenceGate {
            threshold_db,
            recent: VecDeque::with_capacity(WINDOW),
            into_hop: 0,
        }
    }

    fn level_db(&self) -> f32 {
        let n = self.recent.len().max(1) as f32;
        let power = self.recent.iter().map(|x| x * x).sum::<f32>() / n;
        10.0 * power.max(1e-20).log10()
    }
}

impl Converter for SilenceGate {
    fn latency_samples(&self) -> usize {
        0
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let mut rest = input;
        while !rest.is_empty() {
            // Up to the end of the current 10 ms, so decisions fall on whole hops when the
            // input comes in whole hops.
            let take = (HOP - self.into_hop).min(rest.len());
            let (part, after) = rest.split_at(take);
            for &x in part {
                if self.recent.len() == WINDOW {
                    self.recent.pop_front();
                }
                self.recent.push_back(if x.is_finite() { x } else { 0.0 });
            }
            if self.level_db() < self.threshold_db {
                out.extend(std::iter::repeat_n(0.0, part.len()));
            } else {
                out.extend_from_slice(part);
            }
            self.into_hop = (self.into_hop + take) % HOP;
            rest = after;
        }
    }

    fn reset(&mut self) {
        self.recent.clear();
        self.into_hop = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(gate: &mut SilenceGate, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for part in input.chunks(chunk) {
            gate.process(part, &mut out);
        }
        out
    }

    fn sine(amplitude: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| amplitude * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 48000.0).sin())
            .collect()
    }

    #[test]
    fn speech_passes_unchanged_and_quiet_noise_becomes_silence() {
        let mut gate = SilenceGate::new(-50.0);
        // −9 dBFS: a voice.
        let loud = sine(0.5, 4800);
        assert_eq!(run(&mut gate, &loud, 960), loud);
        // −70 dBFS hum after it: silence once the 40 ms window holds only the hum.
        let quiet = sine(0.000_45, 4800);
        let out = run(&mut gate, &quiet, 960);
        assert_eq!(out.len(), quiet.len());
        assert!(out[WINDOW..].iter().all(|&x| x == 0.0));
        // The hum's first 10 ms still had the voice in its window: kept, so words end whole.
        assert_eq!(&out[..HOP], &quiet[..HOP]);
    }

    #[test]
    fn the_first_hop_of_a_word_after_silence_passes() {
        let mut gate = SilenceGate::new(-50.0);
        let mut input = vec![0.0; 4800];
        input.extend(sine(0.5, 960));
        let out = run(&mut gate, &input, 480);
        assert!(out[..4800].iter().all(|&x| x == 0.0));
        assert_eq!(&out[4800..], &input[4800..]);
    }

    #[test]
    fn any_chunking_keeps_the_length_and_bad_samples_poison_nothing() {
        let mut gate = SilenceGate::new(-50.0);
        let mut input = sine(0.5, 2000);
        input[100] = f32::NAN;
        input[200] = f32::INFINITY;
        let out = run(&mut gate, &input, 333);
        assert_eq!(out.len(), input.len());
        let out = run(&mut gate, &sine(0.5, 960), 960);
        assert!(out.iter().all(|x| x.is_finite()));
        assert!(out.iter().any(|&x| x != 0.0), "the level was not poisoned");
        gate.reset();
        assert_eq!(run(&mut gate, &vec![0.0; 480], 480), vec![0.0; 480]);
    }
}
