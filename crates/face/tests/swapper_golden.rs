//! Golden vectors from FaceFusion's own `face_swapper` and `pixel_boost` code
//! (tools/golden/swapper_golden.py): each family's crop normalisation, output
//! post-processing, identity vector and template, and pixel boost's tiles, must come out as
//! FaceFusion computes them. The reference works in BGR; the crops are read back as RGB.

mod common;

use common::{floats, index, read};
use serde_json::Value;
use studio_face::align::Template;
use studio_face::latent::normalize;
use studio_face::swapper::{SwapperSpec, explode, implode_rgb};
use studio_infer::{Dim, ElementType, ModelInfo, TensorInfo};
use studio_media::RgbImage;

/// Largest difference allowed between the crop input and FaceFusion's (f32 of the same
/// f64 arithmetic).
const BLOB_TOLERANCE: f32 = 1e-6;
/// Largest difference allowed, in levels of 255, between the finished crop and
/// FaceFusion's (the de-normalisation in f32 against numpy's f64).
const RESULT_TOLERANCE: f32 = 1e-4;
/// Largest difference allowed between the identity vectors.
const SOURCE_TOLERANCE: f32 = 1e-6;

/// Interleaved BGR ↔ RGB, for any pixel type.
fn reverse_channels<T: Copy>(data: &[T]) -> Vec<T> {
    data.chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect()
}

fn worst(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// What each family's file declares (the real models' names and shapes).
fn declared(size: usize, mask: bool) -> ModelInfo {
    let t = |name: &str, shape: &[usize]| TensorInfo {
        name: name.into(),
        element_type: ElementType::F32,
        shape: shape.iter().map(|n| Dim::Fixed(*n)).collect(),
    };
    let mut outputs = vec![t("output", &[1, 3, size, size])];
    if mask {
        outputs.push(t("mask", &[1, 1, size, size]));
    }
    ModelInfo {
        inputs: vec![t("target", &[1, 3, size, size]), t("source", &[1, 512])],
        outputs,
        ..ModelInfo::default()
    }
}

fn template_name(t: Template) -> &'static str {
    match t {
        Template::Arcface128 => "arcface_128",
        Template::Arcface112V1 => "arcface_112_v1",
    }
}

#[test]
fn each_family_prepares_and_finishes_its_crop_as_facefusion_does_with_pixel_boost() {
    let g = index("swapper.json");
    let tile = g["tile"].as_u64().unwrap() as u32;
    let families = g["families"].as_object().unwrap();
    assert_eq!(families.len(), 4);
    for (model, f) in families {
        let size = f["size"].as_u64().unwrap() as usize;
        let mut spec = SwapperSpec::recognise(&declared(size, model.starts_with("hyperswap")))
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(spec.family.name(), f["type"].as_str().unwrap(), "{model}");
        assert_eq!(
            template_name(spec.template),
            f["template"].as_str().unwrap()
        );
        let list = |v: &Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        assert_eq!(spec.mean.to_vec(), list(&f["mean"]), "{model} mean");
        assert_eq!(
            spec.std.to_vec(),
            list(&f["standard_deviation"]),
            "{model} std"
        );
        // The functions work per pixel: the reference ran them on small tiles.
        spec.size = tile;
        let k = f["boost"].as_u64().unwrap() as u32;
        let side = tile * k;
        let crop =
            RgbImage::from_data(side, side, reverse_channels(&read(&f["crop_bgr"]))).unwrap();
        let tiles = implode_rgb(&crop, k).unwrap();
        let theirs_tiles = read(&f["tiles_bgr"]);
        let per_tile = (tile * tile * 3) as usize;
        assert_eq!(tiles.len(), (k * k) as usize);
        let blobs = floats(&f["blobs"]);
        let raws = floats(&f["raw"]);
        let mut finished = Vec::new();
        for (i, t) in tiles.iter().enumerate() {
            let theirs = reverse_channels(&theirs_tiles[i * per_tile..(i + 1) * per_tile]);
            assert!(t.data() == theirs.as_slice(), "{model}: tile {i}");
            let blob = spec.prepare_crop(t).unwrap();
            let d = worst(&blob, &blobs[i * per_tile..(i + 1) * per_tile]);
            assert!(
                d <= BLOB_TOLERANCE,
                "{model}: tile {i} input differs by {d}"
            );
            finished.push(
                spec.finish_crop(&raws[i * per_tile..(i + 1) * per_tile])
                    .unwrap(),
            );
        }
        let ours = explode(&finished, tile as usize, k as usize, 3).unwrap();
        let theirs = reverse_channels(&floats(&f["result_bgr"]));
        let d = worst(&ours, &theirs);
        assert!(d <= RESULT_TOLERANCE, "{model}: result differs by {d}");
        // The 8-bit crop is the float one truncated, as numpy's astype(uint8).
        let mut whole = spec.clone();
        whole.size = side;
        let raw_whole: Vec<f32> = {
            // The same raw outputs, put together the way the tiles are, channel-first.
            let hwc: Vec<Vec<f32>> = (0..tiles.len())
                .map(|i| {
                    let r = &raws[i * per_tile..(i + 1) * per_tile];
                    let plane = (tile * tile) as usize;
                    (0..plane)
                        .flat_map(|p| (0..3).map(move |c| r[c * plane + p]))
                        .collect()
                })
                .collect();
            let hwc = explode(&hwc, tile as usize, k as usize, 3).unwrap();
            let plane = (side * side) as usize;
            (0..3)
                .flat_map(|c| (0..plane).map(move |p| (c, p)))
                .map(|(c, p)| hwc[p * 3 + c])
                .collect()
        };
        let u8s = whole.finish_crop_u8(&raw_whole).unwrap();
        for (a, b) in u8s.data().iter().zip(&ours) {
            assert_eq!(*a, *b as u8, "{model}: 8-bit crop");
        }
    }
}

#[test]
fn identity_vectors_are_facefusions() {
    let g = index("swapper.json");
    let s = &g["source"];
    let embedding = floats(&s["embedding"]);
    let converted = floats(&s["converted"]);
    let hyper = floats(&s["expected"]["hyperswap_1a_256"]);
    let sim = floats(&s["expected"]["simswap_256"]);
    let d = worst(&normalize(&embedding).unwrap(), &hyper);
    assert!(d <= SOURCE_TOLERANCE, "hyperswap source differs by {d}");
    let d = worst(&normalize(&converted).unwrap(), &sim);
    assert!(d <= SOURCE_TOLERANCE, "simswap source differs by {d}");
}

#[test]
fn templates_are_facefusions() {
    let g = index("swapper.json");
    for (name, template) in [
        ("arcface_128", Template::Arcface128),
        ("arcface_112_v1", Template::Arcface112V1),
    ] {
        for (size, points) in g["templates"][name].as_object().unwrap() {
            let size: u32 = size.parse().unwrap();
            let ours = template.points(size).unwrap();
            for (p, q) in ours.iter().zip(points.as_array().unwrap()) {
                let q: Vec<f64> = q
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                let d = (p[0] - q[0]).abs().max((p[1] - q[1]).abs());
                assert!(d < 1e-3, "{name} at {size}: {p:?} vs {q:?}");
            }
        }
    }
}
