//! What the face engine's tests share: the folders of the golden vectors and the stand-in
//! models, the vectors' files, tract as the backend, a moving picture, and where a swap
//! changed the picture.

// Each test file uses its own part of this.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use studio_infer::{BackendChoice, ModelOptions};
use studio_media::{RgbImage, VideoFrame};

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models")
}

/// The index `name` (a `.json` file) of a set of golden vectors.
pub fn index(name: &str) -> Value {
    let text = std::fs::read_to_string(golden_dir().join(name)).expect("a golden index");
    serde_json::from_str(&text).expect("a JSON golden index")
}

/// The bytes of the file an index entry names.
pub fn read(entry: &Value) -> Vec<u8> {
    let name = entry["file"].as_str().expect("a file name");
    std::fs::read(golden_dir().join(name)).expect("a golden file")
}

/// The little-endian `f32`s of the file an index entry names.
pub fn floats(entry: &Value) -> Vec<f32> {
    read(entry)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

pub fn tract() -> ModelOptions {
    ModelOptions {
        backend: BackendChoice::Tract,
        ..ModelOptions::default()
    }
}

/// The 640×360 window of `base` whose left edge is at `x0`: sliding it a few pixels a frame
/// across a wider picture moves the stand-in detector's faces with it.
pub fn window_of(base: &RgbImage, x0: u32) -> RgbImage {
    let (w, h) = (640usize, 360usize);
    let mut img = RgbImage::new(w as u32, h as u32);
    let stride = base.width() as usize * 3;
    let x0 = x0 as usize * 3;
    for (y, row) in img.data_mut().chunks_exact_mut(w * 3).enumerate() {
        row.copy_from_slice(&base.data()[y * stride + x0..][..w * 3]);
    }
    img
}

/// Whether pixel `(x, y)` lies in `b` (`[x1, y1, x2, y2]`), its edges rounded outwards.
pub fn inside(b: &[f32; 4], x: u32, y: u32) -> bool {
    let (x, y) = (x as f32, y as f32);
    x >= b[0].floor() && x <= b[2].ceil() && y >= b[1].floor() && y <= b[3].ceil()
}

/// The luma positions `out` changed from `input`, as `(x, y)`.
pub fn changed_luma(input: &VideoFrame, out: &VideoFrame) -> Vec<(u32, u32)> {
    let w = input.image.width();
    let (yi, _, _) = input.image.planes();
    let (yo, _, _) = out.image.planes();
    yi.iter()
        .zip(yo)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| (i as u32 % w, i as u32 / w))
        .collect()
}
