//! The face enhancer: its crop, box mask, pre- and post-processing, paste and blend against
//! vectors FaceFusion's own `enhance_face` made (`tools/golden/enhance_golden.py`, the
//! network replaced by a fixed answer), and the enhancer stand-ins
//! (`tools/standin/make_standins.py`) through the face swap.

mod common;

use common::{floats, index, models_dir, read, tract};
use std::sync::Arc;
use studio_face::Detection;
use studio_face::enhance::{
    Enhancer, EnhancerKind, FACE_MASK_BLUR, box_mask, crop_transform, normalize, paste_area,
    paste_blend, prepare, warp_crop,
};
use studio_face::pipeline::{FaceEngine, FaceModels, StageTimes};
use studio_face::standin::textured;
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{I420Image, RgbImage, Timestamp, VideoFrame};

fn bgr_to_rgb(mut v: Vec<u8>) -> Vec<u8> {
    for px in v.chunks_exact_mut(3) {
        px.swap(0, 2);
    }
    v
}

/// The golden's fixed answer for an input: `1.25 · input + pattern`, in f32 as numpy made it.
fn answer(input: &[f32], size: usize) -> Vec<f32> {
    let plane = size * size;
    input
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (c, y, x) = (i / plane, (i % plane) / size, i % size);
            let p = ((7 * x + 3 * y + c) % 11) as f32 - 5.0;
            v * 1.25 + p * 0.05f32
        })
        .collect()
}

/// The box mask within 1e-6 of OpenCV's blur (the same taps summed in another order).
#[test]
fn the_box_mask_matches_facefusion() {
    let index = index("enhance.json");
    for case in index["box_masks"].as_array().unwrap() {
        let size = case["size"].as_u64().unwrap() as usize;
        let every = case["rows_every"].as_u64().unwrap() as usize;
        let theirs = floats(case);
        let ours = box_mask(size as u32, FACE_MASK_BLUR);
        let mut worst = 0f32;
        for (k, row) in theirs.chunks_exact(size).enumerate() {
            let y = k * every;
            for (x, t) in row.iter().enumerate() {
                worst = worst.max((ours[y * size + x] - t).abs());
            }
        }
        eprintln!("box mask {size}: worst {worst}");
        assert!(worst < 1e-6, "{size}: worst {worst}");
    }
}

/// FaceFusion's transform to 1e-4; the crop within 1 level of OpenCV's `warpAffine` (its
/// fixed-point taps against ours in f32) on at most 0.05% of values (0.01% measured);
/// `prepare` exact; from FaceFusion's crop on, the frame after `normalize`, paste and blend
/// within 1 level, and changed where FaceFusion left it as it was on at most 0.1% of values
/// (0.03% measured: the 8-bit truncation of the paste at the mask's faint edge).
#[test]
fn enhance_face_matches_facefusion() {
    let index = index("enhance.json");
    let (w, h) = (
        index["frame"]["width"].as_u64().unwrap() as u32,
        index["frame"]["height"].as_u64().unwrap() as u32,
    );
    let frame = RgbImage::from_data(w, h, bgr_to_rgb(read(&index["frame"]))).unwrap();
    let kps: Vec<[f32; 2]> = index["landmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32])
        .collect();
    let kps: [[f32; 2]; 5] = kps.try_into().unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let kind = EnhancerKind::from_id(case["model"].as_str().unwrap()).unwrap();
        let size = kind.size();
        assert_eq!(case["size"].as_u64().unwrap() as u32, size);
        let name = format!("{} at {}", kind.id(), case["blend"]);
        let m = crop_transform(&kps, kind.template(), size).unwrap();
        for (r, row) in case["affine"].as_array().unwrap().iter().enumerate() {
            for (c, v) in row.as_array().unwrap().iter().enumerate() {
                let d = (m.m[r][c] - v.as_f64().unwrap()).abs();
                assert!(d < 1e-4, "{name}: affine [{r}][{c}] off by {d}");
            }
        }
        let crop = warp_crop(&frame, &m, size).unwrap();
        let theirs = read(&case["input"]);
        let (mut off, mut worst) = (0usize, 0i32);
        for (a, b) in crop.data().iter().zip(&theirs) {
            let d = (i32::from(*a) - i32::from(*b)).abs();
            worst = worst.max(d);
            off += usize::from(d > 0);
        }
        eprintln!(
            "{name}: crop worst {worst}, {off} of {} values off",
            theirs.len()
        );
        assert!(worst <= 1, "{name}: crop off by {worst}");
        assert!(off * 2000 <= theirs.len(), "{name}: {off} crop values off");
        // From FaceFusion's own crop on, the steps are exact or nearly.
        let their_crop = RgbImage::from_data(size, size, theirs).unwrap();
        let input = prepare(&their_crop);
        let n = size as usize;
        for (i, v) in input.iter().enumerate() {
            let (c, p) = (i / (n * n), i % (n * n));
            let level = their_crop.data()[p * 3 + c];
            assert_eq!(*v, ((f64::from(level) / 255.0 - 0.5) / 0.5) as f32);
        }
        let enhanced = normalize(&answer(&input, n), size).unwrap();
        let strength = case["blend"].as_u64().unwrap() as u8;
        let mut ours = frame.clone();
        let mask = box_mask(size, FACE_MASK_BLUR);
        paste_blend(&mut ours, &enhanced, &mask, &m, strength).unwrap();
        let result = bgr_to_rgb(read(&case["result"]));
        let (mut worst, mut moved) = (0i32, 0usize);
        for ((a, b), f) in ours.data().iter().zip(&result).zip(frame.data()) {
            let d = (i32::from(*a) - i32::from(*b)).abs();
            worst = worst.max(d);
            moved += usize::from(b == f && a != f);
        }
        eprintln!("{name}: frame worst {worst}, {moved} values moved");
        assert!(worst <= 1, "{name}: frame off by {worst}");
        assert!(
            moved * 1000 <= result.len(),
            "{name}: {moved} values changed that FaceFusion left"
        );
        assert!(ours != frame, "{name}: the paste changed something");
    }
}

