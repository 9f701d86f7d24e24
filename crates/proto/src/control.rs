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
}

impl Control {
    /// The one role this control is for; `None` when both take it (the talk key).
    pub fn role(&self) -> Option<crate::Role> {
        match self {
            Control::SetFace { .. } => Some(crate::Role::Video),
            Control::SetVoice { .. } => Some(crate::Role::Audio),
            Control::Talk { .. } => None,
            Control::PassThrough { .. } => Some(crate::Role::Audio),
            Control::MouthMask { .. }
            | Control::ColourTransfer { .. }
            | Control::Occlusion { .. } => Some(crate::Role::Video),
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
        }
    }
}
