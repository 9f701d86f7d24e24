//! SCRFD detection without the network: letterbox the frame into the model's input, decode
//! the nine raw outputs (3 strides × scores, boxes, keypoints; 2 anchors per cell) and keep
//! the best boxes by greedy NMS, as insightface's `scrfd.py` does.

use crate::FaceError;
use studio_media::{I420Image, RgbImage};

/// The feature strides of SCRFD's three heads.
pub const STRIDES: [u32; 3] = [8, 16, 32];
/// Anchors per feature-map cell.
pub const ANCHORS: usize = 2;

/// One face: box `[x1, y1, x2, y2]` in frame pixels, score, and five keypoints (eyes, nose,
/// mouth corners).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub bbox: [f32; 4],
    pub score: f32,
    pub kps: [[f32; 2]; 5],
}

impl Detection {
    pub fn area(&self) -> f32 {
        (self.bbox[2] - self.bbox[0]).max(0.0) * (self.bbox[3] - self.bbox[1]).max(0.0)
    }
}

/// Thresholds of the decoder; the defaults are insightface's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeParams {
    pub score_threshold: f32,
    pub nms_iou: f32,
}

impl Default for DecodeParams {
    fn default() -> Self {
        DecodeParams {
            score_threshold: 0.5,
            nms_iou: 0.4,
        }
    }
}

/// How a frame was placed in the model input: scaled by `scale` to `width × height` at the
/// top-left of a black canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub width: u32,
    pub height: u32,
}

impl Letterbox {
    /// The placement of a `w × h` frame in an `in_w × in_h` input, keeping the aspect ratio.
    pub fn fit(w: u32, h: u32, in_w: u32, in_h: u32) -> Result<Letterbox, FaceError> {
        if w == 0 || h == 0 || in_w == 0 || in_h == 0 {
            return Err(FaceError::Shape(format!(
                "cannot letterbox {w}x{h} into {in_w}x{in_h}"
            )));
        }
        // f64 like the reference's Python floats, so sizes truncate the same way.
        let im_ratio = f64::from(h) / f64::from(w);
        let model_ratio = f64::from(in_h) / f64::from(in_w);
        let (nw, nh) = if im_ratio > model_ratio {
            ((f64::from(in_h) / im_ratio) as u32, in_h)
        } else {
            (in_w, (f64::from(in_w) * im_ratio) as u32)
        };
        let (nw, nh) = (nw.max(1), nh.max(1));
        Ok(Letterbox {
            scale: (f64::from(nh) / f64::from(h)) as f32,
            width: nw,
            height: nh,
        })
    }
}

/// Where each of `n_out` outputs of OpenCV's bilinear resize (`INTER_LINEAR`) reads along one
/// axis of `n_in`: pixel centres aligned, the two source indices and the second one's weight,
/// clamped at the edges.
pub(crate) fn linear_taps(n_out: u32, n_in: u32) -> Vec<(usize, usize, f32)> {
    let scale = f64::from(n_in) / f64::from(n_out);
    (0..n_out)
        .map(|d| {
            let f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as i64;
            let mut fr = f - s as f32;
            if s < 0 {
                s = 0;
                fr = 0.0;
            }
            if s + 1 >= i64::from(n_in) {
                s = i64::from(n_in) - 1;
                fr = 0.0;
            }
            let s = s as usize;
            (s, (s + 1).min(n_in as usize - 1), fr)
        })
        .collect()
}

/// Taps of OpenCV's 8-bit bilinear resize along one axis: source indices and 11-bit weights.
pub(crate) fn resize_taps(n_out: u32, n_in: u32) -> Vec<(usize, usize, i32, i32)> {
    linear_taps(n_out, n_in)
        .into_iter()
        .map(|(s0, s1, fr)| {
            let a1 = (fr * 2048.0).round_ties_even() as i32;
            (s0, s1, 2048 - a1, a1)
        })
        .collect()
}

/// The model input for `img`: NCHW f32 RGB, `(v − 127.5) / 128`, the frame resized into the
/// top-left corner with OpenCV's 8-bit bilinear `resize` arithmetic (so the detector sees
/// what the reference feeds it), the rest black.
pub fn letterbox_blob(
    img: &RgbImage,
    in_w: u32,
    in_h: u32,
) -> Result<(Vec<f32>, Letterbox), FaceError> {
    let row = img.width() as usize * 3;
    let data = img.data();
    letterbox_rows(img.width(), img.height(), in_w, in_h, |y, out| {
        out.copy_from_slice(&data[y * row..(y + 1) * row]);
    })
}

