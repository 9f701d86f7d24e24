//! Alignment: the least-squares similarity from five landmarks to the ArcFace template, and
//! the bilinear affine warp that cuts the aligned crop (OpenCV's `warpAffine` semantics:
//! source positions quantised to 1/32 pixel, border 0).

use crate::pixel::{floor_f32, round_even_u8};
use crate::{Affine, FaceError};
use studio_media::RgbImage;

/// The ArcFace template for a 112×112 crop: eyes, nose tip, mouth corners.
pub const ARCFACE_112: [[f64; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// The template for a square crop of `size`: multiples of 112 scale it; multiples of 128
/// keep the 112 geometry at `size/128` and shift x by `8·size/128`, as insightface does.
pub fn template(size: u32) -> Result<[[f64; 2]; 5], FaceError> {
    let (ratio, dx) = if size > 0 && size.is_multiple_of(112) {
        (f64::from(size) / 112.0, 0.0)
    } else if size > 0 && size.is_multiple_of(128) {
        let r = f64::from(size) / 128.0;
        (r, 8.0 * r)
    } else {
        return Err(FaceError::Shape(format!(
            "crop size {size} is not a multiple of 112 or 128"
        )));
    };
    // In f32 like the reference's numpy arrays, so the fit lands on the same numbers.
    let (ratio, dx) = (ratio as f32, dx as f32);
    Ok(ARCFACE_112.map(|[x, y]| {
        [
            f64::from(x as f32 * ratio + dx),
            f64::from(y as f32 * ratio),
        ]
    }))
}

/// FaceFusion's `arcface_112_v1` template (SimSwap's alignment) as fractions of the crop's
/// side: eyes, nose tip, mouth corners.
pub const ARCFACE_112_V1: [[f64; 2]; 5] = [
    [0.354_732_14, 0.456_589_29],
    [0.645_267_86, 0.456_589_29],
    [0.500_000_00, 0.611_544_64],
    [0.379_133_93, 0.776_875_00],
    [0.620_866_07, 0.776_875_00],
];

/// The five-point template a swapper's crop is aligned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// insightface's ArcFace template placed as [`template`] does (FaceFusion's
    /// `arcface_128` at sizes that are multiples of 128): inswapper and HyperSwap.
    Arcface128,
    /// FaceFusion's `arcface_112_v1`, scaled to the crop: SimSwap.
    Arcface112V1,
}

impl Template {
    /// The template's points in a `size × size` crop.
    pub fn points(self, size: u32) -> Result<[[f64; 2]; 5], FaceError> {
        match self {
            Template::Arcface128 => template(size),
            Template::Arcface112V1 if size > 0 => {
                let s = f64::from(size);
                Ok(ARCFACE_112_V1.map(|[x, y]| [x * s, y * s]))
            }
            Template::Arcface112V1 => Err(FaceError::Shape("crop size 0".into())),
        }
    }
}

/// The similarity transform (rotation, uniform scale, translation; no reflection) that maps
/// `src` onto `dst` with least squared error: Umeyama's solution, in its 2-D closed form.
pub fn similarity(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Result<Affine, FaceError> {
    if src.len() != dst.len() || src.len() < 2 {
        return Err(FaceError::Shape(format!(
            "similarity needs matching point lists of 2 or more, got {} and {}",
            src.len(),
            dst.len()
        )));
    }
    let n = src.len() as f64;
    let mean = |p: &[[f64; 2]]| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |a, q| (a.0 + q[0], a.1 + q[1]));
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut dot, mut cross, mut var) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] - msx, s[1] - msy);
        let (dx, dy) = (d[0] - mdx, d[1] - mdy);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    if var < 1e-12 || !var.is_finite() || !dot.is_finite() || !cross.is_finite() {
        return Err(FaceError::Degenerate(
            "landmarks coincide: no similarity transform".into(),
        ));
    }
    let a = dot / var;
    let b = cross / var;
    Ok(Affine {
        m: [
            [a, -b, mdx - (a * msx - b * msy)],
            [b, a, mdy - (b * msx + a * msy)],
        ],
    })
}

/// The transform from image coordinates to a `size` crop aligned on `kps`.
pub fn estimate_norm(kps: &[[f32; 2]; 5], size: u32) -> Result<Affine, FaceError> {
    let src = kps.map(|[x, y]| [f64::from(x), f64::from(y)]);
    similarity(&src, &template(size)?)
}

/// The transform from image coordinates to a `size` crop aligned on `kps` by `template`.
pub fn estimate_norm_to(
    kps: &[[f32; 2]; 5],
    size: u32,
    template: Template,
) -> Result<Affine, FaceError> {
    let src = kps.map(|[x, y]| [f64::from(x), f64::from(y)]);
    similarity(&src, &template.points(size)?)
}

/// The inverse transform in f32, as OpenCV 5's `warpAffine` computes source positions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sampler {
    m: [[f32; 3]; 2],
}

impl Sampler {
    pub(crate) fn new(inv: &Affine) -> Sampler {
        Sampler {
            m: inv.m.map(|row| row.map(|v| v as f32)),
        }
    }

