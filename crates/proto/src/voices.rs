//! Voice definitions: the `voices` section of config (presets by id) and ad-hoc
//! `dsp:pitch=<semitones>[,formant=<semitones>]` ids, checked into typed settings with every
//! problem reported as `voices.<id>.<key>: reason`.

use serde_json::Value;

/// One voice a user can pick.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    /// What the window shows.
    pub name: String,
    pub kind: VoiceKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VoiceKind {
    Dsp(DspVoice),
    Neural(NeuralVoice),
}

/// A voice made by signal processing alone: no model, a few milliseconds of latency.
#[derive(Debug, Clone, PartialEq)]
pub struct DspVoice {
    /// Pitch change in semitones (−24..24).
    pub pitch: f32,
    /// Formant (timbre) change in semitones (−12..12); 0 keeps the speaker's own formants
    /// whatever the pitch does.
    pub formant: f32,
    pub effect: DspEffect,
    /// Remove background noise (RNNoise) before converting; adds 10 ms.
    pub denoise: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DspEffect {
    None,
    /// A monotone buzz carrying the speech's spectral envelope.
    Robot,
    /// Telephone band (300–3400 Hz) with a little drive.
    Radio,
}

/// Pitch estimation for a neural voice.
#[derive(Debug, Clone, PartialEq)]
pub enum PitchMethod {
    /// YIN in Rust: always available, about a millisecond per block.
    Yin,
    /// An RMVPE ONNX model at this path.
    Rmvpe(String),
}

/// An RVC v2 voice: a synthesizer ONNX plus a ContentVec/HuBERT feature extractor.
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralVoice {
    /// The synthesizer (w-okada or RVC export).
    pub model: String,
    /// ContentVec/HuBERT ONNX (768-d output).
    pub embedder: String,
    pub pitch: PitchMethod,
    /// Key shift in semitones (−24..24).
    pub key: f32,
    /// Formant shift in semitones (−2..2, RVC's real-time range): the voice's timbre higher
    /// or lower at the same pitch.
    pub formant: f32,
    pub speaker: i64,
    /// The model's output rate when its metadata does not say.
    pub sample_rate: Option<u32>,
    pub block_ms: u32,
    /// Choose the block at load: the smallest of [`AUTO_BLOCKS_MS`] whose conversion fits the
    /// device in use (`"block_ms": "auto"`); `block_ms` is then the one used when nothing was
    /// measured yet.
    pub auto_block: bool,
    pub context_ms: u32,
    pub crossfade_ms: u32,
    pub search_ms: u32,
    pub denoise: bool,
    /// Silence what is quieter than this (dBFS RMS over 40 ms, judged every 10 ms) before
    /// converting, as RVC's real-time threshold; `None` converts everything.
    pub silence_db: Option<f32>,
    /// An RVC feature index (faiss `.index`, `added_*.index`) retrieved into the features.
    pub index: Option<String>,
    /// How much of each frame's features comes from the index (0..1); 0 leaves it unread.
    pub index_rate: f32,
}

/// How much an index weighs when its entry does not say: RVC's WebUI default (its real-time
/// GUI starts at 0, but a voice that names an index wants it used).
pub const DEFAULT_INDEX_RATE: f32 = 0.75;

/// The blocks an automatic block size chooses from, smallest (least delay) first.
pub const AUTO_BLOCKS_MS: [u32; 3] = [40, 60, 100];

/// Streaming sizes a neural voice gets when its entry does not set them.
pub const DEFAULT_BLOCK_MS: u32 = 100;
pub const DEFAULT_CONTEXT_MS: u32 = 300;
pub const DEFAULT_CROSSFADE_MS: u32 = 20;
pub const DEFAULT_SEARCH_MS: u32 = 10;

impl NeuralVoice {
    /// A voice from its files with every other setting at its default (as a config entry
    /// naming only `model`, `embedder` and `pitch` gets).
    pub fn from_files(model: String, embedder: String, pitch: PitchMethod) -> NeuralVoice {
        NeuralVoice {
            model,
            embedder,
            pitch,
            key: 0.0,
            formant: 0.0,
            speaker: 0,
            sample_rate: None,
            block_ms: DEFAULT_BLOCK_MS,
            // A voice from a file has no entry to say: it takes the block this server can do.
            auto_block: true,
            context_ms: DEFAULT_CONTEXT_MS,
            crossfade_ms: DEFAULT_CROSSFADE_MS,
            search_ms: DEFAULT_SEARCH_MS,
            denoise: false,
            silence_db: None,
            index: None,
            index_rate: DEFAULT_INDEX_RATE,
        }
    }
}

/// One problem: the key path below `voices.<id>` (empty for the entry) and why.
pub type Problem = (String, String);

fn join(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

fn show(value: &Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

struct Reader<'a> {
    path: String,
    map: &'a serde_json::Map<String, Value>,
    problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    fn expected(&mut self, key: &str, what: &str) {
        let reason = match self.map.get(key) {
            Some(v) => format!("expected {what}, got {}", show(v)),
            None => format!("missing; expected {what}"),
        };
        self.problems.push((join(&self.path, key), reason));
    }

    fn string(&mut self, key: &str, required: bool) -> Option<String> {
        match self.map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            None if !required => None,
            _ => {
                self.expected(key, "a non-empty string");
                None
            }
        }
    }

    fn number(&mut self, key: &str, min: f64, max: f64, default: f64) -> f32 {
        match self.map.get(key) {
            None => default as f32,
            Some(v) => match v.as_f64() {
                Some(n) if (min..=max).contains(&n) => n as f32,
                _ => {
                    self.expected(key, &format!("a number from {min} to {max}"));
                    default as f32
                }
            },
        }
    }

    fn int(&mut self, key: &str, min: u64, max: u64, default: u64) -> u64 {
        match self.map.get(key) {
            None => default,
            Some(v) => match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => n,
                _ => {
                    self.expected(key, &format!("an integer from {min} to {max}"));
                    default
                }
            },
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        match self.map.get(key) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.expected(key, "true or false");
                false
            }
        }
    }

    fn unknown_keys(&mut self, known: &[&str]) {
        let mut extra: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        extra.sort();
        for key in extra {
            self.problems.push((
                join(&self.path, key),
                format!("unknown key (expected one of: {})", known.join(", ")),
            ));
        }
    }
}

