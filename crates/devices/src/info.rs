//! What device lists hold.

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
