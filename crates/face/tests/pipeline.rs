//! The face swap on real (stand-in) networks through tract: a frame goes in as I420, and
//! only pixels inside the detected faces' boxes may come out changed.

mod common;

use common::{changed_luma, inside};

use std::path::PathBuf;
use std::sync::Arc;
use studio_face::mouth::MouthMask;
use studio_face::pipeline::{AddFaceError, FaceEngine, FaceModels, MAX_FACES};
use studio_face::standin::textured;
use studio_infer::{BackendChoice, ModelOptions};
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{RgbImage, Timestamp, VideoFrame};

fn engine(detect_every: u32) -> Arc<FaceEngine> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let options = ModelOptions {
        backend: BackendChoice::Tract,
        ..ModelOptions::default()
    };
    Arc::new(FaceEngine::new(
        FaceModels::load_dir(&dir, &options).unwrap(),
        detect_every,
    ))
}

fn frame(seq: u64, img: &RgbImage) -> VideoFrame {
    VideoFrame {
        seq,
        capture: Timestamp(seq * 33_333),
        image: img.to_i420(),
    }
}

#[test]
fn pixels_change_only_inside_detected_face_boxes() {
    let engine = engine(2);
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    assert!(target.id.starts_with("face-"));
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.id.clone())))
        .unwrap();
    let img = textured(640, 360, 11);
    let mut changed_total = 0;
    for seq in 0..3 {
        let input = frame(seq, &img);
        let out = p.process(input.clone());
        assert_eq!(p.last_error(), None);
        assert_eq!((out.seq, out.capture), (input.seq, input.capture));
        let faces = p.faces().to_vec();
        assert!(!faces.is_empty(), "the stand-in detector found no face");
        for (x, y) in changed_luma(&input, &out) {
            assert!(
                faces.iter().any(|f| inside(&f.bbox, x, y)),
                "luma ({x},{y}) changed outside every face box"
            );
            changed_total += 1;
        }
        let (_, ui, vi) = input.image.planes();
        let (_, uo, vo) = out.image.planes();
        for (i, ((a, b), (c, d))) in ui.iter().zip(uo).zip(vi.iter().zip(vo)).enumerate() {
            if a != b || c != d {
                let (cx, cy) = (i as u32 % 320, i as u32 / 320);
                let block_inside = (0..2).any(|dy| {
                    (0..2).any(|dx| {
                        faces
                            .iter()
                            .any(|f| inside(&f.bbox, 2 * cx + dx, 2 * cy + dy))
                    })
                });
                assert!(
                    block_inside,
                    "chroma ({cx},{cy}) changed outside every face box"
                );
            }
        }
    }
    assert!(
        changed_total > 500,
        "only {changed_total} luma values changed"
    );
    let t = p.times();
    assert_eq!(t.frames, 3);
    // Detection every 2 frames: frames 0 and 2 ran the detector.
    assert!(t.detect > std::time::Duration::ZERO && t.swap > std::time::Duration::ZERO);
}

#[test]
fn every_face_is_swapped_when_asked_up_to_the_bound_and_the_largest_alone_otherwise() {
    let engine = engine(1);
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let img = studio_face::standin::faces(1280, 720, 4);
    let swap = |p: &mut studio_face::pipeline::FaceSwapProcessor, seq| {
        let input = frame(seq, &img);
        let out = p.process(input.clone());
        assert_eq!(p.last_error(), None);
        (p.faces().to_vec(), changed_luma(&input, &out))
    };
    let (one, changed_one) = swap(&mut p, 0);
    assert_eq!(one.len(), 1, "the largest face alone by default");

    // The stand-in detector answers this picture with hundreds of faces: every face means
    // the bound's worth, largest first.
    p.apply(&VideoSetting::AllFaces(true)).unwrap();
    let (all, changed_all) = swap(&mut p, 1);
    assert_eq!(all.len(), MAX_FACES);
    assert_eq!(all[0].bbox, one[0].bbox, "the largest stays first");
    assert!(all.windows(2).all(|w| w[0].area() >= w[1].area()));
    for (x, y) in &changed_all {
        assert!(
            all.iter().any(|f| inside(&f.bbox, *x, *y)),
            "luma ({x},{y}) changed outside every face box"
        );
    }
    for face in &all {
        assert!(
            changed_all.iter().any(|&(x, y)| inside(&face.bbox, x, y)),
            "nothing changed in the face at {:?}",
            face.bbox
        );
    }
    assert!(changed_all.len() > 2 * changed_one.len());

    // Four asked, four swapped; back to one, the largest alone again.
    p.set_max_faces(4);
    assert_eq!(swap(&mut p, 2).0.len(), 4);
    p.apply(&VideoSetting::AllFaces(false)).unwrap();
    let (again, changed_again) = swap(&mut p, 3);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].bbox, one[0].bbox);
    assert_eq!(changed_again, changed_one);
}

