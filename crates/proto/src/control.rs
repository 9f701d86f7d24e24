//! Live settings sent from the app to a server during a session. They apply from the next
//! frame or block, with no renegotiation.

use serde::{Deserialize, Serialize};

/// One live setting change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Use this target face (an id from `POST /v1/faces`); `None` stops swapping.
    SetFace { face_id: Option<String> },
    /// Use this voice (an id from `GET /v1/voices` or an ad-hoc `dsp:` spec).
    SetVoice { voice_id: String },
    /// The talk key's state: audio is converted only while talking.
    Talk { active: bool },
    /// While active, the voice goes out as captured, unconverted (the own-voice key).
    PassThrough { active: bool },
    /// Keep the person's own mouth over the swapped face (natural speech), or not.
    MouthMask { on: bool },
    /// Match the swapped face's colours to the room's light (the default), or not.
    ColourTransfer { on: bool },
    /// Keep what is in front of the face (hands, glasses, a microphone) as it came, through
    /// the occlusion model, or not (the default).
    Occlusion { on: bool },
    /// Paste the swapped face only where the face parser sees the face itself (skin, brows,
    /// eyes, nose, mouth), keeping the person's own hair, ears and neck, or not (the default).
    RegionMask { on: bool },
    /// Swap every face in the picture (a bounded number, largest first), or only the
    /// largest (the default).
    AllFaces { on: bool },
    /// Face mapping: each person the camera shows (known by an uploaded face) wears their
    /// own uploaded face; faces that are no one's pass as they came. Empty turns it off.
    MapPeople { pairs: Vec<PersonWears> },
    /// Swap the face at this many times the swapper's size, in `factor²` tiles (1, the
    /// default, 2 or 4: [`PIXEL_BOOSTS`]): more detail for `factor²` times the swapper's cost.
    PixelBoost { factor: u32 },
    /// Run this swapper (a `models` id: `config::DEFAULT_SWAPPER` or one of
    /// `config::SWAPPER_MODELS`). The swapper is the video server's: every session there
    /// changes with it, once its model (and converter) is on the server.
    Swapper { model_id: String },
    /// Move the voice's pitch by `key` semitones (±[`VOICE_KEY_RANGE`]) and its formants by
    /// `formant` (±[`VOICE_FORMANT_RANGE`]), on top of the voice's own settings, for every
    /// voice from now on.
    VoiceShift { key: f32, formant: f32 },
    /// Restore the swapped face with this face enhancer (one of
    /// [`crate::config::ENHANCER_MODEL_IDS`]), or not (`None`, the default).
    Enhancer { model: Option<String> },
    /// How much of the enhanced face shows over the swapped one, 0 to 100 (80 by default).
    EnhancerStrength { strength: u8 },
    /// How often the enhancer's network runs: on every Nth frame, the frames between reusing
    /// its last answer, or `"auto"` (the default): the server picks the smallest N that
    /// keeps up with the camera. A number, as earlier apps send it, reads as that N.
    EnhanceEvery { frames: EnhanceEvery },
}

/// The most frames one enhancer answer is reused for ([`Control::EnhanceEvery`]).
pub const MAX_ENHANCE_EVERY: u32 = 30;

/// How often the face enhancer's network runs: on the wire a number of frames or `"auto"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EnhanceEveryWire", into = "EnhanceEveryWire")]
pub enum EnhanceEvery {
    /// The smallest N that keeps up with the camera, chosen and changed by the server.
    #[default]
    Auto,
    /// On every this many frames, 1 to [`MAX_ENHANCE_EVERY`].
    Frames(u32),
}

/// [`EnhanceEvery`] as JSON has it: `3` or `"auto"`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EnhanceEveryWire {
    Frames(u32),
    Word(String),
}

