//! Where processed media goes: one trait per kind, implemented by files (Y4M, WAV) and by
//! devices (virtual camera, virtual microphone, an output device), so a sink can feed any mix.

use crate::error::MediaError;
use crate::video::I420Image;
use crate::wav::WavWriter;
use crate::y4m::Y4mWriter;

/// Takes frames in presentation order.
pub trait VideoWrite: Send {
    fn write(&mut self, image: &I420Image) -> Result<(), MediaError>;
    /// Flush and close; called once at the end of a run.
    fn finish(self: Box<Self>) -> Result<(), MediaError>;
}

/// Takes mono samples in presentation order.
pub trait AudioWrite: Send {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError>;
    /// Flush and close; called once at the end of a run.
    fn finish(self: Box<Self>) -> Result<(), MediaError>;
}

impl VideoWrite for Y4mWriter {
    fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        Y4mWriter::write(self, image)
    }
    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        Y4mWriter::finish(*self).map(|_| ())
    }
}

impl AudioWrite for WavWriter {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        WavWriter::write(self, samples)
    }
    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        WavWriter::finish(*self).map(|_| ())
    }
}