#[test]
fn no_chosen_face_passes_frames_through_and_unknown_ids_are_refused() {
    let engine = engine(1);
    let mut p = engine.processor();
    let input = frame(0, &textured(320, 240, 3));
    assert_eq!(p.process(input.clone()), input);
    let err = p
        .apply(&VideoSetting::Face(Some("face-404".into())))
        .unwrap_err();
    assert!(err.contains("face-404"), "{err}");
    assert_eq!(p.process(input.clone()), input);
}

#[test]
fn a_flat_image_has_no_face() {
    let engine = engine(1);
    let mut flat = RgbImage::new(200, 200);
    flat.data_mut().fill(128);
    match engine.add_face(&flat) {
        Err(AddFaceError::NoFace) => {}
        other => panic!("expected NoFace, got {other:?}"),
    }
}

/// Between detections only the face's neighbourhood is converted to RGB; the frames must come
/// out exactly as when every frame converts (and detects on) the whole picture.
#[test]
fn frames_between_detections_come_out_as_detected_frames_do() {
    let img = textured(640, 360, 11);
    let mut outputs = Vec::new();
    for detect_every in [1, 3] {
        let engine = engine(detect_every);
        let target = engine.add_face(&textured(320, 240, 7)).unwrap();
        let mut p = engine.processor();
        p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
        let out: Vec<_> = (0..3).map(|seq| p.process(frame(seq, &img))).collect();
        assert_eq!(p.last_error(), None);
        outputs.push(out);
    }
    assert_ne!(outputs[0][1], frame(1, &img), "the frame was not swapped");
    assert_eq!(outputs[0], outputs[1]);
}

/// Smoothing is on by default and can be turned off; on a still picture the detections repeat
/// exactly, so the filters hold them and both ways give the same frames.
#[test]
fn smoothing_is_on_by_default_and_leaves_a_still_face_as_detected() {
    let img = textured(640, 360, 11);
    let mut outputs = Vec::new();
    for smoothing in [true, false] {
        let engine = engine(2);
        let target = engine.add_face(&textured(320, 240, 7)).unwrap();
        let mut p = engine.processor();
        assert!(p.smoothing());
        p.set_smoothing(smoothing);
        assert_eq!(p.smoothing(), smoothing);
        p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
        let out: Vec<_> = (0..4).map(|seq| p.process(frame(seq, &img))).collect();
        assert_eq!(p.last_error(), None);
        assert!(!p.faces().is_empty());
        outputs.push((out, p.faces().to_vec()));
    }
    assert_ne!(outputs[0].0[1], frame(1, &img), "the frame was not swapped");
    assert_eq!(outputs[0], outputs[1]);
}

