//! Neural voices (RVC v2): 48 kHz window → 16 kHz → ContentVec/HuBERT features (hop 320,
//! repeated to 10 ms frames) and f0 (YIN, or RMVPE ONNX, estimated on the window's newest
//! part and carried across windows: [`crate::pitch_track`]) with the voice's key shift → the
//! synthesizer (w-okada's or RVC's ONNX export, told apart by input names) → the model's
//! rate → 48 kHz. Windows are fed by the block streamer, which crossfades the results.
//! With an index, the features of the window's new part are mixed with their nearest
//! training features first, as RVC does (see [`crate::index`]).
//!
//! Only the window's newest part is synthesized in full: the encoder and flow see the whole
//! window (its context is what they need), but the decoder — most of the work — runs on the
//! frames the streamer keeps, as RVC's real-time path does with `skip_head`/`return_length`.
//! Neither ONNX export has those inputs, so the graph is cut as it loads
//! ([`cut_decoder`]); a graph this engine does not recognise is run whole.

use crate::VoiceError;
use crate::index::FeatureIndex;
use crate::pitch_track::{PitchTrack, extractor_samples, fill_unvoiced};
use crate::resample::WindowResampler;
use crate::streamer::{BlockSizes, WindowConverter};
use crate::yin;
use studio_infer::{GraphEdit, Model, ModelInfo, ModelOptions, ShapedBinding};
use studio_proto::voices::{NeuralVoice, PitchMethod};

/// The two synthesizer exports in circulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthFormat {
    /// w-okada voice changer: `feats, p_len, pitch, pitchf, sid`; noise drawn in the graph.
    WOkada,
    /// RVC's own export: `phone, phone_lengths, pitch, pitchf, ds, rnd`; noise supplied.
    Rvc,
}

impl SynthFormat {
    pub fn detect(input_names: &[&str]) -> Option<SynthFormat> {
        let has = |n: &str| input_names.contains(&n);
        if has("feats") && has("p_len") && has("sid") {
            Some(SynthFormat::WOkada)
        } else if has("phone") && has("phone_lengths") && has("ds") {
            Some(SynthFormat::Rvc)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SynthFormat::WOkada => "w-okada",
            SynthFormat::Rvc => "rvc",
        }
    }
}

const F0_MIN: f32 = 50.0;
const F0_MAX: f32 = 1100.0;

/// RVC's coarse pitch: mel-scaled f0 quantised to 1..=255 (1 = unvoiced).
pub fn coarse_pitch(f0: f32) -> i64 {
    let mel = |f: f32| 1127.0 * (1.0 + f / 700.0).ln();
    if f0 <= 0.0 {
        return 1;
    }
    let (lo, hi) = (mel(F0_MIN), mel(F0_MAX));
    let v = (mel(f0) - lo) * 254.0 / (hi - lo) + 1.0;
    v.round().clamp(1.0, 255.0) as i64
}

/// The feature extractor's 20 ms vectors (`d` values each) as `frames` 10 ms frames: each
/// twice, the last once more (RVC's `cat(feats, feats[-1:])`, nearest ×2, cut to `p_len`).
pub fn repeat_to_frames(vectors: &[f32], d: usize, frames: usize) -> Vec<f32> {
    let t = vectors.len() / d.max(1);
    let mut feats = Vec::with_capacity(frames * d);
    if t == 0 {
        return feats;
    }
    for f in 0..frames {
        let src = (f / 2).min(t - 1);
        feats.extend_from_slice(&vectors[src * d..(src + 1) * d]);
    }
    feats
}

/// A small deterministic normal generator for RVC's `rnd` input (xorshift + Box–Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

