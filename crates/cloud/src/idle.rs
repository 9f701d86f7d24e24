//! The idle timeout: pods that carried no session for this long are deleted. Sans-IO: the
//! driver reports what it saw and when; the watch says when time is up.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct IdleWatch {
    timeout: Duration,
    /// When a session was last seen (or the watch started).
    last_busy: Duration,
}

impl IdleWatch {
    pub fn new(timeout: Duration, now: Duration) -> IdleWatch {
        IdleWatch {
            timeout,
            last_busy: now,
        }
    }

    /// What a status check found at `now`: whether any session was open.
    pub fn observe(&mut self, busy: bool, now: Duration) {
        if busy {
            self.last_busy = self.last_busy.max(now);
        }
    }

    /// Idle for the whole timeout.
    pub fn expired(&self, now: Duration) -> bool {
        now.saturating_sub(self.last_busy) >= self.timeout
    }

    /// How long until it would expire if nothing is seen.
    pub fn remaining(&self, now: Duration) -> Duration {
        self.timeout
            .saturating_sub(now.saturating_sub(self.last_busy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn pods_with_sessions_are_kept_and_idle_ones_expire() {
        let mut watch = IdleWatch::new(15 * MIN, Duration::ZERO);
        watch.observe(true, 10 * MIN);
        assert!(!watch.expired(24 * MIN));
        assert_eq!(watch.remaining(24 * MIN), MIN);
        watch.observe(false, 24 * MIN);
        assert!(watch.expired(25 * MIN));
    }

    #[test]
    fn a_status_seen_late_does_not_move_time_back() {
        let mut watch = IdleWatch::new(MIN, Duration::from_secs(100));
        watch.observe(true, Duration::from_secs(50));
        assert!(!watch.expired(Duration::from_secs(159)));
        assert!(watch.expired(Duration::from_secs(160)));
    }
}