const DSP_KEYS: [&str; 6] = ["name", "kind", "pitch", "formant", "effect", "denoise"];
const NEURAL_KEYS: [&str; 18] = [
    "name",
    "kind",
    "model",
    "embedder",
    "pitch",
    "pitch_model",
    "key",
    "formant",
    "speaker",
    "sample_rate",
    "block_ms",
    "context_ms",
    "crossfade_ms",
    "search_ms",
    "denoise",
    "index",
    "index_rate",
    "silence_db",
];

/// Checks one `voices.<id>` entry. `path` is `voices.<id>`.
pub fn check_voice(path: &str, value: &Value) -> Result<VoiceConfig, Vec<Problem>> {
    let Value::Object(map) = value else {
        return Err(vec![(
            path.to_string(),
            format!("expected an object, got {}", show(value)),
        )]);
    };
    let mut r = Reader {
        path: path.to_string(),
        map,
        problems: Vec::new(),
    };
    let name = r.string("name", true);
    let kind = match map.get("kind").and_then(Value::as_str) {
        Some("dsp") => {
            r.unknown_keys(&DSP_KEYS);
            let pitch = r.number("pitch", -24.0, 24.0, 0.0);
            let formant = r.number("formant", -12.0, 12.0, 0.0);
            let effect = match map.get("effect") {
                None => DspEffect::None,
                Some(Value::String(s)) if s == "none" => DspEffect::None,
                Some(Value::String(s)) if s == "robot" => DspEffect::Robot,
                Some(Value::String(s)) if s == "radio" => DspEffect::Radio,
                Some(_) => {
                    r.expected("effect", "one of \"none\", \"robot\", \"radio\"");
                    DspEffect::None
                }
            };
            let denoise = r.boolean("denoise");
            Some(VoiceKind::Dsp(DspVoice {
                pitch,
                formant,
                effect,
                denoise,
            }))
        }
        Some("neural") => {
            r.unknown_keys(&NEURAL_KEYS);
            let model = r.string("model", true);
            let embedder = r.string("embedder", true);
            let pitch = match map.get("pitch").and_then(Value::as_str) {
                None if !map.contains_key("pitch") => Some(PitchMethod::Yin),
                Some("yin") => Some(PitchMethod::Yin),
                Some("rmvpe") => r.string("pitch_model", true).map(PitchMethod::Rmvpe),
                _ => {
                    r.expected("pitch", "\"yin\" or \"rmvpe\"");
                    None
                }
            };
            let key = r.number("key", -24.0, 24.0, 0.0);
            let formant = r.number("formant", -2.0, 2.0, 0.0);
            let speaker = r.int("speaker", 0, 10_000, 0) as i64;
            let sample_rate = match map.get("sample_rate") {
                None => None,
                Some(v) => match v.as_u64() {
                    Some(n @ (32000 | 40000 | 48000)) => Some(n as u32),
                    _ => {
                        r.expected("sample_rate", "32000, 40000 or 48000");
                        None
                    }
                },
            };
            let auto_block = map.get("block_ms").and_then(Value::as_str) == Some("auto");
            let block_ms = if auto_block {
                DEFAULT_BLOCK_MS
            } else {
                r.int("block_ms", 10, 1000, DEFAULT_BLOCK_MS.into()) as u32
            };
            let context_ms = r.int("context_ms", 0, 5000, DEFAULT_CONTEXT_MS.into()) as u32;
            let crossfade_ms = r.int("crossfade_ms", 1, 200, DEFAULT_CROSSFADE_MS.into()) as u32;
            let search_ms = r.int("search_ms", 0, 50, DEFAULT_SEARCH_MS.into()) as u32;
            if crossfade_ms > block_ms {
                r.problems.push((
                    join(path, "crossfade_ms"),
                    format!("must not exceed block_ms ({block_ms}), got {crossfade_ms}"),
                ));
            }
            let denoise = r.boolean("denoise");
            let index = r.string("index", false);
            let index_rate = r.number("index_rate", 0.0, 1.0, DEFAULT_INDEX_RATE.into());
            let silence_db = map
                .contains_key("silence_db")
                .then(|| r.number("silence_db", -100.0, 0.0, -100.0));
            if index.is_none() && map.contains_key("index_rate") {
                r.problems.push((
                    join(path, "index_rate"),
                    "set without an index (add \"index\": the voice's .index file)".into(),
                ));
            }
            match (model, embedder, pitch) {
                (Some(model), Some(embedder), Some(pitch)) => {
                    Some(VoiceKind::Neural(NeuralVoice {
                        model,
                        embedder,
                        pitch,
                        key,
                        formant,
                        speaker,
                        sample_rate,
                        block_ms,
                        auto_block,
                        context_ms,
                        crossfade_ms,
                        search_ms,
                        denoise,
                        silence_db,
                        index,
                        index_rate,
                    }))
                }
                _ => None,
            }
        }
        _ => {
            r.expected("kind", "\"dsp\" or \"neural\"");
            None
        }
    };
    match (name, kind) {
        (Some(name), Some(kind)) if r.problems.is_empty() => Ok(VoiceConfig { name, kind }),
        _ => Err(r.problems),
    }
}

