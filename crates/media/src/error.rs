//! The media crate's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that is not what it claims to be, with the reason.
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
    /// Sizes or buffers that do not fit together.
    #[error("{0}")]
    BadFormat(String),
    /// A `--video-in` / `--audio-in` spec that names nothing we can open.
    #[error("{0}")]
    BadSpec(String),
    /// A camera, microphone or virtual device that could not be used. Devices live in
    /// `studio-devices`, which media does not know, so their error travels boxed.
    #[error(transparent)]
    Device(Box<dyn std::error::Error + Send + Sync>),
}
