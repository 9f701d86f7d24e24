//! Pitch and formant shifting with a streaming phase vocoder. Each frame's magnitude spectrum
//! is split into a smooth spectral envelope (cepstral liftering: the formants, i.e. timbre)
//! and a fine structure (the harmonics, i.e. pitch). The harmonics move by the pitch ratio,
//! the envelope by the formant ratio (1 keeps the speaker's own formants), and each bin's
//! phase advances at its true, shifted frequency, so a steady tone stays steady.
//!
//! Latency is one frame: 960 samples = 20 ms at 48 kHz. (An overlap-add output sample is
//! complete only once the last frame covering it has been analysed.)

use crate::convert::Converter;
use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::f32::consts::PI;
use std::sync::Arc;

/// Frame length: 20 ms (50 Hz bins), enough to separate the harmonics of voices down to
/// about 100 Hz while keeping the latency within 20 ms.
pub const FRAME: usize = 960;
/// Four frames overlap: the least for clean Hann overlap-add with phase-vocoder processing.
pub const HOP: usize = FRAME / 4;
/// Cepstral coefficients kept for the envelope: 64 samples = 1.3 ms of quefrency, below the
/// pitch period of any voice under 750 Hz, so the envelope carries formants, not harmonics.
const LIFTER: usize = 64;
/// Output level follows input level per frame, but never amplifies by more than this (12 dB),
/// so breath noise is not pumped up.
const MAX_GAIN: f32 = 4.0;

/// Settings for one shifter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftSettings {
    pub pitch_semitones: f32,
    pub formant_semitones: f32,
    /// Replace every phase with zero each hop: a monotone at 48000 / 240 = 200 Hz carrying
    /// the speech's spectral envelope.
    pub robot: bool,
}

pub struct PitchShifter {
    /// The voice's own settings; a live shift moves pitch and formants from these.
    base: ShiftSettings,
    pitch_ratio: f32,
    formant_ratio: f32,
    robot: bool,
    window: Vec<f32>,
    ola_norm: f32,
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    in_fifo: Vec<f32>,
    out_fifo: Vec<f32>,
    out_acc: Vec<f32>,
    rover: usize,
    last_phase: Vec<f32>,
    sum_phase: Vec<f32>,
    // Scratch, kept to avoid allocating per frame.
    time: Vec<f32>,
    spec: Vec<Complex32>,
    mag: Vec<f32>,
    true_bin: Vec<f32>,
    env: Vec<f32>,
    syn_mag: Vec<f32>,
    syn_bin: Vec<f32>,
    cep_time: Vec<f32>,
    cep_spec: Vec<Complex32>,
}

fn ratio(semitones: f32) -> f32 {
    2f32.powf(semitones / 12.0)
}