/// Parses an ad-hoc voice id: `dsp:pitch=<semitones>[,formant=<semitones>]` (keys in any
/// order, each optional, plus `effect=robot|radio` and `denoise=true|false`).
pub fn parse_adhoc(id: &str) -> Option<Result<VoiceConfig, String>> {
    let spec = id.strip_prefix("dsp:")?;
    let mut voice = DspVoice {
        pitch: 0.0,
        formant: 0.0,
        effect: DspEffect::None,
        denoise: false,
    };
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Some(Err(format!(
                "voice {id:?}: {part:?} is not key=value (expected dsp:pitch=<semitones>[,formant=<semitones>])"
            )));
        };
        let number = |min: f32, max: f32| -> Result<f32, String> {
            match value.trim().parse::<f32>() {
                Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
                _ => Err(format!(
                    "voice {id:?}: {key} must be a number of semitones from {min} to {max}, got {value:?}"
                )),
            }
        };
        let result = match key.trim() {
            "pitch" => number(-24.0, 24.0).map(|v| voice.pitch = v),
            "formant" => number(-12.0, 12.0).map(|v| voice.formant = v),
            "effect" => match value.trim() {
                "none" => Ok(DspEffect::None),
                "robot" => Ok(DspEffect::Robot),
                "radio" => Ok(DspEffect::Radio),
                other => Err(format!(
                    "voice {id:?}: effect must be none, robot or radio, got {other:?}"
                )),
            }
            .map(|e| voice.effect = e),
            "denoise" => match value.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!(
                    "voice {id:?}: denoise must be true or false, got {other:?}"
                )),
            }
            .map(|d| voice.denoise = d),
            other => Err(format!(
                "voice {id:?}: unknown setting {other:?} (expected pitch, formant, effect or denoise)"
            )),
        };
        if let Err(e) = result {
            return Some(Err(e));
        }
    }
    Some(Ok(VoiceConfig {
        name: id.to_string(),
        kind: VoiceKind::Dsp(voice),
    }))
}
