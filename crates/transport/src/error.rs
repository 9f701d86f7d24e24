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
    /// The server answered an HTTP request with an error.
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
    },
    /// The server could not be reached or sent something unreadable.
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    #[error("{0}")]
    Timeout(String),
}