impl PitchShifter {
    pub fn new(settings: ShiftSettings) -> PitchShifter {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(FRAME);
        let ifft = planner.plan_fft_inverse(FRAME);
        let window: Vec<f32> = (0..FRAME)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f32 / FRAME as f32).cos())
            .collect();
        // Analysis and synthesis windows overlap-add to sum(w²)/hop; the inverse FFT scales
        // by FRAME.
        let ola = window.iter().map(|w| w * w).sum::<f32>() / HOP as f32;
        let bins = FRAME / 2 + 1;
        PitchShifter {
            base: settings,
            pitch_ratio: ratio(settings.pitch_semitones),
            formant_ratio: ratio(settings.formant_semitones),
            robot: settings.robot,
            window,
            ola_norm: 1.0 / (FRAME as f32 * ola),
            fft,
            ifft,
            in_fifo: vec![0.0; FRAME],
            out_fifo: vec![0.0; FRAME],
            out_acc: vec![0.0; 2 * FRAME],
            rover: FRAME - HOP,
            last_phase: vec![0.0; bins],
            sum_phase: vec![0.0; bins],
            time: vec![0.0; FRAME],
            spec: vec![Complex32::default(); bins],
            mag: vec![0.0; bins],
            true_bin: vec![0.0; bins],
            env: vec![1.0; bins],
            syn_mag: vec![0.0; bins],
            syn_bin: vec![0.0; bins],
            cep_time: vec![0.0; FRAME],
            cep_spec: vec![Complex32::default(); bins],
        }
    }

    /// The smooth spectral envelope of `self.mag` into `self.env` (linear magnitude).
    fn envelope(&mut self) {
        let bins = self.mag.len();
        // Real cepstrum: inverse FFT of the log magnitude (an even, real spectrum).
        for k in 0..bins {
            self.cep_spec[k] = Complex32::new((self.mag[k] + 1e-9).ln(), 0.0);
        }
        if self
            .ifft
            .process(&mut self.cep_spec, &mut self.cep_time)
            .is_err()
        {
            self.env.fill(1.0);
            return;
        }
        let n = FRAME as f32;
        for (q, c) in self.cep_time.iter_mut().enumerate() {
            let keep = !(LIFTER..=FRAME - LIFTER).contains(&q);
            *c = if keep { *c / n } else { 0.0 };
        }
        if self
            .fft
            .process(&mut self.cep_time, &mut self.cep_spec)
            .is_err()
        {
            self.env.fill(1.0);
            return;
        }
        for k in 0..bins {
            self.env[k] = self.cep_spec[k].re.exp();
        }
    }

    /// The envelope at a fractional bin, linearly interpolated; beyond the top it fades out.
    fn env_at(&self, bin: f32) -> f32 {
        let last = self.env.len() - 1;
        if bin >= last as f32 {
            return self.env[last];
        }
        let i = bin.max(0.0) as usize;
        let f = bin.max(0.0) - i as f32;
        self.env[i] * (1.0 - f) + self.env[i + 1] * f
    }

    fn frame(&mut self) {
        let bins = FRAME / 2 + 1;
        for i in 0..FRAME {
            self.time[i] = self.in_fifo[i] * self.window[i];
        }
        if self.fft.process(&mut self.time, &mut self.spec).is_err() {
            return;
        }
        let expected = 2.0 * PI * HOP as f32 / FRAME as f32;
        let oversampling = (FRAME / HOP) as f32;
        let mut energy_in = 0.0f32;
        for k in 0..bins {
            let c = self.spec[k];
            self.mag[k] = c.norm();
            energy_in += self.mag[k] * self.mag[k];
            let phase = c.im.atan2(c.re);
            let mut delta = phase - self.last_phase[k] - k as f32 * expected;
            self.last_phase[k] = phase;
            delta -= 2.0 * PI * (delta / (2.0 * PI)).round();
            self.true_bin[k] = k as f32 + oversampling * delta / (2.0 * PI);
        }

        let reshape = self.pitch_ratio != 1.0 || self.formant_ratio != 1.0;
        if reshape {
            self.envelope();
        }
        self.syn_mag.fill(0.0);
        self.syn_bin.fill(0.0);
        if reshape {
            for k in 0..bins {
                let j = (k as f32 * self.pitch_ratio).round() as usize;
                if j < bins {
                    let excitation = self.mag[k] / self.env[k].max(1e-9);
                    // Two source bins can land on one target bin: keep the stronger one's
                    // frequency, add the magnitudes.
                    if excitation > self.syn_mag[j] {
                        self.syn_bin[j] = self.true_bin[k] * self.pitch_ratio;
                    }
                    self.syn_mag[j] += excitation;
                }
            }
            for j in 0..bins {
                self.syn_mag[j] *= self.env_at(j as f32 / self.formant_ratio);
            }
            let energy_out: f32 = self.syn_mag.iter().map(|m| m * m).sum();
            if energy_out > 1e-12 {
                let gain = (energy_in / energy_out).sqrt().min(MAX_GAIN);
                for m in &mut self.syn_mag {
                    *m *= gain;
                }
            }
        } else {
            self.syn_mag.copy_from_slice(&self.mag);
            self.syn_bin.copy_from_slice(&self.true_bin);
        }

        for j in 0..bins {
            let phase = if self.robot {
                0.0
            } else {
                let advanced = self.sum_phase[j] + expected * self.syn_bin[j];
                advanced - 2.0 * PI * (advanced / (2.0 * PI)).round()
            };
            self.sum_phase[j] = phase;
            self.spec[j] = Complex32::from_polar(self.syn_mag[j], phase);
        }
        // The DC and Nyquist bins of a real signal's spectrum have no imaginary part.
        self.spec[0].im = 0.0;
        self.spec[bins - 1].im = 0.0;
        if self.ifft.process(&mut self.spec, &mut self.time).is_err() {
            return;
        }
        for i in 0..FRAME {
            self.out_acc[i] += self.window[i] * self.time[i] * self.ola_norm;
        }
        self.out_fifo[..HOP].copy_from_slice(&self.out_acc[..HOP]);
        self.out_acc.copy_within(HOP.., 0);
        let len = self.out_acc.len();
        self.out_acc[len - HOP..].fill(0.0);
        self.in_fifo.copy_within(HOP.., 0);
    }
}

impl Converter for PitchShifter {
    fn latency_samples(&self) -> usize {
        FRAME
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let latency = FRAME - HOP;
        out.reserve(input.len());
        for &x in input {
            self.in_fifo[self.rover] = x;
            out.push(self.out_fifo[self.rover - latency]);
            self.rover += 1;
            if self.rover >= FRAME {
                self.rover = latency;
                self.frame();
            }
        }
    }

    fn shift(&mut self, key: f32, formant: f32) -> bool {
        self.pitch_ratio = ratio(self.base.pitch_semitones + key);
        self.formant_ratio = ratio(self.base.formant_semitones + formant);
        true
    }

    fn reset(&mut self) {
        self.in_fifo.fill(0.0);
        self.out_fifo.fill(0.0);
        self.out_acc.fill(0.0);
        self.last_phase.fill(0.0);
        self.sum_phase.fill(0.0);
        self.rover = FRAME - HOP;
    }
}
