//! [`VoiceEngine`]: the audio server's processor. It owns the current voice and the talk
//! gate; blocks keep their length, sequence number and capture time.

use crate::RATE;
use crate::catalog::{BuiltVoice, Catalog, NONE};
use crate::gate::{Route, TalkGate};
use std::collections::VecDeque;
use studio_infer::BackendInfo;
use studio_media::AudioBlock;
use studio_media::engine::{AudioProcessor, AudioSetting};

/// 10 ms at 48 kHz: the unit in which queued output may be skipped to catch up.
const CATCH_UP_CHUNK: usize = 480;
/// Queued output quieter than this (RMS, −45 dBFS) may be skipped when the pre-roll has put
/// the output behind: pauses between words absorb the pre-roll's delay.
const QUIET_RMS: f32 = 0.005_6;

pub struct VoiceEngine {
    catalog: Catalog,
    voice: BuiltVoice,
    gate: TalkGate,
    queue: VecDeque<f32>,
    scratch: Vec<f32>,
    converted_blocks: u64,
    warned_rate: bool,
    /// The own-voice key is held: blocks pass as captured.
    pass_through: bool,
    /// The live pitch and formant shift in semitones, applied to every voice worn.
    shift: (f32, f32),
}

impl VoiceEngine {
    /// Starts with the voice `none` and talk on, so audio passes until told otherwise.
    pub fn new(catalog: Catalog, preroll_ms: u32, hang_ms: u32) -> VoiceEngine {
        let samples = |ms: u32| RATE as usize * ms as usize / 1000;
        let voice = BuiltVoice {
            id: NONE.to_string(),
            converter: Box::new(crate::convert::Passthrough),
            backend: None,
        };
        VoiceEngine {
            catalog,
            voice,
            gate: TalkGate::new(samples(preroll_ms), samples(hang_ms), true),
            queue: VecDeque::new(),
            scratch: Vec::new(),
            converted_blocks: 0,
            warned_rate: false,
            pass_through: false,
            shift: (0.0, 0.0),
        }
    }

    pub fn voice_id(&self) -> &str {
        &self.voice.id
    }

    /// The current voice's algorithmic latency in samples.
    pub fn latency_samples(&self) -> usize {
        self.voice.converter.latency_samples()
    }

    pub fn backend(&self) -> Option<&BackendInfo> {
        self.voice.backend.as_ref()
    }

    /// Switches voice; on error the current voice stays.
    pub fn set_voice(&mut self, id: &str) -> Result<(), crate::VoiceError> {
        let mut voice = self.catalog.build(id)?;
        let (key, formant) = self.shift;
        voice.converter.shift(key, formant);
        tracing::info!(
            voice = id,
            latency_ms = voice.converter.latency_samples() as f64 / 48.0,
            "voice changed"
        );
        self.voice = voice;
        self.queue.clear();
        Ok(())
    }

    fn pop_output(&mut self, n: usize) -> Vec<f32> {
        while self.queue.len() >= n + CATCH_UP_CHUNK {
            let chunk_rms = (self
                .queue
                .iter()
                .take(CATCH_UP_CHUNK)
                .map(|v| v * v)
                .sum::<f32>()
                / CATCH_UP_CHUNK as f32)
                .sqrt();
            if chunk_rms >= QUIET_RMS {
                break;
            }
            self.queue.drain(..CATCH_UP_CHUNK);
        }
        let take = n.min(self.queue.len());
        let mut out: Vec<f32> = self.queue.drain(..take).collect();
        out.resize(n, 0.0);
        out
    }
}

impl AudioProcessor for VoiceEngine {
    fn name(&self) -> &str {
        "voice"
    }

    fn process(&mut self, mut block: AudioBlock) -> AudioBlock {
        if block.sample_rate != RATE {
            if !self.warned_rate {
                tracing::warn!(
                    "audio arrives at {} Hz; voices run at {RATE} Hz, so it passes unchanged",
                    block.sample_rate
                );
                self.warned_rate = true;
            }
            return block;
        }
        if self.pass_through {
            // Held on purpose to be heard as oneself: the talk gate does not apply.
            return block;
        }
        match self.gate.route(&block.samples) {
            Route::Silence => block.samples.fill(0.0),
            Route::Close => {
                self.voice.converter.reset();
                self.queue.clear();
                block.samples.fill(0.0);
            }
            Route::Convert { preroll } => {
                self.scratch.clear();
                if !preroll.is_empty() {
                    self.voice.converter.process(&preroll, &mut self.scratch);
                }
                self.voice
                    .converter
                    .process(&block.samples, &mut self.scratch);
                self.queue.extend(self.scratch.drain(..));
                self.converted_blocks += 1;
                block.samples = self.pop_output(block.samples.len());
            }
        }
        block
    }

    fn apply(&mut self, setting: &AudioSetting) -> Result<(), String> {
        match setting {
            AudioSetting::Voice(voice_id) => self.set_voice(voice_id).map_err(|e| e.to_string()),
            AudioSetting::Talk(active) => {
                self.gate.set_talk(*active);
                Ok(())
            }
            AudioSetting::PassThrough(active) => {
                if *active && !self.pass_through {
                    // What the voice held back belongs to before; it starts afresh after.
                    self.voice.converter.reset();
                    self.queue.clear();
                }
                self.pass_through = *active;
                Ok(())
            }
            AudioSetting::Shift { key, formant } => {
                self.shift = (*key, *formant);
                self.voice.converter.shift(*key, *formant);
                Ok(())
            }
        }
    }

    fn converted_blocks(&self) -> u64 {
        self.converted_blocks
    }
}
