//! The crate's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("cannot read model {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("model {path} is not a usable ONNX graph: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("ONNX Runtime is not available: {0}")]
    RuntimeUnavailable(String),
    #[error("{backend} could not load {path}: {reason}")]
    Load {
        backend: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("model input {name:?}: {reason}")]
    Input { name: String, reason: String },
    #[error("running the model failed ({backend}): {reason}")]
    Run {
        backend: &'static str,
        reason: String,
    },
    #[error("tensor: {0}")]
    Tensor(String),
}
