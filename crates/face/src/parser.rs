//! The region mask: the swapped face is pasted only where a face parser sees the face itself
//! (skin, brows, eyes, glasses, nose, mouth, lips), so the person's own hair, ears, neck and
//! what is behind them stay as the camera sees them. This is FaceFusion's
//! `face_masker.create_region_mask` with its BiSeNet face parsers (`bisenet_resnet_34`,
//! trained on CelebAMask-HQ's 19 classes) and its default regions, all ten.
//!
//! The steps are FaceFusion's (read from its code, commit 33cc6b4):
//! - the swapped crop is resized to the model's 512×512 with OpenCV's 8-bit bilinear
//!   `resize`, divided by 255, less ImageNet's mean, over its spread, in RGB order, NCHW
//!   `[1, 3, 512, 512]` into the input `input` ([`prepare`]);
//! - of the first output (`[1, 19, 512, 512]`, one score per class) each pixel's best class
//!   is taken (`argmax`, the first of equals), and the pixel is face when that class is one of
//!   the regions ([`regions_of`]); that 0/1 plane goes through the occlusion mask's steps:
//!   bilinear resize to the crop, `GaussianBlur(σ = 5)`, `(clip(v, 0.5, 1) − 0.5) · 2`;
//! - the paste-back takes the minimum of this mask and the other masks, as it does the
//!   occlusion mask's ([`OcclusionMask`](crate::occlusion::OcclusionMask) carries either to
//!   frame pixels).
//!
//! FaceFusion parses the crop the swapper gave back, not the camera's: the regions are where
//! the new face has them. `tests/golden.rs` holds [`prepare`] and [`region_mask`] to vectors
//! FaceFusion's own code made (`tools/golden/region_golden.py`).

use crate::FaceError;
use crate::models::{ModelError, infer_err, unsupported};
use crate::occlusion::{CropMasker, face_mask, resize_8bit};
use std::path::Path;
use std::time::{Duration, Instant};
use studio_infer::{Dim, Model, ModelOptions, Tensor};
use studio_media::RgbImage;

/// The model's input side when the file does not fix it (FaceFusion's `size` for both
/// BiSeNet parsers).
pub const DEFAULT_SIZE: u32 = 512;
/// CelebAMask-HQ's classes, the parsers' output channels.
pub const CLASSES: usize = 19;
/// ImageNet's per-channel mean and spread (RGB), as FaceFusion normalises the parser's input.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The classes FaceFusion's regions name (`face_mask_region_set`), all of them its default:
/// skin 1, left and right eyebrow 2 and 3, left and right eye 4 and 5, glasses 6, nose 10,
/// mouth 11, upper and lower lip 12 and 13. Not among them: background 0, ears 7 and 8,
/// earring 9, neck 14, necklace 15, cloth 16, hair 17, hat 18.
pub const FACE_REGIONS: [u8; 10] = [1, 2, 3, 4, 5, 6, 10, 11, 12, 13];

