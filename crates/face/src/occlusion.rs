//! The occlusion mask: what is in front of the face (a hand, glasses, a microphone) stays the
//! person's own, as FaceFusion's `face_masker.create_occlusion_mask` does with DeepFaceLab's
//! XSeg models (`xseg_1`). XSeg reads the aligned face crop and answers, per pixel, how sure
//! it is that the pixel is visible face; where it is not, the swapped face is not pasted.
//!
//! The steps are FaceFusion's (read from its code, commit 33cc6b4):
//! - the crop (BGR) is resized to the model's 256×256 with OpenCV's 8-bit bilinear `resize`,
//!   divided by 255 and fed as NHWC `[1, 256, 256, 3]` to the input `input` ([`prepare`]);
//! - the output (`[1, 256, 256, 1]`) is clipped to [0, 1], resized back to the crop with
//!   bilinear `resize`, blurred with `GaussianBlur(σ = 5)` and mapped through
//!   `(clip(v, 0.5, 1) − 0.5) · 2`, so the face's edge moves to where the blurred mask is one
//!   half and everything clearly not face becomes exactly 0 ([`face_mask`]);
//! - the paste-back takes the minimum of this mask and the other masks ([`OcclusionMask`]
//!   carries it to frame pixels through the crop's transform, bilinear, 0 outside the crop).
//!
//! `tests/golden.rs` holds [`prepare`] and [`face_mask`] to vectors FaceFusion's own code
//! made (`tools/golden/occlusion_golden.py`).

use crate::FaceError;
use crate::affine::Affine;
use crate::models::{ModelError, infer_err, unsupported};
use std::path::Path;
use std::time::{Duration, Instant};
use studio_infer::{Dim, Model, ModelOptions, Tensor};
use studio_media::RgbImage;

/// The model's input side when the file does not fix it (FaceFusion's `size` for every XSeg).
pub const DEFAULT_SIZE: u32 = 256;
/// FaceFusion's blur of the mask, in crop pixels.
pub const BLUR_SIGMA: f64 = 5.0;

/// Taps of OpenCV's 8-bit bilinear `resize` along one axis: two source indices and their
/// 11-bit weights. Along x a tap beyond the edge becomes the edge pixel at full weight; along
/// y OpenCV keeps the weights and only clamps the rows (`rows = true`), which rounds the edge
/// rows of an enlargement differently.
fn taps_8bit(n_out: u32, n_in: u32, rows: bool) -> Vec<(usize, usize, i32, i32)> {
    let scale = f64::from(n_in) / f64::from(n_out);
    let last = i64::from(n_in) - 1;
    (0..n_out)
        .map(|d| {
            let f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut fr = f - s as f32;
            if !rows && (s < 0 || s >= last) {
                s = s.clamp(0, last);
                fr = 0.0;
            }
            let a1 = (fr * 2048.0).round_ties_even() as i32;
            (
                s.clamp(0, last) as usize,
                (s + 1).clamp(0, last) as usize,
                2048 - a1,
                a1,
            )
        })
        .collect()
}

/// The aligned `crop` (RGB) resized to `w × h` with OpenCV's 8-bit bilinear arithmetic
/// (`cv2.resize`, `INTER_LINEAR`): RGB bytes, row after row.
pub(crate) fn resize_8bit(crop: &RgbImage, w: u32, h: u32) -> Result<Vec<u8>, FaceError> {
    let (sw, sh) = (crop.width(), crop.height());
    if sw == 0 || sh == 0 || w == 0 || h == 0 {
        return Err(FaceError::Shape(format!(
            "cannot resize a {sw}x{sh} crop to {w}x{h}"
        )));
    }
    let xt = taps_8bit(w, sw, false);
    let yt = taps_8bit(h, sh, true);
    let data = crop.data();
    let row = sw as usize * 3;
    let mut out = vec![0u8; w as usize * h as usize * 3];
    for (y, &(y0, y1, b0, b1)) in yt.iter().enumerate() {
        let (r0, r1) = (
            &data[y0 * row..(y0 + 1) * row],
            &data[y1 * row..(y1 + 1) * row],
        );
        for (x, &(x0, x1, a0, a1)) in xt.iter().enumerate() {
            let o = (y * w as usize + x) * 3;
            for c in 0..3 {
                let p = i32::from(r0[x0 * 3 + c]) * a0 + i32::from(r0[x1 * 3 + c]) * a1;
                let q = i32::from(r1[x0 * 3 + c]) * a0 + i32::from(r1[x1 * 3 + c]) * a1;
                let v = (((b0 * (p >> 4)) >> 16) + ((b1 * (q >> 4)) >> 16) + 2) >> 2;
                out[o + c] = v.clamp(0, 255) as u8;
            }
        }
    }
    Ok(out)
}

