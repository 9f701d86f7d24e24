//! How often the face enhancer's network runs when the session leaves it to the engine: the
//! smallest N whose average frame cost fits the camera's frame interval with a margin. Sans-IO:
//! fed each frame's capture time and what the frame cost, it gives N; nothing here reads a
//! clock.
//!
//! A frame's cost is split in two: the enhancer's network, paid on the frames it runs, and the
//! rest, paid on every frame. With the network every N frames the average frame costs
//! `rest + run / N`; the camera gives one frame per interval. Both costs and the interval are
//! exponential moving averages, so one slow frame moves them a little and old frames fade
//! out (each average is one number: its memory is bounded). N goes up as soon as the current N
//! no longer fits, since every frame over the budget is a frame the session drops; it comes
//! down only once a smaller N fits with a wider margin and N has held for a while, so costs
//! near a boundary do not make it flap.

use std::time::Duration;

/// The most frames one enhancer answer is reused for: beyond a second at 30 fps the face has
/// moved on from the detail it restored.
pub const MAX_ENHANCE_EVERY: u32 = 30;

/// The share of the frame interval an average frame may take: the rest absorbs the frames
/// that run the detector or the network and cost more than the average.
const FIT: f64 = 0.85;
/// The share a smaller N must fit within before N comes down. Between this and [`FIT`] N
/// stays where it is.
const FIT_TO_LOWER: f64 = 0.70;
/// Frames N holds after a change before it may come down: the averages settle on the new
/// rhythm first.
const HOLD_FRAMES: u32 = 30;
/// Frames with the enhancer before the first decision: the first runs allocate and plan for
/// the shapes, and cost far more than the ones after.
const WARM_UP_FRAMES: u32 = 10;
/// Weight of each new frame in the averages of the rest of the frame and of the interval.
const FRAME_WEIGHT: f64 = 0.1;
/// Weight of each new run in the average of the network's cost (runs are fewer, so each
/// counts more).
const RUN_WEIGHT: f64 = 0.25;
/// The frame interval is taken within these bounds (240 fps to 5 fps): a camera's clock that
/// jumps or stalls must not make the budget absurd.
const MIN_INTERVAL_S: f64 = 1.0 / 240.0;
const MAX_INTERVAL_S: f64 = 1.0 / 5.0;
/// The interval assumed until two frames have been seen: a webcam's 30 fps.
const DEFAULT_INTERVAL_S: f64 = 1.0 / 30.0;

/// An exponential moving average; empty until its first value.
#[derive(Debug, Clone, Copy, Default)]
struct Average(Option<f64>);

impl Average {
    fn add(&mut self, value: f64, weight: f64) {
        self.0 = Some(match self.0 {
            None => value,
            Some(mean) => mean + weight * (value - mean),
        });
    }
}

/// The enhancer's rate, chosen from the frame budget.
#[derive(Debug, Clone)]
pub struct EnhancePace {
    /// Seconds between camera frames.
    interval: Average,
    /// The last frame's position in the stream and capture time in microseconds.
    last_frame: Option<(u64, u64)>,
    /// Seconds per frame outside the enhancer's network.
    rest: Average,
    /// Seconds per frame that runs the enhancer's network (all its faces).
    run: Average,
    every: u32,
    /// Frames seen with the enhancer, up to [`WARM_UP_FRAMES`].
    warm: u32,
    /// Frames since N last changed, up to [`HOLD_FRAMES`].
    held: u32,
}

impl Default for EnhancePace {
    fn default() -> Self {
        EnhancePace::new()
    }
}

impl EnhancePace {
    /// Every frame, until the costs say otherwise.
    pub fn new() -> EnhancePace {
        EnhancePace {
            interval: Average::default(),
            last_frame: None,
            rest: Average::default(),
            run: Average::default(),
            every: 1,
            warm: 0,
            held: 0,
        }
    }

    /// Start again with the enhancer's costs (another enhancer, or one turned back on); the
    /// camera's interval is kept.
    pub fn restart(&mut self) {
        *self = EnhancePace {
            interval: self.interval,
            last_frame: self.last_frame,
            ..EnhancePace::new()
        };
    }