/// The parser's input for an aligned `crop` (RGB): resized to `w × h` with OpenCV's 8-bit
/// bilinear arithmetic, RGB over 255 normalised with ImageNet's mean and spread, NCHW.
pub fn prepare(crop: &RgbImage, w: u32, h: u32) -> Result<Vec<f32>, FaceError> {
    let resized = resize_8bit(crop, w, h)?;
    let plane = w as usize * h as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in resized.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (f32::from(px[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
    Ok(out)
}

/// 1 where a pixel's best class (the first of equal scores, as `numpy.argmax`) is one of
/// `regions`, else 0: `scores` holds `classes` planes of `plane` pixels. A pixel whose
/// scores are NaN counts as face, so a broken model changes nothing.
pub fn regions_of(
    scores: &[f32],
    classes: usize,
    plane: usize,
    regions: &[u8],
) -> Result<Vec<f32>, FaceError> {
    if classes == 0 || classes > 256 || plane == 0 || scores.len() != classes * plane {
        return Err(FaceError::Shape(format!(
            "{} parser scores are not 1 to 256 classes ({classes}) of {plane} pixels",
            scores.len()
        )));
    }
    let mut wanted = [false; 256];
    for &r in regions {
        wanted[usize::from(r)] = true;
    }
    // A block of pixels at a time through every class, so the running maxima stay in cache
    // while the class planes stream past: the best of the wanted classes against the best of
    // the others, which vectorises. A tie between the two (rare) is settled as `argmax`
    // settles it, by the first class that reaches the maximum.
    const BLOCK: usize = 1024;
    let mut out = vec![0f32; plane];
    let mut inside = [f32::NEG_INFINITY; BLOCK];
    let mut outside = [f32::NEG_INFINITY; BLOCK];
    let mut broken = [false; BLOCK];
    for (start, out) in (0..plane).step_by(BLOCK).zip(out.chunks_mut(BLOCK)) {
        let n = out.len();
        inside[..n].fill(f32::NEG_INFINITY);
        outside[..n].fill(f32::NEG_INFINITY);
        broken[..n].fill(false);
        for class in 0..classes {
            let s = &scores[class * plane + start..][..n];
            let best = if wanted[class] {
                &mut inside
            } else {
                &mut outside
            };
            for (m, &v) in best.iter_mut().zip(s) {
                *m = m.max(v);
            }
            for (nan, &v) in broken.iter_mut().zip(s) {
                *nan |= v.is_nan();
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            let face = if broken[i] || inside[i] > outside[i] {
                true
            } else if inside[i] < outside[i] {
                false
            } else {
                let top = inside[i];
                (0..classes)
                    .find(|&c| scores[c * plane + start + i] == top)
                    .is_some_and(|c| wanted[c])
            };
            *o = if face { 1.0 } else { 0.0 };
        }
    }
    Ok(out)
}

/// The region mask in crop pixels (`cw × ch`, 1 = paste the swapped face) from the parser's
/// `classes × mh × mw` scores, as FaceFusion post-processes them.
pub fn region_mask(
    scores: &[f32],
    classes: usize,
    mw: u32,
    mh: u32,
    regions: &[u8],
    cw: u32,
    ch: u32,
) -> Result<Vec<f32>, FaceError> {
    let inside = regions_of(scores, classes, mw as usize * mh as usize, regions)?;
    face_mask(&inside, mw, mh, cw, ch)
}

/// A BiSeNet face parser (`bisenet_resnet_34` and its family): one NCHW image input; the
/// first output holds a score per class and pixel.
pub struct FaceParser {
    model: Model,
    input: String,
    /// The input's `(width, height)`.
    size: (u32, u32),
    /// Time spent inside the network, summed.
    pub run_time: Duration,
}

impl FaceParser {
    pub fn load(path: &Path, options: &ModelOptions) -> Result<FaceParser, ModelError> {
        let model = Model::load(path, options).map_err(infer_err("loading the face parser"))?;
        let info = model.info();
        let (Some(input), Some(output)) = (info.inputs.first(), info.outputs.first()) else {
            return Err(unsupported(
                &model,
                "a face parser has an image input and a score output".into(),
            ));
        };
        let fixed = |d: Option<&Dim>| match d {
            Some(Dim::Fixed(n)) => Some(*n),
            _ => None,
        };
        if input.shape.len() != 4 || !matches!(fixed(input.shape.get(1)), Some(3) | None) {
            return Err(unsupported(
                &model,
                format!(
                    "a face parser takes NCHW [1, 3, H, W] images, this input is {:?}",
                    input.shape
                ),
            ));
        }
        if let Some(classes) = fixed(output.shape.get(1))
            && classes != CLASSES
        {
            return Err(unsupported(
                &model,
                format!(
                    "a face parser scores CelebAMask-HQ's {CLASSES} classes, this has {classes}"
                ),
            ));
        }
        // A fixed size is used as is; a dynamic one runs at FaceFusion's 512×512.
        let side = |d: Option<&Dim>| match fixed(d) {
            Some(n) if n >= 8 => n as u32,
            _ => DEFAULT_SIZE,
        };
        let size = (side(input.shape.get(3)), side(input.shape.get(2)));
        let input = input.name.clone();
        Ok(FaceParser {
            model,
            input,
            size,
            run_time: Duration::ZERO,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The region mask of an aligned `crop` (RGB) in crop pixels: [`prepare`], the network,
    /// [`region_mask`] with `regions`.
    pub fn region_mask(&mut self, crop: &RgbImage, regions: &[u8]) -> Result<Vec<f32>, ModelError> {
        let (w, h) = self.size;
        let blob = prepare(crop, w, h)?;
        let blob = Tensor::f32(&[1, 3, h as usize, w as usize], blob)
            .map_err(infer_err("building the face parser's input"))?;
        let t = Instant::now();
        let scores = self
            .model
            .run_one(vec![(self.input.clone(), blob)], None)
            .map_err(infer_err("running the face parser"))?
            .to_f32();
        self.run_time += t.elapsed();
        let plane = w as usize * h as usize;
        if scores.len() != CLASSES * plane {
            return Err(unsupported(
                &self.model,
                format!(
                    "the output has {} values, {CLASSES} classes of {w}x{h} have {}",
                    scores.len(),
                    CLASSES * plane
                ),
            ));
        }
        Ok(region_mask(
            &scores,
            CLASSES,
            w,
            h,
            regions,
            crop.width(),
            crop.height(),
        )?)
    }
}

/// The region mask with FaceFusion's default regions.
impl CropMasker for FaceParser {
    fn crop_mask(&mut self, crop: &RgbImage) -> Result<Vec<f32>, ModelError> {
        self.region_mask(crop, &FACE_REGIONS)
    }

    fn network_time(&self) -> Duration {
        self.run_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_is_imagenet_normalised_rgb_nchw() {
        let mut crop = RgbImage::new(4, 4);
        for px in crop.data_mut().chunks_exact_mut(3) {
            px.copy_from_slice(&[255, 51, 0]);
        }
        let blob = prepare(&crop, 8, 8).unwrap();
        assert_eq!(blob.len(), 3 * 64);
        let expect = [
            (1.0 - 0.485) / 0.229,
            (0.2 - 0.456) / 0.224,
            (0.0 - 0.406) / 0.225,
        ];
        for (c, e) in expect.iter().enumerate() {
            assert!(
                blob[c * 64..(c + 1) * 64]
                    .iter()
                    .all(|v| (v - e).abs() < 1e-6)
            );
        }
    }

    #[test]
    fn the_best_class_decides_and_ties_go_to_the_first() {
        // Four pixels, three classes: best 2, 0 (a tie with 1), 1, NaN.
        let scores = [
            0.1,
            5.0,
            0.0,
            1.0, // class 0
            0.2,
            5.0,
            3.0,
            f32::NAN, // class 1
            0.9,
            1.0,
            2.0,
            0.0, // class 2
        ];
        assert_eq!(
            regions_of(&scores, 3, 4, &[2]).unwrap(),
            [1.0, 0.0, 0.0, 1.0]
        );
        assert_eq!(
            regions_of(&scores, 3, 4, &[1]).unwrap(),
            [0.0, 0.0, 1.0, 1.0]
        );
        assert!(regions_of(&scores, 3, 5, &[1]).is_err());
    }

    #[test]
    fn hair_is_kept_out_and_skin_is_pasted() {
        // A 64×64 parse: hair (17) in the top quarter, skin (1) below.
        let (n, plane) = (64u32, 64 * 64);
        let mut scores = vec![0f32; CLASSES * plane];
        for i in 0..plane {
            let class = if i / 64 < 16 { 17 } else { 1 };
            scores[class * plane + i] = 1.0;
        }
        let mask = region_mask(&scores, CLASSES, n, n, &FACE_REGIONS, n, n).unwrap();
        assert_eq!(mask[2 * 64 + 30], 0.0, "hair");
        assert!((mask[50 * 64 + 30] - 1.0).abs() < 1e-5, "skin");
    }
}
