//! Download speed over a sliding window and the time left at that speed, fed with synthetic
//! or real instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Keeps `(instant, bytes done)` samples from the last `window` and measures across them, so
/// the figure follows changes within seconds without jumping on every chunk.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    pub fn new(window: Duration) -> RateMeter {
        RateMeter {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Records that `bytes_done` bytes were done at `now`.
    pub fn record(&mut self, now: Instant, bytes_done: u64) {
        self.samples.push_back((now, bytes_done));
        // Keep one sample older than the window so the span covers all of it.
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= self.window)
        {
            self.samples.pop_front();
        }
    }

    /// Bytes per second, once two samples are at least a millisecond apart.
    pub fn rate(&self) -> Option<f64> {
        let (t0, b0) = self.samples.front()?;
        let (t1, b1) = self.samples.back()?;
        let span = t1.saturating_duration_since(*t0).as_secs_f64();
        (span >= 0.001).then(|| b1.saturating_sub(*b0) as f64 / span)
    }

    /// Seconds until `total` at the current rate.
    pub fn eta(&self, total: Option<u64>) -> Option<f64> {
        let (_, done) = self.samples.back()?;
        let rate = self.rate().filter(|r| *r > 0.0)?;
        Some(total?.saturating_sub(*done) as f64 / rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta_follow_the_recent_window() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let mut meter = RateMeter::new(Duration::from_secs(2));
        assert_eq!(meter.rate(), None);
        meter.record(ms(0), 0);
        assert_eq!(meter.rate(), None, "one sample has no rate");
        meter.record(ms(1000), 1000);
        assert_eq!(meter.rate(), Some(1000.0));
        assert_eq!(meter.eta(Some(5000)), Some(4.0));
        assert_eq!(meter.eta(None), None);
        // The link speeds up to 4000 B/s; after the window only the new speed counts.
        for s in 1..=4 {
            meter.record(ms(1000 + s * 1000), 1000 + s * 4000);
        }
        assert_eq!(meter.rate(), Some(4000.0));
    }

    #[test]
    fn a_stalled_download_has_no_eta() {
        let t = Instant::now();
        let mut meter = RateMeter::new(Duration::from_secs(2));
        meter.record(t, 500);
        meter.record(t + Duration::from_secs(1), 500);
        assert_eq!(meter.rate(), Some(0.0));
        assert_eq!(meter.eta(Some(1000)), None);
    }
}
