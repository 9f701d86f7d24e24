//! What the face engine's tests share: the folders of the golden vectors and the stand-in
//! models, the vectors' files, and tract as the backend.

// Each test file uses its own part of this.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use studio_infer::{BackendChoice, ModelOptions};

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
