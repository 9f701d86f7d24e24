//! Paste-back: the swapped crop is warped back into the frame under a soft mask (insightface's
//! mask: the crop square warped back, eroded by a tenth of its size and Gaussian-feathered),
//! computed only over the face's neighbourhood instead of the whole frame. An optional limit
//! box adds a feathered edge and guarantees that pixels outside it stay untouched, bit for bit.

use crate::align::{Sampler, warp_rgb_into};
use crate::{Affine, FaceError};
use studio_media::RgbImage;

/// A pixel rectangle `[x0, x1) × [y0, y1)` inside the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
}

impl Rect {
    fn w(&self) -> usize {
        (self.x1 - self.x0).max(0) as usize
    }
    fn h(&self) -> usize {
        (self.y1 - self.y0).max(0) as usize
    }
    fn grow(&self, by: i64, fw: i64, fh: i64) -> Rect {
        Rect {
            x0: (self.x0 - by).max(0),
            y0: (self.y0 - by).max(0),
            x1: (self.x1 + by).min(fw),
            y1: (self.y1 + by).min(fh),
        }
    }
}

/// The 1-D Gaussian kernel OpenCV uses for `ksize` with sigma 0 (f32 taps normalised by their
/// f64 sum, as `getGaussianKernel(.., CV_32F)` does).
fn gaussian_kernel(ksize: usize) -> Vec<f32> {
    let sigma = ((ksize as f64 - 1.0) * 0.5 - 1.0) * 0.3 + 0.8;
    let half = (ksize as f64 - 1.0) * 0.5;
    let taps: Vec<f32> = (0..ksize)
        .map(|i| (-(i as f64 - half).powi(2) * 0.5 / (sigma * sigma)).exp() as f32)
        .collect();
    let sum = 1.0 / taps.iter().map(|t| f64::from(*t)).sum::<f64>();
    taps.into_iter()
        .map(|t| (f64::from(t) * sum) as f32)
        .collect()
}

/// `acc + k·v` rounded once, like a fused multiply-add (an f32 product is exact in f64), which
/// is what OpenCV's SIMD filters compute.
#[inline]
fn fma(acc: f32, k: f32, v: f32) -> f32 {
    (f64::from(acc) + f64::from(k) * f64::from(v)) as f32
}

/// OpenCV's BORDER_REFLECT_101 index into `0..n`.
fn reflect101(mut i: i64, n: i64) -> i64 {
    if n == 1 {
        return 0;
    }
    while i < 0 || i >= n {
        i = if i < 0 { -i } else { 2 * (n - 1) - i };
    }
    i
}

/// A single-channel f32 plane over `rect` of a `fw × fh` frame; everything else in the frame
/// reads as 0.
struct Plane {
    rect: Rect,
    v: Vec<f32>,
}

impl Plane {
    fn zeros(rect: Rect) -> Plane {
        Plane {
            rect,
            v: vec![0.0; rect.w() * rect.h()],
        }
    }
    fn get(&self, x: i64, y: i64) -> f32 {
        let r = &self.rect;
        if x < r.x0 || y < r.y0 || x >= r.x1 || y >= r.y1 {
            0.0
        } else {
            self.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize]
        }
    }
}

/// Square `k × k` erosion (minimum), anchor at `k/2`; outside the frame does not erode.
fn erode(p: &Plane, k: i64, fw: i64, fh: i64) -> Plane {
    let r = p.rect;
    let lo = k / 2;
    let mut tmp = Plane::zeros(r);
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let mut m = f32::INFINITY;
            for xx in (x - lo).max(0)..(x - lo + k).min(fw) {
                m = m.min(p.get(xx, y));
            }
            tmp.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = m;
        }
    }
    let mut out = Plane::zeros(r);
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let mut m = f32::INFINITY;
            for yy in (y - lo).max(0)..(y - lo + k).min(fh) {
                m = m.min(tmp.get(x, yy));
            }
            out.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = m;
        }
    }
    out
}

