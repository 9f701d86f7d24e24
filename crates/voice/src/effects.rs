//! Small effects after conversion: the radio band-pass with drive, as biquad filters.

use crate::convert::Converter;
use std::f32::consts::PI;

/// One RBJ biquad section (direct form I).
#[derive(Debug, Clone)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    fn new(kind: &str, freq: f32, q: f32, rate: f32) -> Biquad {
        let w = 2.0 * PI * freq / rate;
        let (sin, cos) = w.sin_cos();
        let alpha = sin / (2.0 * q);
        let a0 = 1.0 + alpha;
        let b = if kind == "low" {
            [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0]
        } else {
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0]
        };
        Biquad {
            b: [b[0] / a0, b[1] / a0, b[2] / a0],
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn tick(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }

    fn clear(&mut self) {
        self.x = [0.0; 2];
        self.y = [0.0; 2];
    }
}

/// Telephone band (300–3400 Hz, 12 dB/octave each side) and soft saturation. No look-ahead.
pub struct Radio {
    filters: Vec<Biquad>,
}

impl Radio {
    pub fn new(rate: u32) -> Radio {
        let r = rate as f32;
        Radio {
            filters: vec![
                Biquad::new("high", 300.0, 0.707, r),
                Biquad::new("high", 300.0, 0.707, r),
                Biquad::new("low", 3400.0, 0.707, r),
                Biquad::new("low", 3400.0, 0.707, r),
            ],
        }
    }
}

impl Converter for Radio {
    fn latency_samples(&self) -> usize {
        0
    }
    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        const DRIVE: f32 = 2.5;
        let norm = 1.0 / DRIVE.tanh();
        for &x in input {
            let mut y = x;
            for f in &mut self.filters {
                y = f.tick(y);
            }
            out.push((DRIVE * y).tanh() * norm * 0.8);
        }
    }
    fn reset(&mut self) {
        for f in &mut self.filters {
            f.clear();
        }
    }
}