/// An engine on the stand-ins, with the enhancers of `kinds`.
fn engine(kinds: &[EnhancerKind]) -> Arc<FaceEngine> {
    let engine = Arc::new(FaceEngine::new(
        FaceModels::load_dir(&models_dir(), &tract()).unwrap(),
        1,
    ));
    for &kind in kinds {
        let path = models_dir().join(format!("{}.onnx", kind.id()));
        engine.add_enhancer(Enhancer::load(&path, kind, &tract()).unwrap());
        assert!(engine.has_enhancer(kind));
        assert!(
            engine
                .backends()
                .contains(&format!("enhancer {} tract", kind.id()))
        );
    }
    engine
}

/// `frames` through a fresh processor with `settings` applied first.
fn run(
    engine: &Arc<FaceEngine>,
    frames: &[RgbImage],
    settings: &[VideoSetting],
) -> (Vec<I420Image>, StageTimes, Vec<Detection>) {
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    assert_eq!(p.enhancer(), None, "the enhancer is off by default");
    assert_eq!(p.enhance_strength(), 80, "FaceFusion's default blend");
    for s in settings {
        p.apply(s).unwrap();
    }
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let mut out = Vec::new();
    for (i, img) in frames.iter().enumerate() {
        let f = p.process(VideoFrame {
            seq: i as u64,
            capture: Timestamp(i as u64 * 33_000),
            image: img.to_i420(),
        });
        assert_eq!(p.last_error(), None);
        out.push(f.image);
    }
    assert!(!p.faces().is_empty(), "the stand-in detector found no face");
    (out, p.times().clone(), p.faces().to_vec())
}

fn on(kind: EnhancerKind) -> VideoSetting {
    VideoSetting::Enhancer(Some(kind.id().to_string()))
}