/// [`letterbox_blob`] of `image.to_rgb()`, value for value, without converting the whole
/// frame to RGB first: a frame exactly twice the letterbox's size (720p into 640) is a 2×2
/// mean of RGB pixels ([`I420Image::half_row_to_planes`]); any other size converts the rows
/// the resize reads, one at a time.
pub fn letterbox_blob_i420(
    image: &I420Image,
    in_w: u32,
    in_h: u32,
) -> Result<(Vec<f32>, Letterbox), FaceError> {
    // Zeroed memory comes cheapest from the allocator; every value is then written once.
    let mut blob = vec![0f32; 3 * in_w as usize * in_h as usize];
    let lb = letterbox_i420_into(image, in_w, in_h, &mut blob, None)?;
    Ok((blob, lb))
}

/// [`letterbox_blob_i420`] written into `blob` (`3 × in_w × in_h` values, a bound model
/// input reused frame after frame). `written` is the letterbox `blob` already holds: when the
/// frame's is the same, only the picture is written, the black around it being there
/// already; otherwise (or with `None`) every value is.
pub fn letterbox_i420_into(
    image: &I420Image,
    in_w: u32,
    in_h: u32,
    blob: &mut [f32],
    written: Option<Letterbox>,
) -> Result<Letterbox, FaceError> {
    let (w, h) = (image.width(), image.height());
    let lb = Letterbox::fit(w, h, in_w, in_h)?;
    let (iw, plane) = (in_w as usize, in_w as usize * in_h as usize);
    if blob.len() != plane * 3 {
        return Err(FaceError::Shape(format!(
            "a {in_w}x{in_h} letterbox needs {} values, the buffer holds {}",
            plane * 3,
            blob.len()
        )));
    }
    let pad = written != Some(lb);
    if lb.width.checked_mul(2) == Some(w) && lb.height.checked_mul(2) == Some(h) {
        // Each output pixel's taps are its 2×2 block at weights ½ each: the resize's
        // fixed-point sum is exactly the block's rounded mean.
        let (nw, nh) = (lb.width as usize, lb.height as usize);
        // The picture a half row at a time, one plane per channel, then the black beside
        // and below it where it is not there yet.
        let mut rows = [vec![0u8; nw], vec![0u8; nw], vec![0u8; nw]];
        for y in 0..nh {
            let [r, g, b] = &mut rows;
            image.half_row_to_planes(y as u32, [r, g, b]);
            for (c, row) in rows.iter().enumerate() {
                let dst = &mut blob[c * plane + y * iw..][..iw];
                let (picture, black) = dst.split_at_mut(nw);
                // The table's own arithmetic, which vectorises where a lookup does not.
                for (d, &p) in picture.iter_mut().zip(row) {
                    *d = normalised(p);
                }
                if pad {
                    black.fill(NORMALISED[0]);
                }
            }
        }
        if pad {
            for c in 0..3 {
                blob[c * plane + nh * iw..(c + 1) * plane].fill(NORMALISED[0]);
            }
        }
        return Ok(lb);
    }
    letterbox_rows_into(w, h, in_w, in_h, blob, pad, |y, out| {
        image.row_to_rgb(y as u32, 0, out);
    })
}

/// `(v − 127.5) / 128`, the detector's normalisation of an 8-bit value.
const fn normalised(v: u8) -> f32 {
    (v as f32 - 127.5) / 128.0
}

/// [`normalised`] for every 8-bit value.
static NORMALISED: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut v = 0;
    while v < 256 {
        t[v] = normalised(v as u8);
        v += 1;
    }
    t
};

/// The letterbox of a `sw × sh` RGB frame whose row `y` `read_row(y, out)` writes into
/// `out` (`sw` pixels).
fn letterbox_rows(
    sw: u32,
    sh: u32,
    in_w: u32,
    in_h: u32,
    read_row: impl FnMut(usize, &mut [u8]),
) -> Result<(Vec<f32>, Letterbox), FaceError> {
    let mut blob = vec![NORMALISED[0]; 3 * in_w as usize * in_h as usize];
    let lb = letterbox_rows_into(sw, sh, in_w, in_h, &mut blob, false, read_row)?;
    Ok((blob, lb))
}

