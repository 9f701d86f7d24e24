//! The pre- and post-processing graphs (`device_graph`) against the CPU path they stand in
//! for, on tract (every run) and on ONNX Runtime's CPU provider where one is installed
//! (`ORT_DYLIB_PATH`, as CI sets it from the `onnxruntime` wheel), on the stand-in frame with
//! a face found by the stand-in detector, and on a rotated face.
//!
//! Tolerances (8-bit values):
//! - letterbox: exact (integer arithmetic in the graph, the same taps and shifts);
//! - alignment warp: at most 1 level anywhere, and at most 0.1% of values off at all
//!   (`GridSample`'s bilinear sum is the backend's own, so a value within float error of a
//!   half may round the other way);
//! - paste-back with its write-back to I420: at most 3 levels anywhere and at most 0.05% of
//!   the frame's values off by more than 1 (measured: 2 levels, 0.002%, about 0.5% off by
//!   one). The graph samples the face mask in crop pixels
//!   (`PasteBack::crop_mask`) where the CPU path samples its cached mask directly, and
//!   blends in floats where the CPU blends in 12-bit fixed point; both differences sit on the
//!   mask's feathered rim. A face cut by the frame's edge, where the CPU path takes the
//!   reference's mask, is held to the same. Outside the face box nothing changes, exactly.
//! - a whole session on the graphs: as the paste; with the mouth kept, at most 10 levels and
//!   0.1% of values off by more than 1 (measured: 7 levels, 0.024%), the mouth's feathered
//!   edge being taken out of the mask at crop pixels rather than frame pixels.

use std::path::PathBuf;
use studio_face::align::{estimate_norm, warp_affine};
use studio_face::blend::PasteBack;
use studio_face::detect;
use studio_face::device_graph::{self as dg, FACE_BOX, MASK, ORIGIN, SWAPPED, TO_CROP, TO_FRAME};
use studio_face::models::Detector;
use studio_face::pipeline::write_changed;
use studio_face::standin::{one_face, textured};
use studio_face::{Affine, Detection};
use studio_infer::{BackendChoice, Model, ModelOptions, Tensor};
use studio_media::{I420Image, RgbImage};

fn options(backend: BackendChoice) -> ModelOptions {
    ModelOptions {
        backend,
        device: "cpu".into(),
        ..ModelOptions::default()
    }
}

/// tract always; ONNX Runtime's CPU provider where a runtime is installed.
fn backends() -> Vec<BackendChoice> {
    let mut b = vec![BackendChoice::Tract];
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        b.push(BackendChoice::Ort);
    } else {
        eprintln!("ORT_DYLIB_PATH not set: the graphs run on tract only here");
    }
    b
}

fn load(name: &str, bytes: &[u8], backend: BackendChoice) -> Model {
    let m = Model::load_bytes(name, bytes.to_vec(), &options(backend)).unwrap();
    let want = match backend {
        BackendChoice::Ort => "ort",
        _ => "tract",
    };
    assert_eq!(m.backend().backend, want, "{:?}", m.backend());
    m
}

/// The stand-in frame (1280×720, a textured patch where the stand-in detector sees its
/// largest face) and that face.
fn frame_and_face() -> (I420Image, Detection) {
    let image = one_face(1280, 720).to_i420();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let mut detector =
        Detector::load(&dir.join("det_10g.onnx"), &options(BackendChoice::Tract)).unwrap();
    let faces = detector.detect_i420(&image).unwrap();
    let face = *detect::largest(&faces).expect("the stand-in detector found no face");
    (image, face)
}

/// A face turned by `degrees` about the frame's centre: a transform with rotation and a
/// fractional scale and position.
fn turned(w: u32, h: u32, degrees: f64) -> Affine {
    turned_at(
        f64::from(w) / 2.0 + 0.37,
        f64::from(h) / 2.0 - 0.21,
        degrees,
    )
}

/// A face turned by `degrees` about `(cx, cy)`, about 210 pixels across.
fn turned_at(cx: f64, cy: f64, degrees: f64) -> Affine {
    let (c, s) = (degrees.to_radians().cos(), degrees.to_radians().sin());
    let scale = 0.61;
    // Frame → crop: rotate and scale about the centre, then centre on the 128 crop.
    let (a, b) = (scale * c, scale * s);
    Affine {
        m: [
            [a, b, 64.0 - (a * cx + b * cy)],
            [-b, a, 64.0 - (-b * cx + a * cy)],
        ],
    }
}

