//! Golden vectors from insightface 2.1's reference code (tools/golden/face_golden.py): the
//! Rust face pipeline must reproduce them number for number within the stated tolerances.
//! Channel order: the reference treats the test frame as BGR and feeds its networks RGB.

mod common;

use common::{floats, index, read};
use serde_json::Value;
use studio_face::Affine;
use studio_face::align::{align_crop, estimate_norm, warp_affine};
use studio_face::blend::paste_back;
use studio_face::detect::{RawOutputs, decode, letterbox_blob, nms};
use studio_face::latent::source_latent;
use studio_media::RgbImage;

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn frame(g: &Value) -> RgbImage {
    let (w, h) = (g["width"].as_u64().unwrap(), g["height"].as_u64().unwrap());
    RgbImage::from_data(w as u32, h as u32, read(&g["frame"])).unwrap()
}

fn swap_channels(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    for px in out.data_mut().chunks_exact_mut(3) {
        px.swap(0, 2);
    }
    out
}

fn kps(g: &Value) -> [[f32; 2]; 5] {
    let m = matrix(&g["align"]["kps"]);
    std::array::from_fn(|i| [m[i][0] as f32, m[i][1] as f32])
}

/// Largest absolute difference and the share of values that differ at all.
fn compare_u8(ours: &[u8], theirs: &[u8]) -> (u8, f64) {
    assert_eq!(ours.len(), theirs.len());
    let mut worst = 0;
    let mut differ = 0usize;
    for (a, b) in ours.iter().zip(theirs) {
        let d = a.abs_diff(*b);
        worst = worst.max(d);
        differ += usize::from(d > 0);
    }
    (worst, differ as f64 / ours.len() as f64)
}

/// SCRFD decode + NMS from fixed raw outputs: boxes, scores and keypoints to 1e-4 px,
/// same faces in the same order.
#[test]
fn golden_scrfd_decode_and_nms() {
    let g = index("golden.json");
    let s = &g["scrfd"];
    let raw: Vec<Vec<f32>> = s["raw"].as_array().unwrap().iter().map(floats).collect();
    let (in_w, in_h) = (
        s["input_width"].as_u64().unwrap() as u32,
        s["input_height"].as_u64().unwrap() as u32,
    );
    let img = frame(&g);
    let lb = studio_face::detect::Letterbox::fit(img.width(), img.height(), in_w, in_h).unwrap();
    let out = RawOutputs {
        scores: [&raw[0], &raw[1], &raw[2]],
        boxes: [&raw[3], &raw[4], &raw[5]],
        kps: [&raw[6], &raw[7], &raw[8]],
    };
    let faces = nms(&decode(&out, in_w, in_h, lb.scale, 0.5).unwrap(), 0.4);
    let boxes = matrix(&s["bboxes"]);
    let points = s["kps"].as_array().unwrap();
    assert_eq!(faces.len(), boxes.len(), "face count");
    assert!(
        faces.len() >= 3,
        "the vectors must exercise NMS with several faces"
    );
    for (i, f) in faces.iter().enumerate() {
        for (k, (ours, theirs)) in f.bbox.iter().zip(&boxes[i]).enumerate() {
            assert!((f64::from(*ours) - theirs).abs() < 1e-4, "face {i} box {k}");
        }
        assert!(
            (f64::from(f.score) - boxes[i][4]).abs() < 1e-7,
            "face {i} score"
        );
        let p = matrix(&points[i]);
        for (k, (ours, theirs)) in f.kps.iter().zip(&p).enumerate() {
            assert!(
                (f64::from(ours[0]) - theirs[0]).abs() < 1e-4,
                "face {i} kp {k} x"
            );
            assert!(
                (f64::from(ours[1]) - theirs[1]).abs() < 1e-4,
                "face {i} kp {k} y"
            );
        }
    }
}

/// The letterboxed detector input (OpenCV's 8-bit bilinear resize): identical, value for
/// value, black padding included.
#[test]
fn golden_scrfd_letterbox_blob() {
    let g = index("golden.json");
    let s = &g["scrfd"];
    let (in_w, in_h) = (
        s["input_width"].as_u64().unwrap() as u32,
        s["input_height"].as_u64().unwrap() as u32,
    );
    let rgb = swap_channels(&frame(&g));
    let (blob, lb) = letterbox_blob(&rgb, in_w, in_h).unwrap();
    let ours: Vec<u8> = blob
        .iter()
        .map(|v| (v * 128.0 + 127.5).round() as u8)
        .collect();
    let theirs = read(&s["letterbox_chw"]);
    let (worst, share) = compare_u8(&ours, &theirs);
    assert_eq!(worst, 0, "{:.2}% of values differ", share * 100.0);
    let plane = (in_w * in_h) as usize;
    let pad_row = lb.height as usize;
    assert!(pad_row < in_h as usize);
    assert!(
        theirs[pad_row * in_w as usize..plane]
            .iter()
            .all(|&v| v == 0)
    );
}

