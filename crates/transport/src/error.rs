//! The transport crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connection to {what} failed: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The peer sent bytes that are not our protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Timeout(String),
}