/// Largest difference and the shares of values off at all and off by more than one.
fn compare(ours: &[u8], theirs: &[u8]) -> (u8, f64, f64) {
    assert_eq!(ours.len(), theirs.len());
    let (mut worst, mut off, mut off_more) = (0u8, 0usize, 0usize);
    for (a, b) in ours.iter().zip(theirs) {
        let d = a.abs_diff(*b);
        worst = worst.max(d);
        off += usize::from(d > 0);
        off_more += usize::from(d > 1);
    }
    let n = ours.len() as f64;
    (worst, off as f64 / n, off_more as f64 / n)
}

#[test]
fn the_letterbox_graph_equals_the_cpu_letterbox() {
    for backend in backends() {
        // 720p halves exactly (the common case); 1000×562 takes general taps both ways;
        // 640×360 fills the width at scale 1.
        for (w, h, seed) in [(1280, 720, 0), (1000, 562, 3), (640, 360, 5)] {
            let image = if seed == 0 {
                one_face(w, h).to_i420()
            } else {
                textured(w, h, seed).to_i420()
            };
            let (bytes, lb) = dg::letterbox(w, h, 640, 640).unwrap();
            let mut m = load("letterbox", &bytes, backend);
            let out = m
                .run_one(dg::i420_inputs_of(&image).unwrap(), Some(dg::BLOB))
                .unwrap();
            assert_eq!(out.shape(), [1, 3, 640, 640]);
            let (want, want_lb) = detect::letterbox_blob_i420(&image, 640, 640).unwrap();
            assert_eq!(lb, want_lb);
            let got = out.to_f32();
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert_eq!(worst, 0.0, "{backend:?} {w}x{h}: off by {worst}");
        }
    }
}

/// The align graph over `window` of the frame.
fn run_align(
    backend: BackendChoice,
    image: &I420Image,
    to_crop: &Affine,
    (origin, window): ((u32, u32), (u32, u32)),
) -> RgbImage {
    let (w, h) = (image.width(), image.height());
    let mut m = load("align", &dg::align(w, h, 128, window).unwrap(), backend);
    let mut inputs = dg::i420_inputs_of(image).unwrap();
    let at = vec![origin.0 as f32, origin.1 as f32];
    inputs.push((ORIGIN.into(), Tensor::f32(&[2], at).unwrap()));
    let to_frame = to_crop.invert().unwrap();
    inputs.push((TO_FRAME.into(), dg::affine_input(&to_frame)));
    let out = m.run_one(inputs, Some(dg::CROP)).unwrap();
    // Bytes cross back, as they went in.
    assert_eq!(out.element_type(), studio_infer::ElementType::U8);
    dg::rgb_from_planar(&out).unwrap()
}

#[test]
fn the_align_graph_equals_the_cpu_warp() {
    let (image, face) = frame_and_face();
    let rgb = image.to_rgb();
    let (w, h) = (image.width(), image.height());
    let transforms = [
        estimate_norm(&face.kps, 128).unwrap(),
        turned(w, h, 23.0),
        turned(w, h, -41.0),
        // Reaching past the frame's left edge: outside it reads black, as on the CPU.
        turned_at(40.4, 300.2, -12.0),
    ];
    for backend in backends() {
        for to_crop in &transforms {
            let theirs = warp_affine(&rgb, to_crop, 128, 128).unwrap();
            // Over the crop's window, and over the whole frame.
            let window = dg::align_window(to_crop, 128, w, h).unwrap();
            assert!(window.1.0 < w, "{window:?}");
            for window in [window, ((0, 0), (w, h))] {
                let ours = run_align(backend, &image, to_crop, window);
                let (worst, off, _) = compare(ours.data(), theirs.data());
                eprintln!("align {backend:?}: worst {worst}, {:.3}% off", off * 100.0);
                assert!(worst <= 1, "{backend:?} {window:?}: off by {worst}");
                assert!(
                    off <= 0.001,
                    "{backend:?} {window:?}: {:.3}% off",
                    off * 100.0
                );
            }
        }
    }
}

