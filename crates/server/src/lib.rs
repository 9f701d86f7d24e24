//! The studio's media server: one binary, role `video` or `audio`. It serves the HTTP API,
//! keeps the registry of sessions, and runs each session's media through the role's engine.

pub mod api;
pub mod bench;
pub mod bench_video;
pub mod delay;
pub mod drain;
pub mod engine;
pub mod error;
pub mod face;
pub mod face_masks;
pub mod face_slot;
pub mod listen;
pub mod models;
pub mod pod_expiry;
pub mod registry;
pub mod session;
pub mod voice_files;
