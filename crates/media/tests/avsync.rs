//! The A/V sync buffer driven with synthetic time: what leaves it, and when.

use std::time::Duration;
use studio_media::Timestamp;
use studio_media::avsync::{AvSync, MediaKind, Released, SyncConfig};

const MS: Duration = Duration::from_millis(1);

/// Arrivals of `seconds` of 30 fps video and 20 ms audio blocks, each path with a fixed
/// latency, as `(arrival, kind, capture)` in arrival order.
fn arrivals(
    seconds: u64,
    video_latency: Duration,
    audio_latency: Duration,
) -> Vec<(Duration, MediaKind, Timestamp)> {
    let mut events = Vec::new();
    for n in 0..seconds * 30 {
        let capture = Duration::from_micros(n * 1_000_000 / 30);
        events.push((capture + video_latency, MediaKind::Video, capture));
    }
    for n in 0..seconds * 50 {
        let capture = Duration::from_millis(n * 20);
        events.push((capture + audio_latency, MediaKind::Audio, capture));
    }
    events.sort_by_key(|e| e.0);
    events
        .into_iter()
        .map(|(t, k, c)| (t, k, Timestamp::from_duration(c)))
        .collect()
}

/// Feed the arrivals, polling at each one and at each wake-up; returns what left and when.
fn run(
    sync: &mut AvSync<u64>,
    events: &[(Duration, MediaKind, Timestamp)],
) -> Vec<(Duration, Released<u64>)> {
    let mut out = Vec::new();
    let drain = |sync: &mut AvSync<u64>, now: Duration, out: &mut Vec<_>| {
        while let Some(r) = sync.poll(now) {
            out.push((now, r));
        }
    };
    for (i, (t, kind, capture)) in events.iter().enumerate() {
        // Wake-ups due before this arrival.
        while let Some(wake) = sync.next_wake().filter(|w| w < t) {
            drain(sync, wake, &mut out);
            if sync.next_wake() == Some(wake) {
                break;
            }
        }
        sync.push(*kind, *capture, i as u64, *t);
        drain(sync, *t, &mut out);
    }
    let end = events.last().map(|e| e.0).unwrap_or_default() + Duration::from_secs(2);
    while let Some(wake) = sync.next_wake().filter(|w| *w <= end) {
        drain(sync, wake, &mut out);
    }
    out
}

#[test]
fn lip_sync_holds_the_faster_path_to_the_slower_ones_delay() {
    let mut sync = AvSync::new(SyncConfig::default());
    let out = run(&mut sync, &arrivals(3, 150 * MS, 5 * MS));
    assert_eq!(out.len(), 90 + 150, "everything leaves");
    let target = 150 * MS + SyncConfig::default().margin;
    for (at, released) in &out {
        let delay = released.due - released.capture.as_duration();
        assert_eq!(delay, target, "{:?} at {at:?}", released.kind);
        assert!(*at >= released.due, "never before it is due");
        assert_eq!(released.shift, Duration::ZERO);
    }
    // Audio waited about 160 ms per block: the hold that keeps lips and voice together.
    let audio = sync.stats(MediaKind::Audio);
    let held_each = audio.held / audio.released as u32;
    assert!(
        (155 * MS..=165 * MS).contains(&held_each),
        "audio held {held_each:?} each"
    );
    assert_eq!(sync.delay(MediaKind::Video), Some(target));
    assert_eq!(sync.stats(MediaKind::Video).late, 0);
}

#[test]
fn without_lip_sync_the_slow_path_trails_by_the_latency_difference() {
    let config = SyncConfig {
        lip_sync: false,
        ..SyncConfig::default()
    };
    let mut sync = AvSync::new(config);
    let out = run(&mut sync, &arrivals(2, 150 * MS, 5 * MS));
    let shift_of = |kind| {
        out.iter()
            .find(|(_, r)| r.kind == kind)
            .map(|(_, r)| r.shift)
            .unwrap()
    };
    assert_eq!(shift_of(MediaKind::Audio), Duration::ZERO);
    assert_eq!(shift_of(MediaKind::Video), 145 * MS);
}

#[test]
fn nothing_leaves_before_both_paths_have_delivered() {
    let mut sync = AvSync::new(SyncConfig {
        startup_items: 1,
        ..SyncConfig::default()
    });
    let capture = Timestamp::from_duration(Duration::ZERO);
    sync.push(MediaKind::Audio, capture, 1u64, 5 * MS);
    assert!(sync.poll(100 * MS).is_none());
    assert!(!sync.started());
    sync.push(MediaKind::Video, capture, 2u64, 120 * MS);
    assert!(sync.started());
    // Both are due at capture + 120 ms + margin.
    assert!(sync.poll(130 * MS).is_none());
    let first = sync.poll(135 * MS).unwrap();
    let second = sync.poll(135 * MS).unwrap();
    assert_eq!(first.item, 2, "ties go video first");
    assert_eq!(second.item, 1);
}