/// [`letterbox_rows`] into `blob` (`3 × in_w × in_h` values), all of it black first when
/// `pad`, else only the picture written.
fn letterbox_rows_into(
    sw: u32,
    sh: u32,
    in_w: u32,
    in_h: u32,
    blob: &mut [f32],
    pad: bool,
    mut read_row: impl FnMut(usize, &mut [u8]),
) -> Result<Letterbox, FaceError> {
    let lb = Letterbox::fit(sw, sh, in_w, in_h)?;
    let plane = (in_w * in_h) as usize;
    if blob.len() != plane * 3 {
        return Err(FaceError::Shape(format!(
            "a {in_w}x{in_h} letterbox needs {} values, the buffer holds {}",
            plane * 3,
            blob.len()
        )));
    }
    if pad {
        blob.fill(NORMALISED[0]);
    }
    let xt = resize_taps(lb.width, sw);
    let yt = resize_taps(lb.height, sh);
    let mut src_row = vec![0u8; sw as usize * 3];
    // Horizontal pass per source row into one plane per channel, cached for the two rows each
    // output row reads; planes keep the vertical pass on contiguous slices.
    let nw = lb.width as usize;
    let mut hpass = |row: usize, out: &mut [Vec<i32>; 3]| {
        read_row(row, &mut src_row);
        let r = &src_row;
        let [o0, o1, o2] = out;
        let outs = o0.iter_mut().zip(o1.iter_mut()).zip(o2.iter_mut());
        for (((v0, v1), v2), &(x0, x1, a0, a1)) in outs.zip(&xt) {
            let (p, q) = (&r[x0 * 3..x0 * 3 + 3], &r[x1 * 3..x1 * 3 + 3]);
            *v0 = i32::from(p[0]) * a0 + i32::from(q[0]) * a1;
            *v1 = i32::from(p[1]) * a0 + i32::from(q[1]) * a1;
            *v2 = i32::from(p[2]) * a0 + i32::from(q[2]) * a1;
        }
    };
    let (mut r0, mut r1) = (
        [vec![0; nw], vec![0; nw], vec![0; nw]],
        [vec![0; nw], vec![0; nw], vec![0; nw]],
    );
    let mut cached = (usize::MAX, usize::MAX);
    for (y, &(y0, y1, b0, b1)) in yt.iter().enumerate() {
        if cached != (y0, y1) {
            hpass(y0, &mut r0);
            hpass(y1, &mut r1);
            cached = (y0, y1);
        }
        for c in 0..3 {
            let o = c * plane + y * in_w as usize;
            let dst = &mut blob[o..o + nw];
            for ((d, &p), &q) in dst.iter_mut().zip(&r0[c]).zip(&r1[c]) {
                let v = (((b0 * (p >> 4)) >> 16) + ((b1 * (q >> 4)) >> 16) + 2) >> 2;
                *d = NORMALISED[v.clamp(0, 255) as usize];
            }
        }
    }
    Ok(lb)
}