    /// A frame arrived: its position in the stream and its capture time in microseconds.
    /// Frames the session dropped are skipped by position, so the interval is the camera's,
    /// not the rate the engine keeps up with.
    pub fn frame_captured(&mut self, seq: u64, capture_us: u64) {
        if let Some((last_seq, last_us)) = self.last_frame
            && seq > last_seq
            && capture_us > last_us
        {
            let frames = (seq - last_seq) as f64;
            let seconds = (capture_us - last_us) as f64 / 1e6 / frames;
            self.interval
                .add(seconds.clamp(MIN_INTERVAL_S, MAX_INTERVAL_S), FRAME_WEIGHT);
        }
        self.last_frame = Some((seq, capture_us));
    }

    /// A frame with the enhancer on was processed in `total`, of which `network` was the
    /// enhancer's network when it ran on this frame (`None` when the frame reused its last
    /// answer). Gives the N for the frames from now on.
    pub fn frame_done(&mut self, total: Duration, network: Option<Duration>) -> u32 {
        self.warm = self.warm.saturating_add(1);
        // The first frame allocates and plans for every shape: it tells nothing.
        if self.warm == 1 {
            return self.every;
        }
        let network_s = network.map_or(0.0, |d| d.as_secs_f64());
        self.rest
            .add((total.as_secs_f64() - network_s).max(0.0), FRAME_WEIGHT);
        if network.is_some() {
            self.run.add(network_s, RUN_WEIGHT);
        }
        self.held = self.held.saturating_add(1).min(HOLD_FRAMES);
        if self.warm < WARM_UP_FRAMES {
            return self.every;
        }
        self.warm = WARM_UP_FRAMES;
        let Some(wanted) = self.smallest_fitting(FIT) else {
            self.change_to(MAX_ENHANCE_EVERY);
            return self.every;
        };
        if wanted > self.every {
            self.change_to(wanted);
        } else if wanted < self.every
            && self.held >= HOLD_FRAMES
            && let Some(lower) = self.smallest_fitting(FIT_TO_LOWER)
            && lower < self.every
        {
            self.change_to(lower);
        }
        self.every
    }

    fn change_to(&mut self, every: u32) {
        if every != self.every {
            self.every = every;
            self.held = 0;
        }
    }

    /// The smallest N whose average frame fits `share` of the interval, once the network's
    /// cost is known.
    fn smallest_fitting(&self, share: f64) -> Option<u32> {
        let (Some(rest), Some(run)) = (self.rest.0, self.run.0) else {
            return Some(self.every);
        };
        let budget = self.interval_s() * share;
        (1..=MAX_ENHANCE_EVERY).find(|&n| rest + run / f64::from(n) <= budget)
    }

    /// The network runs on every `every()`th frame.
    pub fn every(&self) -> u32 {
        self.every
    }

    fn interval_s(&self) -> f64 {
        self.interval.0.unwrap_or(DEFAULT_INTERVAL_S)
    }

    /// The camera's frame rate as measured (30 until two frames came).
    pub fn fps(&self) -> f64 {
        1.0 / self.interval_s()
    }

