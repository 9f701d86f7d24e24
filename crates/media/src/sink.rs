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

/// A video sink that takes only the first `frames` frames: a file standing in for a device
/// would otherwise grow for as long as the run lasts.
pub struct FirstFrames {
    inner: Box<dyn VideoWrite>,
    left: u64,
}

impl FirstFrames {
    pub fn new(inner: Box<dyn VideoWrite>, frames: u64) -> FirstFrames {
        FirstFrames {
            inner,
            left: frames,
        }
    }
}

impl VideoWrite for FirstFrames {
    fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        if self.left == 0 {
            return Ok(());
        }
        self.left -= 1;
        self.inner.write(image)
    }
    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        self.inner.finish()
    }
}

/// An audio sink that takes only the first `samples` samples (see [`FirstFrames`]).
pub struct FirstSamples {
    inner: Box<dyn AudioWrite>,
    left: u64,
}

impl FirstSamples {
    pub fn new(inner: Box<dyn AudioWrite>, samples: u64) -> FirstSamples {
        FirstSamples {
            inner,
            left: samples,
        }
    }
}

impl AudioWrite for FirstSamples {
    fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        let take = samples
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if take == 0 {
            return Ok(());
        }
        self.left -= take as u64;
        self.inner.write(&samples[..take])
    }
    fn finish(self: Box<Self>) -> Result<(), MediaError> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<(u64, usize)>>);

    impl VideoWrite for Kept {
        fn write(&mut self, _: &I420Image) -> Result<(), MediaError> {
            self.0.lock().unwrap().0 += 1;
            Ok(())
        }
        fn finish(self: Box<Self>) -> Result<(), MediaError> {
            Ok(())
        }
    }

    impl AudioWrite for Kept {
        fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
            self.0.lock().unwrap().1 += samples.len();
            Ok(())
        }
        fn finish(self: Box<Self>) -> Result<(), MediaError> {
            Ok(())
        }
    }

    #[test]
    fn a_bounded_sink_keeps_the_first_frames_and_samples_only() {
        let kept = Kept::default();
        let mut video = FirstFrames::new(Box::new(kept.clone()), 3);
        let mut audio = FirstSamples::new(Box::new(kept.clone()), 1000);
        let image = I420Image::black(4, 4);
        for _ in 0..10 {
            video.write(&image).unwrap();
            audio.write(&[0.0; 480]).unwrap();
        }
        // 480 + 480 + the first 40 of the third block.
        assert_eq!(*kept.0.lock().unwrap(), (3, 1000));
        Box::new(video).finish().unwrap();
        Box::new(audio).finish().unwrap();
    }
}