/// A moving picture: with smoothing on, the faces used are filtered rather than as detected
/// (they differ from the unsmoothed run's), and still only pixels inside them may change.
#[test]
fn smoothed_faces_bound_the_changed_pixels_on_a_moving_picture() {
    let base = textured(700, 360, 11);
    // Slide a 640-wide window across the wider picture, 4 px a frame.
    let frames: Vec<VideoFrame> = (0..6u32)
        .map(|seq| frame(u64::from(seq), &common::window_of(&base, 4 * seq)))
        .collect();
    let mut faces_used = Vec::new();
    for smoothing in [true, false] {
        let engine = engine(1);
        let target = engine.add_face(&textured(320, 240, 7)).unwrap();
        let mut p = engine.processor();
        p.set_smoothing(smoothing);
        p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
        let mut used = Vec::new();
        for input in &frames {
            let out = p.process(input.clone());
            assert_eq!(p.last_error(), None);
            let faces = p.faces().to_vec();
            assert!(!faces.is_empty(), "the stand-in detector found no face");
            for (x, y) in changed_luma(input, &out) {
                assert!(
                    faces.iter().any(|f| inside(&f.bbox, x, y)),
                    "luma ({x},{y}) changed outside every face used"
                );
            }
            used.push(faces);
        }
        faces_used.push(used);
    }
    // The first frame starts unfiltered; later ones are filtered.
    assert_eq!(faces_used[0][0], faces_used[1][0]);
    assert_ne!(faces_used[0][1..], faces_used[1][1..]);
}

/// One frame through a fresh processor, the mouth mask set first when `mouth` says so.
fn swap_once(img: &RgbImage, mouth: Option<bool>) -> (VideoFrame, Vec<studio_face::Detection>) {
    let engine = engine(1);
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    assert!(!p.mouth_mask(), "the mouth mask is off by default");
    if let Some(on) = mouth {
        p.apply(&VideoSetting::MouthMask(on)).unwrap();
        assert_eq!(p.mouth_mask(), on);
    }
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let out = p.process(frame(0, img));
    assert_eq!(p.last_error(), None);
    (out, p.faces().to_vec())
}

/// With the mouth mask on, the mouth's core comes out exactly as it went in while the rest
/// of the face is swapped as before; turned off it gives today's frame, byte for byte.
#[test]
fn the_mouth_mask_keeps_the_mouth_and_off_pastes_as_before() {
    let img = textured(640, 360, 11);
    let input = frame(0, &img);
    let (today, faces) = swap_once(&img, None);
    let (off, _) = swap_once(&img, Some(false));
    assert_eq!(off, today);
    let (on, faces_on) = swap_once(&img, Some(true));
    assert_eq!(faces_on, faces);
    let face = studio_face::detect::largest(&faces).unwrap();
    let mouth = MouthMask::from_landmarks(&face.kps).expect("the stand-in face has a mouth");
    let (yi, ui, vi) = input.image.planes();
    let (yt, ut, vt) = today.image.planes();
    let (yn, un, vn) = on.image.planes();
    let (mut core, mut core_swapped_today, mut rest_changed) = (0, 0, 0);
    for (i, ((a, t), n)) in yi.iter().zip(yt).zip(yn).enumerate() {
        let (x, y) = (i as i64 % 640, i as i64 / 640);
        if mouth.in_core(x as f64, y as f64) {
            core += 1;
            assert_eq!(n, a, "luma ({x},{y}) in the mouth's core changed");
            core_swapped_today += usize::from(t != a);
        } else if mouth.weight(x, y) == 0.0 {
            assert_eq!(
                n, t,
                "luma ({x},{y}) away from the mouth differs from today's"
            );
            rest_changed += usize::from(n != a);
        }
    }
    assert!(core > 100, "only {core} pixels in the mouth's core");
    assert!(
        core_swapped_today * 2 > core,
        "without the mask only {core_swapped_today} of {core} core pixels were swapped"
    );
    assert!(
        rest_changed > 500,
        "only {rest_changed} face pixels changed"
    );
    // Chroma: a 2×2 block wholly in the core is the input's, one wholly clear of the mask
    // today's.
    for (i, (((a, t), n), ((c, u), m))) in ui
        .iter()
        .zip(ut)
        .zip(un)
        .zip(vi.iter().zip(vt).zip(vn))
        .enumerate()
    {
        let (cx, cy) = (i as i64 % 320, i as i64 / 320);
        let block = [(0, 0), (1, 0), (0, 1), (1, 1)].map(|(dx, dy)| (2 * cx + dx, 2 * cy + dy));
        if block
            .iter()
            .all(|&(x, y)| mouth.in_core(x as f64, y as f64))
        {
            assert_eq!((n, m), (a, c), "chroma ({cx},{cy}) in the core changed");
        } else if block.iter().all(|&(x, y)| mouth.weight(x, y) == 0.0) {
            assert_eq!((n, m), (t, u), "chroma ({cx},{cy}) differs from today's");
        }
    }
}

