//! Which voices exist (the config's presets, the built-in `none`, ad-hoc `dsp:` ids) and how
//! each becomes a converter, with the figures `GET /v1/voices` reports.

use crate::convert::{Chain, Converter, Passthrough};
use crate::denoise::Denoiser;
use crate::effects::Radio;
use crate::neural::NeuralConverter;
use crate::pitch_shift::{self, PitchShifter, ShiftSettings};
use crate::streamer::{BlockSizes, BlockStreamer};
use crate::{RATE, VoiceError};
use std::collections::BTreeMap;
use studio_infer::{BackendInfo, ModelOptions};
use studio_proto::api::{VoiceEntry, VoiceKind as ApiVoiceKind};
use studio_proto::voices::{DspEffect, DspVoice, NeuralVoice, VoiceConfig, VoiceKind, parse_adhoc};

/// The voice that leaves audio as it is.
pub const NONE: &str = "none";

fn ms(samples: usize) -> f64 {
    samples as f64 * 1000.0 / RATE as f64
}

fn samples(ms: u32) -> usize {
    RATE as usize * ms as usize / 1000
}

/// A voice ready to run.
pub struct BuiltVoice {
    pub id: String,
    pub converter: Box<dyn Converter>,
    /// The inference backend, for neural voices.
    pub backend: Option<BackendInfo>,
}

/// Streaming sizes of a neural voice, in samples.
pub fn neural_sizes(v: &NeuralVoice) -> BlockSizes {
    // Whole 10 ms frames, so the 16 kHz and model-rate windows hold whole frames too.
    let frames = |ms: u32| samples(ms.div_ceil(10) * 10);
    BlockSizes {
        block: frames(v.block_ms),
        context: frames(v.context_ms),
        crossfade: samples(v.crossfade_ms),
        search: samples(v.search_ms),
    }
}

fn dsp_converter(v: &DspVoice) -> Box<dyn Converter> {
    let mut stages: Vec<Box<dyn Converter>> = Vec::new();
    if v.denoise {
        stages.push(Box::new(Denoiser::new()));
    }
    if v.pitch != 0.0 || v.formant != 0.0 || v.effect == DspEffect::Robot {
        stages.push(Box::new(PitchShifter::new(ShiftSettings {
            pitch_semitones: v.pitch,
            formant_semitones: v.formant,
            robot: v.effect == DspEffect::Robot,
        })));
    }
    if v.effect == DspEffect::Radio {
        stages.push(Box::new(Radio::new(RATE)));
    }
    match stages.len() {
        0 => Box::new(Passthrough),
        _ => Box::new(Chain(stages)),
    }
}

/// The voices one server offers, and how to load them.
#[derive(Clone)]
pub struct Catalog {
    voices: BTreeMap<String, VoiceConfig>,
    options: ModelOptions,
}

impl Catalog {
    pub fn new(voices: BTreeMap<String, VoiceConfig>, options: ModelOptions) -> Catalog {
        Catalog { voices, options }
    }

    pub fn options(&self) -> &ModelOptions {
        &self.options
    }

    /// The configuration of `id`: a preset, `none`, or an ad-hoc `dsp:` spec.
    pub fn resolve(&self, id: &str) -> Result<VoiceConfig, VoiceError> {
        if id == NONE {
            return Ok(VoiceConfig {
                name: "Your own voice".into(),
                kind: VoiceKind::Dsp(DspVoice {
                    pitch: 0.0,
                    formant: 0.0,
                    effect: DspEffect::None,
                    denoise: false,
                }),
            });
        }
        if let Some(v) = self.voices.get(id) {
            return Ok(v.clone());
        }
        match parse_adhoc(id) {
            Some(result) => result.map_err(VoiceError::Spec),
            None => {
                let mut known: Vec<&str> = vec![NONE];
                known.extend(self.voices.keys().map(String::as_str));
                Err(VoiceError::Unknown {
                    id: id.to_string(),
                    known: format!(
                        "{} (or dsp:pitch=<semitones>[,formant=<semitones>])",
                        known.join(", ")
                    ),
                })
            }
        }
    }

    /// Builds `id` into a running converter. Neural voices load their models here (and run
    /// one test window), so this can take seconds for large models.
    pub fn build(&self, id: &str) -> Result<BuiltVoice, VoiceError> {
        let config = self.resolve(id)?;
        let (converter, backend): (Box<dyn Converter>, _) = match &config.kind {
            VoiceKind::Dsp(v) => (dsp_converter(v), None),
            VoiceKind::Neural(v) => {
                let sizes = neural_sizes(v);
                let neural = NeuralConverter::load(v, &self.options, sizes.window())?;
                let backend = Some(neural.backend().clone());
                let streamer: Box<dyn Converter> = Box::new(BlockStreamer::new(neural, sizes));
                let converter: Box<dyn Converter> = if v.denoise {
                    Box::new(Chain(vec![Box::new(Denoiser::new()), streamer]))
                } else {
                    streamer
                };
                (converter, backend)
            }
        };
        Ok(BuiltVoice {
            id: id.to_string(),
            converter,
            backend,
        })
    }

    /// Every voice with its kind, latency and readiness, without loading models.
    pub fn entries(&self) -> Vec<VoiceEntry> {
        let mut ids: Vec<String> = vec![NONE.to_string()];
        ids.extend(self.voices.keys().cloned());
        ids.iter()
            .filter_map(|id| self.resolve(id).ok().map(|c| (id, c)))
            .map(|(id, c)| entry(id, &c))
            .collect()
    }
}

/// Status figures for one voice.
pub fn entry(id: &str, config: &VoiceConfig) -> VoiceEntry {
    match &config.kind {
        VoiceKind::Dsp(v) => {
            let converter = dsp_converter(v);
            let shifts = v.pitch != 0.0 || v.formant != 0.0 || v.effect == DspEffect::Robot;
            VoiceEntry {
                id: id.to_string(),
                name: config.name.clone(),
                kind: ApiVoiceKind::Dsp,
                latency_ms: ms(converter.latency_samples()),
                block_ms: if shifts { ms(pitch_shift::HOP) } else { 0.0 },
                context_ms: if shifts {
                    ms(pitch_shift::FRAME - pitch_shift::HOP)
                } else {
                    0.0
                },
                crossfade_ms: if shifts {
                    ms(pitch_shift::FRAME - pitch_shift::HOP)
                } else {
                    0.0
                },
                ready: true,
                problem: None,
            }
        }
        VoiceKind::Neural(v) => {
            let sizes = neural_sizes(v);
            let mut files = vec![("model", &v.model), ("embedder", &v.embedder)];
            if let studio_proto::voices::PitchMethod::Rmvpe(p) = &v.pitch {
                files.push(("pitch_model", p));
            }
            let problem = files
                .iter()
                .find(|(_, p)| !std::path::Path::new(p.as_str()).is_file())
                .map(|(k, p)| format!("{k} file {p} is missing"));
            let denoise = if v.denoise { 480 } else { 0 };
            VoiceEntry {
                id: id.to_string(),
                name: config.name.clone(),
                kind: ApiVoiceKind::Neural,
                latency_ms: ms(sizes.latency() + denoise),
                block_ms: ms(sizes.block),
                context_ms: ms(sizes.context),
                crossfade_ms: ms(sizes.crossfade),
                ready: problem.is_none(),
                problem,
            }
        }
    }
}