    /// Source position of destination pixel `(x, y)`: integer pixel and fraction per axis.
    #[inline]
    pub(crate) fn at(&self, x: u32, y: u32) -> (i64, i64, f32, f32) {
        let (x, y) = (x as f32, y as f32);
        let m = &self.m;
        let sx = m[0][0] * x + m[0][1] * y + m[0][2];
        let sy = m[1][0] * x + m[1][1] * y + m[1][2];
        let ((ix, fx), (iy, fy)) = (floor_f32(sx), floor_f32(sy));
        (i64::from(ix), i64::from(iy), fx, fy)
    }
}

/// Warp `src` by `forward` (source → destination coordinates) into a `width × height`
/// image with bilinear sampling; what falls outside the source reads as black.
pub fn warp_affine(
    src: &RgbImage,
    forward: &Affine,
    width: u32,
    height: u32,
) -> Result<RgbImage, FaceError> {
    let inv = forward
        .invert()
        .ok_or_else(|| FaceError::Degenerate("singular warp transform".into()))?;
    let mut out = RgbImage::new(width, height);
    warp_rgb_into(src, &inv, out.data_mut(), (0, 0, width, height));
    Ok(out)
}

/// The bilinear sample of `src` for destination pixel `(x, y)` under `sampler`; what falls
/// outside the source reads as black; rounding half to even.
#[inline]
pub(crate) fn sample_rgb(src: &RgbImage, sampler: &Sampler, x: u32, y: u32) -> [u8; 3] {
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let data = src.data();
    let (ix, iy, fx, fy) = sampler.at(x, y);
    if ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh {
        // All four taps inside (nearly every pixel): one bounds check per row of taps.
        let p = ((iy * sw + ix) * 3) as usize;
        let r = (sw * 3) as usize;
        let (top, bottom) = (&data[p..p + 6], &data[p + r..p + r + 6]);
        let mut out = [0u8; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let t = f32::from(top[c]) * (1.0 - fx) + f32::from(top[c + 3]) * fx;
            let b = f32::from(bottom[c]) * (1.0 - fx) + f32::from(bottom[c + 3]) * fx;
            *o = round_even_u8(t * (1.0 - fy) + b * fy);
        }
        return out;
    }
    if ix < -1 || iy < -1 || ix >= sw || iy >= sh {
        return [0; 3];
    }
    let px = |x: i64, y: i64, c: usize| -> f32 {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            0.0
        } else {
            f32::from(data[((y * sw + x) * 3) as usize + c])
        }
    };
    let inside = ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh;
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let (p00, p01, p10, p11) = if inside {
            let p = ((iy * sw + ix) * 3) as usize + c;
            let r = (sw * 3) as usize;
            (
                f32::from(data[p]),
                f32::from(data[p + 3]),
                f32::from(data[p + r]),
                f32::from(data[p + r + 3]),
            )
        } else {
            (
                px(ix, iy, c),
                px(ix + 1, iy, c),
                px(ix, iy + 1, c),
                px(ix + 1, iy + 1, c),
            )
        };
        let top = p00 * (1.0 - fx) + p01 * fx;
        let bot = p10 * (1.0 - fx) + p11 * fx;
        let v = top * (1.0 - fy) + bot * fy;
        *o = round_even_u8(v);
    }
    out
}

/// Bilinear-sample `src` through `inv` (destination → source) for the destination rectangle
/// `(x0, y0, w, h)`, writing rows of `w` pixels into `dst`; rounding half to even.
pub(crate) fn warp_rgb_into(
    src: &RgbImage,
    inv: &Affine,
    dst: &mut [u8],
    rect: (u32, u32, u32, u32),
) {
    let (x0, y0, w, h) = rect;
    let sampler = Sampler::new(inv);
    let n = w as usize;
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let data = src.data();
    let stride = sw as usize * 3;
    // A row at a time in passes over plain arrays, so the arithmetic runs several pixels to
    // an instruction: the source positions, the four taps of each channel gathered (pixels
    // whose taps leave the source take `sample_rgb` instead), then the same bilinear sum in
    // the same order as `sample_rgb`, rounded half to even.
    let (mut fx, mut fy) = (vec![0f32; n], vec![0f32; n]);
    let mut at = vec![None::<usize>; n];
    // Per channel, the four taps of each pixel, and the result.
    let mut taps: [[Vec<f32>; 4]; 3] =
        std::array::from_fn(|_| std::array::from_fn(|_| vec![0f32; n]));
    let mut out = [vec![0u8; n], vec![0u8; n], vec![0u8; n]];
    for j in 0..h {
        let row = &mut dst[(j * w) as usize * 3..(j * w + w) as usize * 3];
        for (i, ((fx, fy), at)) in fx
            .iter_mut()
            .zip(fy.iter_mut())
            .zip(at.iter_mut())
            .enumerate()
        {
            let (ix, iy, wx, wy) = sampler.at(x0 + i as u32, y0 + j);
            (*fx, *fy) = (wx, wy);
            *at = (ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh)
                .then(|| iy as usize * stride + ix as usize * 3);
        }
        for (i, at) in at.iter().enumerate() {
            let Some(p) = *at else {
                continue;
            };
            let (t, b) = (&data[p..p + 6], &data[p + stride..p + stride + 6]);
            for (c, [p00, p01, p10, p11]) in taps.iter_mut().enumerate() {
                p00[i] = f32::from(t[c]);
                p01[i] = f32::from(t[c + 3]);
                p10[i] = f32::from(b[c]);
                p11[i] = f32::from(b[c + 3]);
            }
        }
        for ([p00, p01, p10, p11], out) in taps.iter().zip(out.iter_mut()) {
            let pixels = p00
                .iter()
                .zip(p01)
                .zip(p10)
                .zip(p11)
                .zip(fx.iter().zip(&fy));
            for (o, ((((p00, p01), p10), p11), (wx, wy))) in out.iter_mut().zip(pixels) {
                let top = p00 * (1.0 - wx) + p01 * wx;
                let bot = p10 * (1.0 - wx) + p11 * wx;
                *o = round_even_u8(top * (1.0 - wy) + bot * wy);
            }
        }
        for (i, px) in row.chunks_exact_mut(3).enumerate() {
            if at[i].is_some() {
                // Byte by byte: a copy from a fresh three-byte array stalls on the stack.
                px[0] = out[0][i];
                px[1] = out[1][i];
                px[2] = out[2][i];
            } else {
                px.copy_from_slice(&sample_rgb(src, &sampler, x0 + i as u32, y0 + j));
            }
        }
    }
}

