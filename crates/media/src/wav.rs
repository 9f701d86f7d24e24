//! WAV files: the headless stand-in for a microphone and a virtual microphone.

use crate::MediaError;
use crate::source::AudioSource;
use std::path::Path;

/// Reads PCM 16/24/32-bit integer or 32-bit float WAV files as f32 in [-1, 1].
pub struct WavReader {
    // filled by the implementation
}

impl WavReader {
    pub fn open(path: &Path) -> Result<WavReader, MediaError> {
        todo!("{path:?}")
    }
    pub fn channels(&self) -> u16 {
        todo!()
    }
}

/// Writes mono 32-bit float WAV, so f32 samples round-trip exactly.
pub struct WavWriter {
    // filled by the implementation
}

impl WavWriter {
    pub fn create(path: &Path, sample_rate: u32) -> Result<WavWriter, MediaError> {
        todo!("{path:?}{sample_rate}")
    }
    pub fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        todo!("{samples:?}")
    }
    /// Flush and close; returns the samples written.
    pub fn finish(self) -> Result<u64, MediaError> {
        todo!()
    }
}