/// Face mapping through the pipeline: the person a reference photo shows wears their own
/// identity, without any face chosen. The stand-in embedder answers every textured picture
/// with much the same vector (their distances are all under FaceFusion's 0.3), so here every
/// face is someone mapped, each the closest person; that a face no one knows passes as it
/// came is `mapping::tests`' to show.
#[test]
fn mapped_people_wear_their_own_faces_with_no_face_chosen() {
    let engine = engine(1);
    let img = studio_face::standin::faces(1280, 720, 2);
    // The picture's largest face is person 0; the other photo's is person 1.
    let me = engine.add_face(&img).unwrap();
    let friend = engine.add_face(&textured(320, 240, 3)).unwrap();
    let (x, y) = (
        engine.add_face(&textured(320, 240, 7)).unwrap(),
        engine.add_face(&textured(320, 240, 9)).unwrap(),
    );
    let mut p = engine.processor();
    let input = frame(0, &img);
    assert_eq!(
        p.process(input.clone()),
        input,
        "no face chosen, none mapped: as it came"
    );
    p.apply(&VideoSetting::People(vec![
        (me.id.clone(), x.id.clone()),
        (friend.id.clone(), y.id.clone()),
    ]))
    .unwrap();
    assert_eq!(p.people(), 2);
    let out = p.process(input.clone());
    assert_eq!(p.last_error(), None);
    let faces = p.faces().to_vec();
    assert!(!faces.is_empty() && faces.len() <= studio_face::mapping::MAX_PEOPLE);
    assert_eq!(p.people_in_frame().len(), faces.len());
    // The largest face is the person in the reference taken from this picture.
    // (The reference was found in the RGB picture, the frame's faces in its I420 copy.)
    let near = faces[0]
        .bbox
        .iter()
        .zip(me.bbox)
        .all(|(a, b)| (a - b).abs() < 1.0);
    assert!(
        near,
        "the largest face first: {:?} {:?}",
        faces[0].bbox, me.bbox
    );
    assert_eq!(p.people_in_frame()[0], 0);
    let changed = changed_luma(&input, &out);
    assert!(changed.iter().any(|&(x, y)| inside(&faces[0].bbox, x, y)));
    for (x, y) in &changed {
        assert!(
            faces.iter().any(|f| inside(&f.bbox, *x, *y)),
            "({x},{y}) outside the faces"
        );
    }
    // The largest face wears x: as it does with x chosen for one face.
    let mut single = engine.processor();
    single
        .apply(&VideoSetting::Face(Some(x.id.clone())))
        .unwrap();
    let worn = single.process(input.clone());
    let [x0, y0, x1, y1] = faces[0].bbox.map(|v| v.max(0.0) as u32);
    let (yo, _, _) = out.image.planes();
    let (ys, _, _) = worn.image.planes();
    let only_largest = |x: u32, y: u32| faces[1..].iter().all(|f| !inside(&f.bbox, x, y));
    let mut same = 0;
    for y in y0..y1.min(720) {
        for x in x0..x1.min(1280) {
            if only_largest(x, y) {
                let i = (y * 1280 + x) as usize;
                assert_eq!(yo[i], ys[i], "({x},{y}) of the largest face");
                same += 1;
            }
        }
    }
    assert!(
        same > 1000,
        "only {same} pixels of the largest face compared"
    );

    // Unknown faces and too many pairs are refused; the mapping stays.
    assert!(
        p.apply(&VideoSetting::People(vec![(
            "face-99".into(),
            x.id.clone()
        )]))
        .is_err()
    );
    let many = vec![(me.id.clone(), x.id.clone()); studio_face::mapping::MAX_PEOPLE + 1];
    assert!(p.apply(&VideoSetting::People(many)).is_err());
    assert_eq!(p.people(), 2);
    // Off: with no face chosen, frames pass as they came.
    p.apply(&VideoSetting::People(Vec::new())).unwrap();
    assert_eq!(p.process(input.clone()), input);
}