#[test]
fn the_paste_graph_equals_the_cpu_paste_and_write_back() {
    let (image, face) = frame_and_face();
    let (w, h) = (image.width(), image.height());
    let swapped = textured(128, 128, 9);
    let cases = [
        (estimate_norm(&face.kps, 128).unwrap(), face.bbox),
        (turned(w, h, 23.0), [540.3, 250.8, 741.6, 470.2]),
        // Cut by the frame's left edge: the CPU path takes the reference's mask there.
        (turned_at(60.4, 300.2, -12.0), [-40.5, 200.3, 160.2, 400.9]),
    ];
    for backend in backends() {
        for (to_crop, bbox) in &cases {
            // The CPU path: the cached paste over the RGB frame, the changed pixels written
            // back into the I420 frame.
            let before = image.to_rgb();
            let mut after = before.clone();
            let mut paste = PasteBack::new();
            paste
                .paste(&mut after, &swapped, to_crop, Some(*bbox))
                .unwrap();
            let mut theirs = image.clone();
            write_changed(&mut theirs, &before, &after, *bbox).unwrap();

            let mask = paste
                .crop_mask(to_crop, (128, 128), (w, h), Some(*bbox))
                .unwrap()
                .unwrap();
            // The graph over the face's window, and over the whole frame: the same frame.
            let (origin, window) = dg::paste_window(*bbox, w, h).unwrap();
            assert!(window.0 < w && window.0 % 128 == 0, "{window:?}");
            let mut results = Vec::new();
            for (origin, window) in [(origin, window), ((0, 0), (w, h))] {
                let bytes = dg::paste(w, h, 128, window).unwrap();
                let mut m = load("paste", &bytes, backend);
                let mut inputs = dg::i420_inputs_of(&image).unwrap();
                let at = vec![origin.0 as f32, origin.1 as f32];
                inputs.push((ORIGIN.into(), Tensor::f32(&[2], at).unwrap()));
                inputs.push((SWAPPED.into(), dg::planar_from_rgb(&swapped)));
                let mask = Tensor::f32(&[1, 1, 128, 128], mask.clone()).unwrap();
                inputs.push((MASK.into(), mask));
                inputs.push((TO_CROP.into(), dg::affine_input(to_crop)));
                inputs.push((FACE_BOX.into(), Tensor::f32(&[4], bbox.to_vec()).unwrap()));
                let outputs = m.run(inputs).unwrap();
                results.push(dg::write_window(&image, &outputs, origin, window).unwrap());
            }
            assert_eq!(
                results[0], results[1],
                "{backend:?}: the window changes the paste"
            );
            let ours = results.swap_remove(0);

            let (worst, off, off_more) = compare(ours.data(), theirs.data());
            eprintln!(
                "paste {backend:?}: worst {worst}, {:.3}% off, {:.3}% off by more than 1",
                off * 100.0,
                off_more * 100.0
            );
            assert!(worst <= 3, "{backend:?}: off by {worst}");
            assert!(off_more <= 0.0005, "{backend:?}: {:.3}%", off_more * 100.0);
            // Outside the box (and its even-aligned blocks) the frame is as it came.
            let (y_in, y_out) = (image.planes().0, ours.planes().0);
            for (i, (a, b)) in y_in.iter().zip(y_out).enumerate() {
                let (x, y) = ((i as u32 % w) as f32, (i as u32 / w) as f32);
                let inside = x >= bbox[0].floor() - 1.0
                    && x <= bbox[2].ceil() + 1.0
                    && y >= bbox[1].floor() - 1.0
                    && y <= bbox[3].ceil() + 1.0;
                assert!(inside || a == b, "{backend:?}: ({x}, {y}) changed outside");
            }
            // And the paste did something: the face is swapped.
            let changed = y_in.iter().zip(y_out).filter(|(a, b)| a != b).count();
            assert!(changed > 1000, "{backend:?}: only {changed} pixels changed");
        }
    }
}