/// Off, strength 0 and a chosen enhancer the engine does not have all give the swap as
/// before, bit for bit; on, the enhancer runs and changes the frame only inside the face's
/// box and the enhancer crop's paste area (FaceFusion's `calculate_paste_area`, even-aligned
/// for the chroma blocks).
#[test]
fn the_enhancer_changes_only_the_faces_region_and_off_is_as_before() {
    let img = textured(640, 360, 11);
    let frames = [img.clone()];
    let all = engine(&[EnhancerKind::Gfpgan14, EnhancerKind::GpenBfr256]);
    let (plain, plain_t, _) = run(&all, &frames, &[]);
    assert!(plain_t.enhance.is_zero() && plain_t.enhance_runs == 0);
    let (off, _, _) = run(&all, &frames, &[VideoSetting::Enhancer(None)]);
    assert_eq!(off, plain, "off swaps as before");
    let (zero, zero_t, _) = run(
        &all,
        &frames,
        &[
            on(EnhancerKind::Gfpgan14),
            VideoSetting::EnhancerStrength(0),
        ],
    );
    assert_eq!(zero, plain, "strength 0 swaps as before");
    assert_eq!(zero_t.enhance_runs, 0);
    let (missing, _, _) = run(&engine(&[]), &frames, &[on(EnhancerKind::Gfpgan14)]);
    assert_eq!(missing, plain, "without the model the swap is as before");
    for kind in [EnhancerKind::Gfpgan14, EnhancerKind::GpenBfr256] {
        let (enhanced, t, faces) = run(&all, &frames, &[on(kind)]);
        assert_eq!(t.enhance_runs, 1, "{}", kind.id());
        assert!(t.enhance > t.enhance_network && !t.enhance_network.is_zero());
        assert_ne!(enhanced, plain, "{} changed nothing", kind.id());
        let face = faces[0];
        let m = crop_transform(&face.kps, kind.template(), kind.size()).unwrap();
        let (x0, y0, x1, y1) = paste_area(&m, kind.size(), 640, 360).unwrap();
        let b = face.bbox;
        let (x0, y0) = (
            (x0 as f32).min(b[0].floor()) - 2.0,
            (y0 as f32).min(b[1].floor()) - 2.0,
        );
        let (x1, y1) = (
            (x1 as f32).max(b[2].ceil()) + 3.0,
            (y1 as f32).max(b[3].ceil()) + 3.0,
        );
        let (ye, _, _) = enhanced[0].planes();
        let (yp, _, _) = plain[0].planes();
        let mut changed = 0;
        for (i, (e, p)) in ye.iter().zip(yp).enumerate() {
            if e != p {
                let (x, y) = ((i % 640) as f32, (i / 640) as f32);
                assert!(
                    x >= x0 && x < x1 && y >= y0 && y < y1,
                    "{}: luma ({x}, {y}) changed outside the face's region",
                    kind.id()
                );
                changed += 1;
            }
        }
        assert!(changed > 100, "{}: {changed} pixels changed", kind.id());
    }
}

/// With the network run every third frame, the frames between reuse its answer: on a still
/// picture they come out as every frame's run gives them, with a third of the runs; and the
/// strength scales how far the enhanced face moves from the swapped one.
#[test]
fn enhance_every_reuses_the_last_answer_and_strength_blends() {
    let img = textured(640, 360, 11);
    let frames = vec![img.clone(); 4];
    let all = engine(&[EnhancerKind::GpenBfr256]);
    let kind = on(EnhancerKind::GpenBfr256);
    let (every, t1, _) = run(&all, &frames, std::slice::from_ref(&kind));
    assert_eq!(t1.enhance_runs, 4);
    let (third, t3, _) = run(
        &all,
        &frames,
        &[kind.clone(), VideoSetting::EnhanceEvery(Some(3))],
    );
    assert_eq!(t3.enhance_runs, 2, "frames 0 and 3 ran the network");
    assert_eq!(third, every);
    let (plain, _, _) = run(&all, &frames[..1], &[]);
    let distance = |strength: u8| {
        let settings = [kind.clone(), VideoSetting::EnhancerStrength(strength)];
        let (out, _, _) = run(&all, &frames[..1], &settings);
        let (a, _, _) = out[0].planes();
        let (b, _, _) = plain[0].planes();
        a.iter()
            .zip(b)
            .map(|(x, y)| u64::from(x.abs_diff(*y)))
            .sum::<u64>()
    };
    let (d30, d80, d100) = (distance(30), distance(80), distance(100));
    assert!(0 < d30 && d30 < d80 && d80 < d100, "{d30} {d80} {d100}");
}

