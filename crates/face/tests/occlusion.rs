//! The occlusion mask: its pre- and post-processing against vectors FaceFusion's own
//! `create_occlusion_mask` made (`tools/golden/occlusion_golden.py`), the XSeg stand-in
//! (`tools/standin/make_standins.py`: saturated green is "not face"), and the face swap with
//! a green occluder drawn over the face: with the mask on, the occluder leaves as it came.

mod common;

use common::{floats, golden_dir, models_dir, read, tract};
use serde_json::Value;
use std::sync::Arc;
use studio_face::enhance::{Enhancer, EnhancerKind};
use studio_face::occlusion::{Occluder, face_mask, prepare};
use studio_face::pipeline::{FaceEngine, FaceModels};
use studio_face::standin::textured;
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{RgbImage, Timestamp, VideoFrame};

/// FaceFusion's input, byte for byte: the 8-bit resize to 256×256 in BGR over 255. Its mask
/// within 1e-5 (OpenCV's blur and resize in f32, summed in another order).
#[test]
fn pre_and_post_processing_match_facefusion() {
    let text = std::fs::read_to_string(golden_dir().join("occlusion.json")).unwrap();
    let index: Value = serde_json::from_str(&text).unwrap();
    let raw = floats(&index["raw"]);
    assert_eq!(raw.len(), 256 * 256);
    let cases = index["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let size = case["size"].as_u64().unwrap() as u32;
        let mut rgb = read(&case["crop"]);
        for px in rgb.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
        let crop = RgbImage::from_data(size, size, rgb).unwrap();
        let blob = prepare(&crop, 256, 256).unwrap();
        let want: Vec<f32> = read(&case["input"])
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect();
        assert_eq!(blob.len(), want.len());
        let off = blob.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(off, 0, "crop {size}: {off} input values differ");

        let mask = face_mask(&raw, 256, 256, size, size).unwrap();
        let want = floats(&case["mask"]);
        assert_eq!(mask.len(), want.len());
        let worst = mask
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("crop {size}: the mask differs from FaceFusion's by at most {worst:e}");
        assert!(worst <= 1e-5, "crop {size}: the mask differs by {worst}");
        // The cases cover the whole range: occluded (0), in between, and near 1.
        let zeros = want.iter().filter(|&&v| v == 0.0).count();
        let partial = want.iter().filter(|&&v| v > 0.05 && v < 0.8).count();
        assert!(
            zeros > 500 && partial > 100,
            "{zeros} zeros, {partial} partial"
        );
        let exact_zeros = mask
            .iter()
            .zip(&want)
            .filter(|&(a, b)| *b == 0.0 && *a == 0.0);
        assert_eq!(
            exact_zeros.count(),
            zeros,
            "crop {size}: FaceFusion's zeros"
        );
    }
}

/// A textured crop with a saturated green square from `(a, a)` to `(b, b)`.
fn crop_with_green(size: u32, a: u32, b: u32) -> RgbImage {
    let mut img = textured(size, size, 5);
    for y in a..b {
        for x in a..b {
            let o = ((y * size + x) * 3) as usize;
            img.data_mut()[o..o + 3].copy_from_slice(&[0, 255, 0]);
        }
    }
    img
}

#[test]
fn the_standin_finds_green_as_not_face() {
    let mut occluder = Occluder::load(&models_dir().join("xseg_1.onnx"), &tract()).unwrap();
    let info = occluder.model().info();
    assert_eq!(info.inputs[0].name, "input");
    assert_eq!(info.outputs[0].name, "output");
    let crop = crop_with_green(128, 40, 100);
    let face = occluder.face_mask(&crop).unwrap();
    let at = |x: usize, y: usize| face[y * 128 + x];
    for (x, y) in [(45, 45), (70, 70), (95, 95), (46, 94)] {
        assert_eq!(at(x, y), 0.0, "({x},{y}) in the green square");
    }
    for (x, y) in [(10, 10), (120, 20), (10, 120)] {
        assert!(
            (at(x, y) - 1.0).abs() < 1e-4,
            "({x},{y}) is face: {}",
            at(x, y)
        );
    }
}

fn engine(with_occluder: bool) -> Arc<FaceEngine> {
    let engine = Arc::new(FaceEngine::new(
        FaceModels::load_dir(&models_dir(), &tract()).unwrap(),
        1,
    ));
    if with_occluder {
        let occluder = Occluder::load(&models_dir().join("xseg_1.onnx"), &tract()).unwrap();
        engine.set_occluder(Some(occluder));
        assert!(engine.backends().contains("occluder tract"));
    }
    engine
}

/// One frame through a fresh processor; `occlusion` sets the mask first when given.
fn swap_once(engine: &Arc<FaceEngine>, img: &RgbImage, occlusion: Option<bool>) -> VideoFrame {
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    assert!(!p.occlusion(), "the occlusion mask is off by default");
    if let Some(on) = occlusion {
        p.apply(&VideoSetting::Occlusion(on)).unwrap();
        assert_eq!(p.occlusion(), on);
    }
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let out = p.process(VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: img.to_i420(),
    });
    assert_eq!(p.last_error(), None);
    assert!(!p.faces().is_empty(), "the stand-in detector found no face");
    if occlusion == Some(true) && engine.has_occluder() {
        assert!(p.times().occlude > std::time::Duration::ZERO);
    }
    out
}

