//! Detection ahead of the swap on real (stand-in) networks through tract: a face moving across
//! the picture is swapped on every frame, the first included; at most one detection is in
//! flight; the faces used lag the face by at most one detection interval; and the frames
//! come out as the synchronous pipeline's except where a detection was pending.

mod common;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use studio_face::models::Detector;
use studio_face::pipeline::{FaceEngine, FaceModels, FaceSwapProcessor};
use studio_face::standin::textured;
use studio_face::{Detection, detect};
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{Timestamp, VideoFrame};

const EVERY: usize = 3;
const FRAMES: usize = 12;

/// The tests count the process's detection threads, so they run one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A 640×360 window sliding 4 px a frame across a wider textured picture: the stand-in
/// detector's largest face moves with it.
fn moving_frames() -> Vec<VideoFrame> {
    let base = textured(640 + 4 * FRAMES as u32, 360, 11);
    (0..FRAMES as u32)
        .map(|seq| VideoFrame {
            seq: u64::from(seq),
            capture: Timestamp(u64::from(seq) * 33_333),
            image: common::window_of(&base, 4 * seq).to_i420(),
        })
        .collect()
}

/// The engine, and each frame's largest face as the detector finds it on that frame.
fn engine_and_truth(frames: &[VideoFrame]) -> (Arc<FaceEngine>, Vec<Detection>) {
    let (engine, truth, _) = engine_truth_and_detector(frames);
    (engine, truth)
}

/// [`engine_and_truth`], and a handle on the engine's detector, whose lock a test can hold
/// to keep a detection busy.
fn engine_truth_and_detector(
    frames: &[VideoFrame],
) -> (Arc<FaceEngine>, Vec<Detection>, Arc<Mutex<Detector>>) {
    let models = FaceModels::load_dir(&common::models_dir(), &common::tract()).unwrap();
    let detector = Arc::clone(&models.detector);
    let truth = frames
        .iter()
        .map(|f| {
            let faces = models
                .detector
                .lock()
                .unwrap()
                .detect_i420(&f.image)
                .unwrap();
            *detect::largest(&faces).expect("the stand-in detector found no face")
        })
        .collect();
    let engine = Arc::new(FaceEngine::new(models, EVERY as u32));
    (engine, truth, detector)
}

fn session(engine: &Arc<FaceEngine>, ahead: bool) -> FaceSwapProcessor {
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    assert!(!p.detect_ahead(), "detection ahead is off by default");
    p.set_detect_ahead(ahead);
    // Unsmoothed, the faces used are exactly some frame's detection.
    p.set_smoothing(false);
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    p
}

/// Threads of this process named as the detection worker (Linux names them in `/proc`).
fn detect_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "face-detect-ahe")
        .count()
}

/// Each frame waits for the detection in flight before the next comes, so which detection a
/// frame uses is fixed: a detection frame with a face known swaps with the previous
/// detection's faces (its own are taken up by the next frame); every other frame uses what
/// the synchronous pipeline uses, and comes out bit for bit as it does.
#[test]
fn detection_ahead_lags_one_interval_on_detection_frames_and_matches_elsewhere() {
    let _one = one_at_a_time();
    let frames = moving_frames();
    let (engine, truth) = engine_and_truth(&frames);
    let mut sync = session(&engine, false);
    let mut ahead = session(&engine, true);
    for (k, input) in frames.iter().enumerate() {
        let expected = sync.process(input.clone());
        let out = ahead.process(input.clone());
        assert_eq!(ahead.last_error(), None, "frame {k}");
        assert_eq!(sync.last_error(), None, "frame {k}");
        assert_ne!(out.image, input.image, "frame {k} went out unswapped");
        // The detection whose faces frame k used.
        let detected = if k > 0 && k % EVERY == 0 {
            k - EVERY
        } else {
            k - k % EVERY
        };
        assert_eq!(ahead.faces(), &[truth[detected]], "frame {k}");
        assert!(
            k - detected <= EVERY,
            "frame {k} lags more than an interval"
        );
        assert_eq!(sync.faces(), &[truth[k - k % EVERY]], "frame {k}");
        if detected == k - k % EVERY {
            assert!(
                out == expected,
                "frame {k} differs from the synchronous pipeline's"
            );
        } else {
            // The face moved since: the frame differs, swapped where the older face was.
            assert_ne!(truth[detected], truth[k], "the face did not move");
            assert!(out != expected, "frame {k}");
        }
        ahead.finish_detection();
        assert_eq!(ahead.last_error(), None, "frame {k}");
    }
    assert_eq!(ahead.detections_in_flight_peak(), 1);
    assert_eq!(sync.detections_in_flight_peak(), 0);
    let times = ahead.times();
    assert!(times.detect_overlapped > std::time::Duration::ZERO);
    assert!(times.detect_network > std::time::Duration::ZERO);
    assert!(times.detect >= times.detect_overlapped);
}

