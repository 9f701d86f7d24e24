//! Every swapper family on its stand-in (the real models' input and output names, shapes
//! and operator kinds), headless through the whole pipeline: recognised from the file alone,
//! and the swapped frame differs from the input inside the face and nowhere else, at each
//! pixel boost.

mod common;

use common::{changed_luma, inside, tract};
use std::path::PathBuf;
use std::sync::Arc;
use studio_face::pipeline::{FaceEngine, FaceModels, FaceSwapProcessor};
use studio_face::standin::textured;
use studio_face::swapper::{PixelBoost, SourceKind, SwapperFamily};
use studio_infer::ElementType;
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{Timestamp, VideoFrame};

fn engine(swapper: &str, converter: Option<&str>) -> Arc<FaceEngine> {
    let dir = common::models_dir();
    let converter = converter.map(|c| dir.join(c));
    let models = FaceModels::load_with_converter(
        &dir.join("det_10g.onnx"),
        &dir.join("w600k_r50.onnx"),
        &dir.join(swapper),
        converter.as_deref(),
        &tract(),
    )
    .unwrap_or_else(|e| panic!("{swapper}: {e}"));
    Arc::new(FaceEngine::new(models, 2))
}

/// Two frames through `p`; returns how many luma values changed, all inside the face's box.
fn changed_inside_only(p: &mut FaceSwapProcessor, what: &str) -> usize {
    let img = textured(640, 360, 11);
    let mut changed = 0;
    for seq in 0..2 {
        let input = VideoFrame {
            seq,
            capture: Timestamp(seq * 33_333),
            image: img.to_i420(),
        };
        let out = p.process(input.clone());
        assert_eq!(p.last_error(), None, "{what}");
        let faces = p.faces().to_vec();
        assert!(
            !faces.is_empty(),
            "{what}: the stand-in detector found no face"
        );
        for (x, y) in changed_luma(&input, &out) {
            assert!(
                faces.iter().any(|f| inside(&f.bbox, x, y)),
                "{what}: luma ({x},{y}) changed outside the face"
            );
            changed += 1;
        }
    }
    changed
}

fn swaps_inside_the_face_only(
    swapper: &str,
    converter: Option<&str>,
    family: SwapperFamily,
    boosts: &[PixelBoost],
) {
    let engine = engine(swapper, converter);
    assert_eq!(engine.swapper_spec().family, family, "{swapper}");
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    for &boost in boosts {
        let mut p = engine.processor();
        p.set_pixel_boost(boost);
        p.apply(&VideoSetting::Face(Some(target.id.clone())))
            .unwrap();
        let what = format!("{swapper} at ×{}", boost.factor());
        let changed = changed_inside_only(&mut p, &what);
        assert!(changed > 500, "{what}: only {changed} luma values changed");
        assert!(p.times().swap > std::time::Duration::ZERO);
    }
}

#[test]
fn inswapper_swaps_inside_the_face_at_each_pixel_boost() {
    swaps_inside_the_face_only(
        "inswapper_128.onnx",
        None,
        SwapperFamily::Inswapper,
        &[PixelBoost::X1, PixelBoost::X2, PixelBoost::X4],
    );
}

#[test]
fn inswapper_in_half_precision_swaps_inside_the_face() {
    let engine = engine("inswapper_128_fp16.onnx", None);
    assert_eq!(engine.swapper_spec().precision, ElementType::F16);
    assert_eq!(engine.swapper_spec().describe(), "inswapper 128 fp16");
    swaps_inside_the_face_only(
        "inswapper_128_fp16.onnx",
        None,
        SwapperFamily::Inswapper,
        &[PixelBoost::X1],
    );
}

#[test]
fn hyperswap_swaps_inside_the_face() {
    let engine = engine("hyperswap_1a_256.onnx", None);
    let spec = engine.swapper_spec();
    assert_eq!((spec.size, spec.source), (256, SourceKind::Normed));
    assert_eq!(spec.mask_output.as_deref(), Some("mask"));
    swaps_inside_the_face_only(
        "hyperswap_1a_256.onnx",
        None,
        SwapperFamily::Hyperswap,
        &[PixelBoost::X1, PixelBoost::X2],
    );
}

#[test]
fn simswap_swaps_inside_the_face_with_its_converter() {
    swaps_inside_the_face_only(
        "simswap_256.onnx",
        Some("crossface_simswap.onnx"),
        SwapperFamily::Simswap,
        &[PixelBoost::X1],
    );
    swaps_inside_the_face_only(
        "simswap_unofficial_512.onnx",
        Some("crossface_simswap.onnx"),
        SwapperFamily::Simswap,
        &[PixelBoost::X1],
    );
}