/// Everything one neural voice needs to convert windows.
pub struct NeuralConverter {
    embedder: Model,
    embed_input: String,
    embed_rank: usize,
    synth: Model,
    /// Each model's inputs and outputs bound once per window size ([`ShapedBinding`]): the
    /// shapes follow the block size, which changes only with a setting.
    embed_io: ShapedBinding,
    rmvpe_io: ShapedBinding,
    synth_io: ShapedBinding,
    /// Whether the synthesizer's decoder was cut to the newest frames ([`cut_decoder`]).
    decoder_cut: bool,
    /// 2^(formant/12): how much longer the decoder's frames are made; 1 without a shift.
    formant_factor: f32,
    /// Whether the graph stretches the decoder's frames ([`STRETCHED_FRAMES_INPUT`]), so the
    /// formants can move.
    stretchable: bool,
    /// The voice's own key and formant, which a live shift moves from.
    base_key: f32,
    base_formant: f32,
    /// Stretched audio back to the block's length: `(from, to)` sample counts and the resampler.
    formant_resampler: Option<((usize, usize), WindowResampler)>,
    format: SynthFormat,
    uses_pitch: bool,
    rmvpe: Option<Model>,
    key_ratio: f32,
    speaker: i64,
    model_rate: u32,
    to_16k: WindowResampler,
    to_48k: WindowResampler,
    noise: Noise,
    index: Option<std::sync::Arc<FeatureIndex>>,
    index_rate: f32,
    /// Feature vectors (20 ms) at the window's start that are context: RVC leaves these
    /// unmixed (`skip_head // 2`), and only the newer ones reach the output.
    index_skip: usize,
    index_threads: usize,
    /// Windows whose conversion failed (they come out silent).
    pub failures: u64,
    pub last_error: Option<String>,
    /// What the test window at load took, in milliseconds.
    pub load_convert_ms: f64,
    /// Time spent per stage since load (or the last [`NeuralConverter::take_stage_ms`]).
    stage_ms: StageMs,
    /// The pitch given to the last windows ([`PitchTrack`]).
    pitch_track: PitchTrack,
}

/// Milliseconds spent in each stage of converting windows, summed over `windows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageMs {
    pub windows: u64,
    /// 48 kHz → 16 kHz in, the model's rate → 48 kHz out.
    pub resample: f64,
    /// ContentVec/HuBERT.
    pub features: f64,
    /// The index search and mix (0 without an index).
    pub index: f64,
    /// YIN or RMVPE.
    pub pitch: f64,
    /// The synthesizer.
    pub synth: f64,
}

impl StageMs {
    pub fn total(&self) -> f64 {
        self.resample + self.features + self.index + self.pitch + self.synth
    }

    /// Each stage's mean per window.
    pub fn per_window(&self) -> StageMs {
        let n = self.windows.max(1) as f64;
        StageMs {
            windows: 1,
            resample: self.resample / n,
            features: self.features / n,
            index: self.index / n,
            pitch: self.pitch / n,
            synth: self.synth / n,
        }
    }
}

/// Which part of the window the synthesizer's decoder runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// The newest frames, the part the streamer keeps ([`cut_decoder`]), when the graph
    /// allows it.
    Newest,
    /// The whole window, as the exports run by themselves (for comparison).
    Whole,
}

fn elapsed_ms(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn model_rate(info: &ModelInfo, configured: Option<u32>) -> Option<u32> {
    if let Some(text) = info.metadata.get("metadata")
        && let Ok(meta) = serde_json::from_str::<serde_json::Value>(text)
    {
        for key in ["samplingRate", "sampling_rate", "sr"] {
            if let Some(sr) = meta.get(key).and_then(serde_json::Value::as_u64) {
                return u32::try_from(sr).ok();
            }
        }
    }
    for key in ["sampling_rate", "samplingRate", "sr"] {
        if let Some(sr) = info.metadata.get(key).and_then(|v| v.parse().ok()) {
            return Some(sr);
        }
    }
    configured
}

fn synth_format(info: &ModelInfo, path: &str) -> Result<SynthFormat, String> {
    let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
    SynthFormat::detect(&names).ok_or_else(|| {
        format!(
            "{path} has inputs {names:?}: neither w-okada's (feats, p_len, pitch, pitchf, sid) nor RVC's (phone, phone_lengths, pitch, pitchf, ds, rnd) export"
        )
    })
}

/// What a synthesizer file is, read from the file alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSummary {
    pub format: SynthFormat,
    /// Its output rate, from its metadata.
    pub sample_rate: u32,
}

/// Checks that `path` is an RVC v2 synthesizer this engine can run (one of the two exports,
/// its rate in its metadata), without loading it: a file someone picks is refused with the
/// reason before anything else happens.
pub fn inspect_synthesizer(path: &std::path::Path) -> Result<SynthSummary, String> {
    let shown = path.display().to_string();
    let info = ModelInfo::read(path).map_err(|e| format!("not an ONNX model: {e}"))?;
    let format = synth_format(&info, &shown)?;
    let sample_rate = model_rate(&info, None).ok_or_else(|| {
        format!("{shown}: its metadata does not give a sampling rate (an RVC v2 export has one)")
    })?;
    if !matches!(sample_rate, 32000 | 40000 | 48000) {
        return Err(format!(
            "{shown}: a sampling rate of {sample_rate} Hz; RVC v2 voices run at 32000, 40000 or 48000"
        ));
    }
    Ok(SynthSummary {
        format,
        sample_rate,
    })
}