impl TryFrom<EnhanceEveryWire> for EnhanceEvery {
    type Error = String;
    fn try_from(wire: EnhanceEveryWire) -> Result<Self, String> {
        match wire {
            EnhanceEveryWire::Frames(n) => Ok(EnhanceEvery::Frames(n)),
            EnhanceEveryWire::Word(w) => w.parse(),
        }
    }
}

impl From<EnhanceEvery> for EnhanceEveryWire {
    fn from(every: EnhanceEvery) -> Self {
        match every {
            EnhanceEvery::Auto => EnhanceEveryWire::Word("auto".into()),
            EnhanceEvery::Frames(n) => EnhanceEveryWire::Frames(n),
        }
    }
}

impl EnhanceEvery {
    /// Why it is refused, if it is: a number of frames out of range.
    pub fn check(self) -> Result<(), String> {
        match self {
            EnhanceEvery::Frames(n) if !(1..=MAX_ENHANCE_EVERY).contains(&n) => Err(format!(
                "the enhancer runs every 1 to {MAX_ENHANCE_EVERY} frames, or auto; not {n}"
            )),
            _ => Ok(()),
        }
    }

    /// The number of frames, `None` for automatic.
    pub fn frames(self) -> Option<u32> {
        match self {
            EnhanceEvery::Auto => None,
            EnhanceEvery::Frames(n) => Some(n),
        }
    }
}

impl std::fmt::Display for EnhanceEvery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnhanceEvery::Auto => f.write_str("auto"),
            EnhanceEvery::Frames(n) => write!(f, "{n}"),
        }
    }
}

/// `auto` or a number of frames (as command lines take it), checked.
impl std::str::FromStr for EnhanceEvery {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let every = match s.trim() {
            "auto" => EnhanceEvery::Auto,
            n => EnhanceEvery::Frames(n.parse().map_err(|_| {
                format!("auto or a number of frames from 1 to {MAX_ENHANCE_EVERY}, not {s:?}")
            })?),
        };
        every.check()?;
        Ok(every)
    }
}

/// How often a session's face enhancer runs now, as status reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnhancerPace {
    /// The network runs on every `every`th frame.
    pub every: u32,
    /// Whether the server picked `every` from the frame budget (the session asked for
    /// `auto`).
    pub automatic: bool,
    /// The camera's frame rate as the server measured it.
    pub fps: f64,
    /// Why even the rarest runs do not keep up with the camera, in words; `None` while they
    /// do.
    #[serde(default)]
    pub limit: Option<String>,
}

/// The most pairs [`Control::MapPeople`] holds: each person is a swap on every frame they
/// are in.
pub const MAX_PEOPLE: usize = 8;

/// One pair of a face map: the person an uploaded face shows, and the uploaded face they
/// wear (both ids from `POST /v1/faces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonWears {
    pub person: String,
    pub wears: String,
}

/// How far [`Control::VoiceShift`] moves the pitch, in semitones either way.
pub const VOICE_KEY_RANGE: f32 = 24.0;
/// How far [`Control::VoiceShift`] moves the formants, in semitones either way: RVC's
/// real-time range, beyond which voices fall apart.
pub const VOICE_FORMANT_RANGE: f32 = 2.0;

/// The pixel boosts a swapper runs at ([`Control::PixelBoost`]).
pub const PIXEL_BOOSTS: [u32; 3] = [1, 2, 4];

/// Why a pixel boost is refused, if it is.
pub fn check_pixel_boost(factor: u32) -> Result<(), String> {
    if PIXEL_BOOSTS.contains(&factor) {
        Ok(())
    } else {
        Err(format!("pixel boost must be 1, 2 or 4, got {factor}"))
    }
}

