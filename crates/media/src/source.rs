//! Sources: where frames and samples come from. The pipeline pulls from them at the capture
//! pace and stamps each frame or block with its capture time. Which source a spec names and
//! how to open it is `input.rs`'s job (cameras and microphones are opened by `studio-devices`).

use crate::error::MediaError;
use crate::health::CameraHealth;
use crate::video::I420Image;

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
    /// A camera's state and counters; `None` for sources that cannot be unplugged.
    fn camera_health(&self) -> Option<CameraHealth> {
        None
    }
}

/// Yields mono samples at `sample_rate()`.
pub trait AudioSource: Send {
    fn sample_rate(&self) -> u32;
    /// Up to `n` samples (exactly `n` unless the source ends); `None` at the end.
    fn read(&mut self, n: usize) -> Result<Option<Vec<f32>>, MediaError>;
}