/// The nine raw outputs in insightface's order: scores s8, s16, s32, boxes s8..s32,
/// keypoints s8..s32; each row-major `[anchors, 1 | 4 | 10]` (a leading batch of 1 is fine).
pub struct RawOutputs<'a> {
    pub scores: [&'a [f32]; 3],
    pub boxes: [&'a [f32]; 3],
    pub kps: [&'a [f32]; 3],
}

/// Decode raw outputs for an `in_w × in_h` input into frame-space faces above the score
/// threshold, best first (insightface's `forward` + `_detect_candidates`), before NMS.
pub fn decode(
    out: &RawOutputs<'_>,
    in_w: u32,
    in_h: u32,
    scale: f32,
    threshold: f32,
) -> Result<Vec<Detection>, FaceError> {
    let mut found = Vec::new();
    for (k, &stride) in STRIDES.iter().enumerate() {
        let (fw, fh) = ((in_w / stride) as usize, (in_h / stride) as usize);
        let n = fw * fh * ANCHORS;
        let (sc, bx, kp) = (out.scores[k], out.boxes[k], out.kps[k]);
        if sc.len() != n || bx.len() != n * 4 || kp.len() != n * 10 {
            return Err(FaceError::Shape(format!(
                "stride {stride}: expected {n} anchors (scores {n}, boxes {}, keypoints {}), got {}, {}, {}",
                n * 4,
                n * 10,
                sc.len(),
                bx.len(),
                kp.len()
            )));
        }
        let s = stride as f32;
        for (a, &score) in sc.iter().enumerate() {
            if score < threshold || score.is_nan() {
                continue;
            }
            let cell = a / ANCHORS;
            let cx = (cell % fw) as f32 * s;
            let cy = (cell / fw) as f32 * s;
            let d = &bx[a * 4..a * 4 + 4];
            let bbox = [
                (cx - d[0] * s) / scale,
                (cy - d[1] * s) / scale,
                (cx + d[2] * s) / scale,
                (cy + d[3] * s) / scale,
            ];
            let p = &kp[a * 10..a * 10 + 10];
            let kps = std::array::from_fn(|i| {
                [(cx + p[2 * i] * s) / scale, (cy + p[2 * i + 1] * s) / scale]
            });
            found.push(Detection { bbox, score, kps });
        }
    }
    // Stable, like numpy's argsort(kind='stable'): ties keep stride-then-anchor order.
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(found)
}

/// Greedy NMS over faces sorted best first: drop every face whose IoU with a kept one is above
/// `iou` (areas with insightface's `+1` convention).
pub fn nms(sorted: &[Detection], iou: f32) -> Vec<Detection> {
    // Coordinates and areas as columns, so the inner loop runs over plain slices without a
    // branch per candidate (a suppressed one stays suppressed whatever its overlap).
    let column = |k: usize| -> Vec<f32> { sorted.iter().map(|d| d.bbox[k]).collect() };
    let (x1, y1, x2, y2) = (column(0), column(1), column(2), column(3));
    let area: Vec<f32> = sorted
        .iter()
        .map(|d| (d.bbox[2] - d.bbox[0] + 1.0) * (d.bbox[3] - d.bbox[1] + 1.0))
        .collect();
    let mut alive = vec![true; sorted.len()];
    let mut keep = Vec::new();
    for i in 0..sorted.len() {
        if !alive[i] {
            continue;
        }
        keep.push(sorted[i]);
        let rest = i + 1..sorted.len();
        let others = Columns {
            x1: &x1[rest.clone()],
            y1: &y1[rest.clone()],
            x2: &x2[rest.clone()],
            y2: &y2[rest.clone()],
            area: &area[rest.clone()],
        };
        let kept = [x1[i], y1[i], x2[i], y2[i], area[i]];
        suppress_overlapping(kept, &others, &mut alive[rest], iou);
    }
    keep
}

/// Boxes as columns: left, top, right, bottom and area.
struct Columns<'a> {
    x1: &'a [f32],
    y1: &'a [f32],
    x2: &'a [f32],
    y2: &'a [f32],
    area: &'a [f32],
}

/// Mark dead every box of `others` whose IoU with `kept` (`[x1, y1, x2, y2, area]`) is above
/// `iou`. A frame with hundreds of candidates spends most of NMS here, so it is compiled
/// for AVX2 too (eight boxes to a vector), picked where the CPU has it.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn suppress_overlapping(kept: [f32; 5], others: &Columns<'_>, alive: &mut [bool], iou: f32) {
    let [ax1, ay1, ax2, ay2, area_a] = kept;
    let boxes = others
        .x1
        .iter()
        .zip(others.y1)
        .zip(others.x2)
        .zip(others.y2)
        .zip(others.area);
    for (((((bx1, by1), bx2), by2), area_b), alive) in boxes.zip(alive) {
        let w = (ax2.min(*bx2) - ax1.max(*bx1) + 1.0).max(0.0);
        let h = (ay2.min(*by2) - ay1.max(*by1) + 1.0).max(0.0);
        let inter = w * h;
        let overlaps = inter / (area_a + area_b - inter) > iou;
        *alive &= !overlaps;
    }
}

