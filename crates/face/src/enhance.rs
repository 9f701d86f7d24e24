//! The face enhancer: a restoration network (GFPGAN 1.4, GPEN-BFR 256 or 512) redraws the
//! swapped face at its own resolution, and the result is blended over the frame with a
//! strength, as FaceFusion's `face_enhancer` processor does after its swapper.
//!
//! The steps are FaceFusion's (read from its code, commit 33cc6b4):
//! - the crop: the similarity from the five landmarks to the model's template times its size
//!   (`estimateAffinePartial2D`, whose least-squares answer [`align::similarity`] gives),
//!   `warpAffine` bilinear with the border replicated ([`crop_transform`], [`warp_crop`]);
//! - the mask: `create_box_mask` with the default blur 0.3 and no padding: ones, a band of
//!   `⌊0.15·size⌋ / 2` pixels zeroed at each side, `GaussianBlur(σ = ⌊0.15·size⌋ / 4)`
//!   ([`box_mask`]);
//! - the input: RGB, `(v / 255 − 0.5) / 0.5`, NCHW into the input `input` ([`prepare`]); the
//!   output clipped to [−1, 1], `(v + 1) / 2 · 255` rounded half to even ([`normalize`]);
//! - `paste_back`: the crop and the mask carried back to the crop's bounding box in the frame
//!   by `warpAffine` (the crop's border replicated, the mask's 0), mixed by the mask and
//!   truncated to 8 bits; then `blend_paste_frame`: `frame · (1 − b) + pasted · b` rounded,
//!   `b` the strength over 100 (FaceFusion's default 80) ([`paste_blend`]).
//!
//! `tests/enhance.rs` holds these steps to vectors FaceFusion's own `enhance_face` made
//! (`tools/golden/enhance_golden.py`).

use crate::align::{self, Sampler};
use crate::models::{ModelError, infer_err, unsupported};
use crate::occlusion::gaussian_blur;
use crate::pixel::round_even_u8;
use crate::{Affine, FaceError};
use std::path::Path;
use std::time::{Duration, Instant};
use studio_infer::{Dim, ElementType, Model, ModelOptions, Tensor};
use studio_media::RgbImage;

/// FaceFusion's `ffhq_512` template (eyes, nose tip, mouth corners as fractions of the crop).
pub const FFHQ_512: [[f64; 2]; 5] = [
    [0.37691676, 0.46864664],
    [0.62285697, 0.46912813],
    [0.50123859, 0.61331904],
    [0.39308822, 0.72541100],
    [0.61150205, 0.72490465],
];

/// FaceFusion's `arcface_128` template.
pub const ARCFACE_128: [[f64; 2]; 5] = [
    [0.36167656, 0.40387734],
    [0.63696719, 0.40235469],
    [0.50019687, 0.56044219],
    [0.38710391, 0.72160547],
    [0.61507734, 0.72034453],
];

/// FaceFusion's default `face_mask_blur`.
pub const FACE_MASK_BLUR: f64 = 0.3;
/// FaceFusion's default `face_enhancer_blend`: how much of the enhanced face shows, in %.
pub const DEFAULT_STRENGTH: u8 = 80;
/// FaceFusion's default `face_enhancer_weight`, for models with a `weight` input.
pub const DEFAULT_WEIGHT: f32 = 0.5;

/// The enhancers this engine runs, as FaceFusion names and configures them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnhancerKind {
    /// TencentARC's GFPGAN 1.4 (Apache-2.0): `ffhq_512`, 512×512.
    Gfpgan14,
    /// yangxy's GPEN-BFR 256 (non-commercial): `arcface_128`, 256×256.
    GpenBfr256,
    /// yangxy's GPEN-BFR 512 (non-commercial): `ffhq_512`, 512×512.
    GpenBfr512,
}

