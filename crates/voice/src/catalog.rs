//! Which voices exist (the config's presets, the built-in `none`, ad-hoc `dsp:` ids) and how
//! each becomes a converter, with the figures `GET /v1/voices` reports.

use crate::convert::{Chain, Converter, Passthrough};
use crate::denoise::Denoiser;
use crate::effects::Radio;
use crate::neural::NeuralConverter;
use crate::pitch_shift::{self, PitchShifter, ShiftSettings};
use crate::silence::SilenceGate;
use crate::streamer::{BlockSizes, BlockStreamer};
use crate::{RATE, VoiceError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use studio_infer::{BackendInfo, ModelOptions};
use studio_proto::api::{VoiceEntry, VoiceKind as ApiVoiceKind};
use studio_proto::voices::{
    AUTO_BLOCKS_MS, DspEffect, DspVoice, NeuralVoice, VoiceConfig, VoiceKind, parse_adhoc,
};

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
    neural_sizes_with(v, v.block_ms)
}

fn neural_sizes_with(v: &NeuralVoice, block_ms: u32) -> BlockSizes {
    // Whole 10 ms frames, so the 16 kHz and model-rate windows hold whole frames too.
    let frames = |ms: u32| samples(ms.div_ceil(10) * 10);
    BlockSizes {
        block: frames(block_ms),
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

/// A neural voice's block as its last load chose it, and what converting one took.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measured {
    block_ms: u32,
    convert_ms: f64,
}

/// Share of a block's duration its conversion may take when the block is chosen
/// automatically: the rest absorbs the jitter of a shared CPU or GPU.
const AUTO_BLOCK_BUDGET: f64 = 0.6;

/// The automatic block: the smallest whose conversion (`(block_ms, convert_ms)`, smallest
/// block first) takes at most [`AUTO_BLOCK_BUDGET`] of it; the largest when none does.
pub fn choose_block(costs: &[(u32, f64)]) -> Option<(u32, f64)> {
    costs
        .iter()
        .find(|(block, ms)| *ms <= f64::from(*block) * AUTO_BLOCK_BUDGET)
        .or(costs.last())
        .copied()
}

/// A voice added while the server runs (from a file), with the shared models it waits for.
#[derive(Debug, Clone)]
struct AddedVoice {
    config: VoiceConfig,
    needs: Vec<String>,
}

/// The voices one server offers, and how to load them. Clones share the voices added at run
/// time and the measured costs, so every session sees a voice as soon as it is added.
#[derive(Clone)]
pub struct Catalog {
    voices: BTreeMap<String, VoiceConfig>,
    added: Arc<RwLock<BTreeMap<String, AddedVoice>>>,
    /// How each neural voice's last load went: the block it runs and what one took, or why
    /// it would not load.
    measured: Arc<Mutex<BTreeMap<String, Result<Measured, String>>>>,
    options: ModelOptions,
}

impl Catalog {
    pub fn new(voices: BTreeMap<String, VoiceConfig>, options: ModelOptions) -> Catalog {
        Catalog {
            voices,
            added: Arc::default(),
            measured: Arc::default(),
            options,
        }
    }

    /// Offers `config` as `id` from now on (replacing an earlier voice added as `id`).
    /// `needs` names the shared models (`models` ids) its files wait for; the voice list
    /// says so while it is not ready.
    pub fn add(&self, id: &str, config: VoiceConfig, needs: Vec<String>) {
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        added.insert(id.to_string(), AddedVoice { config, needs });
    }

    /// Changes the voice added as `id` (not a configured one) with `change`; `false` when
    /// there is no such voice. Sessions that use it keep their loaded copy until they choose
    /// it again.
    pub fn update_added(&self, id: &str, change: impl FnOnce(&mut VoiceConfig)) -> bool {
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        match added.get_mut(id) {
            Some(voice) => {
                change(&mut voice.config);
                true
            }
            None => false,
        }
    }

    /// Whether `id` is a voice added at run time.
    pub fn is_added(&self, id: &str) -> bool {
        self.added(id).is_some()
    }

    fn added(&self, id: &str) -> Option<AddedVoice> {
        let added = self.added.read().unwrap_or_else(|p| p.into_inner());
        added.get(id).cloned()
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
        // An added voice first: a configured one whose shared models were resolved at start
        // is added again under its own id.
        if let Some(v) = self.added(id) {
            return Ok(v.config);
        }
        if let Some(v) = self.voices.get(id) {
            return Ok(v.clone());
        }
        match parse_adhoc(id) {
            Some(result) => result.map_err(VoiceError::Spec),
            None => {
                let mut known: Vec<String> = vec![NONE.to_string()];
                known.extend(self.voices.keys().cloned());
                known.extend(self.added_ids());
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
                let loaded = load_sized(v, &self.options);
                self.measured
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        id.to_string(),
                        match &loaded {
                            Ok((_, measured)) => Ok(*measured),
                            Err(e) => Err(e.to_string()),
                        },
                    );
                let (neural, measured) = loaded?;
                let sizes = neural_sizes_with(v, measured.block_ms);
                let backend = Some(neural.backend().clone());
                let streamer: Box<dyn Converter> = Box::new(BlockStreamer::new(neural, sizes));
                // As RVC: the silence gate on the raw input, then noise removal, then the model.
                let mut stages: Vec<Box<dyn Converter>> = Vec::new();
                if let Some(threshold) = v.silence_db {
                    stages.push(Box::new(SilenceGate::new(threshold)));
                }
                if v.denoise {
                    stages.push(Box::new(Denoiser::new()));
                }
                let converter: Box<dyn Converter> = if stages.is_empty() {
                    streamer
                } else {
                    stages.push(streamer);
                    Box::new(Chain(stages))
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

    fn added_ids(&self) -> Vec<String> {
        let added = self.added.read().unwrap_or_else(|p| p.into_inner());
        added.keys().cloned().collect()
    }

    /// Every voice with its kind, latency and readiness, without loading models: the
    /// configured ones, then those added from files.
    pub fn entries(&self) -> Vec<VoiceEntry> {
        let mut ids: Vec<String> = vec![NONE.to_string()];
        ids.extend(self.voices.keys().cloned());
        ids.extend(
            self.added_ids()
                .into_iter()
                .filter(|id| !self.voices.contains_key(id)),
        );
        let measured = self
            .measured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        ids.iter()
            .filter_map(|id| self.resolve(id).ok().map(|c| (id, c)))
            .map(|(id, c)| {
                let mut entry = match (&c.kind, measured.get(id.as_str())) {
                    // The block the last load chose, with its delay.
                    (VoiceKind::Neural(v), Some(Ok(m))) if v.auto_block => {
                        let mut chosen = c.clone();
                        if let VoiceKind::Neural(n) = &mut chosen.kind {
                            n.block_ms = m.block_ms;
                        }
                        entry(id, &chosen)
                    }
                    _ => entry(id, &c),
                };
                match measured.get(id.as_str()) {
                    Some(Ok(m)) => entry.convert_ms = Some(m.convert_ms),
                    Some(Err(why)) if entry.ready => {
                        entry.ready = false;
                        entry.problem = Some(why.clone());
                    }
                    _ => {}
                }
                if let Some(added) = self
                    .added(id)
                    .filter(|a| !entry.ready && !a.needs.is_empty())
                {
                    entry.problem = Some(format!("waiting for {}", added.needs.join(" and ")));
                    entry.needs = added.needs;
                }
                entry
            })
            .collect()
    }
}

/// Loads a neural voice with its block: the configured one, or for an automatic block the
/// smallest of [`AUTO_BLOCKS_MS`] that this device converts in time (each window measured
/// on the loaded models).
fn load_sized(
    v: &NeuralVoice,
    options: &ModelOptions,
) -> Result<(NeuralConverter, Measured), VoiceError> {
    let candidates: Vec<u32> = if v.auto_block {
        AUTO_BLOCKS_MS
            .iter()
            .copied()
            .filter(|b| *b >= v.crossfade_ms)
            .collect()
    } else {
        vec![v.block_ms]
    };
    let largest = candidates.last().copied().unwrap_or(v.block_ms);
    let mut neural = NeuralConverter::load(v, options, neural_sizes_with(v, largest))?;
    if !v.auto_block || candidates.len() < 2 {
        let convert_ms = neural.load_convert_ms;
        return Ok((
            neural,
            Measured {
                block_ms: largest,
                convert_ms,
            },
        ));
    }
    let mut costs = Vec::with_capacity(candidates.len());
    for block in candidates {
        let ms = neural
            .time_window(neural_sizes_with(v, block))
            .map_err(|reason| VoiceError::Model {
                what: "voice".into(),
                reason: format!("timing a {block} ms block failed: {reason}"),
            })?;
        costs.push((block, ms));
    }
    let (block_ms, convert_ms) = choose_block(&costs).unwrap_or((largest, neural.load_convert_ms));
    Ok((
        neural,
        Measured {
            block_ms,
            convert_ms,
        },
    ))
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
                convert_ms: None,
                needs: Vec::new(),
                index_rate: None,
            }
        }
        VoiceKind::Neural(v) => {
            let sizes = neural_sizes(v);
            let mut files = vec![("model", &v.model), ("embedder", &v.embedder)];
            if let studio_proto::voices::PitchMethod::Rmvpe(p) = &v.pitch {
                files.push(("pitch_model", p));
            }
            if let Some(index) = &v.index {
                files.push(("index", index));
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
                convert_ms: None,
                needs: Vec::new(),
                index_rate: v.index.as_ref().map(|_| v.index_rate),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::choose_block;

    #[test]
    fn the_automatic_block_is_the_smallest_that_fits_with_margin() {
        // 40 ms needs 30 ms: over 60%; 60 ms needs 33 ms: within.
        assert_eq!(
            choose_block(&[(40, 30.0), (60, 33.0), (100, 41.0)]),
            Some((60, 33.0))
        );
        assert_eq!(choose_block(&[(40, 10.0), (60, 12.0)]), Some((40, 10.0)));
        // A device too slow for all: the largest, whose cost the list then shows.
        assert_eq!(
            choose_block(&[(40, 90.0), (60, 95.0), (100, 120.0)]),
            Some((100, 120.0))
        );
        assert_eq!(choose_block(&[]), None);
    }
}
