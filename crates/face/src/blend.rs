//! Paste-back: the swapped crop is warped back into the frame under a soft mask (insightface's
//! mask: the crop square warped back, eroded by a tenth of its size and Gaussian-feathered),
//! computed only over the face's neighbourhood instead of the whole frame. An optional limit
//! box adds a feathered edge and guarantees that pixels outside it stay untouched, bit for bit.

use crate::align::{Sampler, sample_rgb, warp_rgb_into};
pub use crate::keep::Keep;
pub use crate::mouth::MouthMask;
use crate::pixel::floor_f64;
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
    fn intersect(&self, o: &Rect) -> Rect {
        Rect {
            x0: self.x0.max(o.x0),
            y0: self.y0.max(o.y0),
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
        }
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

/// The crop's white square warped back into a `fw × fh` frame, padded by the bilinear
/// footprint and clamped to the frame.
fn white_rect(to_frame: &Affine, cw: i64, ch: i64, fw: i64, fh: i64) -> Rect {
    let (bx0, by0, bx1, by1) = to_frame.map_rect_bounds(cw as f64, ch as f64);
    Rect {
        x0: (bx0.floor() as i64 - 1).clamp(0, fw),
        y0: (by0.floor() as i64 - 1).clamp(0, fh),
        x1: (bx1.ceil() as i64 + 2).clamp(0, fw),
        y1: (by1.ceil() as i64 + 2).clamp(0, fh),
    }
}

/// The crop's white square (255 inside `cw × ch`, 0 outside) sampled bilinearly at source
/// pixel `(ix, iy)` with weights `(wx, wy)`.
#[inline]
fn white_tap(ix: i64, iy: i64, wx: f32, wy: f32, cw: i64, ch: i64) -> f32 {
    let inside = |xx: i64, yy: i64| {
        if xx >= 0 && yy >= 0 && xx < cw && yy < ch {
            255.0
        } else {
            0.0
        }
    };
    let top = inside(ix, iy) * (1.0 - wx) + inside(ix + 1, iy) * wx;
    let bot = inside(ix, iy + 1) * (1.0 - wx) + inside(ix + 1, iy + 1) * wx;
    top * (1.0 - wy) + bot * wy
}

/// insightface's mask over its working rectangle of a `fw × fh` frame: the `cw × ch` crop's
/// white square warped back through `to_crop` (bilinear, border 0, >20 counts as inside),
/// eroded by a tenth of its size and feathered by a Gaussian of a twentieth. With `needed`,
/// only the values inside it are computed (the filters run over it grown by their reach, and
/// the rest of the returned plane is not the mask). `None` when no pixel of the square lands
/// in the frame or in `needed`; else the mask, the rectangle where it holds, and the
/// feather's radius.
fn exact_mask(
    to_crop: &Affine,
    to_frame: &Affine,
    (cw, ch): (i64, i64),
    (fw, fh): (i64, i64),
    needed: Option<Rect>,
) -> Option<(Plane, Rect, i64)> {
    let white_rect = white_rect(to_frame, cw, ch, fw, fh);
    if white_rect.w() == 0 || white_rect.h() == 0 {
        return None;
    }
    let mut white = Plane::zeros(white_rect);
    let sampler = Sampler::new(to_crop);
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (i64::MAX, i64::MAX, i64::MIN, i64::MIN);
    for y in white_rect.y0..white_rect.y1 {
        for x in white_rect.x0..white_rect.x1 {
            let (ix, iy, wx, wy) = sampler.at(x as u32, y as u32);
            // All four taps inside give ~255 and all four outside give exactly 0, whatever the
            // weights: only the square's rim needs the bilinear sum.
            let mut v: f32 = if ix >= 0 && iy >= 0 && ix + 1 < cw && iy + 1 < ch {
                255.0
            } else if ix + 1 < 0 || iy + 1 < 0 || ix >= cw || iy >= ch {
                0.0
            } else {
                white_tap(ix, iy, wx, wy, cw, ch)
            };
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
        return None;
    }
    let mask_size = (((max_y - min_y) * (max_x - min_x)) as f64).sqrt() as i64;
    let k_erode = (mask_size / 10).max(10);
    let k_blur = (mask_size / 20).max(5);
    let work = white_rect.grow(k_blur + 1, fw, fh);
    // Outside its plane a filter reads 0, so a value is exact only at least the filter's reach
    // inside the plane's edges (those that are not the frame's): the blur runs over the needed
    // rectangle grown by a kernel, the erosion over that grown by its window.
    let valid = needed.map_or(work, |n| work.intersect(&n));
    if valid.w() == 0 || valid.h() == 0 {
        return None;
    }
    let blurred = valid.grow(2 * k_blur + 1, fw, fh).intersect(&work);
    let eroded = blurred.grow(k_erode + 1, fw, fh).intersect(&work);
    let mut grown = Plane::zeros(eroded);
    let copied = white_rect.intersect(&eroded);
    for y in copied.y0..copied.y1 {
        let src =
            (y - white_rect.y0) as usize * white_rect.w() + (copied.x0 - white_rect.x0) as usize;
        let dst = (y - eroded.y0) as usize * eroded.w() + (copied.x0 - eroded.x0) as usize;
        grown.v[dst..dst + copied.w()].copy_from_slice(&white.v[src..src + copied.w()]);
    }
    let mut tight = erode(&grown, k_erode, fw, fh);
    if blurred != eroded {
        let mut sub = Plane::zeros(blurred);
        for y in blurred.y0..blurred.y1 {
            let src = (y - eroded.y0) as usize * eroded.w() + (blurred.x0 - eroded.x0) as usize;
            let dst = (y - blurred.y0) as usize * blurred.w();
            sub.v[dst..dst + blurred.w()].copy_from_slice(&tight.v[src..src + blurred.w()]);
        }
        tight = sub;
    }
    let mask = blur(&tight, (2 * k_blur + 1) as usize, fw, fh);
    Some((mask, valid, k_blur))
}

/// The limit box as the pixel rectangle that may change, and the feather's width.
fn fence(limit: Option<[f32; 4]>, fw: i64, fh: i64) -> Option<(Rect, f32)> {
    limit.map(|[x1, y1, x2, y2]| {
        let r = Rect {
            x0: (x1.ceil() as i64).clamp(0, fw),
            y0: (y1.ceil() as i64).clamp(0, fh),
            x1: (x2.floor() as i64 + 1).clamp(0, fw),
            y1: (y2.floor() as i64 + 1).clamp(0, fh),
        };
        let feather = (0.1 * (x2 - x1).min(y2 - y1)).max(1.0);
        (r, feather)
    })
}

/// The fence's fade at `(x, y)`: zero on the box's own border, full strength `feather` pixels
/// in. Callers keep `(x, y)` inside the box.
#[inline]
fn fade(r: &Rect, feather: f32, x: i64, y: i64) -> f32 {
    let edge = ((x - r.x0).min(r.x1 - 1 - x).min(y - r.y0).min(r.y1 - 1 - y)) as f32;
    (edge / feather).min(1.0)
}

/// One blended channel value, truncated like numpy's `astype(uint8)`.
#[inline]
fn mix(a: f32, fake: u8, old: u8) -> u8 {
    let v = a * f32::from(fake) + (1.0 - a) * f32::from(old);
    v.clamp(0.0, 255.0) as u8
}

/// Paste the swapped `crop` (the aligned crop of `frame` under `to_crop`: frame → crop
/// coordinates) back into `frame`. With `limit = Some([x1, y1, x2, y2])` only pixels inside
/// that box may change, and the mask fades to zero towards its edges over a tenth of its
/// smaller side; with `None` the result is insightface's `INSwapper.get(paste_back=True)`.
/// This is the reference: it erodes and blurs the mask on every call. [`PasteBack`] reuses it.
pub fn paste_back(
    frame: &mut RgbImage,
    crop: &RgbImage,
    to_crop: &Affine,
    limit: Option<[f32; 4]>,
) -> Result<(), FaceError> {
    paste_back_keeping(frame, crop, to_crop, limit, None)
}

/// [`paste_back`] with what `keep` keeps taken out of the mask (the mouth mask multiplies it
/// by `1 − mouth`, the occlusion mask caps it at the face mask): where the weight comes out
/// 0 the frame stays as it came, bit for bit.
pub fn paste_back_keeping(
    frame: &mut RgbImage,
    crop: &RgbImage,
    to_crop: &Affine,
    limit: Option<[f32; 4]>,
    keep: Option<&Keep>,
) -> Result<(), FaceError> {
    let (fw, fh) = (i64::from(frame.width()), i64::from(frame.height()));
    let (cw, ch) = (i64::from(crop.width()), i64::from(crop.height()));
    let to_frame = to_crop
        .invert()
        .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
    if fw == 0 || fh == 0 || cw == 0 || ch == 0 {
        return Ok(());
    }
    let fence = fence(limit, fw, fh);
    let needed = fence.map(|(r, _)| r);
    let Some((mask, work, _)) = exact_mask(to_crop, &to_frame, (cw, ch), (fw, fh), needed) else {
        return Ok(());
    };
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
                a *= fade(&r, feather, x, y);
            }
            if let Some(k) = keep {
                a = k.apply(a, x, y);
                if a <= 0.0 {
                    continue;
                }
            }
            let o = y as usize * stride + x as usize * 3;
            let f = ((y - work.y0) as usize * work.w() + (x - work.x0) as usize) * 3;
            for c in 0..3 {
                data[o + c] = mix(a, fake[f + c], data[o + c]);
            }
        }
    }
    Ok(())
}

