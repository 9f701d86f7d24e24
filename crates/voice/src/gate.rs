//! The talk gate: a state machine over the talk key's state and the samples that pass, with
//! pre-roll (the moments before the key went down, so the first syllable is kept) and hang
//! time (a little after release, so the last one is not cut). Time is counted in samples.

use std::collections::VecDeque;

/// What to do with one block.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Talk is off: process nothing, output exact silence.
    Silence,
    /// The gate has just closed: drop converter state and queued output, then output silence.
    Close,
    /// Convert this block, after `preroll` (non-empty only on the block that opens the gate).
    Convert { preroll: Vec<f32> },
}

#[derive(Debug, Clone)]
pub struct TalkGate {
    talking: bool,
    open: bool,
    hang_samples: usize,
    hang_left: usize,
    preroll_samples: usize,
    history: VecDeque<f32>,
    /// Whether audio went through since the gate opened: hang time only follows speech, so
    /// a "talk off" before any audio silences at once.
    converted: bool,
}

impl TalkGate {
    /// `talking` is the state before any talk message arrives.
    pub fn new(preroll_samples: usize, hang_samples: usize, talking: bool) -> TalkGate {
        TalkGate {
            talking,
            open: talking,
            hang_samples,
            hang_left: 0,
            preroll_samples,
            history: VecDeque::with_capacity(preroll_samples),
            converted: false,
        }
    }

    /// The talk key went down (`true`) or up (`false`).
    pub fn set_talk(&mut self, active: bool) {
        if self.talking && !active {
            if self.converted {
                self.hang_left = self.hang_samples;
            } else {
                self.open = false;
            }
        }
        self.talking = active;
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    fn remember(&mut self, samples: &[f32]) {
        if self.preroll_samples == 0 {
            return;
        }
        let keep = samples.len().min(self.preroll_samples);
        while self.history.len() + keep > self.preroll_samples {
            self.history.pop_front();
        }
        self.history.extend(&samples[samples.len() - keep..]);
    }

    /// Decide for the next block of `samples`.
    pub fn route(&mut self, samples: &[f32]) -> Route {
        let route = self.decide(samples);
        self.converted = match route {
            Route::Convert { .. } => true,
            Route::Close => false,
            Route::Silence => self.converted,
        };
        route
    }

    fn decide(&mut self, samples: &[f32]) -> Route {
        if self.talking {
            if !self.open {
                self.open = true;
                let preroll: Vec<f32> = self.history.drain(..).collect();
                return Route::Convert { preroll };
            }
            return Route::Convert {
                preroll: Vec::new(),
            };
        }
        if self.open {
            if self.hang_left > 0 {
                self.hang_left = self.hang_left.saturating_sub(samples.len());
                return Route::Convert {
                    preroll: Vec::new(),
                };
            }
            self.open = false;
            self.remember(samples);
            return Route::Close;
        }
        self.remember(samples);
        Route::Silence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: usize = 960; // 20 ms at 48 kHz

    fn block(value: f32) -> Vec<f32> {
        vec![value; BLOCK]
    }

    #[test]
    fn talk_off_routes_every_block_to_silence() {
        let mut gate = TalkGate::new(7200, 9600, false);
        for _ in 0..50 {
            assert_eq!(gate.route(&block(0.5)), Route::Silence);
        }
        assert!(!gate.is_open());
    }

    #[test]
    fn key_down_converts_with_the_last_preroll_samples_first() {
        let mut gate = TalkGate::new(7200, 9600, false);
        for i in 0..20 {
            gate.route(&block(i as f32));
        }
        gate.set_talk(true);
        let Route::Convert { preroll } = gate.route(&block(99.0)) else {
            panic!("expected conversion")
        };
        // 150 ms = 7.5 blocks: the newest 7200 samples, oldest first.
        assert_eq!(preroll.len(), 7200);
        assert_eq!(preroll[0], 12.0);
        assert_eq!(preroll[7199], 19.0);
        assert_eq!(
            gate.route(&block(1.0)),
            Route::Convert {
                preroll: Vec::new()
            }
        );
    }

    #[test]
    fn key_up_keeps_converting_for_the_hang_time_then_closes_once() {
        let mut gate = TalkGate::new(0, 9600, true);
        gate.route(&block(0.1));
        gate.set_talk(false);
        // 200 ms hang = 10 blocks still converted.
        for _ in 0..10 {
            assert!(matches!(gate.route(&block(0.1)), Route::Convert { .. }));
        }
        assert_eq!(gate.route(&block(0.1)), Route::Close);
        assert_eq!(gate.route(&block(0.1)), Route::Silence);
    }

    #[test]
    fn talk_off_before_any_audio_silences_at_once() {
        let mut gate = TalkGate::new(7200, 9600, true);
        gate.set_talk(false);
        assert_eq!(gate.route(&block(0.1)), Route::Silence);
    }

    #[test]
    fn pressing_again_during_hang_keeps_the_gate_open_without_preroll() {
        let mut gate = TalkGate::new(7200, 9600, true);
        gate.route(&block(0.1));
        gate.set_talk(false);
        gate.route(&block(0.1));
        gate.set_talk(true);
        assert_eq!(
            gate.route(&block(0.1)),
            Route::Convert {
                preroll: Vec::new()
            }
        );
    }
}
