//! Capture timestamps: one type everywhere, so latency is always "now minus capture".

use std::time::Duration;

/// When a frame or block was captured, in microseconds on the capturing process's session
/// clock. Servers carry it through untouched; only the app that stamped it compares it with
/// its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_duration(since_start: Duration) -> Timestamp {
        Timestamp(since_start.as_micros() as u64)
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}