/// Relative width of a scale bucket of the mask cache (2%: faces a bucket apart differ in
/// erosion and feather by well under a pixel).
const SCALE_STEP: f64 = 0.02;
/// Width of a rotation bucket, in radians (1°).
const ANGLE_STEP: f64 = std::f64::consts::PI / 180.0;
/// Sub-pixel positions averaged into each cached mask.
const MASK_PHASES: usize = 4;
/// Masks kept per session: a face that jitters across a bucket boundary, or a few faces.
const CACHED_MASKS: usize = 6;

/// What a cached mask depends on: the crop's size and the crop-to-frame scale and rotation,
/// each quantised to its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MaskKey {
    cw: u32,
    ch: u32,
    scale: i32,
    angle: i32,
}

/// The exact mask of one bucket, computed once on a virtual frame large enough that its edges
/// never reach it, with the crop → virtual frame transform it was computed for.
struct CachedMask {
    key: MaskKey,
    crop_to_mask: Affine,
    mask: Plane,
    /// The mask in fixed point (`MASK_ONE` is 255), for [`paste_fixed`]; 16 bits a value
    /// keep it half the float mask's size in the cache.
    fixed: Vec<u16>,
    /// The feather's radius the mask was blurred with.
    k_blur: i64,
    last_used: u64,
}

/// Which mask a [`PasteBack::paste`] used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pasted {
    /// The cached mask of the face's bucket.
    Cached,
    /// The reference's own, computed for this call (a face near the frame's edge, or a
    /// transform that is not a similarity).
    Reference,
}

/// The cheap paste-back: the same mask as [`paste_back`], but eroded and feathered once per
/// crop size, 2% scale bucket and 1° rotation bucket (averaged over four sub-pixel phases) and then
/// only carried to each frame's face through the crop's own coordinates, so the crop's square
/// lands exactly where the reference puts it and only the erosion depth and feather width are
/// those of the bucket. All work is limited to the limit box, and the blend runs in fixed
/// point (within two levels of the same loop in floats).
///
/// Compared with [`paste_back`] on the same inputs (the test
/// `fast_paste_back_matches_the_exact_one` holds it to this over face sizes of 60–400 px,
/// rotations up to 45°, sub-pixel positions and faces touching the frame's edge, pasting one
/// texture over another), each channel
/// differs by at most 20 levels and the mean absolute difference over the changed values is at
/// most 1.5 levels. The differences sit on the feathered rim: the reference snaps the square
/// to whole pixels before eroding, so its rim jumps by up to a pixel as a face moves by a
/// fraction of one, while this one follows the face smoothly (the narrowest feather, on the
/// smallest faces, turns half a pixel into the largest difference). Pixels outside the limit
/// box stay untouched, bit for bit. Faces whose mask would reach the frame's edge (there the
/// reference's filters see the edge), and transforms that are not similarities, take
/// [`paste_back`] itself, so they match it exactly.
#[derive(Default)]
pub struct PasteBack {
    masks: Vec<CachedMask>,
    uses: u64,
}

