//! The video bitrate chosen from the bandwidth estimate. openh264 takes its bitrate when it
//! starts, so every change rebuilds the encoder and costs a keyframe: small moves are ignored
//! and rises wait a few seconds, while a drop to half or less (congestion) is followed at once.

use super::codec::{INITIAL_VIDEO_BPS, MAX_VIDEO_BPS, MIN_VIDEO_BPS};
use std::time::{Duration, Instant};

/// Rebuilds of the encoder are at least this far apart, unless the link is congested.
pub const REBUILD_INTERVAL: Duration = Duration::from_secs(3);
/// A change smaller than this share of the current bitrate is ignored.
const DEAD_BAND: f64 = 0.25;
/// Share of the estimate the encoder aims at, leaving room for audio, RTCP and bursts.
const HEADROOM: f64 = 0.9;

/// Follows the egress bandwidth estimate on the caller's clock.
#[derive(Debug, Clone)]
pub struct BitrateControl {
    bitrate: u32,
    last_change: Option<Instant>,
}

impl Default for BitrateControl {
    fn default() -> BitrateControl {
        BitrateControl {
            bitrate: INITIAL_VIDEO_BPS,
            last_change: None,
        }
    }
}

impl BitrateControl {
    /// The bitrate the encoder should run at.
    pub fn bitrate(&self) -> u32 {
        self.bitrate
    }

    /// A new estimate (bits per second) at `now`; the new encoder bitrate when it changes.
    pub fn on_estimate(&mut self, bps: u64, now: Instant) -> Option<u32> {
        let target = (bps as f64 * HEADROOM).clamp(MIN_VIDEO_BPS as f64, MAX_VIDEO_BPS as f64);
        let current = f64::from(self.bitrate);
        let change = (target - current).abs() / current;
        let recently = self
            .last_change
            .is_some_and(|at| now.saturating_duration_since(at) < REBUILD_INTERVAL);
        let congested = target < current * 0.5;
        if change <= DEAD_BAND || (recently && !congested) {
            return None;
        }
        self.bitrate = target as u32;
        self.last_change = Some(now);
        Some(self.bitrate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_moves_are_ignored_and_large_ones_followed() {
        let start = Instant::now();
        let mut control = BitrateControl::default();
        assert_eq!(control.bitrate(), INITIAL_VIDEO_BPS);
        assert_eq!(control.on_estimate(1_600_000, start), None);
        assert_eq!(control.on_estimate(3_000_000, start), Some(2_700_000));
        assert_eq!(control.bitrate(), 2_700_000);
    }

    #[test]
    fn rises_wait_for_the_rebuild_interval_but_congestion_does_not() {
        let start = Instant::now();
        let mut control = BitrateControl::default();
        assert_eq!(control.on_estimate(1_000_000, start), Some(900_000));
        let soon = start + Duration::from_secs(1);
        assert_eq!(control.on_estimate(2_000_000, soon), None, "a rise waits");
        assert_eq!(
            control.on_estimate(300_000, soon),
            Some(270_000),
            "a drop to under half is followed at once"
        );
        let later = soon + REBUILD_INTERVAL;
        assert_eq!(control.on_estimate(2_000_000, later), Some(1_800_000));
    }

    #[test]
    fn the_bitrate_stays_within_its_bounds() {
        let start = Instant::now();
        let mut control = BitrateControl::default();
        assert_eq!(control.on_estimate(10_000, start), Some(MIN_VIDEO_BPS));
        let later = start + REBUILD_INTERVAL;
        assert_eq!(control.on_estimate(u64::MAX, later), Some(MAX_VIDEO_BPS));
    }
}
