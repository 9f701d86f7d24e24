//! Video images and frames: I420 (what travels) and packed RGB (what models see), with
//! BT.601 limited-range conversion between them.

use crate::{MediaError, Timestamp};

/// A planar YUV 4:2:0 image: the Y plane, then U, then V, each tightly packed. Chroma planes
/// are `ceil(width/2) × ceil(height/2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Image {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// Packed 8-bit RGB, row by row, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// One video frame in flight: the image plus its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Position in the stream, from 0, assigned at capture.
    pub seq: u64,
    pub capture: Timestamp,
    pub image: I420Image,
}

impl I420Image {
    /// Bytes an I420 image of this size takes.
    pub fn byte_len(width: u32, height: u32) -> usize {
        todo!("{width}{height}")
    }

    /// A black image (Y 16, U and V 128).
    pub fn black(width: u32, height: u32) -> I420Image {
        todo!("{width}{height}")
    }

    /// Wrap planes read from a file or a socket; the length must match the size.
    pub fn from_data(width: u32, height: u32, data: Vec<u8>) -> Result<I420Image, MediaError> {
        todo!("{width}{height}{data:?}")
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    /// All three planes, Y then U then V.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }
    pub fn chroma_height(&self) -> u32 {
        self.height.div_ceil(2)
    }
    /// `(y, u, v)` planes.
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        todo!()
    }
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        todo!()
    }

    /// BT.601 limited range to full-range RGB; chroma is shared by each 2×2 block.
    pub fn to_rgb(&self) -> RgbImage {
        todo!()
    }
}

impl RgbImage {
    pub fn new(width: u32, height: u32) -> RgbImage {
        todo!("{width}{height}")
    }
    pub fn from_data(width: u32, height: u32, data: Vec<u8>) -> Result<RgbImage, MediaError> {
        todo!("{width}{height}{data:?}")
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        todo!("{x}{y}")
    }

    /// Full-range RGB to BT.601 limited range; each chroma sample averages its 2×2 block.
    pub fn to_i420(&self) -> I420Image {
        todo!()
    }
}
