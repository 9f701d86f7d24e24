//! The devices crate's one error type, and how it travels as a media error (sources and
//! sinks report through `MediaError`, which knows no devices).

use studio_media::error::MediaError;

/// What went wrong with a device, with a fix a person can follow where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The device or the system piece it needs is not there.
    #[error("{problem}. {fix}")]
    Unavailable { problem: String, fix: String },
    /// A helper program ran and failed.
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("{device}: {source}")]
    Io {
        device: String,
        #[source]
        source: std::io::Error,
    },
    /// The device does not take what we would send it.
    #[error("{0}")]
    Format(String),
}

impl From<DeviceError> for MediaError {
    fn from(error: DeviceError) -> MediaError {
        MediaError::Device(Box::new(error))
    }
}