/// Cut the `size × size` crop aligned on `kps`; also returns the image → crop transform.
pub fn align_crop(
    img: &RgbImage,
    kps: &[[f32; 2]; 5],
    size: u32,
) -> Result<(RgbImage, Affine), FaceError> {
    let m = estimate_norm(kps, size)?;
    Ok((warp_affine(img, &m, size, size)?, m))
}

/// [`align_crop`] to another `template`.
pub fn align_crop_to(
    img: &RgbImage,
    kps: &[[f32; 2]; 5],
    size: u32,
    template: Template,
) -> Result<(RgbImage, Affine), FaceError> {
    let m = estimate_norm_to(kps, size, template)?;
    Ok((warp_affine(img, &m, size, size)?, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FaceFusion's `arcface_128` fractions, times the crop size, are insightface's template
    /// placed for a multiple of 128: the two descriptions agree to their printed digits.
    #[test]
    fn arcface_128_is_insightfaces_template_at_multiples_of_128() {
        let facefusion = [
            [0.361_676_56, 0.403_877_34],
            [0.636_967_19, 0.402_354_69],
            [0.500_196_87, 0.560_442_19],
            [0.387_103_91, 0.721_605_47],
            [0.615_077_34, 0.720_344_53],
        ];
        for size in [128u32, 256, 512, 1024] {
            let ours = Template::Arcface128.points(size).unwrap();
            for (p, q) in ours.iter().zip(facefusion) {
                let s = f64::from(size);
                assert!((p[0] - q[0] * s).abs() < 1e-5 * s && (p[1] - q[1] * s).abs() < 1e-5 * s);
            }
        }
    }

    #[test]
    fn similarity_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7f64, 0.3f64, 12.0, -5.0);
        let fwd = |p: [f64; 2]| {
            [
                s * (th.cos() * p[0] - th.sin() * p[1]) + tx,
                s * (th.sin() * p[0] + th.cos() * p[1]) + ty,
            ]
        };
        let dst = ARCFACE_112.map(fwd);
        let m = similarity(&ARCFACE_112, &dst).unwrap();
        assert!((m.m[0][0] - s * th.cos()).abs() < 1e-9);
        assert!((m.m[1][0] - s * th.sin()).abs() < 1e-9);
        assert!((m.m[0][2] - tx).abs() < 1e-9 && (m.m[1][2] - ty).abs() < 1e-9);
    }

    #[test]
    fn template_128_shifts_x_by_8() {
        let t = template(128).unwrap();
        assert!((t[0][0] - (38.2946 + 8.0)).abs() < 1e-5);
        assert!((t[0][1] - 51.6963).abs() < 1e-5);
        assert!(template(100).is_err());
    }

    #[test]
    fn coincident_landmarks_are_an_error() {
        assert!(estimate_norm(&[[5.0, 5.0]; 5], 112).is_err());
    }

    #[test]
    fn identity_warp_copies_pixels_and_pads_black() {
        let mut img = RgbImage::new(4, 3);
        for (i, v) in img.data_mut().iter_mut().enumerate() {
            *v = (i * 7 % 256) as u8;
        }
        let out = warp_affine(&img, &Affine::IDENTITY, 5, 3).unwrap();
        for y in 0..3 {
            for x in 0..4 {
                assert_eq!(out.pixel(x, y), img.pixel(x, y));
            }
            assert_eq!(out.pixel(4, y), [0, 0, 0]);
        }
    }
}
