//! Synthetic sources for tests and demos: a moving test pattern that carries its frame
//! number, a tone, and the flash/click pair used to measure lip sync.

use crate::I420Image;
use crate::source::{AudioSource, VideoFormat, VideoSource};

/// Moving colour bars with the frame number written as 32 black/white bit cells along the top
/// row, readable back with [`read_frame_number`] even after mild lossy coding.
pub struct TestPattern {
    format: VideoFormat,
    frame: u64,
}

impl TestPattern {
    pub fn new(format: VideoFormat) -> TestPattern {
        TestPattern { format, frame: 0 }
    }
}

/// Read the frame number a [`TestPattern`] wrote; `None` if the cells are not there.
pub fn read_frame_number(image: &I420Image) -> Option<u64> {
    todo!("{image:?}")
}

/// White (Y 235) on the first frame of each second, dark (Y 16) on the others.
pub struct SyncFlash {
    format: VideoFormat,
    frame: u64,
}

impl SyncFlash {
    pub fn new(format: VideoFormat) -> SyncFlash {
        SyncFlash { format, frame: 0 }
    }
}

/// A continuous sine at amplitude 0.5.
pub struct Tone {
    hz: f64,
    sample_rate: u32,
    sample: u64,
}

impl Tone {
    pub fn new(hz: f64, sample_rate: u32) -> Tone {
        Tone {
            hz,
            sample_rate,
            sample: 0,
        }
    }
}

/// A 10 ms click (1 kHz burst at amplitude 0.8) at the start of every second, silence
/// (exact zeros) otherwise: the audio twin of [`SyncFlash`].
pub struct SyncClick {
    sample_rate: u32,
    sample: u64,
}

impl SyncClick {
    pub fn new(sample_rate: u32) -> SyncClick {
        SyncClick {
            sample_rate,
            sample: 0,
        }
    }
}
