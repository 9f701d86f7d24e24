//! The voice engine: turns microphone audio into another voice in small blocks, only while
//! the talk key is held.
//!
//! - [`gate`]: the talk gate (pre-roll, hang time), a state machine over sample time;
//! - [`convert`]: the stream interface voices implement;
//! - [`pitch_shift`], [`effects`], [`denoise`]: DSP voices (no model, 20 ms);
//! - [`streamer`]: block streaming with SOLA alignment and sin² crossfades;
//! - [`neural`], [`yin`], [`resample`]: RVC v2 voices on ONNX models, [`index`] their
//!   feature indexes (faiss files, retrieval);
//! - [`catalog`]: voices from config and ad-hoc `dsp:` ids, built into converters;
//! - [`engine`]: [`VoiceEngine`], the `AudioProcessor` the audio server runs.

pub mod catalog;
pub mod convert;
pub mod denoise;
pub mod effects;
pub mod engine;
pub mod gate;
pub mod index;
pub mod neural;
pub mod pitch_shift;
pub mod pitch_track;
pub mod resample;
pub mod silence;
pub mod streamer;
pub mod yin;

pub use catalog::{BuiltVoice, Catalog};
pub use engine::VoiceEngine;

/// The pipeline's sample rate: everything outside the models runs at 48 kHz.
pub const RATE: u32 = 48000;

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("unknown voice {id:?}; known voices: {known}")]
    Unknown { id: String, known: String },
    #[error("{0}")]
    Spec(String),
    #[error("{what}: {reason}")]
    Model { what: String, reason: String },
}