impl PasteBack {
    pub fn new() -> PasteBack {
        PasteBack::default()
    }

    /// How many masks are cached.
    pub fn cached(&self) -> usize {
        self.masks.len()
    }

    /// [`paste_back`] with the mask from the cache; see the type's documentation.
    pub fn paste(
        &mut self,
        frame: &mut RgbImage,
        crop: &RgbImage,
        to_crop: &Affine,
        limit: Option<[f32; 4]>,
    ) -> Result<Pasted, FaceError> {
        self.paste_keeping(frame, crop, to_crop, limit, None)
    }

    /// [`PasteBack::paste`] with what `keep` keeps taken out of the mask (as
    /// [`paste_back_keeping`] does): where the weight comes out 0 the frame stays as it came.
    pub fn paste_keeping(
        &mut self,
        frame: &mut RgbImage,
        crop: &RgbImage,
        to_crop: &Affine,
        limit: Option<[f32; 4]>,
        keep: Option<&Keep>,
    ) -> Result<Pasted, FaceError> {
        self.paste_with(frame, crop, to_crop, limit, keep, true)
    }

    /// [`PasteBack::paste_keeping`], blending in fixed point ([`paste_fixed`]) or, for the
    /// tests that compare the two, in floats.
    fn paste_with(
        &mut self,
        frame: &mut RgbImage,
        crop: &RgbImage,
        to_crop: &Affine,
        limit: Option<[f32; 4]>,
        keep: Option<&Keep>,
        fixed_point: bool,
    ) -> Result<Pasted, FaceError> {
        let (fw, fh) = (i64::from(frame.width()), i64::from(frame.height()));
        let (cw, ch) = (i64::from(crop.width()), i64::from(crop.height()));
        let to_frame = to_crop
            .invert()
            .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
        if fw == 0 || fh == 0 || cw == 0 || ch == 0 {
            return Ok(Pasted::Cached);
        }
        let Some(key) = bucket(&to_frame, crop.width(), crop.height()) else {
            return paste_back_keeping(frame, crop, to_crop, limit, keep)
                .map(|()| Pasted::Reference);
        };
        // The filters' reach from the square, over-estimated from its bounds: while it stays
        // inside the frame, the frame's edges cannot change the reference's mask.
        let (bx0, by0, bx1, by1) = to_frame.map_rect_bounds(cw as f64, ch as f64);
        let reach = filter_reach(bx1 - bx0, by1 - by0);
        if bx0 - reach < 0.0
            || by0 - reach < 0.0
            || bx1 + reach > fw as f64
            || by1 + reach > fh as f64
        {
            return paste_back_keeping(frame, crop, to_crop, limit, keep)
                .map(|()| Pasted::Reference);
        }
        // A mask too large to cache (a huge face in a huge frame) is left to the reference.
        let Ok(entry) = self.mask_for(key) else {
            return paste_back_keeping(frame, crop, to_crop, limit, keep)
                .map(|()| Pasted::Reference);
        };
        // Where the mask can be non-zero (the square plus the feather's reach, which the bucket's
        // scale may stretch by a pixel), within the box.
        let feather_reach = entry.k_blur + 2;
        let work = white_rect(&to_frame, cw, ch, fw, fh).grow(feather_reach, fw, fh);
        let fence = fence(limit, fw, fh);
        let rect = fence.map_or(work, |(f, _)| work.intersect(&f));
        if rect.w() == 0 || rect.h() == 0 {
            return Ok(Pasted::Cached);
        }
        let to_mask = compose(to_crop, &entry.crop_to_mask);
        if fixed_point {
            paste_fixed(frame, crop, to_crop, &to_mask, entry, rect, fence, keep);
            return Ok(Pasted::Cached);
        }
        let sampler = Sampler::new(to_crop);
        let mask = &entry.mask;
        let stride = frame.width() as usize * 3;
        let data = frame.data_mut();
        for y in rect.y0..rect.y1 {
            let (mut mx, mut my) = to_mask.apply(rect.x0 as f64, y as f64);
            let (dx, dy) = (to_mask.m[0][0], to_mask.m[1][0]);
            for x in rect.x0..rect.x1 {
                let mut a = sample_plane(mask, mx, my) / 255.0;
                mx += dx;
                my += dy;
                if a <= 0.0 {
                    continue;
                }
                if let Some((r, feather)) = fence {
                    a *= fade(&r, feather, x, y);
                }
                if let Some(k) = keep {
                    a = k.apply(a, x, y);
                    if a <= 0.0 {
                        continue;
                    }
                }
                let fake = sample_rgb(crop, &sampler, x as u32, y as u32);
                let o = y as usize * stride + x as usize * 3;
                for c in 0..3 {
                    data[o + c] = mix(a, fake[c], data[o + c]);
                }
            }
        }
        Ok(Pasted::Cached)
    }