/// The model input for an aligned `crop` (RGB): resized to `w × h` with OpenCV's 8-bit
/// bilinear arithmetic (`cv2.resize`, `INTER_LINEAR`), in BGR order, divided by 255, NHWC.
pub fn prepare(crop: &RgbImage, w: u32, h: u32) -> Result<Vec<f32>, FaceError> {
    let resized = resize_8bit(crop, w, h)?;
    let mut out = vec![0f32; resized.len()];
    for (o, px) in out.chunks_exact_mut(3).zip(resized.chunks_exact(3)) {
        // RGB in, BGR out.
        for c in 0..3 {
            o[2 - c] = f32::from(px[c]) / 255.0;
        }
    }
    Ok(out)
}

/// The face mask in crop pixels (`cw × ch`, 1 = visible face, 0 = occluded) from the model's
/// raw `mw × mh` output, as FaceFusion post-processes it.
pub fn face_mask(raw: &[f32], mw: u32, mh: u32, cw: u32, ch: u32) -> Result<Vec<f32>, FaceError> {
    if raw.len() != mw as usize * mh as usize || mw == 0 || mh == 0 || cw == 0 || ch == 0 {
        return Err(FaceError::Shape(format!(
            "an occlusion output of {} values does not fit {mw}x{mh}, or the crop {cw}x{ch} is empty",
            raw.len()
        )));
    }
    // NaN (a broken model) counts as face: the mask then changes nothing.
    let clipped: Vec<f32> = raw
        .iter()
        .map(|&v| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) })
        .collect();
    let resized = resize_linear(&clipped, mw, mh, cw, ch);
    let mut blurred = gaussian_blur(&resized, cw, ch, BLUR_SIGMA);
    for v in &mut blurred {
        *v = (v.clamp(0.5, 1.0) - 0.5) * 2.0;
    }
    Ok(blurred)
}

/// OpenCV's bilinear `resize` of one float plane (`INTER_LINEAR`: pixel centres aligned,
/// edges clamped, coefficients in f32).
fn resize_linear(src: &[f32], sw: u32, sh: u32, dw: u32, dh: u32) -> Vec<f32> {
    let (xt, yt) = (
        crate::detect::linear_taps(dw, sw),
        crate::detect::linear_taps(dh, sh),
    );
    let sw = sw as usize;
    // Horizontal pass for every source row, then the vertical one.
    let mut rows = vec![0f32; sh as usize * dw as usize];
    for (y, out) in rows.chunks_exact_mut(dw as usize).enumerate() {
        let r = &src[y * sw..(y + 1) * sw];
        for (o, &(x0, x1, f)) in out.iter_mut().zip(&xt) {
            *o = r[x0] * (1.0 - f) + r[x1] * f;
        }
    }
    let mut out = vec![0f32; dw as usize * dh as usize];
    for (y, &(y0, y1, f)) in yt.iter().enumerate() {
        let (a, b) = (
            &rows[y0 * dw as usize..(y0 + 1) * dw as usize],
            &rows[y1 * dw as usize..(y1 + 1) * dw as usize],
        );
        for (x, o) in out[y * dw as usize..(y + 1) * dw as usize]
            .iter_mut()
            .enumerate()
        {
            *o = a[x] * (1.0 - f) + b[x] * f;
        }
    }
    out
}