/// The input added to a cut synthesizer: its length is how many 10 ms frames the decoder
/// makes, the window's newest.
pub const NEW_FRAMES_INPUT: &str = "studio_new_frames";

/// The input added to a cut synthesizer with a formant shift: its length is how many frames
/// the newest frames are stretched to before the decoder (RVC's `return_length2`).
pub const STRETCHED_FRAMES_INPUT: &str = "studio_stretched_frames";

/// Cuts an RVC v2 synthesizer's decoder (NSF-HiFiGAN) to the newest frames of its input: its
/// first convolution (`conv_pre`, the one convolution taking the 192-channel latent with a
/// kernel of 7, in both exports) and the frame-rate pitch feeding its harmonic source
/// (`pitchf`, read by the decoder alone) see only the last [`NEW_FRAMES_INPUT`]-length frames.
/// This is RVC's `dec(z[:, :, head:head+length], nsff0[:, head:head+length])` with the
/// encoder and flow over the whole window. A graph without exactly one such convolution is
/// left whole.
///
/// With `stretch` (for formant shifts), both are then stretched linearly to
/// [`STRETCHED_FRAMES_INPUT`]'s length, RVC's `n_res`: the decoder makes more (or fewer)
/// frames of the same voice, which played back at the block's length move its formants.
/// (RVC stretches the harmonic source the pitch makes; stretching the pitch the source is
/// made from gives the same frequencies.)
pub fn cut_decoder(graph: &mut GraphEdit, stretch: bool) -> Result<(), String> {
    let conv_pre = graph.nodes_with_weight("Conv", |dims| {
        dims.len() == 3 && dims[1] == 192 && dims[2] == 7
    });
    let [conv_pre] = conv_pre[..] else {
        return Ok(());
    };
    if !graph.can_slice() {
        return Ok(());
    }
    graph.add_length_input(NEW_FRAMES_INPUT);
    let latent = graph.keep_tail_of_node_input(conv_pre, 0, 2, NEW_FRAMES_INPUT)?;
    let pitch = if graph.readers_of("pitchf") > 0 {
        Some(graph.keep_tail_of_graph_input("pitchf", 1, NEW_FRAMES_INPUT)?)
    } else {
        None
    };
    if stretch {
        graph.add_length_input(STRETCHED_FRAMES_INPUT);
        graph.stretch_last_axis(&latent, 3, STRETCHED_FRAMES_INPUT)?;
        if let Some(pitch) = pitch {
            graph.stretch_last_axis(&pitch, 2, STRETCHED_FRAMES_INPUT)?;
        }
    }
    Ok(())
}

impl NeuralConverter {
    /// Loads the voice's models and runs one silent window of `sizes` through them, so a
    /// file that is not what it claims fails here, with a clear message, not in the middle of
    /// a call.
    pub fn load(
        voice: &NeuralVoice,
        options: &ModelOptions,
        sizes: BlockSizes,
    ) -> Result<NeuralConverter, VoiceError> {
        NeuralConverter::load_with(voice, options, sizes, Decoder::Newest)
    }

