//! Alignment: the least-squares similarity from five landmarks to the ArcFace template, and
//! the bilinear affine warp that cuts the aligned crop (OpenCV's `warpAffine` semantics:
//! source positions quantised to 1/32 pixel, border 0).

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
    Ok(ARCFACE_112.map(|[x, y]| [x * ratio + dx, y * ratio]))
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

/// Source position of one destination pixel, quantised like OpenCV: integer pixel and
/// 1/32 fraction in each axis.
#[inline]
pub(crate) fn quantise(inv: &Affine, x: f64, y: f64) -> (i64, i64, i64, i64) {
    let (sx, sy) = inv.apply(x, y);
    let qx = (sx * 32.0 + 0.5).floor() as i64;
    let qy = (sy * 32.0 + 0.5).floor() as i64;
    (qx >> 5, qy >> 5, qx & 31, qy & 31)
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

/// Bilinear-sample `src` through `inv` (destination → source) for the destination rectangle
/// `(x0, y0, w, h)`, writing rows of `w` pixels into `dst`.
pub(crate) fn warp_rgb_into(
    src: &RgbImage,
    inv: &Affine,
    dst: &mut [u8],
    rect: (u32, u32, u32, u32),
) {
    let (x0, y0, w, h) = rect;
    let (sw, sh) = (i64::from(src.width()), i64::from(src.height()));
    let data = src.data();
    let px = |x: i64, y: i64, c: usize| -> i64 {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            0
        } else {
            i64::from(data[((y * sw + x) * 3) as usize + c])
        }
    };
    for j in 0..h {
        for i in 0..w {
            let (ix, iy, fx, fy) = quantise(inv, f64::from(x0 + i), f64::from(y0 + j));
            let o = ((j * w + i) * 3) as usize;
            if ix < -1 || iy < -1 || ix >= sw || iy >= sh {
                dst[o..o + 3].fill(0);
                continue;
            }
            let (w00, w01) = ((32 - fx) * (32 - fy), fx * (32 - fy));
            let (w10, w11) = ((32 - fx) * fy, fx * fy);
            let inside = ix >= 0 && iy >= 0 && ix + 1 < sw && iy + 1 < sh;
            for c in 0..3 {
                let v = if inside {
                    let p = ((iy * sw + ix) * 3) as usize + c;
                    let r = (sw * 3) as usize;
                    w00 * i64::from(data[p])
                        + w01 * i64::from(data[p + 3])
                        + w10 * i64::from(data[p + r])
                        + w11 * i64::from(data[p + r + 3])
                } else {
                    w00 * px(ix, iy, c)
                        + w01 * px(ix + 1, iy, c)
                        + w10 * px(ix, iy + 1, c)
                        + w11 * px(ix + 1, iy + 1, c)
                };
                dst[o + c] = ((v + 512) >> 10) as u8;
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!((t[0][0] - (38.2946 + 8.0)).abs() < 1e-9);
        assert!((t[0][1] - 51.6963).abs() < 1e-9);
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