#[test]
fn a_session_on_the_device_path_gives_the_cpu_paths_frames() {
    use std::sync::Arc;
    use studio_face::pipeline::{FaceEngine, FaceModels};
    use studio_media::engine::{VideoProcessor, VideoSetting};
    use studio_media::{Timestamp, VideoFrame};

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let models = FaceModels::load_dir(&dir, &options(BackendChoice::Tract)).unwrap();
    let engine = Arc::new(FaceEngine::new(models, 2));
    // Networks on the CPU: the CPU path is the default.
    assert!(engine.device_graphs().is_none());
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let choose = VideoSetting::Face(Some(target.id.clone()));
    // One face, and four swapped in one frame (each read after the ones before it pasted).
    for (n, image) in [
        (1, one_face(1280, 720).to_i420()),
        (4, studio_face::standin::faces(1280, 720, 4).to_i420()),
    ] {
        for backend in backends() {
            let mut cpu = engine.processor();
            cpu.apply(&choose).unwrap();
            cpu.set_max_faces(n);
            engine.set_device_graphs(Some(options(backend)));
            let mut device = engine.processor();
            engine.set_device_graphs(None);
            device.apply(&choose).unwrap();
            device.set_max_faces(n);
            for seq in 0..3 {
                let frame = VideoFrame {
                    seq,
                    capture: Timestamp(seq * 33_333),
                    image: image.clone(),
                };
                let theirs = cpu.process(frame.clone());
                let ours = device.process(frame);
                assert_eq!(device.last_error(), None, "{backend:?}");
                let on = device.device_graphs().expect("the device path is off");
                assert_eq!(
                    on.backend,
                    if backend == BackendChoice::Ort {
                        "ort"
                    } else {
                        "tract"
                    }
                );
                assert_eq!(device.faces(), cpu.faces(), "{backend:?}: other faces");
                let (worst, off, off_more) = compare(ours.image.data(), theirs.image.data());
                eprintln!(
                    "session {backend:?}, {n} faces: worst {worst}, {:.3}% off, {:.3}% off by more than 1",
                    off * 100.0,
                    off_more * 100.0
                );
                assert!(worst <= 3, "{backend:?}: off by {worst}");
                assert!(off_more <= 0.0005, "{backend:?}: {:.3}%", off_more * 100.0);
                let changed = compare(ours.image.data(), image.data()).1;
                assert!(changed > 0.001, "{backend:?}: the face was not swapped");
                assert_eq!(device.faces().len(), n);
            }
        }
    }
}

/// The mouth mask keeps the person's own mouth on the device path too (taken out of the
/// mask at each crop pixel's place in the frame, so its feathered edge may land a pixel
/// apart from the CPU path's).
#[test]
fn a_kept_mouth_on_the_device_path_gives_the_cpu_paths_frames() {
    use std::sync::Arc;
    use studio_face::pipeline::{FaceEngine, FaceModels};
    use studio_media::engine::{VideoProcessor, VideoSetting};
    use studio_media::{Timestamp, VideoFrame};

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let models = FaceModels::load_dir(&dir, &options(BackendChoice::Tract)).unwrap();
    let engine = Arc::new(FaceEngine::new(models, 1));
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let choose = VideoSetting::Face(Some(target.id.clone()));
    let image = one_face(1280, 720).to_i420();
    let mut cpu = engine.processor();
    engine.set_device_graphs(Some(options(BackendChoice::Tract)));
    let mut device = engine.processor();
    for p in [&mut cpu, &mut device] {
        p.apply(&choose).unwrap();
        p.apply(&VideoSetting::MouthMask(true)).unwrap();
    }
    let frame = VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: image.clone(),
    };
    let theirs = cpu.process(frame.clone());
    let ours = device.process(frame);
    assert_eq!(device.last_error(), None);
    assert!(device.device_graphs().is_some());
    let (worst, off, off_more) = compare(ours.image.data(), theirs.image.data());
    eprintln!(
        "mouth: worst {worst}, {:.3}% off, {:.3}% off by more than 1",
        off * 100.0,
        off_more * 100.0
    );
    assert!(worst <= 10, "off by {worst}");
    assert!(off_more <= 0.001, "{:.3}%", off_more * 100.0);
}

/// Frames the graphs cannot take (an odd size) turn the device path off for the session and
/// go through the CPU path, with the reason said.
#[test]
fn the_cpu_path_takes_over_when_a_graph_fails() {
    use std::sync::Arc;
    use studio_face::pipeline::{FaceEngine, FaceModels};
    use studio_media::engine::{VideoProcessor, VideoSetting};
    use studio_media::{Timestamp, VideoFrame};

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let models = FaceModels::load_dir(&dir, &options(BackendChoice::Tract)).unwrap();
    let engine = Arc::new(FaceEngine::new(models, 1));
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let choose = VideoSetting::Face(Some(target.id.clone()));
    let mut cpu = engine.processor();
    engine.set_device_graphs(Some(options(BackendChoice::Tract)));
    let mut device = engine.processor();
    let frame = VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: textured(641, 361, 11).to_i420(),
    };
    for p in [&mut cpu, &mut device] {
        p.apply(&choose).unwrap();
    }
    let theirs = cpu.process(frame.clone());
    let ours = device.process(frame.clone());
    assert_ne!(theirs.image, frame.image, "the CPU path swapped nothing");
    assert_eq!(ours.image, theirs.image);
    assert!(device.device_graphs().is_none());
    let said = device.last_error().unwrap_or_default();
    assert!(said.contains("device graphs off"), "{said}");
}