    /// [`NeuralConverter::load`] with the decoder's extent chosen.
    pub fn load_with(
        voice: &NeuralVoice,
        options: &ModelOptions,
        sizes: BlockSizes,
        decoder: Decoder,
    ) -> Result<NeuralConverter, VoiceError> {
        let load = |what: &str, path: &str| {
            Model::load(std::path::Path::new(path), options).map_err(|e| VoiceError::Model {
                what: what.to_string(),
                reason: e.to_string(),
            })
        };
        let embedder = load("feature extractor", &voice.embedder)?;
        let formant = voice.formant != 0.0;
        // Always stretchable when cut, so the formants can move live; an unmoved stretch
        // resizes 13 frames onto themselves.
        let edit = |graph: &mut GraphEdit| match decoder {
            Decoder::Newest => cut_decoder(graph, true),
            Decoder::Whole => Ok(()),
        };
        let synth =
            Model::load_edited(std::path::Path::new(&voice.model), options, edit).map_err(|e| {
                VoiceError::Model {
                    what: "synthesizer".to_string(),
                    reason: e.to_string(),
                }
            })?;
        let decoder_cut = synth.info().input(NEW_FRAMES_INPUT).is_some();
        let stretchable = synth.info().input(STRETCHED_FRAMES_INPUT).is_some();
        if formant && !stretchable {
            return Err(VoiceError::Model {
                what: "synthesizer".into(),
                reason: format!(
                    "{}: a formant shift needs the decoder cut to its newest frames, and this graph's decoder was not found",
                    voice.model
                ),
            });
        }
        let format =
            synth_format(synth.info(), &voice.model).map_err(|reason| VoiceError::Model {
                what: "synthesizer".into(),
                reason,
            })?;
        let uses_pitch = synth.info().has_inputs(&["pitch", "pitchf"]);
        let model_rate = model_rate(synth.info(), voice.sample_rate).ok_or_else(|| VoiceError::Model {
            what: "synthesizer".into(),
            reason: format!(
                "{}: its metadata does not give a sampling rate; set sample_rate in the voice's config",
                voice.model
            ),
        })?;
        let Some(embed_info) = embedder.info().inputs.first() else {
            return Err(VoiceError::Model {
                what: "feature extractor".into(),
                reason: format!("{} has no inputs", voice.embedder),
            });
        };
        let embed_input = embed_info.name.clone();
        let embed_rank = embed_info.shape.len().clamp(2, 3);
        let rmvpe = match &voice.pitch {
            PitchMethod::Yin => None,
            PitchMethod::Rmvpe(path) => Some(load("pitch model (RMVPE)", path)?),
        };
        // RVC reads no index at a rate of 0, and then converts exactly as without one.
        let index = match &voice.index {
            Some(path) if voice.index_rate > 0.0 => Some(
                FeatureIndex::open_shared(std::path::Path::new(path)).map_err(|e| {
                    VoiceError::Model {
                        what: "index".into(),
                        reason: format!("{path}: {e}"),
                    }
                })?,
            ),
            _ => None,
        };
        let index_threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let mut converter = NeuralConverter {
            embedder,
            embed_input,
            embed_rank,
            synth,
            embed_io: ShapedBinding::new(),
            rmvpe_io: ShapedBinding::new(),
            synth_io: ShapedBinding::new(),
            decoder_cut,
            format,
            uses_pitch,
            rmvpe,
            key_ratio: 1.0,
            formant_factor: 1.0,
            stretchable,
            base_key: voice.key,
            base_formant: voice.formant,
            formant_resampler: None,
            speaker: voice.speaker,
            model_rate,
            to_16k: WindowResampler::new(48000, 16000),
            to_48k: WindowResampler::new(model_rate, 48000),
            noise: Noise(0x9E37_79B9_7F4A_7C15),
            index,
            index_rate: voice.index_rate,
            index_skip: voice.context_ms.div_ceil(10) as usize / 2,
            index_threads,
            failures: 0,
            last_error: None,
            load_convert_ms: 0.0,
            stage_ms: StageMs::default(),
            pitch_track: PitchTrack::default(),
        };
        converter.set_shift(0.0, 0.0);
        let started = std::time::Instant::now();
        converter
            .try_convert(&vec![0.0; sizes.window()], sizes)
            .map_err(|reason| VoiceError::Model {
                what: "voice".into(),
                reason: format!("a test window through the models failed: {reason}"),
            })?;
        // One window is one block's work: what the voice list shows as its cost here.
        converter.load_convert_ms = elapsed_ms(started);
        converter.stage_ms = StageMs::default();
        converter.pitch_track.clear();
        Ok(converter)
    }

    /// What converting a window of `sizes` takes here, in milliseconds: the faster of two
    /// runs, so a one-off stall does not decide.
    pub fn time_window(&mut self, sizes: BlockSizes) -> Result<f64, String> {
        let window = vec![0.0; sizes.window()];
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            self.try_convert(&window, sizes)?;
            best = best.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(best)
    }

    pub fn format(&self) -> SynthFormat {
        self.format
    }

