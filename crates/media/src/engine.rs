//! The traits a server runs media through. The face and voice engines implement them; until
//! they do, the identity processors pass media through untouched. Live settings arrive as
//! media-level values: the server maps the wire's control messages onto them, so engines and
//! this crate know nothing of the protocol.

use crate::audio::AudioBlock;
use crate::video::VideoFrame;

/// A live setting for a video processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoSetting {
    /// Swap every face in the picture (up to the processor's bound), or only the largest
    /// (the default).
    AllFaces(bool),
    /// Face mapping: `(person, wears)` pairs of uploaded faces' ids; the person the first
    /// shows wears the second's identity, faces that are no one's pass. Empty: off.
    People(Vec<(String, String)>),
    /// Match the swapped face's colours to the frame's lighting (on by default), or not.
    ColourTransfer(bool),
    /// Swap to this target face (an uploaded face's id); `None` stops swapping.
    Face(Option<String>),
    /// Keep the person's own mouth over the swapped face (off by default).
    MouthMask(bool),
    /// Keep what is in front of the face (hands, glasses, a microphone) as it came, through
    /// the occlusion model (off by default).
    Occlusion(bool),
    /// Paste the swapped face only on the face parser's face regions, keeping the person's
    /// own hair, ears and neck (off by default).
    RegionMask(bool),
    /// Swap at this many times the swapper's size, in tiles (1, the default, 2 or 4).
    PixelBoost(u32),
    /// Run this swapper (a model id); the processor's owner loads it.
    Swapper(String),
    /// Restore the swapped face with this face enhancer (a model id such as `gfpgan_1.4`);
    /// `None` turns it off (the default).
    Enhancer(Option<String>),
    /// How much of the enhanced face shows over the swapped one, 0 to 100 (80 by default).
    EnhancerStrength(u8),
    /// Run the enhancer's network on every Nth frame only (`Some(1)` on every frame); the
    /// frames between reuse its last answer. `None`, the default, leaves N to the processor,
    /// which picks the smallest that keeps up with the camera.
    EnhanceEvery(Option<u32>),
}

/// How often a video processor's face enhancer runs its network, for status.
#[derive(Debug, Clone, PartialEq)]
pub struct EnhancerPace {
    /// The network runs on every `every`th frame.
    pub every: u32,
    /// Whether the processor picked `every` from the frame budget (else the session did).
    pub automatic: bool,
    /// The camera's frame rate as the processor measured it.
    pub fps: f64,
    /// Why even the rarest runs do not keep up with the camera, in words; `None` while they
    /// do.
    pub limit: Option<String>,
}

/// A live setting for an audio processor.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSetting {
    /// Convert to this voice (a catalog id or an ad-hoc `dsp:` spec).
    Voice(String),
    /// The talk key's state: audio is converted only while talking.
    Talk(bool),
    /// While on, audio passes as captured, unconverted.
    PassThrough(bool),
    /// Move every voice's pitch by `key` and its formants by `formant` semitones, on top of
    /// its own settings (voices without a pitch stage go on unchanged).
    Shift { key: f32, formant: f32 },
}

/// Turns camera frames into processed frames, one in, one out.
pub trait VideoProcessor: Send {
    /// A short name for status, e.g. `identity` or `inswapper`.
    fn name(&self) -> &str;
    /// Process one frame. The output keeps the input's `seq` and `capture`.
    fn process(&mut self, frame: VideoFrame) -> VideoFrame;
    /// Apply a live setting from the next frame on. An error leaves the previous setting.
    fn apply(&mut self, setting: &VideoSetting) -> Result<(), String>;
    /// How often the face enhancer runs, while one is on.
    fn enhancer_pace(&self) -> Option<EnhancerPace> {
        None
    }
}

/// Turns microphone blocks into processed blocks of the same length, in order.
pub trait AudioProcessor: Send {
    fn name(&self) -> &str;
    /// Process one block. The output has as many samples as the input and keeps its `seq`
    /// and `capture`; an engine with look-ahead delays its content, not the block.
    fn process(&mut self, block: AudioBlock) -> AudioBlock;
    /// Apply a live setting from the next block on. An error leaves the previous setting.
    fn apply(&mut self, setting: &AudioSetting) -> Result<(), String>;
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
    fn apply(&mut self, _setting: &VideoSetting) -> Result<(), String> {
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
    fn apply(&mut self, _setting: &AudioSetting) -> Result<(), String> {
        Ok(())
    }
}