#[test]
fn a_path_that_never_delivers_does_not_hold_the_other_for_long() {
    let config = SyncConfig::default();
    let mut sync = AvSync::new(config);
    sync.push(MediaKind::Audio, Timestamp(0), 1u64, 5 * MS);
    assert_eq!(sync.next_wake(), Some(5 * MS + config.startup_timeout));
    let released = sync.poll(5 * MS + config.startup_timeout).unwrap();
    assert_eq!(released.item, 1);
    assert_eq!(sync.delay(MediaKind::Audio), Some(5 * MS + config.margin));
    // The video path turns up late and slow: the shared target makes room for it.
    sync.push(MediaKind::Video, Timestamp(3_000_000), 2u64, 3_200 * MS);
    assert_eq!(sync.delay(MediaKind::Audio), Some(200 * MS + config.margin));
    assert_eq!(sync.delay(MediaKind::Video), Some(200 * MS + config.margin));
}

#[test]
fn one_straggler_goes_out_late_but_a_path_that_stays_slow_raises_the_target() {
    let config = SyncConfig::default();
    let mut events = arrivals(4, 40 * MS, 5 * MS);
    // One video frame at 1 s is 100 ms later than the rest.
    for e in events.iter_mut() {
        if e.1 == MediaKind::Video && e.2 == Timestamp(1_000_000) {
            e.0 += 100 * MS;
        }
    }
    // From 2 s on, video takes 90 ms.
    for e in events.iter_mut() {
        if e.1 == MediaKind::Video && e.2 >= Timestamp(2_000_000) {
            e.0 += 50 * MS;
        }
    }
    events.sort_by_key(|e| e.0);
    let mut sync = AvSync::new(config);
    let out = run(&mut sync, &events);
    assert_eq!(out.len(), 120 + 200);
    let video = sync.stats(MediaKind::Video);
    assert_eq!(video.raises, 1, "the straggler alone did not raise it");
    assert_eq!(sync.delay(MediaKind::Video), Some(90 * MS + config.margin));
    assert_eq!(sync.delay(MediaKind::Audio), sync.delay(MediaKind::Video));
    // After the raise, both paths leave with the same delay again.
    let late_items: Vec<_> = out
        .iter()
        .filter(|(_, r)| r.capture >= Timestamp(2_500_000))
        .map(|(_, r)| r.due - r.capture.as_duration())
        .collect();
    assert!(late_items.iter().all(|d| *d == 90 * MS + config.margin));
    assert_eq!(
        out.iter()
            .filter(|(_, r)| r.capture >= Timestamp(2_500_000))
            .map(|(_, r)| r.shift)
            .max(),
        Some(50 * MS)
    );
}

#[test]
fn a_slow_first_frame_does_not_set_the_target() {
    let mut events = arrivals(2, 40 * MS, 5 * MS);
    events[0].0 += 100 * MS;
    assert_eq!(events[0].1, MediaKind::Audio);
    let first_video = events.iter_mut().find(|e| e.1 == MediaKind::Video).unwrap();
    first_video.0 += 100 * MS;
    events.sort_by_key(|e| e.0);
    let mut sync = AvSync::new(SyncConfig::default());
    run(&mut sync, &events);
    let margin = SyncConfig::default().margin;
    assert_eq!(sync.delay(MediaKind::Audio), Some(40 * MS + margin));
    assert_eq!(sync.delay(MediaKind::Video), Some(40 * MS + margin));
}

#[test]
fn the_target_is_capped() {
    let config = SyncConfig {
        max_delay: 300 * MS,
        ..SyncConfig::default()
    };
    let mut sync = AvSync::new(config);
    run(&mut sync, &arrivals(1, 900 * MS, 5 * MS));
    assert_eq!(sync.delay(MediaKind::Audio), Some(300 * MS));
}

#[test]
fn flush_releases_everything_in_due_order() {
    let mut sync = AvSync::new(SyncConfig::default());
    for (i, (t, kind, capture)) in arrivals(1, 100 * MS, 5 * MS).into_iter().enumerate() {
        sync.push(kind, capture, i as u64, t);
    }
    let out = sync.flush(Duration::from_millis(1_100));
    assert_eq!(out.len(), 30 + 50);
    assert!(out.windows(2).all(|w| w[0].due <= w[1].due));
    assert!(sync.next_wake().is_none());
}