    /// Pitch and formants `key` and `formant` semitones from the voice's own; the formants
    /// stay within RVC's ±2 and move only where the graph stretches its decoder.
    fn set_shift(&mut self, key: f32, formant: f32) {
        let limit = studio_proto::control::VOICE_FORMANT_RANGE;
        let formant = if self.stretchable {
            (self.base_formant + formant).clamp(-limit, limit)
        } else {
            0.0
        };
        // The synthesizer is given the pitch `key − formant`, which the stretch and the
        // playback at the block's length bring back to `key` (RVC).
        self.key_ratio = 2f32.powf((self.base_key + key - formant) / 12.0);
        self.formant_factor = 2f32.powf(formant / 12.0);
    }

    /// The time spent per stage since the last call (or the load), and starts again.
    pub fn take_stage_ms(&mut self) -> StageMs {
        std::mem::take(&mut self.stage_ms)
    }

    /// Whether the decoder runs on the newest frames only ([`cut_decoder`]).
    pub fn decoder_cut(&self) -> bool {
        self.decoder_cut
    }

    pub fn model_rate(&self) -> u32 {
        self.model_rate
    }

    pub fn backend(&self) -> &studio_infer::BackendInfo {
        self.synth.backend()
    }

    fn features(&mut self, audio16: &[f32], frames: usize) -> Result<(Vec<f32>, usize), String> {
        let shape: Vec<usize> = if self.embed_rank == 3 {
            vec![1, 1, audio16.len()]
        } else {
            vec![1, audio16.len()]
        };
        let e = |e: studio_infer::InferError| e.to_string();
        let io = self
            .embed_io
            .at(&mut self.embedder, &[(self.embed_input.as_str(), &shape)])
            .map_err(e)?;
        io.write_f32(&self.embed_input, audio16).map_err(e)?;
        self.embedder.run_bound(io).map_err(e)?;
        let output = io
            .output_names()
            .next()
            .ok_or("the feature extractor has no output")?;
        let dims = io.output_shape(output).map_err(e)?;
        let data = io.output_f32(output).map_err(e)?;
        // [1, T, D] as exported; [1, D, T] is accepted too.
        let (t, d, transposed) = match dims.as_slice() {
            [1, a, b] if *b == 768 || *b == 256 => (*a, *b, false),
            [1, a, b] if *a == 768 || *a == 256 => (*b, *a, true),
            [a, b] if *b == 768 || *b == 256 => (*a, *b, false),
            other => {
                return Err(format!(
                    "feature extractor output shape {other:?}, expected [1, T, 768]"
                ));
            }
        };
        if t == 0 {
            return Err("feature extractor gave no frames".into());
        }
        if data.len() < t * d {
            return Err(format!(
                "feature extractor gave {} values for shape {dims:?}",
                data.len()
            ));
        }
        let mut vectors: Vec<f32> = if transposed {
            (0..t * d).map(|i| data[(i % d) * t + i / d]).collect()
        } else {
            data[..t * d].to_vec()
        };
        if let Some(index) = &self.index {
            if index.dim() != d {
                return Err(format!(
                    "the index holds {}-d vectors but the feature extractor gives {d}-d",
                    index.dim()
                ));
            }
            let from = self.index_skip.min(t) * d;
            let started = std::time::Instant::now();
            index.mix(&mut vectors[from..], self.index_rate, self.index_threads);
            self.stage_ms.index += elapsed_ms(started);
        }
        Ok((repeat_to_frames(&vectors, d, frames), d))
    }

