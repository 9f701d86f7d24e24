//! Sources: where frames and samples come from. The pipeline pulls from them at the capture
//! pace and stamps each frame or block with its capture time.

use crate::{I420Image, MediaError};
use std::path::PathBuf;

/// Frame rate as a fraction, as Y4M stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    pub num: u32,
    pub den: u32,
}

impl FrameRate {
    pub fn per_second(fps: u32) -> FrameRate {
        FrameRate { num: fps, den: 1 }
    }
    /// Frames per second as a float, for pacing.
    pub fn as_f64(self) -> f64 {
        self.num as f64 / self.den.max(1) as f64
    }
}

/// Size and pace of a video stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoFormat {
    pub width: u32,
    pub height: u32,
    pub rate: FrameRate,
}

/// Yields I420 images one after another.
pub trait VideoSource: Send {
    fn format(&self) -> VideoFormat;
    /// The next image, or `None` at the end of a finite source.
    fn next_image(&mut self) -> Result<Option<I420Image>, MediaError>;
}

/// Yields mono samples at `sample_rate()`.
pub trait AudioSource: Send {
    fn sample_rate(&self) -> u32;
    /// Up to `n` samples (exactly `n` unless the source ends); `None` at the end.
    fn read(&mut self, n: usize) -> Result<Option<Vec<f32>>, MediaError>;
}

/// What `--video-in` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoInput {
    /// Moving pattern with the frame number encoded in its pixels.
    Test,
    /// A white frame once a second, dark otherwise.
    Sync,
    /// A Y4M file.
    File(PathBuf),
}

/// What `--audio-in` names.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioInput {
    /// A sine at this frequency in Hz.
    Tone(f64),
    /// A 10 ms click once a second, at the instants the sync video flashes.
    Sync,
    /// A WAV file.
    File(PathBuf),
}

impl VideoInput {
    /// `test`, `sync`, or a path ending in `.y4m`.
    pub fn parse(spec: &str) -> Result<VideoInput, MediaError> {
        todo!("{spec}")
    }
}

impl AudioInput {
    /// `tone:<Hz>`, `sync`, or a path ending in `.wav`.
    pub fn parse(spec: &str) -> Result<AudioInput, MediaError> {
        todo!("{spec}")
    }
}

/// Open a video source. Synthetic sources take the size and rate from `default_format`;
/// files keep their own.
pub fn open_video(
    input: &VideoInput,
    default_format: VideoFormat,
) -> Result<Box<dyn VideoSource>, MediaError> {
    todo!("{input:?}{default_format:?}")
}

/// Open an audio source producing mono at `sample_rate`. A file at another rate or with
/// several channels is an error that says so (resampling arrives with the voice engine).
pub fn open_audio(
    input: &AudioInput,
    sample_rate: u32,
) -> Result<Box<dyn AudioSource>, MediaError> {
    todo!("{input:?}{sample_rate}")
}