#[test]
fn simswap_without_its_converter_is_refused_by_name() {
    let dir = common::models_dir();
    let err = FaceModels::load(
        &dir.join("det_10g.onnx"),
        &dir.join("w600k_r50.onnx"),
        &dir.join("simswap_256.onnx"),
        &tract(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("crossface_simswap"), "{err}");
}

/// The identity the swapper is given follows its family: the converter's output for SimSwap,
/// the unit embedding for HyperSwap; the same face gives different vectors to each.
#[test]
fn each_family_gets_its_own_identity_vector() {
    let img = textured(320, 240, 7);
    let hyper = engine("hyperswap_1a_256.onnx", None);
    let sim = engine("simswap_256.onnx", Some("crossface_simswap.onnx"));
    let a = hyper.add_face(&img).unwrap();
    let b = sim.add_face(&img).unwrap();
    assert_eq!(a.bbox, b.bbox);
    let (mut pa, mut pb) = (hyper.processor(), sim.processor());
    pa.apply(&VideoSetting::Face(Some(a.id))).unwrap();
    pb.apply(&VideoSetting::Face(Some(b.id))).unwrap();
    let frame = VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: textured(640, 360, 11).to_i420(),
    };
    assert_ne!(pa.process(frame.clone()), pb.process(frame));
}

/// Another swapper taken in while a session runs: the next frame is swapped by it, with the
/// chosen face's vector made for it, still inside the face only.
#[test]
fn a_swapper_changed_while_running_swaps_the_next_frame_with_the_same_face() {
    let engine = engine("inswapper_128.onnx", None);
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.id.clone())))
        .unwrap();
    let frame = VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: textured(640, 360, 11).to_i420(),
    };
    let by_inswapper = p.process(frame.clone());
    assert_eq!(p.last_error(), None);
    let dir = common::models_dir();
    let simswap = studio_face::models::Swapper::load_with_converter(
        &dir.join("simswap_256.onnx"),
        Some(&dir.join("crossface_simswap.onnx")),
        &tract(),
    )
    .unwrap();
    engine.set_swapper(simswap).unwrap();
    assert_eq!(engine.swapper_spec().family, SwapperFamily::Simswap);
    let by_simswap = p.process(VideoFrame {
        seq: 1,
        ..frame.clone()
    });
    assert_eq!(p.last_error(), None);
    assert_ne!(by_simswap.image, by_inswapper.image);
    assert_ne!(by_simswap.image, frame.image);
    let changed = changed_inside_only(&mut p, "simswap after inswapper");
    assert!(changed > 500, "only {changed} luma values changed");
}

/// A half-precision inswapper whose answers overflow (its output is the crop times 70 000,
/// past half precision's 65 504): the inswapper interface, an identity emap last.
fn overflowing_half_swapper(dir: &std::path::Path) -> PathBuf {
    use studio_infer::{GraphBuilder, onnx_code};
    let mut g = GraphBuilder::new("overflowing_inswapper_fp16", 17);
    let target = g.input("target", ElementType::F16, &[1, 3, 128, 128]);
    let _source = g.input("source", ElementType::F16, &[1, 512]);
    let big = g.f32(70_000.0);
    let big = g.cast(&big, onnx_code(ElementType::F16));
    let out = g.mul(&target, &big);
    g.output(&out, "output", ElementType::F16, &[1, 3, 128, 128]);
    let mut emap = vec![0f32; 512 * 512];
    for i in 0..512 {
        emap[i * 512 + i] = 1.0;
    }
    g.f32s(&[512, 512], emap);
    let path = dir.join("overflowing_inswapper_fp16.onnx");
    std::fs::write(&path, g.to_bytes()).unwrap();
    path
}

/// A half-precision swapper that answers with values that are not numbers hands the
/// engine back to the full-precision one it replaced: that frame goes out as it came, its
/// error says so, and the next is swapped in full precision.
#[test]
fn a_half_precision_swapper_that_overflows_falls_back_to_full_precision() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine("inswapper_128.onnx", None);
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let half = studio_face::models::Swapper::load(&overflowing_half_swapper(dir.path()), &tract())
        .unwrap();
    assert_eq!(half.spec().precision, ElementType::F16);
    engine.set_swapper(half).unwrap();
    assert_eq!(engine.swapper_spec().precision, ElementType::F16);
    let mut p = engine.processor();
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let img = textured(640, 360, 11);
    let frame = |seq| VideoFrame {
        seq,
        capture: Timestamp(seq * 33_333),
        image: img.to_i420(),
    };
    let first = p.process(frame(0));
    assert_eq!(
        first.image,
        img.to_i420(),
        "the overflowing frame goes out as it came"
    );
    let error = p.last_error().expect("the overflow is said").to_string();
    assert!(error.contains("full precision"), "{error}");
    assert_eq!(engine.swapper_spec().precision, ElementType::F32);
    let second = p.process(frame(1));
    assert_ne!(second.image, img.to_i420(), "swapped in full precision");
}
