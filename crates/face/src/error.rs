//! The face crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// Tensors or images whose sizes do not fit together, with what was expected.
    #[error("{0}")]
    Shape(String),
    /// Landmarks or vectors from which no transform or direction can be derived.
    #[error("{0}")]
    Degenerate(String),
}