    /// The face mask [`PasteBack::paste`] uses for a `cw × ch` crop under `to_crop` (frame →
    /// crop) in an `fw × fh` frame, limited to `limit` as the paste is, in the crop's own
    /// pixels: the weight in `[0, 1]` at each crop pixel, row by row. It is the bucket's
    /// cached mask where the paste takes that, else the reference's, computed in the frame
    /// (its filters see the frame's edges) and read at each crop pixel's place, clamped into
    /// the frame so that the frame's edge pixels keep their weight. `None` when no pixel of
    /// the crop lands in the frame (or in `limit`). Graphs that paste on a device sample it.
    pub fn crop_mask(
        &mut self,
        to_crop: &Affine,
        (cw, ch): (u32, u32),
        (fw, fh): (u32, u32),
        limit: Option<[f32; 4]>,
    ) -> Result<Option<Vec<f32>>, FaceError> {
        let to_frame = to_crop
            .invert()
            .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
        if fw == 0 || fh == 0 || cw == 0 || ch == 0 {
            return Ok(None);
        }
        let sample = |read: &dyn Fn(f64, f64) -> f32| {
            let mut out = Vec::with_capacity(cw as usize * ch as usize);
            for j in 0..ch {
                for i in 0..cw {
                    out.push((read(f64::from(i), f64::from(j)) / 255.0).clamp(0.0, 1.0));
                }
            }
            out
        };
        // The choice `paste_with` makes between the cached mask and the reference's.
        let (bx0, by0, bx1, by1) = to_frame.map_rect_bounds(f64::from(cw), f64::from(ch));
        let reach = filter_reach(bx1 - bx0, by1 - by0);
        let clear_of_edges = bx0 - reach >= 0.0
            && by0 - reach >= 0.0
            && bx1 + reach <= f64::from(fw)
            && by1 + reach <= f64::from(fh);
        if let (Some(key), true) = (bucket(&to_frame, cw, ch), clear_of_edges)
            && let Ok(entry) = self.mask_for(key)
        {
            return Ok(Some(sample(&|i, j| {
                let (mx, my) = entry.crop_to_mask.apply(i, j);
                sample_plane(&entry.mask, mx, my)
            })));
        }
        let (fw, fh) = (i64::from(fw), i64::from(fh));
        let needed = fence(limit, fw, fh).map(|(r, _)| r);
        let exact = exact_mask(
            to_crop,
            &to_frame,
            (i64::from(cw), i64::from(ch)),
            (fw, fh),
            needed,
        );
        let Some((mask, _, _)) = exact else {
            return Ok(None);
        };
        let (xmax, ymax) = ((fw - 1) as f64, (fh - 1) as f64);
        Ok(Some(sample(&|i, j| {
            let (x, y) = to_frame.apply(i, j);
            sample_plane(&mask, x.clamp(0.0, xmax), y.clamp(0.0, ymax))
        })))
    }

    /// The cached mask for `key`, computing it when missing (and dropping the least recently
    /// used one when the cache is full).
    fn mask_for(&mut self, key: MaskKey) -> Result<&CachedMask, FaceError> {
        self.uses += 1;
        let found = self.masks.iter().position(|m| m.key == key);
        let i = match found {
            Some(i) => i,
            None => {
                let fresh = canonical_mask(key)?;
                if self.masks.len() >= CACHED_MASKS {
                    let oldest = (0..self.masks.len())
                        .min_by_key(|&i| self.masks[i].last_used)
                        .unwrap_or(0);
                    self.masks.swap_remove(oldest);
                }
                self.masks.push(fresh);
                self.masks.len() - 1
            }
        };
        let entry = &mut self.masks[i];
        entry.last_used = self.uses;
        Ok(entry)
    }
}

/// An upper bound, in frame pixels, of how far erosion and feather reach around a square whose
/// warped bounds are `w × h`.
fn filter_reach(w: f64, h: f64) -> f64 {
    let size = ((w + 3.0) * (h + 3.0)).max(0.0).sqrt();
    (size / 10.0).max(10.0) + (size / 20.0).max(5.0) + 4.0
}

/// The bucket of a crop → frame transform; `None` when it is not a similarity (a reflection,
/// a shear, a non-uniform scale) or not finite.
fn bucket(to_frame: &Affine, cw: u32, ch: u32) -> Option<MaskKey> {
    let [[p, q, _], [r, t, _]] = to_frame.m;
    let scale = p.hypot(r);
    if !scale.is_finite() || scale <= 0.0 {
        return None;
    }
    if (p - t).abs() > 1e-6 * scale || (q + r).abs() > 1e-6 * scale {
        return None;
    }
    let angle = r.atan2(p);
    let scale_bucket = (scale.ln() / SCALE_STEP.ln_1p()).round();
    let angle_bucket = (angle / ANGLE_STEP).round();
    // A scale beyond any frame the cache could serve is left to the reference.
    if scale_bucket.abs() > 1000.0 {
        return None;
    }
    Some(MaskKey {
        cw,
        ch,
        scale: scale_bucket as i32,
        angle: angle_bucket as i32,
    })
}

/// The exact mask of `key`'s bucket centre on a virtual frame that leaves the filters room.
fn canonical_mask(key: MaskKey) -> Result<CachedMask, FaceError> {
    let scale = (f64::from(key.scale) * SCALE_STEP.ln_1p()).exp();
    let angle = f64::from(key.angle) * ANGLE_STEP;
    let (c, s) = (scale * angle.cos(), scale * angle.sin());
    let (cw, ch) = (f64::from(key.cw), f64::from(key.ch));
    let linear = Affine {
        m: [[c, -s, 0.0], [s, c, 0.0]],
    };
    let (bx0, by0, bx1, by1) = linear.map_rect_bounds(cw, ch);
    let reach = filter_reach(bx1 - bx0, by1 - by0).ceil() + 2.0;
    let crop_to_mask = Affine {
        m: [[c, -s, reach - bx0.floor()], [s, c, reach - by0.floor()]],
    };
    let vw = (bx1 - bx0).ceil() + 2.0 * reach + 2.0;
    let vh = (by1 - by0).ceil() + 2.0 * reach + 2.0;
    // Checked by `bucket`'s bound on the scale; a frame this size only comes from a huge face.
    if !(vw.is_finite() && vh.is_finite() && vw * vh <= 64.0e6) {
        return Err(FaceError::Shape(format!(
            "a {vw}x{vh} mask is too large to cache"
        )));
    }
    // The reference snaps the square to whole pixels, so its mask depends on where the face
    // sits within a pixel; averaging over sub-pixel phases gives the mask half-way between,
    // which the sub-pixel warp then carries to any position.
    let mut phases = Vec::with_capacity(MASK_PHASES);
    for k in 0..MASK_PHASES {
        let phase = k as f64 / MASK_PHASES as f64;
        let mut shifted = crop_to_mask;
        shifted.m[0][2] += phase;
        shifted.m[1][2] += phase;
        let to_crop = shifted
            .invert()
            .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
        let (mask, _, k_blur) = exact_mask(
            &to_crop,
            &shifted,
            (i64::from(key.cw), i64::from(key.ch)),
            (vw as i64, vh as i64),
            None,
        )
        .ok_or_else(|| FaceError::Degenerate("the crop's square left no mask".into()))?;
        phases.push((phase, mask, k_blur));
    }
    let k_blur = phases.iter().map(|p| p.2).max().unwrap_or(0);
    let rect = phases
        .iter()
        .fold(None, |acc: Option<Rect>, (_, m, _)| {
            let r = m.rect;
            Some(match acc {
                None => r,
                Some(a) => Rect {
                    x0: a.x0.min(r.x0),
                    y0: a.y0.min(r.y0),
                    x1: a.x1.max(r.x1),
                    y1: a.y1.max(r.y1),
                },
            })
        })
        .ok_or_else(|| FaceError::Degenerate("the crop's square left no mask".into()))?;
    let mut mask = Plane::zeros(rect);
    let share = 1.0 / MASK_PHASES as f32;
    for y in rect.y0..rect.y1 {
        for x in rect.x0..rect.x1 {
            let sum: f32 = phases
                .iter()
                .map(|(phase, m, _)| sample_plane(m, x as f64 + phase, y as f64 + phase))
                .sum();
            mask.v[(y - rect.y0) as usize * rect.w() + (x - rect.x0) as usize] = sum * share;
        }
    }
    let fixed = mask
        .v
        .iter()
        .map(|&v| (v.clamp(0.0, 255.0) * (MASK_ONE as f32 / 255.0)).round() as u16)
        .collect();
    Ok(CachedMask {
        key,
        crop_to_mask,
        mask,
        fixed,
        k_blur,
        last_used: 0,
    })
}

