//! The A/V sync buffer: holds processed frames and blocks until their presentation time so
//! that video and audio leave for the virtual devices with the same delay after capture.
//!
//! A sans-IO state machine: the caller pushes items with the current time and polls for the
//! ones that are due; it never reads a clock or sleeps. Each path's latency (capture to
//! arrival here) is measured from what arrives. With lip sync on, both paths share one target
//! delay — the slower path's latency plus a jitter margin — so the faster path is held back.
//!
//! The target is chosen once both paths have delivered (or after a start-up timeout) and then
//! kept: a steady target means a steady output timeline. It rises only when items keep
//! arriving after their presentation time (a path got slower for good); one late straggler is
//! passed on late instead. It never falls during a run: lowering it would cut audio.

use crate::time::Timestamp;
use std::collections::VecDeque;
use std::time::Duration;

/// Which stream an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Video,
    Audio,
}

impl MediaKind {
    fn index(self) -> usize {
        match self {
            MediaKind::Video => 0,
            MediaKind::Audio => 1,
        }
    }
}

/// How the buffer behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncConfig {
    /// Share one target delay between both paths (lip sync). Off, each path keeps its own
    /// latency and the streams drift apart by the difference — only for diagnosis.
    pub lip_sync: bool,
    /// Added to the measured latency, so ordinary jitter does not make items late.
    pub margin: Duration,
    /// Items per path measured before the target is chosen (their median latency counts,
    /// so one slow first frame does not set it).
    pub startup_items: usize,
    /// Start with what has arrived if a path has not delivered that many after this long.
    pub startup_timeout: Duration,
    /// The target never goes above this; later items go out late rather than stall a call.
    pub max_delay: Duration,
    /// Late arrivals within this window that make the target rise.
    pub late_window: Duration,
    pub late_to_adapt: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            lip_sync: true,
            margin: Duration::from_millis(15),
            startup_items: 5,
            startup_timeout: Duration::from_secs(2),
            max_delay: Duration::from_secs(1),
            late_window: Duration::from_secs(2),
            late_to_adapt: 5,
        }
    }
}

/// An item leaving the buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Released<T> {
    pub kind: MediaKind,
    pub capture: Timestamp,
    pub item: T,
    /// When it was due on the caller's clock: capture plus the path's target delay.
    pub due: Duration,
    /// How far its presentation sits behind the output timeline's origin: its path's target
    /// delay minus the delay the run started with. Sinks that keep a timeline (files, device
    /// clocks) place the item `shift` later than its capture position. Zero for both paths
    /// while lip sync holds the starting target.
    pub shift: Duration,
}

struct Pending<T> {
    capture: Timestamp,
    arrival: Duration,
    due: Duration,
    shift: Duration,
    item: T,
}

/// Per-path figures for reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathSyncStats {
    /// Capture-to-arrival latency of the first item, as measured here.
    pub first_latency: Option<Duration>,
    /// The target delay in force at the end (capture to presentation).
    pub delay: Option<Duration>,
    pub released: u64,
    /// Items that arrived after their presentation time.
    pub late: u64,
    /// Total time items waited here, from arrival until due.
    pub held: Duration,
    /// Times the target rose because this path kept arriving late.
    pub raises: u64,
}

/// The buffer. `T` is the payload (a frame or a block); the buffer only looks at times.
pub struct AvSync<T> {
    config: SyncConfig,
    queues: [VecDeque<Pending<T>>; 2],
    /// Target delay per path once started; both equal with lip sync.
    delay: [Option<Duration>; 2],
    base: Option<Duration>,
    first_arrival: Option<Duration>,
    recent_late: [VecDeque<(Duration, Duration)>; 2],
    /// Latencies seen before the start, per path.
    startup_latencies: [Vec<Duration>; 2],
    stats: [PathSyncStats; 2],
}

impl<T> AvSync<T> {
    pub fn new(config: SyncConfig) -> AvSync<T> {
        AvSync {
            config,
            queues: [VecDeque::new(), VecDeque::new()],
            delay: [None, None],
            base: None,
            first_arrival: None,
            recent_late: [VecDeque::new(), VecDeque::new()],
            startup_latencies: [Vec::new(), Vec::new()],
            stats: [PathSyncStats::default(), PathSyncStats::default()],
        }
    }

    pub fn config(&self) -> SyncConfig {
        self.config
    }

    /// Whether the target has been chosen (before that, everything waits).
    pub fn started(&self) -> bool {
        self.base.is_some()
    }

    pub fn stats(&self, kind: MediaKind) -> &PathSyncStats {
        &self.stats[kind.index()]
    }

    /// The capture-to-presentation delay a path runs with now.
    pub fn delay(&self, kind: MediaKind) -> Option<Duration> {
        self.delay[kind.index()]
    }

    /// An item arrived at `now` (on the clock its capture time was stamped with).
    pub fn push(&mut self, kind: MediaKind, capture: Timestamp, item: T, now: Duration) {
        let k = kind.index();
        let latency = now.saturating_sub(capture.as_duration());
        self.first_arrival.get_or_insert(now);
        if !self.started() {
            self.startup_latencies[k].push(latency);
        }
        if self.stats[k].first_latency.is_none() {
            self.stats[k].first_latency = Some(latency);
            if self.started() {
                // This path showed up after the start: fit it in from now on.
                self.raise(kind, latency);
            }
        }
        self.maybe_start(now);
        let due = match self.delay[k] {
            Some(delay) => {
                let due = capture.as_duration() + delay;
                if now > due {
                    self.note_late(kind, latency, now);
                }
                // Recomputed: a raise above applies to this item too.
                capture.as_duration() + self.delay[k].unwrap_or(delay)
            }
            // Not started yet: placed when the target is chosen.
            None => Duration::ZERO,
        };
        let shift = self.shift(kind);
        self.queues[k].push_back(Pending {
            capture,
            arrival: now,
            due,
            shift,
            item,
        });
    }

