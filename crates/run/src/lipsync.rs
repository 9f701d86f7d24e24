//! The thread that runs the A/V sync buffer between the session links and the sinks: it
//! holds each processed frame and block until its presentation time and hands it on with the
//! shift its sink must apply, so the virtual camera and microphone stay in lip sync.

use crate::item::Item;
use crate::report::{LipSyncReport, PathSync, Samples};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use studio_media::avsync::{AvSync, MediaKind, Released, SyncConfig};

/// How long to sleep at most when nothing is due, so the end of the run is noticed.
const IDLE_WAKE: Duration = Duration::from_millis(50);

/// Run the buffer until `arrivals` closes, then flush it. `clock` is the run's capture clock;
/// `fps` and `sample_rate` turn a shift in time into frames and samples: each item leaves
/// through `present` with the shift its sink must apply (output slots for a frame, samples
/// for a block).
pub fn run(
    config: SyncConfig,
    clock: Instant,
    fps: f64,
    sample_rate: u32,
    arrivals: Receiver<Item>,
    mut present: impl FnMut(Item, u64),
) -> LipSyncReport {
    let mut sync: AvSync<Item> = AvSync::new(config);
    let mut lags: [Samples; 2] = Default::default();
    let mut emit = |released: Released<Item>, now: Duration, flushing: bool| {
        if !flushing {
            let lag = now.saturating_sub(released.due).as_secs_f64() * 1e3;
            lags[usize::from(released.kind == MediaKind::Audio)].push(lag);
        }
        let shift = released.shift.as_secs_f64();
        let per_second = match released.kind {
            MediaKind::Video => fps,
            MediaKind::Audio => f64::from(sample_rate),
        };
        present(released.item, (shift * per_second).round() as u64)
    };
    loop {
        let now = clock.elapsed();
        let wait = sync
            .next_wake()
            .map(|wake| wake.saturating_sub(now).min(IDLE_WAKE))
            .unwrap_or(IDLE_WAKE);
        match arrivals.recv_timeout(wait) {
            Ok(item) => sync.push(item.kind(), item.capture(), item, clock.elapsed()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let now = clock.elapsed();
        while let Some(released) = sync.poll(now) {
            emit(released, now, false);
        }
    }
    let now = clock.elapsed();
    for released in sync.flush(now) {
        emit(released, now, true);
    }
    let video = PathSync::from_stats(sync.stats(MediaKind::Video), &lags[0]);
    let audio = PathSync::from_stats(sync.stats(MediaKind::Audio), &lags[1]);
    let offset_ms = match (video.delay_ms, audio.delay_ms) {
        (Some(v), Some(a)) => ((v - a) * 1e3).round() / 1e3,
        _ => 0.0,
    };
    LipSyncReport {
        enabled: config.lip_sync,
        video,
        audio,
        offset_ms,
    }
}