/// The frame with a green square over the middle of its largest face, the face's box, and
/// the square.
fn occluded_frame() -> (RgbImage, [u32; 4]) {
    let engine = engine(false);
    let img = textured(640, 360, 11);
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    p.process(VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: img.to_i420(),
    });
    let face = *studio_face::detect::largest(p.faces()).expect("a face");
    // Within the frame: the stand-in's box may reach beyond it.
    let [x1, y1, x2, y2] = face.bbox;
    let (x1, y1, x2, y2) = (x1.max(0.0), y1.max(0.0), x2.min(639.0), y2.min(359.0));
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let half = ((x2 - x1).min(y2 - y1) * 0.2).max(8.0);
    let square = [
        (cx - half) as u32 & !1,
        (cy - half) as u32 & !1,
        (cx + half) as u32 & !1,
        (cy + half) as u32 & !1,
    ];
    let mut occluded = img.clone();
    for y in square[1]..square[3] {
        for x in square[0]..square[2] {
            let o = ((y * 640 + x) * 3) as usize;
            occluded.data_mut()[o..o + 3].copy_from_slice(&[0, 255, 0]);
        }
    }
    eprintln!("face box {:?}, occluder {square:?}", face.bbox);
    (occluded, square)
}

/// The square's inner part: away from its edge, where the blurred mask has reached 0.
fn inner(square: [u32; 4]) -> [u32; 4] {
    let m = (square[2] - square[0]) / 4;
    [square[0] + m, square[1] + m, square[2] - m, square[3] - m]
}

#[test]
fn with_the_occlusion_mask_the_occluder_stays_as_it_came() {
    let (img, square) = occluded_frame();
    let input = img.to_i420();
    let [x0, y0, x1, y1] = inner(square);
    let with = engine(true);
    let on = swap_once(&with, &img, Some(true));
    let off = swap_once(&with, &img, Some(false));
    let plain = swap_once(&with, &img, None);
    assert_eq!(off, plain, "off pastes as before");
    // Without the model the mask has nothing to work with: the paste is the plain one.
    let no_model = swap_once(&engine(false), &img, Some(true));
    assert_eq!(no_model, plain);

    let (yi, ui, vi) = input.planes();
    let (yn, un, vn) = on.image.planes();
    let (yf, _, _) = off.image.planes();
    let (mut kept, mut swapped_off) = (0, 0);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y * 640 + x) as usize;
            assert_eq!(yn[i], yi[i], "luma ({x},{y}) of the occluder changed");
            kept += 1;
            swapped_off += usize::from(yf[i] != yi[i]);
        }
    }
    for y in (y0 / 2)..(y1 / 2) {
        for x in (x0 / 2)..(x1 / 2) {
            let i = (y * 320 + x) as usize;
            assert_eq!((un[i], vn[i]), (ui[i], vi[i]), "chroma ({x},{y}) changed");
        }
    }
    assert!(kept > 100, "only {kept} occluder pixels checked");
    assert!(
        swapped_off * 2 > kept,
        "with the mask off only {swapped_off} of {kept} occluder pixels were swapped"
    );
    // The rest of the face is still swapped with the mask on.
    let changed = yi.iter().zip(yn).filter(|(a, b)| a != b).count();
    assert!(
        changed > 500,
        "only {changed} pixels swapped with the mask on"
    );
}

/// With the face enhancer on too, the enhancer keeps the occluder as the swap does (FaceFusion
/// gives its enhancer the occlusion mask as well): the occluder still leaves as it came.
#[test]
fn with_the_enhancer_on_the_occluder_still_stays_as_it_came() {
    let (img, square) = occluded_frame();
    let input = img.to_i420();
    let [x0, y0, x1, y1] = inner(square);
    let with = engine(true);
    // The GFPGAN stand-in is the one that changes saturated green (the GPEN ones clip it
    // back to itself).
    let kind = EnhancerKind::Gfpgan14;
    let path = models_dir().join(format!("{}.onnx", kind.id()));
    with.add_enhancer(Enhancer::load(&path, kind, &tract()).unwrap());
    let target = with.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = with.processor();
    p.apply(&VideoSetting::Occlusion(true)).unwrap();
    p.apply(&VideoSetting::Enhancer(Some(kind.id().into())))
        .unwrap();
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let out = p.process(VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: input.clone(),
    });
    assert_eq!(p.last_error(), None);
    assert_eq!(p.times().enhance_runs, 1);
    let (yi, _, _) = input.planes();
    let (yo, _, _) = out.image.planes();
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y * 640 + x) as usize;
            assert_eq!(yo[i], yi[i], "luma ({x},{y}) of the occluder changed");
        }
    }
    let changed = yi.iter().zip(yo).filter(|(a, b)| a != b).count();
    assert!(changed > 500, "only {changed} pixels changed");
}

/// The occlusion mask's own cost per frame outside the network (its pre- and post-processing
/// for inswapper's 128 crop), for the README: `cargo test --release -p studio-face --test
/// occlusion -- --ignored --nocapture`.
#[test]
#[ignore]
fn occlusion_processing_cost_per_frame() {
    let crop = crop_with_green(128, 40, 100);
    let raw: Vec<f32> = (0..256 * 256)
        .map(|i| if (i / 256) % 64 < 20 { 0.0 } else { 1.0 })
        .collect();
    let rounds = 200;
    let (mut pre, mut post) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for _ in 0..rounds {
        let t = std::time::Instant::now();
        std::hint::black_box(prepare(std::hint::black_box(&crop), 256, 256).unwrap());
        pre += t.elapsed();
        let t = std::time::Instant::now();
        std::hint::black_box(face_mask(std::hint::black_box(&raw), 256, 256, 128, 128).unwrap());
        post += t.elapsed();
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / f64::from(rounds);
    eprintln!(
        "occlusion mask for a 128 crop: prepare {:.3} ms, post-processing {:.3} ms",
        ms(pre),
        ms(post)
    );
}