    /// The next item that is due at `now`, oldest due first.
    pub fn poll(&mut self, now: Duration) -> Option<Released<T>> {
        self.maybe_start(now);
        if !self.started() {
            return None;
        }
        let k = self.next_due()?;
        if self.queues[k][0].due > now {
            return None;
        }
        self.release(k, now)
    }

    /// When to poll next: the earliest due time, or the start-up deadline while waiting.
    pub fn next_wake(&self) -> Option<Duration> {
        if !self.started() {
            return self.first_arrival.map(|t| t + self.config.startup_timeout);
        }
        self.next_due().map(|k| self.queues[k][0].due)
    }

    /// Everything still held, in due order, as at the end of a run.
    pub fn flush(&mut self, now: Duration) -> Vec<Released<T>> {
        if !self.started() && self.first_arrival.is_some() {
            self.start();
        }
        let mut out = Vec::new();
        while let Some(k) = self.next_due() {
            if let Some(released) = self.release(k, now) {
                out.push(released);
            }
        }
        out
    }

    fn next_due(&self) -> Option<usize> {
        match (self.queues[0].front(), self.queues[1].front()) {
            (Some(v), Some(a)) => Some(if a.due < v.due { 1 } else { 0 }),
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (None, None) => None,
        }
    }

    fn release(&mut self, k: usize, now: Duration) -> Option<Released<T>> {
        let pending = self.queues[k].pop_front()?;
        let stats = &mut self.stats[k];
        stats.released += 1;
        // Held from arrival until due (or until now, for an early flush).
        stats.held += pending.due.min(now).saturating_sub(pending.arrival);
        Some(Released {
            kind: if k == 0 {
                MediaKind::Video
            } else {
                MediaKind::Audio
            },
            capture: pending.capture,
            item: pending.item,
            due: pending.due,
            shift: pending.shift,
        })
    }

    fn maybe_start(&mut self, now: Duration) {
        if self.started() {
            return;
        }
        let wanted = self.config.startup_items.max(1);
        let both = self.startup_latencies.iter().all(|l| l.len() >= wanted);
        let timed_out = self
            .first_arrival
            .is_some_and(|t| now >= t + self.config.startup_timeout);
        if both || timed_out {
            self.start();
        }
    }

    /// Choose the targets from the first latencies and place what waited.
    fn start(&mut self) {
        let margin = self.config.margin;
        let cap = self.config.max_delay;
        // Each path's typical latency so far: the median of what arrived before the start.
        let firsts = self.startup_latencies.clone().map(|mut l| {
            l.sort();
            l.get(l.len() / 2).copied()
        });
        if self.config.lip_sync {
            let shared = firsts
                .iter()
                .flatten()
                .max()
                .map(|l| (*l + margin).min(cap));
            for (k, first) in firsts.iter().enumerate() {
                if first.is_some() {
                    self.delay[k] = shared;
                }
            }
        } else {
            for (k, first) in firsts.iter().enumerate() {
                self.delay[k] = first.map(|l| (l + margin).min(cap));
            }
        }
        self.base = self.delay.iter().flatten().min().copied();
        for k in 0..2 {
            let delay = self.delay[k].unwrap_or_default();
            let shift = self.shift_index(k);
            for pending in &mut self.queues[k] {
                pending.due = pending.capture.as_duration() + delay;
                pending.shift = shift;
            }
        }
        for k in 0..2 {
            self.stats[k].delay = self.delay[k];
        }
    }

    fn shift(&self, kind: MediaKind) -> Duration {
        self.shift_index(kind.index())
    }

    fn shift_index(&self, k: usize) -> Duration {
        match (self.delay[k], self.base) {
            (Some(delay), Some(base)) => delay.saturating_sub(base),
            _ => Duration::ZERO,
        }
    }

    fn note_late(&mut self, kind: MediaKind, latency: Duration, now: Duration) {
        let k = kind.index();
        self.stats[k].late += 1;
        let window = self.config.late_window;
        let recent = &mut self.recent_late[k];
        recent.push_back((now, latency));
        while recent
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) > window)
        {
            recent.pop_front();
        }
        if recent.len() >= self.config.late_to_adapt {
            // The median, so one straggler among them does not set the new target.
            let mut latencies: Vec<Duration> = recent.iter().map(|(_, l)| *l).collect();
            latencies.sort();
            let typical = latencies[latencies.len() / 2];
            recent.clear();
            self.raise(kind, typical);
            self.stats[k].raises += 1;
        }
    }

    /// Make room for `latency` on `kind`'s path (on both with lip sync).
    fn raise(&mut self, kind: MediaKind, latency: Duration) {
        let wanted = (latency + self.config.margin).min(self.config.max_delay);
        let kinds: &[usize] = if self.config.lip_sync {
            &[0, 1]
        } else {
            &[kind.index()]
        };
        for &k in kinds {
            if self.delay[k].is_none_or(|d| d < wanted) {
                self.delay[k] = Some(wanted);
                self.stats[k].delay = Some(wanted);
            }
        }
        if self.base.is_none() {
            self.base = Some(wanted);
        }
    }
}
