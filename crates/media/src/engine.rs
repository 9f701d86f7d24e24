//! The traits a server runs media through. The face and voice engines implement them; until
//! they do, the identity processors pass media through untouched.

use crate::{AudioBlock, VideoFrame};
use studio_proto::control::Control;

/// Turns camera frames into processed frames, one in, one out.
pub trait VideoProcessor: Send {
    /// A short name for status, e.g. `identity` or `inswapper`.
    fn name(&self) -> &str;
    /// Process one frame. The output keeps the input's `seq` and `capture`.
    fn process(&mut self, frame: VideoFrame) -> VideoFrame;
    /// Apply a live setting from the next frame on. An error leaves the previous setting.
    fn apply(&mut self, control: &Control) -> Result<(), String>;
}

/// Turns microphone blocks into processed blocks of the same length, in order.
pub trait AudioProcessor: Send {
    fn name(&self) -> &str;
    /// Process one block. The output has as many samples as the input and keeps its `seq`
    /// and `capture`; an engine with look-ahead delays its content, not the block.
    fn process(&mut self, block: AudioBlock) -> AudioBlock;
    fn apply(&mut self, control: &Control) -> Result<(), String>;
    /// Blocks that went through conversion (not those the talk gate silenced), for status.
    fn converted_blocks(&self) -> u64 {
        0
    }
}

/// Passes frames through unchanged; accepts every setting.
#[derive(Debug, Default)]
pub struct IdentityVideo;

impl VideoProcessor for IdentityVideo {
    fn name(&self) -> &str {
        "identity"
    }
    fn process(&mut self, frame: VideoFrame) -> VideoFrame {
        frame
    }
    fn apply(&mut self, _control: &Control) -> Result<(), String> {
        Ok(())
    }
}

/// Passes blocks through unchanged; accepts every setting.
#[derive(Debug, Default)]
pub struct IdentityAudio;

impl AudioProcessor for IdentityAudio {
    fn name(&self) -> &str {
        "identity"
    }
    fn process(&mut self, block: AudioBlock) -> AudioBlock {
        block
    }
    fn apply(&mut self, _control: &Control) -> Result<(), String> {
        Ok(())
    }
}
