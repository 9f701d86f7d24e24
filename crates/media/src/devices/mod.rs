//! Real devices: the virtual microphone (PulseAudio/PipeWire), the virtual camera
//! (v4l2loopback on Linux, OBS Virtual Camera's shared memory on Windows), cameras (V4L2,
//! Media Foundation, AVFoundation), microphones and speakers through cpal, and the device
//! lists. Everything that talks to the system goes
//! through a small seam (a command runner, a device file, a memory region) so the logic is
//! tested without the hardware.

pub mod avf_formats;
#[cfg(target_os = "macos")]
pub mod avfoundation;
pub mod camera;
#[cfg(windows)]
pub mod media_foundation;
pub mod mjpeg;
pub mod obs;
pub mod pulse;
pub mod runner;
pub mod sound;
pub mod v4l2;

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

/// A device the studio can use, for lists in the UI and `studio devices`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    /// `camera`, `microphone`, `speaker`, `virtual-camera`, `virtual-microphone`.
    pub kind: &'static str,
    /// What to pass to `--video-in`, `--audio-in`, `--video-out` or `--audio-out`.
    pub spec: String,
    /// The name a person sees.
    pub name: String,
}