/// Decode and NMS in one step.
pub fn detect_from_outputs(
    out: &RawOutputs<'_>,
    in_w: u32,
    in_h: u32,
    lb: &Letterbox,
    params: &DecodeParams,
) -> Result<Vec<Detection>, FaceError> {
    let candidates = decode(out, in_w, in_h, lb.scale, params.score_threshold)?;
    Ok(nms(&candidates, params.nms_iou))
}

/// The face a single-face pipeline uses: the largest.
pub fn largest(faces: &[Detection]) -> Option<&Detection> {
    faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()))
}

/// The `n` largest faces, largest first (ties keep the detector's order).
pub fn largest_n(faces: &[Detection], n: usize) -> Vec<Detection> {
    let mut by_size = faces.to_vec();
    by_size.sort_by(|a, b| b.area().total_cmp(&a.area()));
    by_size.truncate(n);
    by_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_aspect_and_scales_back() {
        let lb = Letterbox::fit(1280, 720, 640, 640).unwrap();
        assert_eq!((lb.width, lb.height), (640, 360));
        assert!((lb.scale - 0.5).abs() < 1e-6);
        let tall = Letterbox::fit(300, 600, 640, 640).unwrap();
        assert_eq!((tall.width, tall.height), (320, 640));
        assert!(Letterbox::fit(0, 10, 640, 640).is_err());
    }

    #[test]
    fn letterbox_blob_pads_with_black_and_normalises() {
        let mut img = RgbImage::new(4, 2);
        img.data_mut().fill(255);
        let (blob, lb) = letterbox_blob(&img, 8, 8).unwrap();
        assert_eq!((lb.width, lb.height), (8, 4));
        assert!((blob[0] - 127.5 / 128.0).abs() < 1e-6);
        assert!((blob[8 * 7] + 127.5 / 128.0).abs() < 1e-6);
    }

    #[test]
    fn the_letterbox_from_i420_equals_the_one_from_its_rgb() {
        // Twice the letterbox (the 2×2 mean), other scales up and down, odd sizes, tall.
        for (w, h, in_w, in_h) in [
            (1280, 720, 640, 640),
            (64, 36, 32, 32),
            (1920, 1080, 640, 640),
            (37, 21, 32, 32),
            (30, 90, 64, 64),
            (640, 360, 640, 640),
        ] {
            let image = crate::standin::textured(w, h, w ^ h).to_i420();
            let (ours, lb) = letterbox_blob_i420(&image, in_w, in_h).unwrap();
            let (theirs, lb_rgb) = letterbox_blob(&image.to_rgb(), in_w, in_h).unwrap();
            assert_eq!(lb, lb_rgb);
            assert!(ours == theirs, "{w}x{h} into {in_w}x{in_h}");
        }
    }

    fn one_face_outputs(in_w: u32, in_h: u32) -> Vec<Vec<f32>> {
        let mut v = Vec::new();
        for (k, &s) in STRIDES.iter().enumerate() {
            let n = ((in_w / s) * (in_h / s)) as usize * ANCHORS;
            let mut sc = vec![0.1; n];
            if k == 0 {
                sc[2 * (3 * (in_w / s) as usize + 2) + 1] = 0.9; // cell (2,3), anchor 1
            }
            v.push(sc);
        }
        for &s in &STRIDES {
            let n = ((in_w / s) * (in_h / s)) as usize * ANCHORS;
            v.push(vec![1.0; n * 4]);
        }
        for &s in &STRIDES {
            let n = ((in_w / s) * (in_h / s)) as usize * ANCHORS;
            v.push(vec![0.5; n * 10]);
        }
        v
    }

    #[test]
    fn decode_places_the_box_around_its_anchor() {
        let v = one_face_outputs(64, 32);
        let raw = RawOutputs {
            scores: [&v[0], &v[1], &v[2]],
            boxes: [&v[3], &v[4], &v[5]],
            kps: [&v[6], &v[7], &v[8]],
        };
        let faces = decode(&raw, 64, 32, 0.5, 0.5).unwrap();
        assert_eq!(faces.len(), 1);
        // centre (16, 24), distances 8 px each way, then ÷ 0.5 back to the frame.
        assert_eq!(faces[0].bbox, [16.0, 32.0, 48.0, 64.0]);
        assert_eq!(faces[0].kps[0], [40.0, 56.0]);
    }

    #[test]
    fn decode_rejects_short_outputs() {
        let v = one_face_outputs(64, 32);
        let raw = RawOutputs {
            scores: [&v[0][1..], &v[1], &v[2]],
            boxes: [&v[3], &v[4], &v[5]],
            kps: [&v[6], &v[7], &v[8]],
        };
        assert!(decode(&raw, 64, 32, 1.0, 0.5).is_err());
    }

    /// NMS one pair at a time, as insightface writes it, for the column version to match.
    fn naive_nms(sorted: &[Detection], iou: f32) -> Vec<Detection> {
        let area = |d: &Detection| (d.bbox[2] - d.bbox[0] + 1.0) * (d.bbox[3] - d.bbox[1] + 1.0);
        let mut alive = vec![true; sorted.len()];
        let mut keep = Vec::new();
        for i in 0..sorted.len() {
            if !alive[i] {
                continue;
            }
            let a = &sorted[i];
            keep.push(*a);
            for j in i + 1..sorted.len() {
                let b = &sorted[j];
                let w = (a.bbox[2].min(b.bbox[2]) - a.bbox[0].max(b.bbox[0]) + 1.0).max(0.0);
                let h = (a.bbox[3].min(b.bbox[3]) - a.bbox[1].max(b.bbox[1]) + 1.0).max(0.0);
                let inter = w * h;
                if alive[j] && inter / (area(a) + area(b) - inter) > iou {
                    alive[j] = false;
                }
            }
        }
        keep
    }

    #[test]
    fn nms_keeps_what_the_pairwise_definition_keeps() {
        let mut s = 0x2545_f491u32;
        let mut next = |range: f32| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 * range
        };
        for (n, nan) in [0, 1, 2, 30, 400, 2000]
            .into_iter()
            .flat_map(|n| [(n, false), (n, true)])
        {
            let mut faces: Vec<Detection> = (0..n)
                .map(|_| {
                    let (x, y, w, h) = (next(600.0), next(400.0), next(150.0), next(150.0));
                    Detection {
                        bbox: [x, y, x + w - 1.0, y + h],
                        score: next(1.0),
                        kps: [[0.0; 2]; 5],
                    }
                })
                .collect();
            // Degenerate boxes too: zero area, inside out, and a NaN.
            if n > 3 {
                faces[1].bbox = [5.0, 5.0, 4.0, 4.0];
                faces[3].bbox = [300.0, 200.0, 100.0, 50.0];
                if nan {
                    faces[2].bbox[0] = f32::NAN;
                }
            }
            faces.sort_by(|a, b| b.score.total_cmp(&a.score));
            for iou in [0.0, 0.4, 0.9, -0.1] {
                let (ours, theirs) = (nms(&faces, iou), naive_nms(&faces, iou));
                assert_eq!(ours.len(), theirs.len(), "{n} faces at {iou}");
                for (a, b) in ours.iter().zip(&theirs) {
                    assert_eq!(a.bbox.map(f32::to_bits), b.bbox.map(f32::to_bits));
                }
            }
        }
    }

    #[test]
    fn largest_n_takes_the_biggest_faces_first() {
        let face = |side: f32| Detection {
            bbox: [0.0, 0.0, side, side],
            score: 0.9,
            kps: [[0.0; 2]; 5],
        };
        let faces = [face(10.0), face(30.0), face(20.0), face(5.0)];
        let sides = |v: Vec<Detection>| v.iter().map(|f| f.bbox[2]).collect::<Vec<_>>();
        assert_eq!(sides(largest_n(&faces, 2)), vec![30.0, 20.0]);
        assert_eq!(sides(largest_n(&faces, 9)), vec![30.0, 20.0, 10.0, 5.0]);
        assert!(largest_n(&faces, 0).is_empty());
        assert_eq!(largest_n(&faces, 1)[0].bbox, largest(&faces).unwrap().bbox);
    }

    #[test]
    fn nms_drops_overlaps_and_keeps_separate_faces() {
        let d = |x: f32, s: f32| Detection {
            bbox: [x, 0.0, x + 10.0, 10.0],
            score: s,
            kps: [[0.0; 2]; 5],
        };
        let kept = nms(&[d(0.0, 0.9), d(1.0, 0.8), d(50.0, 0.7)], 0.4);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].bbox[0], 50.0);
    }
}
