//! What travels from a session link through the lip-sync buffer to a sink: one processed
//! frame or block, with its capture time.

use studio_media::avsync::MediaKind;
use studio_media::{AudioBlock, Timestamp, VideoFrame};

/// A processed frame or block on its way out.
pub enum Item {
    Video(VideoFrame),
    Audio(AudioBlock),
}

impl Item {
    pub fn kind(&self) -> MediaKind {
        match self {
            Item::Video(_) => MediaKind::Video,
            Item::Audio(_) => MediaKind::Audio,
        }
    }

    /// When it was captured, on the run's capture clock.
    pub fn capture(&self) -> Timestamp {
        match self {
            Item::Video(frame) => frame.capture,
            Item::Audio(block) => block.capture,
        }
    }
}
