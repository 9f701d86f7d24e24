//! Plain types shared by the studio app and its servers: configuration, HTTP API bodies,
//! control messages and status. Nothing here does I/O.

pub mod api;
pub mod config;
pub mod config_file;
pub mod control;
pub mod voices;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which half of the pipeline a server runs: one binary, two roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Face swap on camera video.
    Video,
    /// Voice conversion on microphone audio.
    Audio,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Video, Role::Audio];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Video => "video",
            Role::Audio => "audio",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "video" => Ok(Role::Video),
            "audio" => Ok(Role::Audio),
            other => Err(format!("expected \"video\" or \"audio\", got {other:?}")),
        }
    }
}
