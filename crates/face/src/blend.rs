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

/// Row `y` of `p` over frame columns `[x0, x1)`, reading 0 outside the plane's rectangle.
fn row_span(p: &Plane, y: i64, x0: i64, x1: i64, out: &mut Vec<f32>) {
    out.clear();
    out.resize((x1 - x0).max(0) as usize, 0.0);
    let r = &p.rect;
    if y < r.y0 || y >= r.y1 {
        return;
    }
    let (a, b) = (x0.max(r.x0), x1.min(r.x1));
    if a < b {
        let src = (y - r.y0) as usize * r.w();
        out[(a - x0) as usize..(b - x0) as usize]
            .copy_from_slice(&p.v[src + (a - r.x0) as usize..src + (b - r.x0) as usize]);
    }
}

/// Minimum over each window `[i, i + k)` of `v` (clipped at its end), for `i` in `0..n`:
/// van Herk / Gil-Werman, three comparisons per value whatever `k` is.
fn window_min(v: &[f32], k: usize, n: usize, out: &mut [f32]) {
    let len = v.len();
    let mut prefix = vec![0f32; len];
    let mut suffix = vec![0f32; len];
    for start in (0..len).step_by(k) {
        let end = (start + k).min(len);
        let mut m = f32::INFINITY;
        for i in start..end {
            m = m.min(v[i]);
            prefix[i] = m;
        }
        let mut m = f32::INFINITY;
        for i in (start..end).rev() {
            m = m.min(v[i]);
            suffix[i] = m;
        }
    }
    for (i, o) in out.iter_mut().enumerate().take(n) {
        let last = (i + k).min(len) - 1;
        // The window covers the tail of i's block and the head of last's block.
        *o = if last / k == i / k {
            (i..=last).fold(f32::INFINITY, |m, j| m.min(v[j]))
        } else {
            suffix[i].min(prefix[last])
        };
    }
}

/// Square `k × k` erosion (minimum), anchor at `k/2`; outside the frame does not erode.
fn erode(p: &Plane, k: i64, fw: i64, fh: i64) -> Plane {
    let r = p.rect;
    let lo = k / 2;
    let (w, h) = (r.w(), r.h());
    let mut tmp = Plane::zeros(r);
    // Windows are clipped to the frame: pad each row from the first to the last column any
    // window reaches, inside the frame.
    let (px0, px1) = ((r.x0 - lo).max(0), (r.x1 - 1 - lo + k).min(fw));
    let mut row = Vec::new();
    for y in r.y0..r.y1 {
        row_span(p, y, px0, px1, &mut row);
        // Output x starts its window at x - lo, clipped at 0.
        let dst = &mut tmp.v[(y - r.y0) as usize * w..(y - r.y0 + 1) as usize * w];
        // Near the frame's left edge windows start at 0 and are shorter: take them one by
        // one; from the first x whose window starts at x - lo, slide.
        let first_full = ((px0 + lo - r.x0).max(0) as usize).min(w);
        for (i, x) in (r.x0..r.x0 + first_full as i64).enumerate() {
            let b = (x - lo + k).min(fw);
            dst[i] = row[..(b - px0) as usize]
                .iter()
                .fold(f32::INFINITY, |m, &v| m.min(v));
        }
        window_min(&row, k as usize, w - first_full, &mut dst[first_full..]);
    }
    let mut out = Plane::zeros(r);
    let (py0, py1) = ((r.y0 - lo).max(0), (r.y1 - 1 - lo + k).min(fh));
    let mut col = vec![0f32; (py1 - py0) as usize];
    let mut mins = vec![0f32; h];
    for x in 0..w {
        for (j, y) in (py0..py1).enumerate() {
            col[j] = if y >= r.y0 && y < r.y1 {
                tmp.v[(y - r.y0) as usize * w + x]
            } else {
                0.0
            };
        }
        let first_full = ((py0 + lo - r.y0).max(0) as usize).min(h);
        for (i, y) in (r.y0..r.y0 + first_full as i64).enumerate() {
            let b = (y - lo + k).min(py1);
            mins[i] = col[..(b - py0) as usize]
                .iter()
                .fold(f32::INFINITY, |m, &v| m.min(v));
        }
        window_min(&col, k as usize, h - first_full, &mut mins[first_full..]);
        for (i, m) in mins.iter().enumerate() {
            out.v[i * w + x] = *m;
        }
    }
    out
}

