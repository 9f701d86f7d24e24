//! The voice's live gains and the input's level, shared by the run's audio path and whoever
//! shows or sets them (the window's meter and sliders, the command line's flags). Lock-free:
//! the capture thread reads the gain and writes the level on every block.

use std::sync::atomic::{AtomicU32, Ordering};

/// Gains are kept within this range, in dB.
pub const GAIN_RANGE_DB: (f32, f32) = (-24.0, 24.0);
/// The level shown for silence, in dBFS.
pub const FLOOR_DB: f32 = -90.0;

pub struct AudioLevels {
    /// Linear factors and the level, as `f32` bits.
    input_gain: AtomicU32,
    output_gain: AtomicU32,
    input_level_db: AtomicU32,
}

impl Default for AudioLevels {
    fn default() -> Self {
        AudioLevels {
            input_gain: AtomicU32::new(1.0f32.to_bits()),
            output_gain: AtomicU32::new(1.0f32.to_bits()),
            input_level_db: AtomicU32::new(FLOOR_DB.to_bits()),
        }
    }
}

fn load(a: &AtomicU32) -> f32 {
    f32::from_bits(a.load(Ordering::Relaxed))
}

fn store(a: &AtomicU32, v: f32) {
    a.store(v.to_bits(), Ordering::Relaxed);
}

/// `db` within [`GAIN_RANGE_DB`] as a linear factor; not-a-number counts as 0 dB.
fn factor(db: f32) -> f32 {
    let db = if db.is_nan() { 0.0 } else { db };
    10f32.powf(db.clamp(GAIN_RANGE_DB.0, GAIN_RANGE_DB.1) / 20.0)
}

fn decibels(factor: f32) -> f32 {
    20.0 * factor.log10()
}

/// Multiply by `gain`, keeping every sample within full scale.
fn amplify(samples: &mut [f32], gain: f32) {
    if gain != 1.0 {
        for s in samples.iter_mut() {
            *s = (*s * gain).clamp(-1.0, 1.0);
        }
    }
}

impl AudioLevels {
    pub fn set_input_gain_db(&self, db: f32) {
        store(&self.input_gain, factor(db));
    }

    pub fn set_output_gain_db(&self, db: f32) {
        store(&self.output_gain, factor(db));
    }

    pub fn input_gain_db(&self) -> f32 {
        decibels(load(&self.input_gain))
    }

    pub fn output_gain_db(&self) -> f32 {
        decibels(load(&self.output_gain))
    }

    /// The level of the newest captured block after the input gain (RMS, dBFS).
    pub fn input_level_db(&self) -> f32 {
        load(&self.input_level_db)
    }

    /// The capture side: the input gain, then the level of what is sent.
    pub fn on_input(&self, samples: &mut [f32]) {
        amplify(samples, load(&self.input_gain));
        let mean_square = if samples.is_empty() {
            0.0
        } else {
            samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32
        };
        let db = if mean_square > 0.0 {
            (10.0 * mean_square.log10()).max(FLOOR_DB)
        } else {
            FLOOR_DB
        };
        store(&self.input_level_db, db);
    }

    /// The output side: the output gain on the processed voice.
    pub fn on_output(&self, samples: &mut [f32]) {
        amplify(samples, load(&self.output_gain));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_scale_within_full_scale_and_the_level_is_measured_after_the_input_gain() {
        let levels = AudioLevels::default();
        assert_eq!(levels.input_level_db(), FLOOR_DB);
        let mut block = vec![0.1f32; 480];
        levels.on_input(&mut block);
        assert!((levels.input_level_db() - -20.0).abs() < 0.01);
        levels.set_input_gain_db(6.0);
        let mut block = vec![0.1f32; 480];
        levels.on_input(&mut block);
        assert!((block[0] - 0.1995).abs() < 0.001, "{}", block[0]);
        assert!((levels.input_level_db() - -14.0).abs() < 0.01);
        // Clamped: the range, and full scale.
        levels.set_output_gain_db(60.0);
        assert!((levels.output_gain_db() - 24.0).abs() < 0.01);
        let mut loud = vec![0.5f32, -0.5];
        levels.on_output(&mut loud);
        assert_eq!(loud, [1.0, -1.0]);
        levels.set_output_gain_db(f32::NAN);
        assert!(levels.output_gain_db().abs() < 0.01);
        levels.on_input(&mut []);
        assert_eq!(levels.input_level_db(), FLOOR_DB);
    }
}