    /// Why no N keeps up with the camera, in words for the user; `None` while one does (or
    /// before the costs are known).
    pub fn limit(&self) -> Option<String> {
        let (Some(rest), Some(run)) = (self.rest.0, self.run.0) else {
            return None;
        };
        if self.warm < WARM_UP_FRAMES || self.smallest_fitting(FIT).is_some() {
            return None;
        }
        let (ms, budget) = (rest * 1000.0, self.interval_s() * 1000.0);
        let fps = self.fps().round();
        Some(if rest > self.interval_s() * FIT {
            format!(
                "between its runs frames take {ms:.0} ms, more than the {budget:.0} ms a {fps} fps camera allows"
            )
        } else {
            format!(
                "it takes {:.0} ms a run, too long for a {fps} fps camera even on every {MAX_ENHANCE_EVERY}th frame",
                run * 1000.0
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1000.0)
    }

    /// Feeds `frames` frames 1/`fps` s apart, each costing `rest_ms` plus, on the frames the
    /// pace says the network runs on, `run_ms(frame)`. Gives N after each frame.
    fn feed(
        pace: &mut EnhancePace,
        start: u64,
        frames: u64,
        fps: f64,
        rest_ms: impl Fn(u64) -> f64,
        run_ms: impl Fn(u64) -> f64,
    ) -> Vec<u32> {
        let mut counted = 0u64;
        (start..start + frames)
            .map(|seq| {
                pace.frame_captured(seq, (seq as f64 * 1e6 / fps) as u64);
                let due = counted.is_multiple_of(u64::from(pace.every()));
                counted += 1;
                let network = due.then(|| ms(run_ms(seq)));
                let total = ms(rest_ms(seq)) + network.unwrap_or_default();
                pace.frame_done(total, network)
            })
            .collect()
    }

    #[test]
    fn a_fast_device_runs_the_enhancer_on_every_frame() {
        let mut pace = EnhancePace::new();
        let n = feed(&mut pace, 0, 200, 30.0, |_| 8.0, |_| 6.0);
        assert!(n.iter().all(|&n| n == 1), "{n:?}");
        assert_eq!(pace.fps().round(), 30.0);
        assert_eq!(pace.limit(), None);
    }

    #[test]
    fn a_slow_enhancer_runs_less_often_until_the_frames_fit() {
        let mut pace = EnhancePace::new();
        // 30 fps: 33.3 ms a frame, 28.3 ms of it usable. 10 ms + 40 ms / N fits from N = 3.
        let n = feed(&mut pace, 0, 300, 30.0, |_| 10.0, |_| 40.0);
        assert_eq!(*n.last().unwrap(), 3, "{n:?}");
        assert!(n.windows(2).all(|w| w[0] <= w[1]), "only rises: {n:?}");
        assert_eq!(pace.limit(), None);
        // The same costs at 10 fps fit on every frame again, after the hold.
        let n = feed(&mut pace, 300, 300, 10.0, |_| 10.0, |_| 40.0);
        assert_eq!(*n.last().unwrap(), 1, "{n:?}");
    }

    #[test]
    fn a_frame_interval_is_the_cameras_when_the_session_drops_frames() {
        let mut pace = EnhancePace::new();
        // Every third frame reaches the engine.
        for seq in (0..90).step_by(3) {
            pace.frame_captured(seq, seq * 33_333);
        }
        assert_eq!(pace.fps().round(), 30.0);
        // A clock that jumps back or stalls is not a frame rate.
        pace.frame_captured(90, 0);
        pace.frame_captured(91, 0);
        assert_eq!(pace.fps().round(), 30.0);
    }

    #[test]
    fn costs_near_a_boundary_do_not_make_n_flap() {
        let mut pace = EnhancePace::new();
        // About 17.9 ms + 9 or 12 ms in turn: the average of N = 1 wanders either side of
        // the 28.3 ms it may take.
        let n = feed(
            &mut pace,
            0,
            600,
            30.0,
            |seq| if seq % 7 == 0 { 21.0 } else { 17.4 },
            |seq| if (seq / 2) % 2 == 0 { 9.0 } else { 12.0 },
        );
        let changes = n.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes <= 1, "{changes} changes: {n:?}");
        assert_eq!(*n.last().unwrap(), 2);
    }

    #[test]
    fn a_budget_nothing_fits_runs_the_enhancer_as_rarely_as_allowed_and_says_why() {
        let mut pace = EnhancePace::new();
        let n = feed(&mut pace, 0, 100, 30.0, |_| 45.0, |_| 60.0);
        assert_eq!(*n.last().unwrap(), MAX_ENHANCE_EVERY);
        let why = pace.limit().unwrap();
        assert!(why.contains("frames take 45 ms"), "{why}");
        assert!(why.contains("30 fps"), "{why}");

        let mut pace = EnhancePace::new();
        let n = feed(&mut pace, 0, 200, 30.0, |_| 20.0, |_| 900.0);
        assert_eq!(*n.last().unwrap(), MAX_ENHANCE_EVERY);
        let why = pace.limit().unwrap();
        assert!(why.contains("900 ms a run"), "{why}");
    }

    #[test]
    fn the_first_frames_decide_nothing_and_a_restart_forgets_the_costs() {
        let mut pace = EnhancePace::new();
        // The first frame plans every shape: a second would drive N to the top.
        pace.frame_captured(0, 0);
        assert_eq!(pace.frame_done(ms(2000.0), Some(ms(1900.0))), 1);
        let n = feed(&mut pace, 1, 100, 30.0, |_| 8.0, |_| 6.0);
        assert!(n.iter().all(|&n| n == 1), "{n:?}");
        feed(&mut pace, 101, 100, 30.0, |_| 10.0, |_| 40.0);
        assert_eq!(pace.every(), 3);
        pace.restart();
        assert_eq!(pace.every(), 1);
        assert_eq!(pace.fps().round(), 30.0, "the camera's rate is kept");
    }
}