/// Separable Gaussian blur with reflect-101 borders at the frame's edges, accumulated in
/// OpenCV's order (rows tap by tap; columns centre first, then symmetric pairs). Each row and
/// column is first gathered into a padded buffer so the taps run over plain slices.
fn blur(p: &Plane, ksize: usize, fw: i64, fh: i64) -> Plane {
    let kern = gaussian_kernel(ksize);
    let half = (ksize / 2) as i64;
    let r = p.rect;
    let (w, h) = (r.w(), r.h());
    let mut tmp = Plane::zeros(r);
    let mut padded = vec![0f32; w + 2 * half as usize];
    let mut full = Vec::new();
    let mut acc = vec![0f32; w.max(h)];
    for y in r.y0..r.y1 {
        row_span(p, y, 0, fw, &mut full);
        for (j, x) in (r.x0 - half..r.x1 + half).enumerate() {
            padded[j] = full[reflect101(x, fw) as usize];
        }
        let acc = &mut acc[..w];
        for (a, v) in acc.iter_mut().zip(&padded) {
            *a = kern[0] * v;
        }
        for (t, &k) in kern.iter().enumerate().skip(1) {
            for (a, v) in acc.iter_mut().zip(&padded[t..]) {
                *a = fma(*a, k, *v);
            }
        }
        tmp.v[(y - r.y0) as usize * w..(y - r.y0 + 1) as usize * w].copy_from_slice(acc);
    }
    let mut out = Plane::zeros(r);
    let c = half as usize;
    // Columns: rows of `tmp` (0 outside its rectangle), reflected at the frame's edges.
    let row_of = |y: i64| -> Option<&[f32]> {
        let y = reflect101(y, fh);
        (y >= r.y0 && y < r.y1)
            .then(|| &tmp.v[(y - r.y0) as usize * w..(y - r.y0 + 1) as usize * w])
    };
    let mut pair = vec![0f32; w];
    for y in r.y0..r.y1 {
        let acc = &mut acc[..w];
        match row_of(y) {
            Some(row) => {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a = kern[c] * v;
                }
            }
            None => acc.fill(0.0),
        }
        for i in 1..=half {
            match (row_of(y + i), row_of(y - i)) {
                (Some(a), Some(b)) => {
                    for ((p, x), y) in pair.iter_mut().zip(a).zip(b) {
                        *p = x + y;
                    }
                }
                (Some(a), None) | (None, Some(a)) => pair.copy_from_slice(a),
                (None, None) => pair.fill(0.0),
            }
            let k = kern[c + i as usize];
            for (a, p) in acc.iter_mut().zip(&pair) {
                *a = fma(*a, k, *p);
            }
        }
        out.v[(y - r.y0) as usize * w..(y - r.y0 + 1) as usize * w].copy_from_slice(acc);
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

    /// The filters by their definitions, one tap at a time, for the fast versions to match.
    fn naive_erode(p: &Plane, k: i64, fw: i64, fh: i64) -> Plane {
        let (r, lo) = (p.rect, k / 2);
        let mut tmp = Plane::zeros(r);
        let mut out = Plane::zeros(r);
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                let m = ((x - lo).max(0)..(x - lo + k).min(fw))
                    .fold(f32::INFINITY, |m, xx| m.min(p.get(xx, y)));
                tmp.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = m;
            }
        }
        for y in r.y0..r.y1 {
            for x in r.x0..r.x1 {
                let m = ((y - lo).max(0)..(y - lo + k).min(fh))
                    .fold(f32::INFINITY, |m, yy| m.min(tmp.get(x, yy)));
                out.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = m;
            }
        }
        out
    }

    fn naive_blur(p: &Plane, ksize: usize, fw: i64, fh: i64) -> Plane {
        let kern = gaussian_kernel(ksize);
        let (r, half) = (p.rect, (ksize / 2) as i64);
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
                    let pair =
                        tmp.get(x, reflect101(y + i, fh)) + tmp.get(x, reflect101(y - i, fh));
                    acc = fma(acc, kern[c + i as usize], pair);
                }
                out.v[(y - r.y0) as usize * r.w() + (x - r.x0) as usize] = acc;
            }
        }
        out
    }

    #[test]
    fn fast_erode_and_blur_equal_their_definitions_anywhere_in_the_frame() {
        let (fw, fh) = (97i64, 71i64);
        let mut seed = 12345u32;
        // Inside, touching each edge, and covering the whole frame.
        for rect in [
            Rect {
                x0: 20,
                y0: 15,
                x1: 70,
                y1: 50,
            },
            Rect {
                x0: 0,
                y0: 0,
                x1: 40,
                y1: 30,
            },
            Rect {
                x0: 60,
                y0: 40,
                x1: 97,
                y1: 71,
            },
            Rect {
                x0: 0,
                y0: 0,
                x1: 97,
                y1: 71,
            },
        ] {
            let mut p = Plane::zeros(rect);
            for v in &mut p.v {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *v = if seed.is_multiple_of(4) {
                    (seed % 255) as f32
                } else {
                    255.0
                };
            }
            for k in [1, 2, 5, 10, 13] {
                assert_eq!(
                    erode(&p, k, fw, fh).v,
                    naive_erode(&p, k, fw, fh).v,
                    "erode k={k} {rect:?}"
                );
            }
            for ksize in [11, 31] {
                assert_eq!(
                    blur(&p, ksize, fw, fh).v,
                    naive_blur(&p, ksize, fw, fh).v,
                    "blur {ksize} {rect:?}"
                );
            }
        }
    }

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        assert_eq!(reflect101(-1, 5), 1);
        assert_eq!(reflect101(5, 5), 3);
        assert_eq!(reflect101(2, 5), 2);
    }
}