/// The least-squares similarity to the ArcFace template at 112 and 128: within 1e-5 (the
/// reference solves in float32 from float32 points; we solve in f64).
#[test]
fn golden_similarity_transform() {
    let g = index("golden.json");
    let k = kps(&g);
    for (size, key) in [(112, "m112"), (128, "m128")] {
        let theirs = matrix(&g["align"][key]);
        let ours = estimate_norm(&k, size).unwrap();
        for (r, row) in theirs.iter().enumerate() {
            for (c, want) in row.iter().enumerate() {
                let d = (ours.m[r][c] - want).abs();
                assert!(d < 1e-5, "{key}[{r}][{c}] differs by {d}");
            }
        }
    }
}

fn reference_transform(g: &Value, key: &str) -> Affine {
    let m = matrix(&g["align"][key]);
    Affine {
        m: [[m[0][0], m[0][1], m[0][2]], [m[1][0], m[1][1], m[1][2]]],
    }
}

/// A crop through the reference's own transform must be identical to the reference's (that
/// isolates the warp); through our transform it may differ by a level where the float32
/// solve and our f64 solve round a source position differently.
fn check_crop(img: &RgbImage, key: &str, size: u32, theirs: &[u8]) {
    let g = index("golden.json");
    let exact = warp_affine(img, &reference_transform(&g, key), size, size).unwrap();
    let (worst, share) = compare_u8(exact.data(), theirs);
    assert_eq!(worst, 0, "{:.2}% of values differ", share * 100.0);
    let (ours, _) = align_crop(img, &kps(&g), size).unwrap();
    let (worst, share) = compare_u8(ours.data(), theirs);
    assert!(worst <= 1, "worst difference {worst}");
    assert!(share < 0.001, "{:.3}% of values differ", share * 100.0);
}

/// The 112 ArcFace crop (cv2.warpAffine, bilinear, border 0).
#[test]
fn golden_aligned_crop_112() {
    let g = index("golden.json");
    check_crop(&frame(&g), "m112", 112, &read(&g["align"]["crop112"]));
}

/// The 128 inswapper target crop, as the reference fed it to the network (RGB).
#[test]
fn golden_inswapper_target_crop_128() {
    let g = index("golden.json");
    let rgb = swap_channels(&frame(&g));
    check_crop(&rgb, "m128", 128, &read(&g["swap"]["crop128_rgb"]));
}

/// The emap latent: `normalize(normalize(embedding) · emap)`, within 1e-6 per element.
#[test]
fn golden_emap_latent() {
    let g = index("golden.json");
    // The same dense map the script builds: identity plus 0.05·sin(0.37 i + 0.11 j).
    let emap: Vec<f32> = (0..512 * 512)
        .map(|n| {
            let (i, j) = ((n / 512) as f64, (n % 512) as f64);
            ((i * 0.37 + j * 0.11).sin() * 0.05 + if i == j { 1.0 } else { 0.0 }) as f32
        })
        .collect();
    let latent = source_latent(&floats(&g["swap"]["embedding"]), &emap).unwrap();
    let theirs = floats(&g["swap"]["latent"]);
    assert_eq!(latent.len(), 512);
    for (i, (a, b)) in latent.iter().zip(&theirs).enumerate() {
        assert!((a - b).abs() < 1e-6, "latent[{i}]: {a} vs {b}");
    }
}

/// insightface's paste-back (warp back, erode, blur, blend): within one level, at most 0.1%
/// of values off (the mask is float32 and the blend truncates, so a last-bit difference in the
/// blur can move a value by one).
#[test]
fn golden_paste_back() {
    let g = index("golden.json");
    let img = frame(&g);
    let m = estimate_norm(&kps(&g), 128).unwrap();
    let fake = RgbImage::from_data(128, 128, read(&g["swap"]["fake_bgr"])).unwrap();
    let mut ours = img.clone();
    paste_back(&mut ours, &fake, &m, None).unwrap();
    let theirs = read(&g["swap"]["pasted"]);
    let (worst, share) = compare_u8(ours.data(), &theirs);
    assert!(worst <= 1, "worst difference {worst}");
    assert!(share < 0.001, "{:.3}% of values differ", share * 100.0);
    let changed = theirs
        .iter()
        .zip(img.data())
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 3000, "the reference pasted only {changed} values");
}