/// OpenCV's reflect-101 border: `… 2 1 | 0 1 2 … n−1 | n−2 …`, for any offset.
fn reflect101(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let m = i.rem_euclid(period);
    (if m < n as i64 { m } else { period - m }) as usize
}

/// OpenCV's `GaussianBlur(src, (0, 0), sigma)` of a float plane: the kernel's size is
/// `round(8σ + 1) | 1`, its taps `exp(−x² / 2σ²)` normalised in f64, the border reflect-101.
pub(crate) fn gaussian_blur(src: &[f32], w: u32, h: u32, sigma: f64) -> Vec<f32> {
    let size = ((sigma * 8.0 + 1.0).round() as i64) | 1;
    let r = size / 2;
    let mut kernel: Vec<f64> = (0..size)
        .map(|i| {
            let x = (i - r) as f64;
            (-x * x / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f64 = kernel.iter().sum();
    for k in &mut kernel {
        *k /= sum;
    }
    let kernel: Vec<f32> = kernel.iter().map(|&k| k as f32).collect();
    let (w, h) = (w as usize, h as usize);
    let mut tmp = vec![0f32; w * h];
    // Each row with its reflected border, so the taps read a plain slice.
    let padded_index: Vec<usize> = (-r..w as i64 + r).map(|i| reflect101(i, w)).collect();
    let mut padded = vec![0f32; padded_index.len()];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (p, &i) in padded.iter_mut().zip(&padded_index) {
            *p = row[i];
        }
        for (x, out) in tmp[y * w..(y + 1) * w].iter_mut().enumerate() {
            *out = kernel
                .iter()
                .zip(&padded[x..x + kernel.len()])
                .map(|(c, v)| c * v)
                .sum();
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        for (k, &c) in kernel.iter().enumerate() {
            let sy = reflect101(y as i64 + k as i64 - r, h);
            let (dst, src) = (&mut out[y * w..(y + 1) * w], &tmp[sy * w..(sy + 1) * w]);
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += c * s;
            }
        }
    }
    out
}

/// The face mask of one crop, carried to frame pixels: the paste-back takes the minimum of
/// its weight and the paste mask's there.
#[derive(Debug, Clone)]
pub struct OcclusionMask {
    face: Vec<f32>,
    w: u32,
    h: u32,
    /// Frame → crop coordinates.
    to_crop: Affine,
}

impl OcclusionMask {
    /// `face` is [`face_mask`]'s answer for the `w × h` crop that `to_crop` (frame → crop)
    /// cut.
    pub fn new(
        face: Vec<f32>,
        w: u32,
        h: u32,
        to_crop: Affine,
    ) -> Result<OcclusionMask, FaceError> {
        if face.len() != w as usize * h as usize {
            return Err(FaceError::Shape(format!(
                "a face mask of {} values does not fit a {w}x{h} crop",
                face.len()
            )));
        }
        Ok(OcclusionMask {
            face,
            w,
            h,
            to_crop,
        })
    }

    /// The mask in crop pixels, row after row.
    pub fn crop_mask(&self) -> &[f32] {
        &self.face
    }

    /// The face weight at frame pixel `(x, y)`: the crop's mask sampled bilinearly where the
    /// pixel lands in the crop (as `cv2.warpAffine` carries FaceFusion's mask back), 0 outside
    /// the crop, where nothing is pasted anyway.
    #[inline]
    pub fn face_weight(&self, x: i64, y: i64) -> f32 {
        let (u, v) = self.to_crop.apply(x as f64, y as f64);
        let (u0, v0) = (u.floor(), v.floor());
        let (fu, fv) = ((u - u0) as f32, (v - v0) as f32);
        let (w, h) = (i64::from(self.w), i64::from(self.h));
        // Saturating casts: a wild transform lands outside, not on a wrapped index.
        let (iu, iv) = (u0 as i64, v0 as i64);
        let at = |i: i64, j: i64| -> f32 {
            if i < 0 || j < 0 || i >= w || j >= h {
                0.0
            } else {
                self.face[(j * w + i) as usize]
            }
        };
        let top = at(iu, iv) * (1.0 - fu) + at(iu + 1, iv) * fu;
        let bottom = at(iu, iv + 1) * (1.0 - fu) + at(iu + 1, iv + 1) * fu;
        top * (1.0 - fv) + bottom * fv
    }
}

/// A model that makes a crop's mask in frame pixels (the occlusion model, the face parser).
pub trait CropMasker {
    /// The mask in crop pixels (1 = paste the swapped face), row after row.
    fn crop_mask(&mut self, crop: &RgbImage) -> Result<Vec<f32>, ModelError>;

    /// Time spent inside the network so far.
    fn network_time(&self) -> Duration;

    /// The mask for a crop cut by `to_crop` (frame → crop), carried to frame pixels.
    fn mask(&mut self, crop: &RgbImage, to_crop: &Affine) -> Result<OcclusionMask, ModelError> {
        let face = self.crop_mask(crop)?;
        Ok(OcclusionMask::new(
            face,
            crop.width(),
            crop.height(),
            *to_crop,
        )?)
    }
}

/// An XSeg model (`xseg_1` and its family): one NHWC image input, one single-channel mask out.
pub struct Occluder {
    model: Model,
    input: String,
    /// The input's `(width, height)`.
    size: (u32, u32),
    /// Time spent inside the network, summed.
    pub run_time: Duration,
}

impl Occluder {
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Occluder, ModelError> {
        let model = Model::load(path, options).map_err(infer_err("loading the occlusion model"))?;
        let info = model.info();
        let (Some(input), 1) = (info.inputs.first(), info.outputs.len()) else {
            return Err(unsupported(
                &model,
                format!(
                    "an XSeg occlusion model has 1 input and 1 output, this has {} and {}",
                    info.inputs.len(),
                    info.outputs.len()
                ),
            ));
        };
        let channels_last =
            matches!(input.shape.get(3), Some(Dim::Fixed(3)) | None) && input.shape.len() == 4;
        if !channels_last {
            return Err(unsupported(
                &model,
                format!(
                    "an XSeg occlusion model takes NHWC [1, H, W, 3] images, this input is {:?}",
                    input.shape
                ),
            ));
        }
        // A fixed size is used as is; a dynamic one runs at FaceFusion's 256×256.
        let fixed = |d: Option<&Dim>| match d {
            Some(Dim::Fixed(n)) if *n >= 8 => Some(*n as u32),
            _ => None,
        };
        let size = (
            fixed(input.shape.get(2)).unwrap_or(DEFAULT_SIZE),
            fixed(input.shape.get(1)).unwrap_or(DEFAULT_SIZE),
        );
        let input = input.name.clone();
        Ok(Occluder {
            model,
            input,
            size,
            run_time: Duration::ZERO,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The face mask of an aligned `crop` (RGB) in crop pixels: [`prepare`], the network,
    /// [`face_mask`].
    pub fn face_mask(&mut self, crop: &RgbImage) -> Result<Vec<f32>, ModelError> {
        let (w, h) = self.size;
        let blob = prepare(crop, w, h)?;
        let blob = Tensor::f32(&[1, h as usize, w as usize, 3], blob)
            .map_err(infer_err("building the occlusion model's input"))?;
        let t = Instant::now();
        let raw = self
            .model
            .run_one(vec![(self.input.clone(), blob)], None)
            .map_err(infer_err("running the occlusion model"))?
            .to_f32();
        self.run_time += t.elapsed();
        if raw.len() != w as usize * h as usize {
            return Err(unsupported(
                &self.model,
                format!(
                    "the output has {} values, a {w}x{h} mask has {}",
                    raw.len(),
                    w * h
                ),
            ));
        }
        Ok(face_mask(&raw, w, h, crop.width(), crop.height())?)
    }
}

impl CropMasker for Occluder {
    fn crop_mask(&mut self, crop: &RgbImage) -> Result<Vec<f32>, ModelError> {
        self.face_mask(crop)
    }

    fn network_time(&self) -> Duration {
        self.run_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-4..9).map(|i| reflect101(i, 5)).collect();
        assert_eq!(got, [4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0]);
        assert_eq!(reflect101(-7, 1), 0);
    }

    #[test]
    fn a_flat_mask_stays_flat_and_full_face_maps_to_one() {
        let face = face_mask(&vec![1.0; 64 * 64], 64, 64, 40, 40).unwrap();
        assert!(face.iter().all(|&v| (v - 1.0).abs() < 1e-5));
        let none = face_mask(&vec![0.2; 64 * 64], 64, 64, 40, 40).unwrap();
        assert!(none.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn values_beyond_the_unit_range_and_nan_are_clipped() {
        let mut raw = vec![1.7f32; 32 * 32];
        raw[5] = f32::NAN;
        let face = face_mask(&raw, 32, 32, 32, 32).unwrap();
        assert!(face.iter().all(|&v| (v - 1.0).abs() < 1e-5));
    }

    #[test]
    fn an_occluded_block_is_exactly_zero_inside_and_the_edge_sits_at_one_half() {
        // A 40-pixel band of "not face" across a 128 crop: after the blur, the mask is 0 deep
        // in it, 1 far from it, and the blurred value one half falls on its edge.
        let (n, a, b) = (128u32, 40usize, 80usize);
        let raw: Vec<f32> = (0..n * n)
            .map(|i| {
                let y = (i / n) as usize;
                if (a..b).contains(&y) { 0.0 } else { 1.0 }
            })
            .collect();
        let face = face_mask(&raw, n, n, n, n).unwrap();
        let at = |y: usize| face[y * n as usize + 64];
        assert_eq!(at(60), 0.0);
        assert_eq!(at(a), 0.0, "the band's first row is at or under one half");
        assert!(at(a - 1) > 0.0 && at(a - 1) < 0.3, "{}", at(a - 1));
        assert!((at(5) - 1.0).abs() < 1e-5 && (at(120) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn prepare_is_bgr_nhwc_in_unit_range() {
        let mut crop = RgbImage::new(4, 4);
        for px in crop.data_mut().chunks_exact_mut(3) {
            px.copy_from_slice(&[255, 51, 0]);
        }
        let blob = prepare(&crop, 8, 8).unwrap();
        assert_eq!(blob.len(), 8 * 8 * 3);
        for px in blob.chunks_exact(3) {
            assert_eq!(px, [0.0, 0.2, 1.0]);
        }
        assert!(prepare(&RgbImage::new(0, 4), 8, 8).is_err());
    }

    #[test]
    fn the_frame_mask_follows_the_crop_transform_and_is_zero_outside() {
        // A 4×4 crop at twice the frame's scale, offset by (10, 20): frame → crop is
        // u = 2(x − 10), v = 2(y − 20).
        let to_crop = Affine {
            m: [[2.0, 0.0, -20.0], [0.0, 2.0, -40.0]],
        };
        let mut face = vec![1.0; 16];
        face[2 * 4 + 2] = 0.0;
        let mask = OcclusionMask::new(face, 4, 4, to_crop).unwrap();
        assert_eq!(mask.face_weight(11, 21), 0.0);
        assert_eq!(mask.face_weight(10, 20), 1.0);
        assert_eq!(mask.face_weight(0, 0), 0.0);
        assert_eq!(mask.face_weight(50, 50), 0.0);
        assert!(OcclusionMask::new(vec![1.0; 3], 4, 4, to_crop).is_err());
    }
}