/// The cached mask's fixed-point scale: 255 in the float mask is this.
const MASK_ONE: u32 = 1 << 12;
/// Fraction bits of the fixed-point coordinates [`paste_fixed`] steps along a row.
const COORD_BITS: u32 = 16;
/// Bits of a bilinear weight (taken from the top of a coordinate's fraction).
const WEIGHT_BITS: u32 = 8;
/// Alpha's fixed-point scale: 1.0 is this.
const ALPHA_ONE: u32 = 1 << 12;

/// A coordinate in fixed point, or `None` when it is not finite or too far out to matter.
fn to_fixed(v: f64) -> Option<i64> {
    let f = v * f64::from(1u32 << COORD_BITS);
    (f.is_finite() && f.abs() < 1e15).then_some(f as i64)
}

/// The bilinear sum of four taps (top left, top right, bottom left, bottom right) at
/// weights `wx`, `wy` out of `2^WEIGHT_BITS`, scaled by `2^(2·WEIGHT_BITS)`. Taps up to
/// `MASK_ONE` keep it under 2²⁹, so wrapping arithmetic is exact (and free of the checks
/// that would keep the loop from being fast in test builds).
#[inline(always)]
fn bilinear([p00, p01, p10, p11]: [u32; 4], wx: u32, wy: u32) -> u32 {
    let one = 1u32 << WEIGHT_BITS;
    let (ix, iy) = (one.wrapping_sub(wx), one.wrapping_sub(wy));
    let top = p00.wrapping_mul(ix).wrapping_add(p01.wrapping_mul(wx));
    let bottom = p10.wrapping_mul(ix).wrapping_add(p11.wrapping_mul(wx));
    top.wrapping_mul(iy).wrapping_add(bottom.wrapping_mul(wy))
}

/// The cached paste's loop in integers: the crop and the mask sampled bilinearly with 8-bit
/// weights at coordinates stepped along each row in 16.16 fixed point, the fence's fade from
/// a table, the kept mouth's `1 − weight`, and the blend `(fake·a + old·(1 − a))`
/// truncated, all at 12-bit alpha. It stays within two levels of the same loop in floats
/// (the test `fixed_point_paste_matches_the_float_one` holds it to that); pixels whose crop
/// taps fall outside the crop take the float sample.
#[allow(clippy::too_many_arguments)]
fn paste_fixed(
    frame: &mut RgbImage,
    crop: &RgbImage,
    to_crop: &Affine,
    to_mask: &Affine,
    entry: &CachedMask,
    rect: Rect,
    fence: Option<(Rect, f32)>,
    keep: Option<&Keep>,
) {
    let sampler = Sampler::new(to_crop);
    let (cw, ch) = (i64::from(crop.width()), i64::from(crop.height()));
    let cdata = crop.data();
    let crow = cw as usize * 3;
    let mr = entry.mask.rect;
    let mw = mr.w();
    let mask = &entry.fixed;
    // The fade at each distance from the fence's border, up to where it is whole.
    let fades: Vec<u32> = match fence {
        Some((_, feather)) => (0..=feather.ceil() as usize + 1)
            .map(|d| ((d as f32 / feather).min(1.0) * ALPHA_ONE as f32).round() as u32)
            .collect(),
        None => vec![ALPHA_ONE],
    };
    let fade_at = |d: i64| -> u32 {
        let d = d.max(0) as usize;
        fades.get(d).copied().unwrap_or(ALPHA_ONE)
    };
    let stride = frame.width() as usize * 3;
    let data = frame.data_mut();
    let wmask = (1i64 << WEIGHT_BITS) - 1;
    let wshift = COORD_BITS - WEIGHT_BITS;
    for y in rect.y0..rect.y1 {
        let (mx, my) = to_mask.apply(rect.x0 as f64, y as f64);
        let (cx, cy) = to_crop.apply(rect.x0 as f64, y as f64);
        let steps = [
            mx,
            my,
            to_mask.m[0][0],
            to_mask.m[1][0],
            cx,
            cy,
            to_crop.m[0][0],
            to_crop.m[1][0],
        ]
        .map(to_fixed);
        let [
            Some(mut mx),
            Some(mut my),
            Some(mdx),
            Some(mdy),
            Some(mut cx),
            Some(mut cy),
            Some(cdx),
            Some(cdy),
        ] = steps
        else {
            continue;
        };
        let row_fade = fence.map(|(r, _)| (y - r.y0).min(r.y1 - 1 - y));
        for x in rect.x0..rect.x1 {
            let (ix, iy) = (mx >> COORD_BITS, my >> COORD_BITS);
            let (wx, wy) = (
                ((mx >> wshift) & wmask) as u32,
                ((my >> wshift) & wmask) as u32,
            );
            let (px, py) = (cx, cy);
            // Bounded by `to_fixed` and the frame's size: never near i64's range.
            mx = mx.wrapping_add(mdx);
            my = my.wrapping_add(mdy);
            cx = cx.wrapping_add(cdx);
            cy = cy.wrapping_add(cdy);
            // The mask is 0 outside its plane.
            let (lx, ly) = (ix - mr.x0, iy - mr.y0);
            if lx < 0 || ly < 0 || lx + 1 >= mr.w() as i64 || ly + 1 >= mr.h() as i64 {
                continue;
            }
            let i = ly as usize * mw + lx as usize;
            let (top, bottom) = (&mask[i..i + 2], &mask[i + mw..i + mw + 2]);
            if top[0] | top[1] | bottom[0] | bottom[1] == 0 {
                continue;
            }
            let taps = [top[0], top[1], bottom[0], bottom[1]].map(u32::from);
            let m = bilinear(taps, wx, wy) >> (2 * WEIGHT_BITS);
            let mut a = (m * (ALPHA_ONE / MASK_ONE)).min(ALPHA_ONE);
            if let (Some(rf), Some((r, _))) = (row_fade, fence) {
                let edge = (x - r.x0).min(r.x1 - 1 - x).min(rf);
                a = (a * fade_at(edge)) >> ALPHA_ONE.trailing_zeros();
            }
            if let Some(k) = keep {
                let whole = a as f32 / ALPHA_ONE as f32;
                let kept = k.apply(whole, x, y);
                if kept < whole {
                    a = ((kept.max(0.0) * ALPHA_ONE as f32).round() as u32).min(a);
                }
            }
            if a == 0 {
                continue;
            }
            let (jx, jy) = (px >> COORD_BITS, py >> COORD_BITS);
            let fake = if jx >= 0 && jy >= 0 && jx + 1 < cw && jy + 1 < ch {
                let (fx, fy) = (
                    ((px >> wshift) & wmask) as u32,
                    ((py >> wshift) & wmask) as u32,
                );
                let p = jy as usize * crow + jx as usize * 3;
                let (t, b) = (&cdata[p..p + 6], &cdata[p + crow..p + crow + 6]);
                let mut out = [0u32; 3];
                for (c, o) in out.iter_mut().enumerate() {
                    let taps = [t[c], t[c + 3], b[c], b[c + 3]].map(u32::from);
                    *o = bilinear(taps, fx, fy).wrapping_add(1 << (2 * WEIGHT_BITS - 1))
                        >> (2 * WEIGHT_BITS);
                }
                out
            } else {
                sample_rgb(crop, &sampler, x as u32, y as u32).map(u32::from)
            };
            let o = y as usize * stride + x as usize * 3;
            let px = &mut data[o..o + 3];
            for (v, f) in px.iter_mut().zip(fake) {
                // At most 255 · ALPHA_ONE: far inside u32.
                let mixed = f
                    .wrapping_mul(a)
                    .wrapping_add(u32::from(*v).wrapping_mul(ALPHA_ONE - a));
                *v = (mixed >> ALPHA_ONE.trailing_zeros()).min(255) as u8;
            }
        }
    }
}