    /// The pitch of the window's `frames` frames, as RVC's real-time path gives it
    /// ([`PitchTrack`]): estimated on the newest part only, unvoiced frames filled, the key
    /// applied, and carried in the track as the window slides by `block` samples (16 kHz).
    fn pitch(&mut self, audio16: &[f32], frames: usize, block: usize) -> Result<Vec<f32>, String> {
        let covered = &audio16[..frames * yin::HOP];
        let wanted = extractor_samples(block, self.rmvpe.is_some());
        let segment = &covered[covered.len() - wanted.min(covered.len())..];
        // One estimate per 10 ms centred on the segment's samples 0, 160, …, its end.
        let estimates = segment.len() / yin::HOP + 1;
        let mut f0 = match self.rmvpe.as_mut() {
            None => yin::estimate(segment, estimates),
            Some(model) => {
                let names: Vec<String> =
                    model.info().inputs.iter().map(|i| i.name.clone()).collect();
                let mut shapes: Vec<(&str, &[usize])> = Vec::with_capacity(names.len());
                let waveform = [1, segment.len()];
                for name in &names {
                    match name.as_str() {
                        "waveform" | "audio" | "input" => shapes.push((name, &waveform)),
                        "threshold" => shapes.push((name, &[1])),
                        other => {
                            return Err(format!(
                                "RMVPE input {other:?} is not supported (expected waveform, threshold)"
                            ));
                        }
                    }
                }
                let e = |e: studio_infer::InferError| format!("RMVPE: {e}");
                let io = self.rmvpe_io.at(model, &shapes).map_err(e)?;
                for name in &names {
                    match name.as_str() {
                        "threshold" => io.write_f32(name, &[0.03]),
                        _ => io.write_f32(name, segment),
                    }
                    .map_err(e)?;
                }
                model.run_bound(io).map_err(e)?;
                let mut f0 = io.output_f32("pitchf").map_err(e)?.to_vec();
                f0.resize(estimates, *f0.last().unwrap_or(&0.0));
                f0
            }
        };
        fill_unvoiced(&mut f0);
        for f in &mut f0 {
            *f *= self.key_ratio;
        }
        self.pitch_track.resize(frames);
        self.pitch_track.push(&f0, block / yin::HOP);
        Ok(self.pitch_track.window().to_vec())
    }

    /// The last [`BlockSizes::kept`] samples of one window of `sizes` converted, or why not.
    /// Windows are expected one block apart: the pitch of the context is the one given to
    /// it in earlier windows.
    pub fn try_convert(&mut self, window: &[f32], sizes: BlockSizes) -> Result<Vec<f32>, String> {
        let keep = sizes.kept().min(window.len());
        let started = std::time::Instant::now();
        let audio16 = self.to_16k.process(window);
        self.stage_ms.resample += elapsed_ms(started);
        let frames = audio16.len() / yin::HOP;
        if frames == 0 {
            return Ok(vec![0.0; keep]);
        }
        // 10 ms frames cover the window's first `frames × 480` samples; the rest (less than
        // a frame) comes out silent, as the whole synthesis would give it.
        let covered = frames * FRAME_48K;
        let new_frames = if self.decoder_cut {
            (keep.saturating_sub(window.len() - covered))
                .div_ceil(FRAME_48K)
                .clamp(1, frames)
        } else {
            frames
        };
        let started = std::time::Instant::now();
        let index_before = self.stage_ms.index;
        let (feats, dim) = self.features(&audio16, frames)?;
        self.stage_ms.features += elapsed_ms(started) - (self.stage_ms.index - index_before);
        let started = std::time::Instant::now();
        let f0 = self.pitch(&audio16, frames, sizes.block / 3)?;
        self.stage_ms.pitch += elapsed_ms(started);
        let t = |e: studio_infer::InferError| e.to_string();
        let (feats_name, len_name, speaker_name) = match self.format {
            SynthFormat::WOkada => ("feats", "p_len", "sid"),
            SynthFormat::Rvc => ("phone", "phone_lengths", "ds"),
        };
        // RVC's `return_length2 = ceil(return_length × factor)`.
        let stretched = if self.formant_factor == 1.0 {
            new_frames
        } else {
            ((new_frames as f64 * f64::from(self.formant_factor)).ceil() as usize).max(1)
        };
        let (feats_shape, frame_shape, noise_shape) =
            ([1, frames, dim], [1, frames], [1, 192, frames]);
        let (new_shape, stretched_shape) = ([new_frames], [stretched]);
        let mut shapes: Vec<(&str, &[usize])> = vec![
            (feats_name, &feats_shape),
            (len_name, &[1]),
            (speaker_name, &[1]),
        ];
        if self.uses_pitch {
            shapes.push(("pitch", &frame_shape));
            shapes.push(("pitchf", &frame_shape));
        }
        if self.format == SynthFormat::Rvc {
            shapes.push(("rnd", &noise_shape));
        }
        // The cut and the stretch are carried by these inputs' lengths alone: their values
        // stay the zeros the binding starts with.
        if self.decoder_cut {
            shapes.push((NEW_FRAMES_INPUT, &new_shape));
        }
        if self.stretchable {
            shapes.push((STRETCHED_FRAMES_INPUT, &stretched_shape));
        }
        let io = self.synth_io.at(&mut self.synth, &shapes).map_err(t)?;
        io.write_f32(feats_name, &feats).map_err(t)?;
        io.write_i64(len_name, &[frames as i64]).map_err(t)?;
        if self.uses_pitch {
            let coarse = io.input_i64("pitch").map_err(t)?;
            if coarse.len() != f0.len() {
                return Err(format!(
                    "{} pitch values for {} frames",
                    f0.len(),
                    coarse.len()
                ));
            }
            for (c, &f) in coarse.iter_mut().zip(&f0) {
                *c = coarse_pitch(f);
            }
            io.write_f32("pitchf", &f0).map_err(t)?;
        }
        io.write_i64(speaker_name, &[self.speaker]).map_err(t)?;
        if self.format == SynthFormat::Rvc {
            for v in io.input_f32("rnd").map_err(t)? {
                *v = self.noise.normal();
            }
        }
        let started = std::time::Instant::now();
        self.synth.run_bound(io).map_err(t)?;
        let output = io
            .output_names()
            .next()
            .ok_or("the synthesizer has no output")?;
        let mut audio = io.output_f32(output).map_err(t)?.to_vec();
        self.stage_ms.synth += elapsed_ms(started);
        let hop = self.model_rate as usize / 100;
        audio.resize(stretched * hop, 0.0);
        // The synthesized frames at their place in the window, then the window's last `keep`.
        let started = std::time::Instant::now();
        let mut out = if self.formant_factor == 1.0 {
            self.to_48k.process(&audio)
        } else {
            // Played back faster (or slower) by the factor, as RVC does: each frame's
            // `⌊factor × hop⌋` samples become one frame at 48 kHz, and the rest of the
            // stretched frames is left over. The formants move by the factor; the pitch,
            // given `key − formant`, comes back to `key`.
            let per_frame = (f64::from(self.formant_factor) * f64::from(self.model_rate) / 100.0)
                .floor() as usize;
            audio.truncate(new_frames * per_frame);
            let counts = (new_frames * per_frame, new_frames * FRAME_48K);
            let resampler = match &mut self.formant_resampler {
                Some((c, r)) if *c == counts => r,
                slot => {
                    let r = WindowResampler::new(counts.0 as u32, counts.1 as u32);
                    &mut slot.insert((counts, r)).1
                }
            };
            resampler.process(&audio)
        };
        self.stage_ms.resample += elapsed_ms(started);
        self.stage_ms.windows += 1;
        out.resize(new_frames * FRAME_48K, 0.0);
        let synthesized_from = covered - out.len();
        let keep_from = window.len() - keep;
        if keep_from >= synthesized_from {
            out.drain(..keep_from - synthesized_from);
        } else {
            out.splice(0..0, std::iter::repeat_n(0.0, synthesized_from - keep_from));
        }
        out.resize(keep, 0.0);
        Ok(out)
    }
}