/// Frames come as fast as they are swapped, never waiting for the detector: each goes out
/// swapped (the first by a detection on its own time, as no face is known yet), with a face
/// some earlier frame's detection found, and never more than one detection in flight. The
/// worker ends with the session, even with a detection in flight.
#[test]
fn frames_never_wait_for_the_detector_and_the_worker_ends_with_the_session() {
    let _one = one_at_a_time();
    let frames = moving_frames();
    let (engine, truth) = engine_and_truth(&frames);
    assert_eq!(detect_threads(), 0);
    let mut ahead = session(&engine, true);
    for (k, input) in frames.iter().enumerate() {
        let out = ahead.process(input.clone());
        assert_eq!(ahead.last_error(), None, "frame {k}");
        assert_ne!(out.image, input.image, "frame {k} went out unswapped");
        if k == 0 {
            assert_eq!(ahead.faces(), &[truth[0]]);
            assert!(!ahead.detection_in_flight());
        }
        let used = ahead.faces()[0];
        assert!(
            truth[..=k].contains(&used),
            "frame {k} used a face no earlier frame's detection found"
        );
        assert!(ahead.detections_in_flight_peak() <= 1);
    }
    assert_eq!(ahead.detections_in_flight_peak(), 1);
    assert_eq!(detect_threads(), 1);
    // Leave a detection in flight, then end the session.
    ahead.finish_detection();
    let next = frames[EVERY].clone();
    let mut k = 0;
    while !ahead.detection_in_flight() && k < 2 * EVERY {
        ahead.process(next.clone());
        k += 1;
    }
    assert!(ahead.detection_in_flight());
    drop(ahead);
    assert_eq!(detect_threads(), 0, "the worker outlived its session");
}

/// A setting that resets the faces while a detection is in flight: its answer is dropped and
/// the next frame detects on its own time, as with detection ahead off.
#[test]
fn a_reset_drops_the_answer_in_flight_and_the_next_frame_detects_itself() {
    let _one = one_at_a_time();
    let frames = moving_frames();
    let (engine, truth) = engine_and_truth(&frames);
    let mut ahead = session(&engine, true);
    for input in &frames[..EVERY] {
        ahead.process(input.clone());
    }
    ahead.process(frames[EVERY].clone());
    assert!(ahead.detection_in_flight());
    assert_eq!(ahead.faces(), &[truth[0]]);
    ahead.set_max_faces(2);
    ahead.set_max_faces(1);
    let k = EVERY + 1;
    let out = ahead.process(frames[k].clone());
    assert_eq!(ahead.last_error(), None);
    assert_ne!(out.image, frames[k].image);
    assert_eq!(ahead.faces(), &[truth[k]]);
}

/// On the device path the letterbox is made by its graph on the frame's thread and the worker
/// detects on it: the faces used, frame by frame, are those of the CPU path detecting ahead.
#[test]
fn the_device_path_detects_ahead_on_its_letterbox_as_the_cpu_path_does() {
    let _one = one_at_a_time();
    let frames = moving_frames();
    let (engine, _) = engine_and_truth(&frames);
    let mut cpu = session(&engine, true);
    engine.set_device_graphs(Some(common::tract()));
    let mut device = session(&engine, true);
    engine.set_device_graphs(None);
    for (k, input) in frames.iter().enumerate() {
        let theirs = cpu.process(input.clone());
        let ours = device.process(input.clone());
        assert_eq!(device.last_error(), None, "frame {k}");
        assert!(device.device_graphs().is_some(), "the device path is off");
        assert_eq!(device.faces(), cpu.faces(), "frame {k}");
        assert_ne!(ours.image, input.image, "frame {k} went out unswapped");
        assert_ne!(theirs.image, input.image, "frame {k} went out unswapped");
        cpu.finish_detection();
        device.finish_detection();
    }
    assert_eq!(device.detections_in_flight_peak(), 1);
}

/// A detector that stays busy (its lock held elsewhere) holds up no frame: the detection frames
/// after the one it works on send nothing more, every frame goes out swapped with the faces
/// already followed, and one detection is in flight all along. Once the detector is free, its
/// answer is taken up.
#[test]
fn a_busy_detector_holds_up_no_frame_and_nothing_queues_behind_it() {
    let _one = one_at_a_time();
    let frames = moving_frames();
    let (engine, truth, detector) = engine_truth_and_detector(&frames);
    let mut ahead = session(&engine, true);
    ahead.process(frames[0].clone());
    assert_eq!(ahead.faces(), &[truth[0]]);
    let busy = detector.lock().unwrap();
    // The frames run on a thread of their own, so a frame that waited for the detector would
    // show as a timeout here rather than hang the test.
    let (done, frames_out) = std::sync::mpsc::channel();
    let rest = frames[1..].to_vec();
    let worker = std::thread::spawn(move || {
        for input in rest {
            let out = ahead.process(input.clone());
            let report = (
                out.image != input.image,
                ahead.faces().to_vec(),
                ahead.detection_in_flight(),
                ahead.last_error().map(str::to_string),
            );
            if done.send(report).is_err() {
                break;
            }
        }
        ahead
    });
    for k in 1..FRAMES {
        let (swapped, faces, in_flight, error) = frames_out
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("frame {k} waited for the busy detector"));
        assert_eq!(error, None, "frame {k}");
        assert!(swapped, "frame {k} went out unswapped");
        assert_eq!(
            faces,
            [truth[0]],
            "frame {k}: only the first detection is known"
        );
        assert_eq!(in_flight, k >= EVERY, "frame {k}");
    }
    let mut ahead = worker.join().unwrap();
    assert_eq!(ahead.detections_in_flight_peak(), 1);
    drop(busy);
    ahead.finish_detection();
    // The next frame swaps with what the busy detection found.
    let mut next = frames[FRAMES - 1].clone();
    next.seq += 1;
    next.capture = Timestamp(next.capture.0 + 33_333);
    ahead.process(next);
    assert_eq!(ahead.last_error(), None);
    assert_eq!(
        ahead.faces(),
        &[truth[EVERY]],
        "the busy detection's answer"
    );
}