/// Why a voice shift is refused, if it is.
pub fn check_voice_shift(key: f32, formant: f32) -> Result<(), String> {
    if !(key.is_finite() && key.abs() <= VOICE_KEY_RANGE) {
        return Err(format!(
            "key must be a number of semitones from -{VOICE_KEY_RANGE} to {VOICE_KEY_RANGE}, got {key}"
        ));
    }
    if !(formant.is_finite() && formant.abs() <= VOICE_FORMANT_RANGE) {
        return Err(format!(
            "formant must be a number of semitones from -{VOICE_FORMANT_RANGE} to {VOICE_FORMANT_RANGE}, got {formant}"
        ));
    }
    Ok(())
}

impl Control {
    /// The optional model (a `models` id) this control needs the video server to have: the
    /// occlusion mask's and the region mask's, when they are turned on.
    pub fn needs_model(&self) -> Option<&'static str> {
        match self {
            Control::Occlusion { on: true } => Some(crate::config::OCCLUSION_MODEL_ID),
            Control::RegionMask { on: true } => Some(crate::config::PARSER_MODEL_ID),
            Control::Enhancer { model: Some(model) } => crate::config::ENHANCER_MODEL_IDS
                .into_iter()
                .find(|id| id == model),
            _ => None,
        }
    }

    /// The one role this control is for; `None` when both take it (the talk key).
    pub fn role(&self) -> Option<crate::Role> {
        match self {
            Control::SetFace { .. } => Some(crate::Role::Video),
            Control::SetVoice { .. } => Some(crate::Role::Audio),
            Control::Talk { .. } => None,
            Control::PassThrough { .. } | Control::VoiceShift { .. } => Some(crate::Role::Audio),
            Control::MouthMask { .. }
            | Control::ColourTransfer { .. }
            | Control::Occlusion { .. }
            | Control::RegionMask { .. }
            | Control::AllFaces { .. }
            | Control::MapPeople { .. }
            | Control::Enhancer { .. }
            | Control::EnhancerStrength { .. }
            | Control::EnhanceEvery { .. } => Some(crate::Role::Video),
            Control::PixelBoost { .. } | Control::Swapper { .. } => Some(crate::Role::Video),
        }
    }
}

/// A server's answer to one control message, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlAck {
    /// The sequence number the app gave the control message.
    pub seq: u64,
    /// `None` when the setting was applied; otherwise why not (the previous setting stays).
    pub error: Option<String>,
}

/// The settings a session runs with now, as reported in status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveSettings {
    pub face_id: Option<String>,
    pub voice_id: Option<String>,
    pub talk: Option<bool>,
    #[serde(default)]
    pub pass_through: Option<bool>,
    #[serde(default)]
    pub mouth_mask: Option<bool>,
    #[serde(default)]
    pub colour_transfer: Option<bool>,
    #[serde(default)]
    pub occlusion: Option<bool>,
    #[serde(default)]
    pub region_mask: Option<bool>,
    #[serde(default)]
    pub all_faces: Option<bool>,
    #[serde(default)]
    pub people: Option<Vec<PersonWears>>,
    /// The pixel boost's factor.
    #[serde(default)]
    pub pixel_boost: Option<u32>,
    /// The swapper asked for (a `models` id).
    #[serde(default)]
    pub swapper: Option<String>,
    /// The voice shift's key and formant, in semitones.
    #[serde(default)]
    pub voice_shift: Option<(f32, f32)>,
    /// The face enhancer's model id, `None` while it is off.
    #[serde(default)]
    pub enhancer: Option<String>,
    #[serde(default)]
    pub enhancer_strength: Option<u8>,
    #[serde(default)]
    pub enhance_every: Option<EnhanceEvery>,
}

