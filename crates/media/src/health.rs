//! What a source that can be unplugged (a camera) reports about itself: plain data, so runs
//! and reports read it without knowing the device behind it.

/// Counters for reports and the UI.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CameraStats {
    /// Frames repeated while the camera was gone or sent a broken frame.
    pub frames_concealed: u64,
    pub disconnects: u64,
    /// Frames that could not be decoded (a corrupt or truncated JPEG, a short raw frame).
    pub frames_broken: u64,
}

/// A camera's state and counters, as runs report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraHealth {
    pub state: CameraState,
    pub stats: CameraStats,
}

/// Where a camera stands, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraState {
    /// Frames arrive.
    Streaming,
    /// The camera was unplugged (`ENODEV` or the device node vanished); it is reopened every
    /// second and streams again when it is back.
    Unplugged,
    /// The camera stopped answering for another reason, given; it is reopened the same way.
    Lost(String),
}

impl std::fmt::Display for CameraState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CameraState::Streaming => write!(f, "the camera is streaming"),
            CameraState::Unplugged => write!(
                f,
                "the camera was unplugged; plug it back in and it comes back by itself"
            ),
            CameraState::Lost(why) => write!(
                f,
                "the camera stopped answering ({why}); trying to reopen it every second"
            ),
        }
    }
}