impl EnhancerKind {
    pub const ALL: [EnhancerKind; 3] = [
        EnhancerKind::Gfpgan14,
        EnhancerKind::GpenBfr256,
        EnhancerKind::GpenBfr512,
    ];

    /// The model id (`config.json`'s, and FaceFusion's `face_enhancer_model`).
    pub fn id(self) -> &'static str {
        match self {
            EnhancerKind::Gfpgan14 => "gfpgan_1.4",
            EnhancerKind::GpenBfr256 => "gpen_bfr_256",
            EnhancerKind::GpenBfr512 => "gpen_bfr_512",
        }
    }

    pub fn from_id(id: &str) -> Option<EnhancerKind> {
        EnhancerKind::ALL.into_iter().find(|k| k.id() == id)
    }

    /// The crop's template, as fractions of its side.
    pub fn template(self) -> &'static [[f64; 2]; 5] {
        match self {
            EnhancerKind::GpenBfr256 => &ARCFACE_128,
            EnhancerKind::Gfpgan14 | EnhancerKind::GpenBfr512 => &FFHQ_512,
        }
    }

    /// The crop's side, the model's input and output size.
    pub fn size(self) -> u32 {
        match self {
            EnhancerKind::GpenBfr256 => 256,
            EnhancerKind::Gfpgan14 | EnhancerKind::GpenBfr512 => 512,
        }
    }
}

/// The frame → crop transform of a `size` crop aligned on `kps` by `template`.
pub fn crop_transform(
    kps: &[[f32; 2]; 5],
    template: &[[f64; 2]; 5],
    size: u32,
) -> Result<Affine, FaceError> {
    let src = kps.map(|[x, y]| [f64::from(x), f64::from(y)]);
    let s = f64::from(size);
    let dst = template.map(|[x, y]| [x * s, y * s]);
    align::similarity(&src, &dst)
}