impl LiveSettings {
    /// Record a control message that an engine accepted.
    pub fn apply(&mut self, control: &Control) {
        match control {
            Control::SetFace { face_id } => self.face_id = face_id.clone(),
            Control::SetVoice { voice_id } => self.voice_id = Some(voice_id.clone()),
            Control::Talk { active } => self.talk = Some(*active),
            Control::PassThrough { active } => self.pass_through = Some(*active),
            Control::MouthMask { on } => self.mouth_mask = Some(*on),
            Control::ColourTransfer { on } => self.colour_transfer = Some(*on),
            Control::Occlusion { on } => self.occlusion = Some(*on),
            Control::RegionMask { on } => self.region_mask = Some(*on),
            Control::AllFaces { on } => self.all_faces = Some(*on),
            Control::MapPeople { pairs } => self.people = Some(pairs.clone()),
            Control::PixelBoost { factor } => self.pixel_boost = Some(*factor),
            Control::Swapper { model_id } => self.swapper = Some(model_id.clone()),
            Control::VoiceShift { key, formant } => self.voice_shift = Some((*key, *formant)),
            Control::Enhancer { model } => self.enhancer = model.clone(),
            Control::EnhancerStrength { strength } => self.enhancer_strength = Some(*strength),
            Control::EnhanceEvery { frames } => self.enhance_every = Some(*frames),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enhancer_needs_its_own_model_and_reads_as_plain_json() {
        let on = Control::Enhancer {
            model: Some("gpen_bfr_256".into()),
        };
        assert_eq!(on.needs_model(), Some("gpen_bfr_256"));
        assert_eq!(on.role(), Some(crate::Role::Video));
        let unknown = Control::Enhancer {
            model: Some("codeformer".into()),
        };
        assert_eq!(unknown.needs_model(), None, "not a model the config lists");
        assert_eq!(Control::Enhancer { model: None }.needs_model(), None);
        let json = serde_json::to_value(&on).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "enhancer", "model": "gpen_bfr_256"})
        );
        let strength: Control =
            serde_json::from_str(r#"{"type":"enhancer_strength","strength":60}"#).unwrap();
        assert_eq!(strength, Control::EnhancerStrength { strength: 60 });
        let mut live = LiveSettings::default();
        let every: Control =
            serde_json::from_str(r#"{"type":"enhance_every","frames":3}"#).unwrap();
        assert_eq!(
            every,
            Control::EnhanceEvery {
                frames: EnhanceEvery::Frames(3)
            },
            "a number, as earlier apps send it"
        );
        for c in [on, strength, every] {
            live.apply(&c);
        }
        assert_eq!(live.enhancer.as_deref(), Some("gpen_bfr_256"));
        assert_eq!(
            (live.enhancer_strength, live.enhance_every),
            (Some(60), Some(EnhanceEvery::Frames(3)))
        );
    }

    #[test]
    fn the_enhancers_rate_is_auto_or_a_number_of_frames_on_the_wire() {
        let auto = Control::EnhanceEvery {
            frames: EnhanceEvery::Auto,
        };
        let json = serde_json::to_value(&auto).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "enhance_every", "frames": "auto"})
        );
        assert_eq!(serde_json::from_value::<Control>(json).unwrap(), auto);
        let two = serde_json::to_value(EnhanceEvery::Frames(2)).unwrap();
        assert_eq!(two, serde_json::json!(2));
        assert!(serde_json::from_str::<EnhanceEvery>(r#""sometimes""#).is_err());
        assert_eq!(EnhanceEvery::default(), EnhanceEvery::Auto);
        assert_eq!("auto".parse(), Ok(EnhanceEvery::Auto));
        assert_eq!("4".parse(), Ok(EnhanceEvery::Frames(4)));
        assert!("0".parse::<EnhanceEvery>().is_err());
        assert!("31".parse::<EnhanceEvery>().is_err());
        assert!(EnhanceEvery::Frames(MAX_ENHANCE_EVERY + 1).check().is_err());
        assert_eq!(EnhanceEvery::Frames(7).to_string(), "7");
        // A status from an earlier server, its rate a number.
        let live: LiveSettings = serde_json::from_str(
            r#"{"face_id":null,"voice_id":null,"talk":null,"enhance_every":5}"#,
        )
        .unwrap();
        assert_eq!(live.enhance_every, Some(EnhanceEvery::Frames(5)));
    }
}
