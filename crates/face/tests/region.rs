//! The region mask: its pre- and post-processing against vectors FaceFusion's own
//! `create_region_mask` made (`tools/golden/region_golden.py`), the BiSeNet stand-in
//! (`tools/standin/make_standins.py`: saturated blue is hair) and the face swap with the mask
//! on and off.

mod common;

use common::{floats, golden_dir, models_dir, read, tract};
use serde_json::Value;
use std::sync::Arc;
use studio_face::parser::{CLASSES, FACE_REGIONS, FaceParser, prepare, region_mask};
use studio_face::pipeline::{FaceEngine, FaceModels};
use studio_face::standin::textured;
use studio_media::engine::{VideoProcessor, VideoSetting};
use studio_media::{RgbImage, Timestamp, VideoFrame};

/// FaceFusion's input to float precision (its 8-bit resize to 512×512, normalised the same
/// way); its mask within 1e-5 (OpenCV's blur and resize in f32, summed in another order), and
/// exactly 0 wherever FaceFusion's is.
#[test]
fn pre_and_post_processing_match_facefusion() {
    let text = std::fs::read_to_string(golden_dir().join("region.json")).unwrap();
    let index: Value = serde_json::from_str(&text).unwrap();
    let regions: Vec<u8> = index["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(regions, FACE_REGIONS, "FaceFusion's default regions");
    let classes = read(&index["classes"]);
    let plane = 512 * 512;
    assert_eq!(classes.len(), plane);
    // One score per class: the map's class best.
    let mut scores = vec![0f32; CLASSES * plane];
    for (i, &c) in classes.iter().enumerate() {
        scores[usize::from(c) * plane + i] = 1.0;
    }
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    let cases = index["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let size = case["size"].as_u64().unwrap() as u32;
        let mut rgb = read(&case["crop"]);
        for px in rgb.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
        let crop = RgbImage::from_data(size, size, rgb).unwrap();
        let blob = prepare(&crop, 512, 512).unwrap();
        let levels = read(&case["input"]);
        assert_eq!(blob.len(), levels.len());
        let mut worst_input = 0f32;
        for (i, px) in levels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                let want = (f32::from(px[c]) / 255.0 - mean[c]) / std[c];
                worst_input = worst_input.max((blob[c * plane + i] - want).abs());
            }
        }
        assert!(
            worst_input < 1e-6,
            "crop {size}: input off by {worst_input}"
        );

        let mask = region_mask(&scores, CLASSES, 512, 512, &regions, size, size).unwrap();
        let want = floats(&case["mask"]);
        assert_eq!(mask.len(), want.len());
        let worst = mask
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("crop {size}: the mask differs from FaceFusion's by at most {worst:e}");
        assert!(worst <= 1e-5, "crop {size}: the mask differs by {worst}");
        // The cases cover the whole range: kept out (0), in between, and face (1).
        let zeros = want.iter().filter(|&&v| v == 0.0).count();
        let partial = want.iter().filter(|&&v| v > 0.05 && v < 0.8).count();
        let ones = want.iter().filter(|&&v| v > 0.95).count();
        assert!(
            zeros > 500 && partial > 100 && ones > 500,
            "{zeros} zeros, {partial} partial, {ones} ones"
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

#[test]
fn the_standin_finds_blue_as_hair_and_the_rest_as_skin() {
    let mut parser =
        FaceParser::load(&models_dir().join("bisenet_resnet_34.onnx"), &tract()).unwrap();
    let info = parser.model().info();
    assert_eq!(info.inputs[0].name, "input");
    assert_eq!(info.outputs[0].name, "output");
    let mut crop = textured(128, 128, 5);
    for y in 0..40 {
        for x in 0..128 {
            let o = (y * 128 + x) * 3;
            crop.data_mut()[o..o + 3].copy_from_slice(&[10, 20, 250]);
        }
    }
    let mask = parser.region_mask(&crop, &FACE_REGIONS).unwrap();
    let at = |x: usize, y: usize| mask[y * 128 + x];
    for (x, y) in [(10, 5), (64, 20), (120, 30)] {
        assert_eq!(at(x, y), 0.0, "({x},{y}) is hair");
    }
    for (x, y) in [(10, 80), (64, 100), (120, 120)] {
        assert!(
            (at(x, y) - 1.0).abs() < 1e-4,
            "({x},{y}) is skin: {}",
            at(x, y)
        );
    }
    assert!(parser.run_time > std::time::Duration::ZERO);
}

fn engine(with_parser: bool) -> Arc<FaceEngine> {
    let engine = Arc::new(FaceEngine::new(
        FaceModels::load_dir(&models_dir(), &tract()).unwrap(),
        1,
    ));
    if with_parser {
        let parser =
            FaceParser::load(&models_dir().join("bisenet_resnet_34.onnx"), &tract()).unwrap();
        engine.set_parser(Some(parser));
        assert!(engine.has_parser());
        assert!(engine.backends().contains("parser tract"));
    }
    engine
}

/// One frame through a fresh processor, the region mask set first when given; with it the
/// parse stage's time.
fn swap_once(
    engine: &Arc<FaceEngine>,
    img: &RgbImage,
    region: Option<bool>,
) -> (VideoFrame, std::time::Duration) {
    let target = engine.add_face(&textured(320, 240, 7)).unwrap();
    let mut p = engine.processor();
    assert!(!p.region_mask(), "the region mask is off by default");
    if let Some(on) = region {
        p.apply(&VideoSetting::RegionMask(on)).unwrap();
        assert_eq!(p.region_mask(), on);
    }
    p.apply(&VideoSetting::Face(Some(target.id))).unwrap();
    let out = p.process(VideoFrame {
        seq: 0,
        capture: Timestamp(0),
        image: img.to_i420(),
    });
    assert_eq!(p.last_error(), None);
    assert!(!p.faces().is_empty(), "the stand-in detector found no face");
    (out, p.times().parse)
}

/// The parser runs only with the mask on and the model there, and it only takes away from
/// the paste: each pixel ends at most as far from the camera's as the plain paste puts it
/// (the weight of the swapped face is capped, never raised). The stand-in parser reads the
/// swapped crop, where the stand-in swapper's answer has some saturated blue ("hair"): those
/// pixels keep more of the camera's.
#[test]
fn the_region_mask_runs_the_parser_on_the_swapped_face_only_when_asked() {
    let img = textured(640, 360, 11);
    let with = engine(true);
    let (plain, plain_parse) = swap_once(&with, &img, None);
    let (off, off_parse) = swap_once(&with, &img, Some(false));
    let (on, on_parse) = swap_once(&with, &img, Some(true));
    assert_eq!(off, plain, "off pastes as before");
    assert!(plain_parse.is_zero() && off_parse.is_zero());
    assert!(on_parse > std::time::Duration::ZERO, "the parser ran");
    assert_ne!(on.image, img.to_i420(), "the face is still swapped");
    let input = img.to_i420();
    let (yi, _, _) = input.planes();
    let (yp, _, _) = plain.image.planes();
    let (yn, _, _) = on.image.planes();
    let mut kept_more = 0;
    for (i, ((&cam, &p), &n)) in yi.iter().zip(yp).zip(yn).enumerate() {
        let (from_plain, from_on) = (cam.abs_diff(p), cam.abs_diff(n));
        assert!(
            from_on <= from_plain + 1,
            "luma {i}: {from_on} from the camera's with the mask, {from_plain} without"
        );
        kept_more += usize::from(from_on + 2 <= from_plain);
    }
    assert!(kept_more > 0, "the parser kept nothing of the camera's");
    // Without the model the mask has nothing to work with.
    let (no_model, no_model_parse) = swap_once(&engine(false), &img, Some(true));
    assert_eq!(no_model, plain);
    assert!(no_model_parse.is_zero());
}