/// A session whose pre- and post-processing would run as device graphs hands its frames to
/// the CPU path while the enhancer is on: the same frames as the CPU path gives.
#[test]
fn with_the_enhancer_on_the_device_path_hands_over_to_the_cpu_path() {
    let img = textured(640, 360, 11);
    let frames = vec![img.clone(); 2];
    let all = engine(&[EnhancerKind::GpenBfr256]);
    let settings = [on(EnhancerKind::GpenBfr256)];
    let (cpu, _, _) = run(&all, &frames, &settings);
    all.set_device_graphs(Some(tract()));
    let (device, t, _) = run(&all, &frames, &settings);
    assert_eq!(device, cpu);
    assert_eq!(t.enhance_runs, 2);
    // Off again, the device path runs as before.
    let (plain_device, _, _) = run(&all, &frames, &[]);
    all.set_device_graphs(None);
    let (plain_cpu, _, _) = run(&all, &frames, &[]);
    assert_ne!(plain_device, device);
    let (a, _, _) = plain_device[1].planes();
    let (b, _, _) = plain_cpu[1].planes();
    let off: usize = a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > 3).count();
    assert!(
        off * 1000 < a.len(),
        "the device path off by more than 3 on {off} values"
    );
}

/// With every face swapped, each face is restored, each with its own last answer kept for
/// the frames between runs.
#[test]
fn every_swapped_face_is_enhanced() {
    let img = studio_face::standin::faces(1280, 720, 3);
    let frames = vec![img; 2];
    let all = engine(&[EnhancerKind::GpenBfr256]);
    let kind = on(EnhancerKind::GpenBfr256);
    let settings = [VideoSetting::AllFaces(true), kind.clone()];
    let (every, t, faces) = run(&all, &frames, &settings);
    // The stand-in detector answers beside the patches too: as many as it swaps.
    let n = faces.len() as u64;
    assert!(n >= 3, "{n} faces swapped");
    assert_eq!(t.enhance_runs, 2 * n, "every face, both frames");
    let (second, t2, _) = run(
        &all,
        &frames,
        &[
            VideoSetting::AllFaces(true),
            kind,
            VideoSetting::EnhanceEvery(Some(2)),
        ],
    );
    assert_eq!(
        t2.enhance_runs, n,
        "the second frame reuses each face's answer"
    );
    assert_eq!(second, every, "a still picture gives the same frames");
}

/// Left to the engine (the default), the enhancer keeps up with a camera faster than the
/// session can enhance every frame by running its network on fewer frames: here frames
/// stamped 240 a second, with every face of a 720p picture swapped. Every frame still goes
/// out swapped and restored, as every frame's run gives it on a still picture.
#[test]
fn under_a_tight_budget_the_enhancer_runs_on_fewer_frames_and_every_frame_is_swapped() {
    let img = studio_face::standin::faces(1280, 720, 3);
    let all = engine(&[EnhancerKind::GpenBfr256]);
    let target = all.add_face(&textured(320, 240, 7)).unwrap();
    let frames = 60u64;
    let run_with = |every: Option<u32>| {
        let mut p = all.processor();
        assert_eq!(p.enhance_every(), None, "automatic by default");
        for s in [
            VideoSetting::AllFaces(true),
            on(EnhancerKind::GpenBfr256),
            VideoSetting::EnhanceEvery(every),
            VideoSetting::Face(Some(target.id.clone())),
        ] {
            p.apply(&s).unwrap();
        }
        let out: Vec<I420Image> = (0..frames)
            .map(|seq| {
                let f = p.process(VideoFrame {
                    seq,
                    capture: Timestamp(seq * 4_167),
                    image: img.to_i420(),
                });
                assert_eq!(p.last_error(), None);
                f.image
            })
            .collect();
        (out, p.times().clone(), p.faces().len() as u64, p)
    };
    let (every, every_t, n, _) = run_with(Some(1));
    assert!(n >= 3, "{n} faces swapped");
    assert_eq!(every_t.enhance_runs, frames * n);
    let (auto, auto_t, _, p) = run_with(None);
    assert!(
        auto_t.enhance_runs < frames * n / 2,
        "{} runs for {frames} frames of {n} faces",
        auto_t.enhance_runs
    );
    let pace = p.enhancer_pace().unwrap();
    assert!(pace.automatic && pace.every > 1, "{pace:?}");
    assert_eq!(pace.fps.round(), 240.0);
    let plain = img.to_i420();
    for (i, (a, e)) in auto.iter().zip(&every).enumerate() {
        assert!(*a != plain, "frame {i} went out as it came");
        assert!(a == e, "frame {i} differs from every frame's run");
    }
}
