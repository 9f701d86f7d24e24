//! What can go wrong with a model, in words a user can act on.

use crate::cache::human_bytes;
use std::path::PathBuf;

/// Errors are `Clone` because one download's outcome goes to everyone who asked for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model {0:?}: it is not in the configuration's `models`")]
    Unknown(String),
    #[error(
        "{id}: not enough free space in {}: the download needs {}, {} is available",
        dir.display(), human_bytes(*need), human_bytes(*available)
    )]
    NoSpace {
        id: String,
        dir: PathBuf,
        need: u64,
        available: u64,
    },
    #[error("{id}: download failed: {reason}")]
    Download { id: String, reason: String },
    #[error(
        "{id}: the file's SHA-256 is {actual}, expected {expected} ({why}); the file was deleted"
    )]
    Checksum {
        id: String,
        expected: String,
        actual: String,
        /// Where the expected value comes from.
        why: &'static str,
    },
    #[error("{id}: cannot use the downloaded archive: {reason}")]
    Archive { id: String, reason: String },
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
    #[error("{0}: cancelled")]
    Cancelled(String),
    #[error("{0}: is being downloaded; cancel it first")]
    Busy(String),
    #[error("{id}: {context}: {message}")]
    Io {
        id: String,
        context: String,
        message: String,
    },
}

impl ModelError {
    pub(crate) fn io(id: &str, context: impl Into<String>, e: &std::io::Error) -> ModelError {
        ModelError::Io {
            id: id.to_owned(),
            context: context.into(),
            message: e.to_string(),
        }
    }
}