/// The `size × size` crop of `frame` under `to_crop` (frame → crop), bilinear, the frame's
/// border replicated (`warpAffine(..., borderMode = BORDER_REPLICATE)`).
pub fn warp_crop(frame: &RgbImage, to_crop: &Affine, size: u32) -> Result<RgbImage, FaceError> {
    let inv = to_crop
        .invert()
        .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
    let (w, h) = (i64::from(frame.width()), i64::from(frame.height()));
    if w == 0 || h == 0 {
        return Err(FaceError::Shape("an empty frame has no crop".into()));
    }
    // The alignment's warp (its taps read 0 beyond the frame), then the pixels whose taps
    // leave the frame again with the frame's edge replicated: the same sums in the same
    // order, so every pixel is what one replicating pass would give.
    let mut out = RgbImage::new(size, size);
    align::warp_rgb_into(frame, &inv, out.data_mut(), (0, 0, size, size));
    // A crop whose source lies a pixel clear of the frame's edges (a face inside the picture)
    // has no tap beyond them.
    let (x0, y0, x1, y1) = inv.map_rect_bounds(f64::from(size), f64::from(size));
    if x0 >= 1.0 && y0 >= 1.0 && x1 < (w - 2) as f64 && y1 < (h - 2) as f64 {
        return Ok(out);
    }
    let sampler = Sampler::new(&inv);
    let data = frame.data();
    let px = |x: i64, y: i64| (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize * 3;
    for (i, o) in out.data_mut().chunks_exact_mut(3).enumerate() {
        let (x, y) = ((i % size as usize) as u32, (i / size as usize) as u32);
        let (ix, iy, fx, fy) = sampler.at(x, y);
        if ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h {
            continue;
        }
        let (p00, p01, p10, p11) = (
            px(ix, iy),
            px(ix + 1, iy),
            px(ix, iy + 1),
            px(ix + 1, iy + 1),
        );
        for (c, o) in o.iter_mut().enumerate() {
            let v = |p: usize| f32::from(data[p + c]);
            let top = v(p00) * (1.0 - fx) + v(p01) * fx;
            let bot = v(p10) * (1.0 - fx) + v(p11) * fx;
            *o = round_even_u8(top * (1.0 - fy) + bot * fy);
        }
    }
    Ok(out)
}

/// The rectangle `(x0, y0, x1, y1)` of frame pixels a `size` crop under `to_crop` pastes
/// into: its corners carried back, floored and ceiled, clipped to the `w × h` frame
/// (FaceFusion's `calculate_paste_area`). `None` when it is empty.
pub fn paste_area(to_crop: &Affine, size: u32, w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
    let to_frame = to_crop.invert()?;
    let (x0, y0, x1, y1) = to_frame.map_rect_bounds(f64::from(size), f64::from(size));
    if !(x0.is_finite() && y0.is_finite() && x1.is_finite() && y1.is_finite()) {
        return None;
    }
    let clip = |v: f64, hi: u32| v.clamp(0.0, f64::from(hi)) as u32;
    let (x0, y0) = (clip(x0.floor(), w), clip(y0.floor(), h));
    let (x1, y1) = (clip(x1.ceil(), w), clip(y1.ceil(), h));
    (x1 > x0 && y1 > y0).then_some((x0, y0, x1, y1))
}

/// FaceFusion's box mask for a `size` crop with `blur` (0 to 1) and no padding: 1 inside a
/// band at each side, blurred.
pub fn box_mask(size: u32, blur: f64) -> Vec<f32> {
    let n = size as usize;
    let amount = (f64::from(size) * 0.5 * blur.clamp(0.0, 1.0)) as usize;
    let band = (amount / 2).max(1).min(n);
    let mut mask = vec![1f32; n * n];
    for (y, row) in mask.chunks_exact_mut(n).enumerate() {
        if y < band || y >= n - band {
            row.fill(0.0);
        } else {
            row[..band].fill(0.0);
            row[n - band..].fill(0.0);
        }
    }
    if amount > 0 {
        mask = gaussian_blur(&mask, size, size, amount as f64 * 0.25);
    }
    mask
}

/// The model's input for a crop (RGB): `(v / 255 − 0.5) / 0.5` in f64, then f32, NCHW.
pub fn prepare(crop: &RgbImage) -> Vec<f32> {
    // Each of the 256 levels once, so the crop's values are looked up, not divided.
    let level: [f32; 256] = std::array::from_fn(|v| ((v as f64 / 255.0 - 0.5) / 0.5) as f32);
    let plane = crop.width() as usize * crop.height() as usize;
    let mut out = vec![0f32; 3 * plane];
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in crop.data().chunks_exact(3).enumerate() {
        r[i] = level[usize::from(px[0])];
        g[i] = level[usize::from(px[1])];
        b[i] = level[usize::from(px[2])];
    }
    out
}

/// The model's NCHW answer for a `size × size` crop as RGB: clipped to [−1, 1], `(v + 1) / 2`,
/// times 255 rounded half to even, all in f32 as numpy does it.
pub fn normalize(out: &[f32], size: u32) -> Result<RgbImage, FaceError> {
    let plane = size as usize * size as usize;
    if out.len() != 3 * plane {
        return Err(FaceError::Shape(format!(
            "an enhancer answer of {} values is not 3x{size}x{size}",
            out.len()
        )));
    }
    let mut data = vec![0u8; 3 * plane];
    for (i, px) in data.chunks_exact_mut(3).enumerate() {
        for (c, v) in px.iter_mut().enumerate() {
            let x = out[c * plane + i];
            // NaN (a broken model) comes out as 0, as numpy's cast of it does on x86.
            let x = if x.is_nan() { -1.0 } else { x.clamp(-1.0, 1.0) };
            *v = round_even_u8((x + 1.0) / 2.0 * 255.0);
        }
    }
    RgbImage::from_data(size, size, data).map_err(|e| FaceError::Shape(e.to_string()))
}

/// Paste the enhanced `crop` (cut by `to_crop`: frame → crop) into `frame` through `mask`
/// (the crop's, row after row), then blend the result over the frame as it was with
/// `strength` (0 to 100): FaceFusion's `paste_back` and `blend_paste_frame`. Only pixels
/// inside [`paste_area`] whose mask weight is above 0 can change; strength 0 changes none.
pub fn paste_blend(
    frame: &mut RgbImage,
    crop: &RgbImage,
    mask: &[f32],
    to_crop: &Affine,
    strength: u8,
) -> Result<(), FaceError> {
    let (cw, ch) = (crop.width(), crop.height());
    if cw != ch || mask.len() != cw as usize * ch as usize {
        return Err(FaceError::Shape(format!(
            "a {cw}x{ch} crop with a mask of {} values",
            mask.len()
        )));
    }
    let (fw, fh) = (frame.width(), frame.height());
    let Some((x0, y0, x1, y1)) = paste_area(to_crop, cw, fw, fh) else {
        return Ok(());
    };
    if strength == 0 {
        return Ok(());
    }
    // FaceFusion's factors: b = 1 − (1 − s/100) and addWeighted's `1 − b`, cast to float.
    let b = 1.0 - (1.0 - f64::from(strength.min(100)) / 100.0);
    let (keep, take) = ((1.0 - b) as f32, b as f32);
    // The area's own origin, as `paste_matrix` shifts it: local pixel → crop.
    let local = Affine {
        m: [
            [
                to_crop.m[0][0],
                to_crop.m[0][1],
                to_crop.m[0][0] * f64::from(x0) + to_crop.m[0][1] * f64::from(y0) + to_crop.m[0][2],
            ],
            [
                to_crop.m[1][0],
                to_crop.m[1][1],
                to_crop.m[1][0] * f64::from(x0) + to_crop.m[1][1] * f64::from(y0) + to_crop.m[1][2],
            ],
        ],
    };
    let sampler = Sampler::new(&local);
    let (n, cdata) = (i64::from(cw), crop.data());
    let m_at = |x: i64, y: i64| {
        if x < 0 || y < 0 || x >= n || y >= n {
            0.0
        } else {
            mask[(y * n + x) as usize]
        }
    };
    let c_at = |x: i64, y: i64| (y.clamp(0, n - 1) * n + x.clamp(0, n - 1)) as usize * 3;
    let stride = fw as usize * 3;
    let fdata = frame.data_mut();
    for y in y0..y1 {
        for x in x0..x1 {
            let (ix, iy, fx, fy) = sampler.at(x - x0, y - y0);
            if ix < -1 || iy < -1 || ix >= n || iy >= n {
                continue;
            }
            let lerp = |p00: f32, p01: f32, p10: f32, p11: f32| {
                let top = p00 * (1.0 - fx) + p01 * fx;
                let bot = p10 * (1.0 - fx) + p11 * fx;
                top * (1.0 - fy) + bot * fy
            };
            // Nearly every pixel's taps lie inside the crop: indexed directly.
            let (weight, taps) = if ix >= 0 && iy >= 0 && ix + 1 < n && iy + 1 < n {
                let (i, row) = ((iy * n + ix) as usize, n as usize);
                let weight = lerp(mask[i], mask[i + 1], mask[i + row], mask[i + row + 1]);
                (weight, [i * 3, i * 3 + 3, (i + row) * 3, (i + row) * 3 + 3])
            } else {
                let weight = lerp(
                    m_at(ix, iy),
                    m_at(ix + 1, iy),
                    m_at(ix, iy + 1),
                    m_at(ix + 1, iy + 1),
                );
                let taps = [
                    c_at(ix, iy),
                    c_at(ix + 1, iy),
                    c_at(ix, iy + 1),
                    c_at(ix + 1, iy + 1),
                ];
                (weight, taps)
            };
            let weight = weight.clamp(0.0, 1.0);
            if weight.is_nan() || weight <= 0.0 {
                continue;
            }
            let o = y as usize * stride + x as usize * 3;
            for c in 0..3 {
                let v = |t: usize| f32::from(cdata[taps[t] + c]);
                let enhanced = f32::from(round_even_u8(lerp(v(0), v(1), v(2), v(3))));
                let old = f32::from(fdata[o + c]);
                // `paste_back` truncates its mix to 8 bits; `addWeighted` rounds its blend.
                let pasted = (old * (1.0 - weight) + enhanced * weight).clamp(0.0, 255.0) as u8;
                fdata[o + c] = round_even_u8(old * keep + f32::from(pasted) * take);
            }
        }
    }
    Ok(())
}

/// A face restoration network with one NCHW image input named `input` (3 × size × size, in
/// [−1, 1]) and, optionally, a float `weight`; its first output the restored crop.
pub struct Enhancer {
    model: Model,
    kind: EnhancerKind,
    /// The `weight` input, for models that have one (FaceFusion's `face_enhancer_weight`).
    weight: bool,
    /// The box mask for the model's size, made once.
    mask: Vec<f32>,
    /// Time spent inside the network, summed.
    pub run_time: Duration,
}

impl Enhancer {
    /// Load `path` as the enhancer `kind`, checking its input and output are that model's.
    pub fn load(
        path: &Path,
        kind: EnhancerKind,
        options: &ModelOptions,
    ) -> Result<Enhancer, ModelError> {
        let model = Model::load(path, options).map_err(infer_err("loading the face enhancer"))?;
        let info = model.info();
        let size = kind.size() as usize;
        let Some(input) = info.input("input") else {
            let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(unsupported(
                &model,
                format!("a face enhancer has an image input named input, this has {names:?}"),
            ));
        };
        let fits = |shape: &[Dim]| {
            shape.len() == 4
                && shape
                    .iter()
                    .zip([1, 3, size, size])
                    .all(|(d, want)| match d {
                        Dim::Fixed(n) => *n == want,
                        _ => true,
                    })
        };
        if !fits(&input.shape) {
            return Err(unsupported(
                &model,
                format!(
                    "{} takes NCHW [1, 3, {size}, {size}] images, this input is {:?}",
                    kind.id(),
                    input.shape
                ),
            ));
        }
        match info.outputs.first() {
            Some(out) if fits(&out.shape) => {}
            other => {
                return Err(unsupported(
                    &model,
                    format!(
                        "{} answers [1, 3, {size}, {size}], this output is {:?}",
                        kind.id(),
                        other.map(|o| &o.shape)
                    ),
                ));
            }
        }
        let weight = match info.input("weight") {
            None => false,
            Some(w) if w.element_type == ElementType::F32 => true,
            Some(w) => {
                return Err(unsupported(
                    &model,
                    format!("its weight input is {:?}, not f32", w.element_type),
                ));
            }
        };
        if let Some(other) = info
            .inputs
            .iter()
            .find(|i| i.name != "input" && i.name != "weight")
        {
            return Err(unsupported(
                &model,
                format!("a face enhancer has no input {:?}", other.name),
            ));
        }
        Ok(Enhancer {
            model,
            kind,
            weight,
            mask: box_mask(kind.size(), FACE_MASK_BLUR),
            run_time: Duration::ZERO,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn kind(&self) -> EnhancerKind {
        self.kind
    }

    /// The box mask of the model's crop.
    pub fn mask(&self) -> &[f32] {
        &self.mask
    }

    /// The restored crop of an aligned `crop` (RGB, the model's size): [`prepare`], the
    /// network, [`normalize`].
    pub fn enhance(&mut self, crop: &RgbImage) -> Result<RgbImage, ModelError> {
        let size = self.kind.size();
        if crop.width() != size || crop.height() != size {
            return Err(FaceError::Shape(format!(
                "{} enhances {size}x{size} crops, not {}x{}",
                self.kind.id(),
                crop.width(),
                crop.height()
            ))
            .into());
        }
        let n = size as usize;
        let blob = Tensor::f32(&[1, 3, n, n], prepare(crop))
            .map_err(infer_err("building the face enhancer's input"))?;
        let mut inputs = vec![("input".to_string(), blob)];
        if self.weight {
            let w = Tensor::f32(&[1], vec![DEFAULT_WEIGHT])
                .map_err(infer_err("building the face enhancer's weight"))?;
            inputs.push(("weight".to_string(), w));
        }
        let t = Instant::now();
        let out = self
            .model
            .run_one(inputs, None)
            .map_err(infer_err("running the face enhancer"))?
            .to_f32();
        self.run_time += t.elapsed();
        Ok(normalize(&out, size)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_facefusions_templates_and_sizes() {
        for kind in EnhancerKind::ALL {
            assert_eq!(EnhancerKind::from_id(kind.id()), Some(kind));
        }
        assert_eq!(EnhancerKind::GpenBfr256.template(), &ARCFACE_128);
        assert_eq!(EnhancerKind::GpenBfr256.size(), 256);
        assert_eq!(EnhancerKind::Gfpgan14.template(), &FFHQ_512);
        assert_eq!(EnhancerKind::from_id("codeformer"), None);
    }

    #[test]
    fn prepare_and_normalize_round_trip_every_level() {
        let mut crop = RgbImage::new(16, 16);
        for (i, v) in crop.data_mut().iter_mut().enumerate() {
            *v = (i % 256) as u8;
        }
        // `prepare`'s NCHW planes are the layout `normalize` reads.
        let again = normalize(&prepare(&crop), 16).unwrap();
        assert!(again == crop);
        assert!(normalize(&[0.0; 5], 16).is_err());
    }

    #[test]
    fn answers_beyond_the_range_are_clipped() {
        let out = normalize(&[-3.0, 0.0, 7.0], 1).unwrap();
        assert_eq!(out.pixel(0, 0), [0, 128, 255]);
        // A broken model's NaN comes out black rather than as anything random.
        let out = normalize(&[f32::NAN, 1.0, -1.0], 1).unwrap();
        assert_eq!(out.pixel(0, 0), [0, 255, 0]);
    }

    #[test]
    fn the_box_mask_is_zero_at_its_edge_band_centre_and_one_in_the_middle() {
        let m = box_mask(256, FACE_MASK_BLUR);
        let at = |x: usize, y: usize| m[y * 256 + x];
        assert!((at(128, 128) - 1.0).abs() < 1e-4);
        // The band is 19 pixels wide, the blur's σ 9.5: its inner edge sits at one half.
        assert!(at(0, 128) < 0.1 && at(128, 0) < 0.1);
        assert!((at(19, 128) - 0.5).abs() < 0.05, "{}", at(19, 128));
        assert!(at(40, 128) > at(20, 128));
    }

    #[test]
    fn strength_zero_and_an_empty_mask_change_nothing() {
        let frame = crate::standin::textured(64, 48, 5);
        let crop = crate::standin::textured(32, 32, 9);
        let to_crop = Affine {
            m: [[1.0, 0.0, -10.0], [0.0, 1.0, -8.0]],
        };
        let mut a = frame.clone();
        paste_blend(&mut a, &crop, &vec![1.0; 32 * 32], &to_crop, 0).unwrap();
        assert!(a == frame);
        let mut b = frame.clone();
        paste_blend(&mut b, &crop, &vec![0.0; 32 * 32], &to_crop, 100).unwrap();
        assert!(b == frame);
        let mut c = frame.clone();
        paste_blend(&mut c, &crop, &vec![1.0; 32 * 32], &to_crop, 100).unwrap();
        assert_eq!(c.pixel(20, 20), crop.pixel(10, 12));
        assert_eq!(c.pixel(5, 5), frame.pixel(5, 5), "outside the crop");
    }
}