/// One 10 ms frame at 48 kHz.
const FRAME_48K: usize = 480;

impl WindowConverter for NeuralConverter {
    fn convert(&mut self, window: &[f32], sizes: BlockSizes) -> Vec<f32> {
        match self.try_convert(window, sizes) {
            Ok(out) => out,
            Err(e) => {
                if self.failures == 0 {
                    tracing::warn!("neural voice: {e}; the block comes out silent");
                }
                self.failures += 1;
                self.last_error = Some(e);
                vec![0.0; sizes.kept().min(window.len())]
            }
        }
    }

    fn reset(&mut self) {
        self.pitch_track.clear();
    }

    fn shift(&mut self, key: f32, formant: f32) -> bool {
        self.set_shift(key, formant);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_pitch_spans_1_to_255_over_50_to_1100_hz() {
        assert_eq!(coarse_pitch(0.0), 1);
        assert_eq!(coarse_pitch(50.0), 1);
        assert_eq!(coarse_pitch(1100.0), 255);
        assert_eq!(coarse_pitch(5000.0), 255);
        assert!(coarse_pitch(220.0) > coarse_pitch(110.0));
    }

    #[test]
    fn formats_are_told_apart_by_input_names() {
        assert_eq!(
            SynthFormat::detect(&["feats", "p_len", "pitch", "pitchf", "sid"]),
            Some(SynthFormat::WOkada)
        );
        assert_eq!(
            SynthFormat::detect(&["phone", "phone_lengths", "pitch", "pitchf", "ds", "rnd"]),
            Some(SynthFormat::Rvc)
        );
        assert_eq!(SynthFormat::detect(&["x"]), None);
    }
}