/// Separable Gaussian blur with reflect-101 borders at the frame's edges, accumulated in
/// OpenCV's order (rows tap by tap; columns centre first, then symmetric pairs).
fn blur(p: &Plane, ksize: usize, fw: i64, fh: i64) -> Plane {
    let kern = gaussian_kernel(ksize);
    let half = (ksize / 2) as i64;
    let r = p.rect;
    let mut tmp = Plane::zeros(r);
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let mut acc = kern[0] * p.get(reflect101(x - half, fw), y);
            for (t, &w) in kern.iter().enumerate().skip(1) {
                acc = fma(acc, w, p.get(reflect101(x + t as i64 - half, fw), y));
            }
            tmp.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = acc;
        }
    }
    let mut out = Plane::zeros(r);
    let c = half as usize;
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            let mut acc = kern[c] * tmp.get(x, y);
            for i in 1..=half {
                let pair = tmp.get(x, reflect101(y + i, fh)) + tmp.get(x, reflect101(y - i, fh));
                acc = fma(acc, kern[c + i as usize], pair);
            }
            out.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = acc;
        }
    }
    out
}

/// Paste the swapped `crop` (the aligned crop of `frame` under `to_crop`: frame → crop
/// coordinates) back into `frame`. With `limit = Some([x1, y1, x2, y2])` only pixels inside
/// that box may change, and the mask fades to zero towards its edges over a tenth of its
/// smaller side; with `None` the result is insightface's `INSwapper.get(paste_back=True)`.
pub fn paste_back(
    frame: &mut RgbImage,
    crop: &RgbImage,
    to_crop: &Affine,
    limit: Option<[f32; 4]>,
) -> Result<(), FaceError> {
    let (fw, fh) = (i64::from(frame.width()), i64::from(frame.height()));
    let (cw, ch) = (i64::from(crop.width()), i64::from(crop.height()));
    let to_frame = to_crop
        .invert()
        .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
    if fw == 0 || fh == 0 || cw == 0 || ch == 0 {
        return Ok(());
    }
    // 1. The crop's white square warped back (bilinear, border 0), >20 counts as inside.
    let (bx0, by0, bx1, by1) = to_frame.map_rect_bounds(cw as f64, ch as f64);
    let white_rect = Rect {
        x0: (bx0.floor() as i64 - 1).clamp(0, fw),
        y0: (by0.floor() as i64 - 1).clamp(0, fh),
        x1: (bx1.ceil() as i64 + 2).clamp(0, fw),
        y1: (by1.ceil() as i64 + 2).clamp(0, fh),
    };
    if white_rect.w() == 0 || white_rect.h() == 0 {
        return Ok(());
    }
    let mut white = Plane::zeros(white_rect);
    let sampler = Sampler::new(to_crop);
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
    for y in white_rect.y0..white_rect.y1 {
        for x in white_rect.x0..white_rect.x1 {
            let (ix, iy, wx, wy) = sampler.at(x as u32, y as u32);
            let inside = |xx: i64, yy: i64| {
                if xx >= 0 && yy >= 0 && xx < cw && yy < ch {
                    255.0
                } else {
                    0.0
                }
            };
            let top = inside(ix, iy) * (1.0 - wx) + inside(ix + 1, iy) * wx;
            let bot = inside(ix, iy + 1) * (1.0 - wx) + inside(ix + 1, iy + 1) * wx;
            let mut v: f32 = top * (1.0 - wy) + bot * wy;
            if v > 20.0 {
                v = 255.0;
                min_x = min_x.min(x);
                max_x = max_x.max(x);
                min_y = min_y.min(y);
                max_y = max_y.max(y);
            }
            white.v[(y - white_rect.y0) as usize * white_rect.w() + (x - white_rect.x0) as usize] =
                v;
        }
    }
    if min_x > max_x {
        return Ok(());
    }
    // 2. Erode by a tenth of the mask's size, then feather with a Gaussian of a twentieth.
    let mask_size = (((max_y - min_y) * (max_x - min_x)) as f64).sqrt() as i64;
    let k_erode = (mask_size / 10).max(10);
    let k_blur = (mask_size / 20).max(5);
    let work = white_rect.grow(k_blur + 1, fw, fh);
    let mut grown = Plane::zeros(work);
    for y in white_rect.y0..white_rect.y1 {
        for x in white_rect.x0..white_rect.x1 {
            grown.v[(y - work.y0) as usize * work.w() + (x - work.x0) as usize] = white.get(x, y);
        }
    }
    let eroded = erode(&grown, k_erode, fw, fh);
    let mask = blur(&eroded, (2 * k_blur + 1) as usize, fw, fh);
    // 3. The crop warped back over the working rectangle.
    let mut fake = vec![0u8; work.w() * work.h() * 3];
    warp_rgb_into(
        crop,
        to_crop,
        &mut fake,
        (
            work.x0 as u32,
            work.y0 as u32,
            work.w() as u32,
            work.h() as u32,
        ),
    );
    // 4. Blend, truncating like numpy's astype(uint8); optionally fenced and faded by `limit`.
    let fence = limit.map(|[x1, y1, x2, y2]| {
        let r = Rect {
            x0: (x1.ceil() as i64).clamp(0, fw),
            y0: (y1.ceil() as i64).clamp(0, fh),
            x1: (x2.floor() as i64 + 1).clamp(0, fw),
            y1: (y2.floor() as i64 + 1).clamp(0, fh),
        };
        let feather = (0.1 * (x2 - x1).min(y2 - y1)).max(1.0);
        (r, feather)
    });
    let stride = frame.width() as usize * 3;
    let data = frame.data_mut();
    for y in work.y0..work.y1 {
        for x in work.x0..work.x1 {
            let mut a = mask.get(x, y) / 255.0;
            if a <= 0.0 {
                continue;
            }
            if let Some((r, feather)) = fence {
                if x < r.x0 || y < r.y0 || x >= r.x1 || y >= r.y1 {
                    continue;
                }
                // Zero on the box's own border, full strength `feather` pixels in.
                let edge = ((x - r.x0).min(r.x1 - 1 - x).min(y - r.y0).min(r.y1 - 1 - y)) as f32;
                a *= (edge / feather).min(1.0);
            }
            let o = y as usize * stride + x as usize * 3;
            let f = ((y - work.y0) as usize * work.w() + (x - work.x0) as usize) * 3;
            for c in 0..3 {
                let v = a * f32::from(fake[f + c]) + (1.0 - a) * f32::from(data[o + c]);
                data[o + c] = v.clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::align_crop;

    fn gradient(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                img.data_mut()[i] = (x % 256) as u8;
                img.data_mut()[i + 1] = (y % 256) as u8;
                img.data_mut()[i + 2] = 90;
            }
        }
        img
    }

    const KPS: [[f32; 2]; 5] = [
        [140.0, 120.0],
        [180.0, 121.0],
        [160.0, 145.0],
        [145.0, 165.0],
        [176.0, 164.0],
    ];

    #[test]
    fn pixels_outside_the_limit_box_never_change() {
        let frame = gradient(320, 240);
        let (_, m) = align_crop(&frame, &KPS, 128).unwrap();
        let mut crop = RgbImage::new(128, 128);
        crop.data_mut().fill(255);
        let mut out = frame.clone();
        let bbox = [125.0, 95.0, 195.0, 185.0];
        paste_back(&mut out, &crop, &m, Some(bbox)).unwrap();
        let mut changed_inside = 0;
        for y in 0..240 {
            for x in 0..320 {
                let inside = (125..=195).contains(&x) && (95..=185).contains(&y);
                if out.pixel(x, y) != frame.pixel(x, y) {
                    assert!(inside, "pixel ({x},{y}) outside the box changed");
                    changed_inside += 1;
                }
            }
        }
        assert!(
            changed_inside > 2000,
            "only {changed_inside} pixels changed"
        );
        // The centre takes the crop fully; the fenced edge is faded.
        assert_eq!(out.pixel(160, 140), [255, 255, 255]);
        assert_eq!(out.pixel(125, 140), frame.pixel(125, 140));
    }

    #[test]
    fn a_crop_of_the_frame_itself_pastes_back_to_nearly_the_frame() {
        let frame = gradient(320, 240);
        let (crop, m) = align_crop(&frame, &KPS, 128).unwrap();
        let mut out = frame.clone();
        paste_back(&mut out, &crop, &m, None).unwrap();
        let worst = out
            .data()
            .iter()
            .zip(frame.data())
            .map(|(a, b)| (i16::from(*a) - i16::from(*b)).abs())
            .max()
            .unwrap();
        assert!(worst <= 3, "worst difference {worst}");
    }

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        assert_eq!(reflect101(-1, 5), 1);
        assert_eq!(reflect101(5, 5), 3);
        assert_eq!(reflect101(2, 5), 2);
    }
}
