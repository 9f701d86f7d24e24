//! The model manager: a registry of downloadable files from the configuration, resumable
//! downloads over mirrors with SHA-256 verification, the cache folder, and per-model status
//! reported to whoever owns it (the server's registry, the CLI's progress bars).
//!
//! The retry and resume rules live in [`fetch`], a state machine with no I/O; [`http`] drives
//! it with reqwest; [`manager`] ties downloads to the cache and makes sure each model is
//! downloaded once however many ask.

pub mod archive;
pub mod cache;
mod error;
pub mod fetch;
mod http;
pub mod manager;
pub mod rate;

pub use cache::{Trust, resolve_cache_dir};
pub use error::ModelError;
pub use fetch::RetryPolicy;
pub use manager::{Cached, FreeSpace, ManagerOptions, ModelManager, StatusSink, Verified};
