//! Y4M (YUV4MPEG2) files: the headless stand-in for a camera and a virtual camera.

use crate::source::{VideoFormat, VideoSource};
use crate::{I420Image, MediaError};
use std::path::Path;

/// Reads 4:2:0 Y4M files (`C420`, `C420jpeg`, `C420paldv`, `C420mpeg2`, or no `C`); other
/// colour spaces are an error naming the one found.
pub struct Y4mReader {
    // filled by the implementation
}

impl Y4mReader {
    pub fn open(path: &Path) -> Result<Y4mReader, MediaError> {
        todo!("{path:?}")
    }
}

/// Writes I420 frames as a `C420jpeg` Y4M file.
pub struct Y4mWriter {
    // filled by the implementation
}

impl Y4mWriter {
    pub fn create(path: &Path, format: VideoFormat) -> Result<Y4mWriter, MediaError> {
        todo!("{path:?}{format:?}")
    }
    /// The image must have the file's size.
    pub fn write(&mut self, image: &I420Image) -> Result<(), MediaError> {
        todo!("{image:?}")
    }
    /// Flush and close; returns the frames written.
    pub fn finish(self) -> Result<u64, MediaError> {
        todo!()
    }
}
