//! The headless run's report: what went in, what came out, how late, and through which
//! server processes.

use crate::manager::ServerRecord;
use serde::Serialize;
use std::time::Duration;

/// Latency of one path, from capture to the processed result arriving back, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Nearest-rank percentiles of the samples.
    pub fn from_samples(samples: &[f64]) -> LatencySummary {
        if samples.is_empty() {
            return LatencySummary::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
            round3(sorted[index.clamp(1, sorted.len()) - 1])
        };
        LatencySummary {
            count: sorted.len(),
            p50: rank(50.0),
            p95: rank(95.0),
            max: round3(sorted[sorted.len() - 1]),
        }
    }
}

/// A long run's measurements in bounded memory: every sample while there are few, then an
/// even share of the whole run (every 2nd, then every 4th, ... kept), plus the latest ones
/// whole. Percentiles of the share stand for the run's; the count stays exact.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    kept: Vec<f64>,
    /// Keep one sample in this many.
    stride: u64,
    seen: u64,
    /// The largest of all, kept or not.
    max: Option<f64>,
    recent: std::collections::VecDeque<f64>,
}

impl Samples {
    /// Samples kept over the whole run at most.
    pub const MAX_KEPT: usize = 16_384;
    /// Latest samples kept whole, for windows over the recent past.
    pub const RECENT: usize = 4_096;

    pub fn push(&mut self, value: f64) {
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
        let stride = self.stride.max(1);
        if self.seen.is_multiple_of(stride) {
            self.kept.push(value);
            if self.kept.len() >= Self::MAX_KEPT {
                let mut i = 0;
                self.kept.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride = stride * 2;
            }
        }
        self.seen += 1;
        if self.recent.len() == Self::RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
    }

    pub fn last(&self) -> Option<f64> {
        self.recent.back().copied()
    }

    /// The whole run.
    pub fn summary(&self) -> LatencySummary {
        let mut summary = LatencySummary::from_samples(&self.kept);
        summary.count = usize::try_from(self.seen).unwrap_or(usize::MAX);
        if let Some(max) = self.max {
            summary.max = round3(max);
        }
        summary
    }

    /// The latest `last` samples (at most [`Self::RECENT`]).
    pub fn recent(&self, last: usize) -> LatencySummary {
        let skip = self.recent.len().saturating_sub(last);
        let window: Vec<f64> = self.recent.iter().skip(skip).copied().collect();
        LatencySummary::from_samples(&window)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VideoReport {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    /// Frames captured.
    pub frames_in: u64,
    /// Processed frames that came back and were written.
    pub frames_out: u64,
    /// Captured while no server session was open (the server was restarting).
    pub frames_lost: u64,
    /// Replaced on the way out by a newer frame before they were sent (video never queues).
    pub frames_dropped: u64,
    /// Fallback frames written where no processed frame came back.
    pub frames_concealed: u64,
    pub frames_late: u64,
    pub frames_written: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AudioReport {
    pub sample_rate: u32,
    pub samples_in: u64,
    pub samples_out: u64,
    /// Captured while no server session was open.
    pub samples_lost: u64,
    /// Silence written where no processed block came back.
    pub samples_concealed: u64,
    pub blocks_late: u64,
    pub samples_written: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latencies {
    pub video: LatencySummary,
    pub audio: LatencySummary,
}

/// A stretch of time during which a path had no server session.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub role: studio_proto::Role,
    /// Seconds since the run's capture clock started.
    pub from_s: f64,
    pub to_s: Option<f64>,
    pub duration_ms: Option<f64>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub transport: String,
    pub seconds: f64,
    /// Why the run ended: `duration`, `sources ended` or `interrupted`.
    pub ended_by: String,
    pub video: VideoReport,
    pub audio: AudioReport,
    pub latency_ms: Latencies,
    /// Every server process used, in start order: a restarted server adds an entry.
    pub servers: Vec<ServerRecord>,
    /// Server restarts during the run.
    pub restarts: u64,
    pub gaps: Vec<Gap>,
    /// The lip-sync buffer: delays chosen per path and the offset between them.
    pub lip_sync: LipSyncReport,
    /// The camera's state at the end and what it counted; absent for other video inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraReport>,
}

/// A camera over the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CameraReport {
    /// `streaming`, or the sentence that says what happened (unplugged, stopped answering).
    pub state: String,
    /// Times the camera went away.
    pub disconnects: u64,
    /// Frames repeated while it was away or sent a broken frame.
    pub frames_concealed: u64,
    /// Frames that could not be decoded.
    pub frames_broken: u64,
}

impl CameraReport {
    pub fn from_health(health: &studio_media::health::CameraHealth) -> CameraReport {
        use studio_media::health::CameraState;
        CameraReport {
            state: match &health.state {
                CameraState::Streaming => "streaming".into(),
                other => other.to_string(),
            },
            disconnects: health.stats.disconnects,
            frames_concealed: health.stats.frames_concealed,
            frames_broken: health.stats.frames_broken,
        }
    }
}

/// Lip sync in the report: the delays chosen and what they cost.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LipSyncReport {
    pub enabled: bool,
    pub video: PathSync,
    pub audio: PathSync,
    /// Presentation delay of video minus that of audio at the end (0 when in sync).
    pub offset_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PathSync {
    /// Capture to presentation, at the end of the run.
    pub delay_ms: Option<f64>,
    /// Capture to arrival of the first item, which set the starting delay.
    pub first_latency_ms: Option<f64>,
    /// Mean time an item was held back for the other path.
    pub held_ms_mean: f64,
    /// Items that arrived after their presentation time.
    pub late: u64,
    /// Times the delay rose because this path kept arriving late.
    pub raises: u64,
    /// How long after its presentation time each item actually left (thread wake-up and
    /// late arrivals): what a device sees beyond the scheduled timeline.
    pub release_lag_ms: LatencySummary,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl PathSync {
    pub(crate) fn from_stats(
        stats: &studio_media::avsync::PathSyncStats,
        lags_ms: &Samples,
    ) -> PathSync {
        PathSync {
            delay_ms: stats.delay.map(ms),
            first_latency_ms: stats.first_latency.map(ms),
            held_ms_mean: if stats.released == 0 {
                0.0
            } else {
                ms(stats.held / stats.released as u32)
            },
            late: stats.late,
            raises: stats.raises,
            release_lag_ms: lags_ms.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let summary = LatencySummary::from_samples(&samples);
        assert_eq!(summary.p50, 50.0);
        assert_eq!(summary.p95, 95.0);
        assert_eq!(summary.max, 100.0);
        assert_eq!(summary.count, 100);
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_zero() {
        let one = LatencySummary::from_samples(&[7.5]);
        assert_eq!((one.p50, one.p95, one.max), (7.5, 7.5, 7.5));
        assert_eq!(LatencySummary::from_samples(&[]), LatencySummary::default());
    }

    #[test]
    fn a_long_run_keeps_bounded_samples_with_an_exact_count_and_fair_percentiles() {
        let mut samples = Samples::default();
        let n = 1_000_000u32;
        for i in 0..n {
            samples.push(f64::from(i % 1000));
        }
        assert!(samples.kept.len() < Samples::MAX_KEPT);
        assert_eq!(samples.recent.len(), Samples::RECENT);
        let summary = samples.summary();
        assert_eq!(summary.count, n as usize);
        assert!((summary.p50 - 500.0).abs() < 20.0, "{summary:?}");
        assert_eq!(summary.max, 999.0, "the maximum is exact");
        assert_eq!(samples.last(), Some(999.0));
        assert_eq!(samples.recent(10).count, 10);
    }
}