/// `first` followed by `then`, as one transform.
fn compose(first: &Affine, then: &Affine) -> Affine {
    let [[a, b, c], [d, e, f]] = first.m;
    let [[p, q, r], [s, t, u]] = then.m;
    Affine {
        m: [
            [p * a + q * d, p * b + q * e, p * c + q * f + r],
            [s * a + t * d, s * b + t * e, s * c + t * f + u],
        ],
    }
}

/// Bilinear sample of `p` at `(x, y)` in frame coordinates (0 outside its rectangle).
#[inline]
fn sample_plane(p: &Plane, x: f64, y: f64) -> f32 {
    let (ix, iy) = (floor_f64(x), floor_f64(y));
    let (wx, wy) = ((x - ix as f64) as f32, (y - iy as f64) as f32);
    let r = &p.rect;
    if ix + 1 < r.x0 || iy + 1 < r.y0 || ix >= r.x1 || iy >= r.y1 {
        return 0.0;
    }
    if ix >= r.x0 && iy >= r.y0 && ix + 1 < r.x1 && iy + 1 < r.y1 {
        // All four taps inside the plane: read them directly.
        let w = r.w();
        let i = (iy - r.y0) as usize * w + (ix - r.x0) as usize;
        let (t, b) = (&p.v[i..i + 2], &p.v[i + w..i + w + 2]);
        let top = t[0] * (1.0 - wx) + t[1] * wx;
        let bot = b[0] * (1.0 - wx) + b[1] * wx;
        return top * (1.0 - wy) + bot * wy;
    }
    let top = p.get(ix, iy) * (1.0 - wx) + p.get(ix + 1, iy) * wx;
    let bot = p.get(ix, iy + 1) * (1.0 - wx) + p.get(ix + 1, iy + 1) * wx;
    top * (1.0 - wy) + bot * wy
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

    /// A white crop pasted with a limit box by `paste`: nothing outside the box changes, the
    /// centre takes the crop fully, and the fenced edge is faded.
    fn assert_fenced_by_the_limit_box(
        paste: impl FnOnce(&mut RgbImage, &RgbImage, &Affine, [f32; 4]),
    ) {
        let frame = gradient(320, 240);
        let (_, m) = align_crop(&frame, &KPS, 128).unwrap();
        let mut crop = RgbImage::new(128, 128);
        crop.data_mut().fill(255);
        let mut out = frame.clone();
        let bbox = [125.0, 95.0, 195.0, 185.0];
        paste(&mut out, &crop, &m, bbox);
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
    fn pixels_outside_the_limit_box_never_change() {
        assert_fenced_by_the_limit_box(|out, crop, m, bbox| {
            paste_back(out, crop, m, Some(bbox)).unwrap()
        });
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

    /// The crop → frame similarity that puts a `size`-pixel face rotated by `degrees` with its
    /// centre at `(cx, cy)`, as the frame → crop transform `paste_back` takes.
    fn placed(size: f64, degrees: f64, cx: f64, cy: f64) -> Affine {
        let s = size / 128.0;
        let (c, sn) = (
            s * degrees.to_radians().cos(),
            s * degrees.to_radians().sin(),
        );
        Affine {
            m: [
                [c, -sn, cx - (c * 64.0 - sn * 64.0)],
                [sn, c, cy - (sn * 64.0 + c * 64.0)],
            ],
        }
        .invert()
        .unwrap()
    }

    /// Largest and mean absolute channel difference between two pastes, over the values
    /// either of them changed.
    fn paste_difference(original: &RgbImage, a: &RgbImage, b: &RgbImage) -> (u8, f64, usize) {
        let (mut worst, mut sum, mut n) = (0u8, 0u64, 0usize);
        for ((o, x), y) in original.data().iter().zip(a.data()).zip(b.data()) {
            if x != o || y != o {
                let d = x.abs_diff(*y);
                worst = worst.max(d);
                sum += u64::from(d);
                n += 1;
            }
        }
        (worst, sum as f64 / n.max(1) as f64, n)
    }

    #[test]
    fn fast_paste_back_matches_the_exact_one() {
        let frame = crate::standin::textured(1280, 720, 5);
        let crop = crate::standin::textured(128, 128, 9);
        let mut fast = PasteBack::new();
        let mut cached_cases = 0;
        for size in [60.0, 121.3, 250.0, 400.0] {
            for degrees in [0.0, 12.4, -30.0, 45.0] {
                // Inside at sub-pixel offsets, touching each edge, and half outside.
                for (cx, cy) in [
                    (640.0, 360.0),
                    (301.37, 402.81),
                    (size * 0.55, 360.25),
                    (1280.0 - size * 0.5, 200.5),
                    (700.0, size * 0.3),
                    (900.0, 720.0),
                ] {
                    let m = placed(size, degrees, cx, cy);
                    for limit in [
                        None,
                        Some([
                            (cx - 0.45 * size) as f32,
                            (cy - 0.45 * size) as f32,
                            (cx + 0.45 * size) as f32,
                            (cy + 0.5 * size) as f32,
                        ]),
                    ] {
                        let mut exact = frame.clone();
                        paste_back(&mut exact, &crop, &m, limit).unwrap();
                        let mut ours = frame.clone();
                        let how = fast.paste(&mut ours, &crop, &m, limit).unwrap();
                        let (w, mean, n) = paste_difference(&frame, &exact, &ours);
                        assert!(n > 0, "nothing pasted at {size} {degrees} ({cx}, {cy})");
                        assert!(
                            w <= 20 && mean <= 1.5,
                            "{size} px at {degrees}° around ({cx}, {cy}), limit {limit:?}: \
                             worst {w} levels, mean {mean:.3}"
                        );
                        if how == Pasted::Cached {
                            cached_cases += 1;
                        }
                    }
                }
            }
        }
        // The faces clear of the frame's edges took the cached mask.
        assert!(
            cached_cases >= 50,
            "only {cached_cases} pastes used the cache"
        );
    }

    #[test]
    fn fixed_point_paste_matches_the_float_one() {
        let frame = crate::standin::textured(1280, 720, 5);
        let crop = crate::standin::textured(128, 128, 9);
        let mut fast = PasteBack::new();
        let (mut worst, mut sum, mut n, mut cached) = (0u8, 0u64, 0usize, 0);
        for size in [60.0, 121.3, 250.0, 400.0] {
            for degrees in [0.0, 12.4, -30.0, 45.0] {
                for (cx, cy) in [(640.0, 360.0), (301.37, 402.81), (900.5, 300.25)] {
                    let m = placed(size, degrees, cx, cy);
                    for limit in [
                        None,
                        Some([
                            (cx - 0.45 * size) as f32,
                            (cy - 0.45 * size) as f32,
                            (cx + 0.45 * size) as f32,
                            (cy + 0.5 * size) as f32,
                        ]),
                    ] {
                        let (mut fixed, mut float) = (frame.clone(), frame.clone());
                        let a = fast.paste_with(&mut fixed, &crop, &m, limit, None, true);
                        let b = fast.paste_with(&mut float, &crop, &m, limit, None, false);
                        let how = a.unwrap();
                        assert_eq!(how, b.unwrap());
                        if how == Pasted::Reference {
                            assert!(fixed == float);
                            continue;
                        }
                        cached += 1;
                        for ((o, x), y) in frame.data().iter().zip(fixed.data()).zip(float.data()) {
                            if x != o || y != o {
                                let d = x.abs_diff(*y);
                                worst = worst.max(d);
                                sum += u64::from(d);
                                n += 1;
                            }
                        }
                        // Nothing outside the limit box, in either.
                        if let Some([x1, y1, x2, y2]) = limit {
                            for y in 0..720u32 {
                                for x in 0..1280u32 {
                                    let (fx, fy) = (x as f32, y as f32);
                                    if fx < x1.ceil()
                                        || fy < y1.ceil()
                                        || fx > x2.floor()
                                        || fy > y2.floor()
                                    {
                                        assert_eq!(fixed.pixel(x, y), frame.pixel(x, y));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let mean = sum as f64 / n.max(1) as f64;
        assert!(
            n > 100_000 && cached > 60,
            "only {n} values pasted, {cached} cached"
        );
        assert!(
            worst <= 2 && mean < 0.5,
            "worst {worst} levels, mean {mean:.3}"
        );
    }

    #[test]
    fn a_kept_mouth_stays_as_it_came_on_the_cached_and_the_reference_paths() {
        let frame = crate::standin::textured(640, 360, 3);
        let crop = crate::standin::textured(128, 128, 4);
        let mut fast = PasteBack::new();
        // Clear of the edges (the cached mask) and over the top edge (the reference).
        for (cx, cy, expected) in [
            (320.0, 170.0, Pasted::Cached),
            (300.0, 60.0, Pasted::Reference),
        ] {
            let m = placed(180.0, 8.0, cx, cy);
            let to_frame = m.invert().unwrap();
            // The crop's mouth corners (ArcFace's, scaled to 128) carried into the frame.
            let corner = |x: f64, y: f64| {
                let (x, y) = to_frame.apply(x * 128.0 / 112.0, y * 128.0 / 112.0);
                [x as f32, y as f32]
            };
            let kps = [
                corner(38.29, 51.70),
                corner(73.53, 51.50),
                corner(56.03, 71.74),
                corner(41.55, 92.37),
                corner(70.73, 92.20),
            ];
            let keep = MouthMask::from_landmarks(&kps).unwrap();
            let (mut plain, mut kept) = (frame.clone(), frame.clone());
            assert_eq!(fast.paste(&mut plain, &crop, &m, None).unwrap(), expected);
            let how = fast
                .paste_keeping(&mut kept, &crop, &m, None, Some(&Keep::from(&keep)))
                .unwrap();
            assert_eq!(how, expected);
            let mut core = 0;
            for y in 0..360 {
                for x in 0..640 {
                    if keep.in_core(f64::from(x), f64::from(y)) {
                        core += 1;
                        assert_eq!(kept.pixel(x, y), frame.pixel(x, y), "({x},{y})");
                    } else if keep.weight(i64::from(x), i64::from(y)) == 0.0 {
                        assert_eq!(kept.pixel(x, y), plain.pixel(x, y), "({x},{y})");
                    }
                }
            }
            assert!(core > 200, "only {core} pixels in the core");
        }
    }

    #[test]
    fn fast_paste_back_leaves_pixels_outside_the_limit_box_untouched() {
        assert_fenced_by_the_limit_box(|out, crop, m, bbox| {
            let how = PasteBack::new().paste(out, crop, m, Some(bbox)).unwrap();
            assert_eq!(how, Pasted::Cached);
        });
    }

    #[test]
    fn one_mask_serves_a_face_that_moves_within_its_bucket() {
        let frame = crate::standin::textured(640, 360, 3);
        let crop = crate::standin::textured(128, 128, 4);
        let mut fast = PasteBack::new();
        // Moving, and changing scale and roll by less than a bucket.
        for (i, (size, degrees)) in [(150.0, 10.0), (150.4, 10.2), (150.9, 9.8), (149.7, 10.1)]
            .into_iter()
            .enumerate()
        {
            let m = placed(
                size,
                degrees,
                300.0 + 7.3 * i as f64,
                170.0 - 2.6 * i as f64,
            );
            let mut out = frame.clone();
            assert_eq!(
                fast.paste(&mut out, &crop, &m, None).unwrap(),
                Pasted::Cached
            );
        }
        assert_eq!(fast.cached(), 1);
        // Another size needs its own mask; so does a transform with a reflection, which the
        // reference pastes.
        let mut out = frame.clone();
        fast.paste(&mut out, &crop, &placed(190.0, 10.0, 300.0, 170.0), None)
            .unwrap();
        assert_eq!(fast.cached(), 2);
        let mut mirrored = placed(150.0, 0.0, 300.0, 170.0);
        mirrored.m[0][0] = -mirrored.m[0][0];
        mirrored.m[0][2] = 128.0 - mirrored.m[0][2];
        let (mut a, mut b) = (frame.clone(), frame.clone());
        let how = fast.paste(&mut a, &crop, &mirrored, None).unwrap();
        assert_eq!(how, Pasted::Reference);
        paste_back(&mut b, &crop, &mirrored, None).unwrap();
        assert_eq!(a, b);
    }

    /// The reference paste with the limit applied after a mask computed over its whole working
    /// rectangle, as `paste_back` did before it computed only the values inside the box.
    fn paste_with_the_whole_mask(
        frame: &mut RgbImage,
        crop: &RgbImage,
        to_crop: &Affine,
        limit: [f32; 4],
    ) {
        let (fw, fh) = (i64::from(frame.width()), i64::from(frame.height()));
        let to_frame = to_crop.invert().unwrap();
        let Some((mask, work, _)) = exact_mask(to_crop, &to_frame, (128, 128), (fw, fh), None)
        else {
            return;
        };
        let (r, feather) = fence(Some(limit), fw, fh).unwrap();
        let sampler = Sampler::new(to_crop);
        for y in work.y0..work.y1 {
            for x in work.x0..work.x1 {
                let a = mask.get(x, y) / 255.0;
                if a <= 0.0 || x < r.x0 || y < r.y0 || x >= r.x1 || y >= r.y1 {
                    continue;
                }
                let a = a * fade(&r, feather, x, y);
                let fake = sample_rgb(crop, &sampler, x as u32, y as u32);
                let o = (y as usize * frame.width() as usize + x as usize) * 3;
                for (c, &f) in fake.iter().enumerate() {
                    frame.data_mut()[o + c] = mix(a, f, frame.data()[o + c]);
                }
            }
        }
    }

    #[test]
    fn the_reference_computes_the_mask_inside_the_limit_box_only_with_the_same_result() {
        let frame = crate::standin::textured(640, 360, 21);
        let crop = crate::standin::textured(128, 128, 22);
        for (size, degrees, cx, cy) in [
            (150.0, 0.0, 320.0, 180.0),
            (230.0, 17.0, 30.0, 340.0),
            (300.0, 180.0 - 2.4, 20.0, 350.0),
            (90.0, -40.0, 635.0, 4.0),
            (400.0, 8.0, 320.0, 180.0),
        ] {
            let m = placed(size, degrees, cx, cy);
            for shrink in [0.3, 0.45, 0.8] {
                let limit = [
                    (cx - shrink * size) as f32,
                    (cy - shrink * size) as f32,
                    (cx + shrink * size) as f32,
                    (cy + 1.1 * shrink * size) as f32,
                ];
                let (mut ours, mut whole) = (frame.clone(), frame.clone());
                paste_back(&mut ours, &crop, &m, Some(limit)).unwrap();
                paste_with_the_whole_mask(&mut whole, &crop, &m, limit);
                assert!(ours != frame, "nothing pasted at {size} ({cx}, {cy})");
                assert!(
                    ours == whole,
                    "{size} px at {degrees}° around ({cx}, {cy}), {shrink}"
                );
            }
        }
    }

    #[test]
    fn the_white_squares_shortcuts_agree_with_its_bilinear_sum() {
        // Inside taps clear the threshold and outside taps give 0 at any weights.
        for (ix, iy) in [
            (0, 0),
            (5, 9),
            (126, 126),
            (-2, 4),
            (128, 3),
            (7, -2),
            (40, 128),
        ] {
            for (wx, wy) in [(0.0, 0.0), (0.03125, 0.96875), (0.5, 0.5), (0.999, 0.001)] {
                let v = white_tap(ix, iy, wx, wy, 128, 128);
                let inside = ix >= 0 && iy >= 0 && ix + 1 < 128 && iy + 1 < 128;
                let outside = ix + 1 < 0 || iy + 1 < 0 || ix >= 128 || iy >= 128;
                assert!(!inside || v > 20.0, "({ix}, {iy}) at ({wx}, {wy}): {v}");
                assert!(!outside || v == 0.0, "({ix}, {iy}) at ({wx}, {wy}): {v}");
            }
        }
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
