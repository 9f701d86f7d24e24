//! The frame's pre- and post-processing as small ONNX graphs, generated here and run by the
//! same execution provider as the models, so one path serves every GPU vendor: the detector's
//! letterbox from the I420 planes ([`letterbox`]), the alignment warp to the swapper's crop
//! ([`align`]) and the paste-back with the write-back to I420 ([`paste`]).
//!
//! Each graph keeps the CPU path's conventions:
//!
//! - I420 → RGB is BT.601 limited range in the same 16-bit fixed point as
//!   `studio_media`'s conversion, computed in `int32` (floors as divisions of values made
//!   non-negative first), so it is exact.
//! - The letterbox is OpenCV's 8-bit bilinear resize ([`crate::detect::letterbox_blob_i420`]):
//!   the same taps and 11-bit weights gathered by index, the same shifts as integer
//!   divisions, so it is exact too.
//! - The warps use `GridSample` (bilinear, zeros outside, pixel centres at whole
//!   coordinates) on a grid computed in the graph from the affine input, so one graph
//!   serves every frame. The align graph reads only a window of the frame around the
//!   crop's square ([`align_window`]: 128-pixel size classes, its origin an input). The source positions are the CPU's `f32` products; the bilinear
//!   sum is the backend's, so a value that lands within float error of a half rounds either
//!   way: outputs may differ from the CPU's by one level on a small share of values (at
//!   most 0.1% in `tests/device_graphs.rs`; about 0.01% measured).
//! - The paste blends `a·fake + (1 − a)·old`, truncated, as `blend::paste_back` does, with
//!   `a` the face mask (an input, in crop pixels: [`crate::blend::PasteBack::crop_mask`],
//!   the cached mask or, for a face near the frame's edge, the reference's)
//!   times the face box's fade, computed from the box in the graph. It runs over a window
//!   around the box ([`paste_window`]: a multiple of 128 pixels on a side, its origin an
//!   input), so shapes stay fixed and a few graphs serve every face size; outside the box
//!   the weight is 0, so those pixels stay as they came. Only pixels that changed get new luma and only 2×2 blocks with a changed
//!   pixel new chroma, as the CPU path writes them back. Against the CPU path (the cached
//!   `PasteBack` and the write-back) the frame differs by at most 3 levels and on at most
//!   0.05% of its values by more than 1 (`tests/device_graphs.rs`): the mask is sampled in
//!   crop pixels rather than from the cached mask directly, and blended in floats rather
//!   than 12-bit fixed point. What the mouth and occlusion masks keep is taken out of the
//!   mask input before it is given (`device_path`).
//!
//! Frames have even sizes (as cameras give them); a graph is generated for one frame size.
//! Planes and crops travel as `uint8`, a byte a value as they are on the host; the
//! detector's input, the mask, transforms and boxes as `f32`.

use crate::detect::{Letterbox, resize_taps};
use crate::{Affine, FaceError};
use studio_infer::{Attr, ElementType, GraphBuilder, Tensor, Value, onnx_type};
use studio_media::{I420Image, RgbImage};

/// The opset the graphs are written for (`GridSample` needs 16; `ReduceMax` still takes its
/// axes as an attribute).
pub const OPSET: i64 = 17;

/// Input names: the frame's planes, `[H, W]`, `[H/2, W/2]`, `[H/2, W/2]`.
pub const Y: &str = "y";
pub const U: &str = "u";
pub const V: &str = "v";
/// The letterbox graph's output, `[1, 3, in_h, in_w]`, `(v − 127.5) / 128`.
pub const BLOB: &str = "blob";
/// The align graph's input: the crop → frame transform, `[2, 3]`.
pub const TO_FRAME: &str = "to_frame";
/// The align graph's output: the crop, `[1, 3, S, S]`, RGB 0–255.
pub const CROP: &str = "crop";
/// The paste graph's inputs: the swapped crop `[1, 3, S, S]`, its mask `[1, 1, S, S]`
/// (weights 0–1 in crop pixels), the frame → crop transform `[2, 3]` and the face box
/// `[4]` (`x1, y1, x2, y2`) that limits the paste.
pub const SWAPPED: &str = "swapped";
pub const MASK: &str = "mask";
pub const TO_CROP: &str = "to_crop";
pub const FACE_BOX: &str = "face_box";
/// The align and paste graphs' window origin, `[2]` (`x`, `y`, even).
pub const ORIGIN: &str = "origin";
/// The paste graph's outputs: the window's planes after the paste.
pub const Y_OUT: &str = "y_out";
pub const U_OUT: &str = "u_out";
pub const V_OUT: &str = "v_out";

/// The largest frame side the graphs are built for.
const MAX_SIDE: u32 = 8192;

// BT.601 limited range in 16-bit fixed point, as `studio_media::video` has them.
const FIX: i32 = 1 << 16;
const HALF: i32 = 1 << 15;
const Y_R: i32 = 16829;
const Y_G: i32 = 33039;
const Y_B: i32 = 6416;
const CB: [i32; 3] = [-9714, -19070, 28784];
const CR: [i32; 3] = [28784, -24103, -4681];
const RGB_Y: i32 = 76309;
const R_CR: i32 = 104597;
const G_CB: i32 = -25675;
const G_CR: i32 = -53279;
const B_CB: i32 = 132201;

fn check_frame(w: u32, h: u32) -> Result<(), FaceError> {
    if w == 0 || h == 0 || w % 2 == 1 || h % 2 == 1 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(FaceError::Shape(format!(
            "device graphs take even frame sizes up to {MAX_SIDE}, not {w}x{h}"
        )));
    }
    Ok(())
}

/// The frame's three planes as inputs.
fn i420_inputs(g: &mut GraphBuilder, w: u32, h: u32) -> [Value; 3] {
    let (w, h) = (w as usize, h as usize);
    [
        g.input(Y, ElementType::U8, &[h, w]),
        g.input(U, ElementType::U8, &[h / 2, w / 2]),
        g.input(V, ElementType::U8, &[h / 2, w / 2]),
    ]
}

/// `min(max(v, lo), hi)`.
fn clamp_i32(g: &mut GraphBuilder, v: &Value, lo: i32, hi: i32) -> Value {
    let (lo, hi) = (g.i32(lo), g.i32(hi));
    let v = g.max(v, &lo);
    g.min(&v, &hi)
}

fn clamp_f32(g: &mut GraphBuilder, v: &Value, lo: f32, hi: f32) -> Value {
    let (lo, hi) = (g.f32(lo), g.f32(hi));
    let v = g.max(v, &lo);
    g.min(&v, &hi)
}

/// `floor(v / d)` for `int32` `v ≥ 0` (`Div` truncates, which is the floor there).
fn div_i32(g: &mut GraphBuilder, v: &Value, d: i32) -> Value {
    let d = g.i32(d);
    g.div(v, &d)
}

/// The planes as RGB, `int32 [3, H, W]`, value for value what `I420Image::to_rgb` gives:
/// luma term per pixel, chroma terms per 2×2 block, `clamp(sum >> 16, 0, 255)`; with the
/// `y` and `u` planes as `int32`.
fn rgb_i32(g: &mut GraphBuilder, planes: &[Value; 3], w: u32, h: u32) -> [Value; 3] {
    let (w, h) = (i64::from(w), i64::from(h));
    let (cw, ch) = (w / 2, h / 2);
    let [y, u, v] = planes;
    let y = g.cast(y, onnx_type::INT32);
    let u = g.cast(u, onnx_type::INT32);
    let v = g.cast(v, onnx_type::INT32);
    let c16 = g.i32(16);
    let c128 = g.i32(128);
    let luma = g.sub(&y, &c16);
    let k = g.i32(RGB_Y);
    let luma = g.mul(&luma, &k);
    let uc = g.sub(&u, &c128);
    let vc = g.sub(&v, &c128);
    let half = g.i32(HALF);
    let term = |g: &mut GraphBuilder, parts: &[(&Value, i32)]| {
        let mut acc = half.clone();
        for &(x, k) in parts {
            let k = g.i32(k);
            let p = g.mul(x, &k);
            acc = g.add(&acc, &p);
        }
        g.reshape(&acc, &[1, ch, cw])
    };
    let r = term(g, &[(&vc, R_CR)]);
    let gr = term(g, &[(&uc, G_CB), (&vc, G_CR)]);
    let b = term(g, &[(&uc, B_CB)]);
    let terms = g.node("Concat", &[&r, &gr, &b], &[Attr::Int("axis", 0)]);
    // Each chroma sample's terms to its 2×2 block.
    let terms = g.reshape(&terms, &[3, ch, 1, cw, 1]);
    let shape = g.i64s(&[5], vec![3, ch, 2, cw, 2]);
    let terms = g.node("Expand", &[&terms, &shape], &[]);
    let terms = g.reshape(&terms, &[3, h, w]);
    let sum = g.add(&terms, &luma);
    let zero = g.i32(0);
    let sum = g.max(&sum, &zero);
    let rgb = div_i32(g, &sum, FIX);
    let hi = g.i32(255);
    let rgb = g.min(&rgb, &hi);
    [rgb, y, u]
}

/// The detector's input from the frame's planes: [`crate::detect::letterbox_blob_i420`]
/// as a graph, `y`, `u`, `v` → `blob` `[1, 3, in_h, in_w]`; exact. Also returns the
/// placement, which the decoder needs.
pub fn letterbox(w: u32, h: u32, in_w: u32, in_h: u32) -> Result<(Vec<u8>, Letterbox), FaceError> {
    check_frame(w, h)?;
    let lb = Letterbox::fit(w, h, in_w, in_h)?;
    let mut g = GraphBuilder::new("letterbox", OPSET);
    let planes = i420_inputs(&mut g, w, h);
    let [rgb, _, _] = rgb_i32(&mut g, &planes, w, h);
    let (xt, yt) = (resize_taps(lb.width, w), resize_taps(lb.height, h));
    let (nw, nh) = (lb.width as usize, lb.height as usize);
    let sources = |t: &[(usize, usize, i32, i32)]| -> (Vec<i64>, Vec<i64>) {
        t.iter()
            .map(|&(s0, s1, _, _)| (s0 as i64, s1 as i64))
            .unzip()
    };
    let ((x0, x1), (y0, y1)) = (sources(&xt), sources(&yt));
    let a0 = g.i32s(&[nw], xt.iter().map(|t| t.2).collect());
    let a1 = g.i32s(&[nw], xt.iter().map(|t| t.3).collect());
    let b0 = g.i32s(&[nh, 1], yt.iter().map(|t| t.2).collect());
    let b1 = g.i32s(&[nh, 1], yt.iter().map(|t| t.3).collect());
    // OpenCV's horizontal pass (11-bit weights), `>> 4`, then the vertical pass's
    // `(b0·p >> 16) + (b1·q >> 16) + 2 >> 2`; every value is non-negative.
    let mut rows = Vec::new();
    for (ys, b) in [(&y0, &b0), (&y1, &b1)] {
        let r = g.gather(&rgb, ys, 1);
        let p = g.gather(&r, &x0, 2);
        let q = g.gather(&r, &x1, 2);
        let p = g.mul(&p, &a0);
        let q = g.mul(&q, &a1);
        let s = g.add(&p, &q);
        let s = div_i32(&mut g, &s, 16);
        let s = g.mul(b, &s);
        rows.push(div_i32(&mut g, &s, FIX));
    }
    let two = g.i32(2);
    let v = g.add(&rows[0], &rows[1]);
    let v = g.add(&v, &two);
    let v = div_i32(&mut g, &v, 4);
    let v = clamp_i32(&mut g, &v, 0, 255);
    let v = g.cast(&v, onnx_type::FLOAT);
    let (mid, scale) = (g.f32(127.5), g.f32(128.0));
    let v = g.sub(&v, &mid);
    let mut v = g.div(&v, &scale);
    // The black canvas right of and below the picture.
    let black = g.f32((0.0 - 127.5) / 128.0);
    let (iw, ih) = (in_w as usize, in_h as usize);
    if nw < iw {
        let shape = g.i64s(&[3], vec![3, nh as i64, (iw - nw) as i64]);
        let pad = g.node("Expand", &[&black, &shape], &[]);
        v = g.node("Concat", &[&v, &pad], &[Attr::Int("axis", 2)]);
    }
    if nh < ih {
        let shape = g.i64s(&[3], vec![3, (ih - nh) as i64, iw as i64]);
        let pad = g.node("Expand", &[&black, &shape], &[]);
        v = g.node("Concat", &[&v, &pad], &[Attr::Int("axis", 1)]);
    }
    let v = g.reshape(&v, &[1, 3, ih as i64, iw as i64]);
    g.output(&v, BLOB, ElementType::F32, &[1, 3, ih, iw]);
    Ok((g.to_bytes(), lb))
}

/// The pixel positions `0..w` as `[1, w]` and `0..h` as `[h, 1]`, in `f32`.
fn pixel_positions(g: &mut GraphBuilder, w: usize, h: usize) -> (Value, Value) {
    (
        g.f32s(&[1, w], (0..w).map(|x| x as f32).collect()),
        g.f32s(&[h, 1], (0..h).map(|y| y as f32).collect()),
    )
}

/// The six entries of a `[2, 3]` transform input, each `[1]`.
fn affine_entries(g: &mut GraphBuilder, m: &Value) -> [Value; 6] {
    let flat = g.reshape(m, &[6]);
    std::array::from_fn(|k| g.gather(&flat, &[k as i64], 0))
}

/// `GridSample`'s normalised coordinate (`align_corners = 0`) of pixel position `p` along
/// an axis of `n` pixels: `(2p + 1) / n − 1`.
fn normalise(g: &mut GraphBuilder, p: &Value, n: u32) -> Value {
    let (two, one, n) = (g.f32(2.0), g.f32(1.0), g.f32(n as f32));
    let v = g.mul(p, &two);
    let v = g.add(&v, &one);
    let v = g.div(&v, &n);
    g.sub(&v, &one)
}

/// The grid that samples a `src_w × src_h` source at `m · (x, y, 1)` for each `x` in `xs`
/// (`[1, W]`) and `y` in `ys` (`[H, 1]`): `[1, H, W, 2]`. The products are summed in the
/// CPU sampler's order, `(m₀·x + m₁·y) + m₂`; a source that is a window of the frame has
/// its origin taken off.
fn grid(
    g: &mut GraphBuilder,
    m: &Value,
    (xs, ys): (&Value, &Value),
    (w, h): (usize, usize),
    (src_w, src_h): (u32, u32),
    source_origin: Option<(&Value, &Value)>,
) -> Value {
    let e = affine_entries(g, m);
    let axis =
        |g: &mut GraphBuilder, a: &Value, b: &Value, c: &Value, n: u32, o: Option<&Value>| {
            let p = g.mul(a, xs);
            let q = g.mul(b, ys);
            let s = g.add(&p, &q);
            let mut s = g.add(&s, c);
            if let Some(o) = o {
                // A whole number off a position is exact in f32 at image sizes.
                s = g.sub(&s, o);
            }
            let s = normalise(g, &s, n);
            g.reshape(&s, &[1, h as i64, w as i64, 1])
        };
    let (ox, oy) = source_origin.unzip();
    let gx = axis(g, &e[0], &e[1], &e[2], src_w, ox);
    let gy = axis(g, &e[3], &e[4], &e[5], src_h, oy);
    g.node("Concat", &[&gx, &gy], &[Attr::Int("axis", 3)])
}

fn grid_sample(g: &mut GraphBuilder, src: &Value, grid: &Value) -> Value {
    g.node(
        "GridSample",
        &[src, grid],
        &[
            Attr::Str("mode", "bilinear"),
            Attr::Str("padding_mode", "zeros"),
            Attr::Int("align_corners", 0),
        ],
    )
}

/// 8-bit rounding as the CPU warp does it: half to even, clamped.
fn round_u8(g: &mut GraphBuilder, v: &Value) -> Value {
    let v = g.node("Round", &[v], &[]);
    clamp_f32(g, &v, 0.0, 255.0)
}

/// The window of a `w × h` frame the align graph reads for a `size` crop under `to_crop`
/// (frame → crop): its origin (even) and size (a multiple of 128, or the frame's side),
/// holding every frame pixel the crop's bilinear taps reach.
pub fn align_window(to_crop: &Affine, size: u32, w: u32, h: u32) -> Result<Window, FaceError> {
    let to_frame = to_crop
        .invert()
        .ok_or_else(|| FaceError::Degenerate("singular crop transform".into()))?;
    let (bx0, by0, bx1, by1) = to_frame.map_rect_bounds(f64::from(size), f64::from(size));
    let clamp = |v: f64, hi: u32| (v.max(0.0).min(f64::from(hi))) as u32;
    let x0 = clamp(bx0.floor() - 1.0, w) & !1;
    let y0 = clamp(by0.floor() - 1.0, h) & !1;
    let x1 = clamp(bx1.ceil() + 2.0, w);
    let y1 = clamp(by1.ceil() + 2.0, h);
    Ok(window_over((x0, y0, x1, y1), w, h))
}

/// A window's origin and size: `((x, y), (w, h))`.
pub type Window = ((u32, u32), (u32, u32));

/// The window over `[x0, x1) × [y0, y1)` (`x0`, `y0` even) of a `w × h` frame: sides a
/// multiple of 128 (at most the frame's), moved back inside the frame where it would leave.
fn window_over((x0, y0, x1, y1): (u32, u32, u32, u32), w: u32, h: u32) -> Window {
    let side = x1
        .saturating_sub(x0)
        .max(y1.saturating_sub(y0))
        .max(1)
        .div_ceil(128)
        * 128;
    let (ww, wh) = (side.min(w), side.min(h));
    ((x0.min(w - ww), y0.min(h - wh)), (ww, wh))
}

/// The window's planes, gathered from the frame's at the `origin` input's rows and columns,
/// and the origin as `f32` `x` and `y`, each `[1]`.
fn window_planes(
    g: &mut GraphBuilder,
    planes: &[Value; 3],
    origin: &Value,
    (ww, wh): (u32, u32),
) -> ([Value; 3], Value, Value) {
    let (wi, hi) = (i64::from(ww), i64::from(wh));
    let at = g.cast(origin, onnx_type::INT64);
    let ox = g.gather(&at, &[0], 0);
    let oy = g.gather(&at, &[1], 0);
    let two = g.i64s(&[], vec![2]);
    let (cx, cy) = (g.div(&ox, &two), g.div(&oy, &two));
    let window =
        |g: &mut GraphBuilder, plane: &Value, (x, y): (&Value, &Value), (n, m): (i64, i64)| {
            let cols = g.i64s(&[n as usize], (0..n).collect());
            let cols = g.add(&cols, x);
            let rows = g.i64s(&[m as usize], (0..m).collect());
            let rows = g.add(&rows, y);
            let v = g.node("Gather", &[plane, &rows], &[Attr::Int("axis", 0)]);
            g.node("Gather", &[&v, &cols], &[Attr::Int("axis", 1)])
        };
    let planes = [
        window(g, &planes[0], (&ox, &oy), (wi, hi)),
        window(g, &planes[1], (&cx, &cy), (wi / 2, hi / 2)),
        window(g, &planes[2], (&cx, &cy), (wi / 2, hi / 2)),
    ];
    let fx = g.gather(origin, &[0], 0);
    let fy = g.gather(origin, &[1], 0);
    (planes, fx, fy)
}

/// The alignment warp, `align::align_crop` on the frame's RGB as a graph, reading a
/// `ww × wh` window of the frame ([`align_window`]): `y`, `u`, `v`, `origin` and `to_frame`
/// (the crop → frame transform, `[2, 3]`) → `crop` `[1, 3, S, S]`.
pub fn align(w: u32, h: u32, size: u32, (ww, wh): (u32, u32)) -> Result<Vec<u8>, FaceError> {
    check_frame(w, h)?;
    check_frame(ww, wh)?;
    if size == 0 || size > MAX_SIDE || ww > w || wh > h {
        return Err(FaceError::Shape(format!(
            "a {ww}x{wh} window of a {w}x{h} frame for {size} crops"
        )));
    }
    let mut g = GraphBuilder::new("align", OPSET);
    let planes = i420_inputs(&mut g, w, h);
    let origin = g.input(ORIGIN, ElementType::F32, &[2]);
    let to_frame = g.input(TO_FRAME, ElementType::F32, &[2, 3]);
    let (planes, fx, fy) = window_planes(&mut g, &planes, &origin, (ww, wh));
    let [rgb, _, _] = rgb_i32(&mut g, &planes, ww, wh);
    let rgb = g.cast(&rgb, onnx_type::FLOAT);
    let rgb = g.reshape(&rgb, &[1, 3, i64::from(wh), i64::from(ww)]);
    let s = size as usize;
    let (xs, ys) = pixel_positions(&mut g, s, s);
    let source = Some((&fx, &fy));
    let grid = grid(&mut g, &to_frame, (&xs, &ys), (s, s), (ww, wh), source);
    let crop = grid_sample(&mut g, &rgb, &grid);
    let crop = round_u8(&mut g, &crop);
    let crop = g.cast(&crop, onnx_type::UINT8);
    g.output(&crop, CROP, ElementType::U8, &[1, 3, s, s]);
    Ok(g.to_bytes())
}

/// The window a paste of a face in `face_box` works in, in a `w × h` frame: its origin
/// (even, so its chroma blocks are the frame's) and its size, a multiple of 128 (or the
/// frame's side) that holds every pixel the box's paste may change, so a few graphs serve
/// every face size. `None` when the box misses the frame.
pub fn paste_window(face_box: [f32; 4], w: u32, h: u32) -> Option<Window> {
    let clamp = |v: f32, hi: u32| (v.max(0.0) as u32).min(hi);
    let x0 = clamp(face_box[0].floor(), w) & !1;
    let y0 = clamp(face_box[1].floor(), h) & !1;
    let x1 = ((clamp(face_box[2].ceil() + 1.0, w) + 1) & !1).min(w);
    let y1 = ((clamp(face_box[3].ceil() + 1.0, h) + 1) & !1).min(h);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    Some(window_over((x0, y0, x1, y1), w, h))
}

/// The paste-back and the write-back to I420 as one graph, over a `ww × wh` window of a
/// `w × h` frame (see [`paste_window`]): `y`, `u`, `v`, `origin` (the window's even top-left
/// corner, `[2]`), `swapped`, `mask`, `to_crop` and `face_box` → the window's planes
/// `y_out`, `u_out`, `v_out`. See the module's documentation for what it keeps of the CPU
/// path.
pub fn paste(w: u32, h: u32, size: u32, (ww, wh): (u32, u32)) -> Result<Vec<u8>, FaceError> {
    check_frame(w, h)?;
    check_frame(ww, wh)?;
    if size == 0 || size > MAX_SIDE || ww > w || wh > h {
        return Err(FaceError::Shape(format!(
            "a {ww}x{wh} window of a {w}x{h} frame for {size} crops"
        )));
    }
    let mut g = GraphBuilder::new("paste", OPSET);
    let planes = i420_inputs(&mut g, w, h);
    let origin = g.input(ORIGIN, ElementType::F32, &[2]);
    let s = size as usize;
    let swapped = g.input(SWAPPED, ElementType::U8, &[1, 3, s, s]);
    let mask = g.input(MASK, ElementType::F32, &[1, 1, s, s]);
    let to_crop = g.input(TO_CROP, ElementType::F32, &[2, 3]);
    let face_box = g.input(FACE_BOX, ElementType::F32, &[4]);
    let (wi, hi) = (i64::from(ww), i64::from(wh));
    let (wu, hu) = (ww as usize, wh as usize);

    let (planes, fx, fy) = window_planes(&mut g, &planes, &origin, (ww, wh));
    let [old, y_old, u_old] = rgb_i32(&mut g, &planes, ww, wh);
    let v_old = g.cast(&planes[2], onnx_type::INT32);
    let old_f = g.cast(&old, onnx_type::FLOAT);
    let old_f = g.reshape(&old_f, &[1, 3, hi, wi]);
    // The window's pixels' places in the frame.
    let (xs, ys) = pixel_positions(&mut g, wu, hu);
    let (xs, ys) = (g.add(&xs, &fx), g.add(&ys, &fy));

    // The swapped crop and its mask, sampled at each pixel's crop position.
    let swapped = g.cast(&swapped, onnx_type::FLOAT);
    let src = g.node("Concat", &[&swapped, &mask], &[Attr::Int("axis", 1)]);
    let grid = grid(&mut g, &to_crop, (&xs, &ys), (wu, hu), (size, size), None);
    let sampled = grid_sample(&mut g, &src, &grid);
    let fake = g.slice(&sampled, 1, 0, 3);
    let fake = round_u8(&mut g, &fake);
    let weight = g.slice(&sampled, 1, 3, 4);

    // The face box's fence: pixels inside `[ceil x1, floor x2] × [ceil y1, floor y2]` (the
    // frame's part of it), faded to 0 at its border over a tenth of its smaller side.
    let b: [Value; 4] = std::array::from_fn(|k| g.gather(&face_box, &[k as i64], 0));
    let one = g.f32(1.0);
    let lo = g.node("Ceil", &[&b[0]], &[]);
    let rx0 = clamp_f32(&mut g, &lo, 0.0, w as f32);
    let lo = g.node("Ceil", &[&b[1]], &[]);
    let ry0 = clamp_f32(&mut g, &lo, 0.0, h as f32);
    let hi_x = g.node("Floor", &[&b[2]], &[]);
    let hi_x = g.add(&hi_x, &one);
    let rx1 = clamp_f32(&mut g, &hi_x, 0.0, w as f32);
    let hi_y = g.node("Floor", &[&b[3]], &[]);
    let hi_y = g.add(&hi_y, &one);
    let ry1 = clamp_f32(&mut g, &hi_y, 0.0, h as f32);
    let bw = g.sub(&b[2], &b[0]);
    let bh = g.sub(&b[3], &b[1]);
    let side = g.min(&bw, &bh);
    let tenth = g.f32(0.1);
    let feather = g.mul(&tenth, &side);
    let feather = g.max(&feather, &one);
    let edge = |g: &mut GraphBuilder, p: &Value, r0: &Value, r1: &Value| {
        let a = g.sub(p, r0);
        let last = g.sub(r1, &one);
        let b = g.sub(&last, p);
        g.min(&a, &b)
    };
    let ex = edge(&mut g, &xs, &rx0, &rx1);
    let ey = edge(&mut g, &ys, &ry0, &ry1);
    let edge = g.min(&ex, &ey);
    let fade = g.div(&edge, &feather);
    let fade = clamp_f32(&mut g, &fade, 0.0, 1.0);
    let a = g.mul(&weight, &fade);

    // `a·fake + (1 − a)·old`, truncated.
    let keep = g.sub(&one, &a);
    let p = g.mul(&a, &fake);
    let q = g.mul(&keep, &old_f);
    let mixed = g.add(&p, &q);
    let mixed = clamp_f32(&mut g, &mixed, 0.0, 255.0);
    let new = g.cast(&mixed, onnx_type::INT32);
    let new = g.reshape(&new, &[3, hi, wi]);

    // Luma where a pixel changed.
    let diff = g.sub(&new, &old);
    let diff = g.node("Abs", &[&diff], &[]);
    let changed = g.node(
        "ReduceMax",
        &[&diff],
        &[Attr::Ints("axes", vec![0]), Attr::Int("keepdims", 0)],
    );
    let zero = g.i32(0);
    let changed_px = g.node("Greater", &[&changed, &zero], &[]);
    let yw = g.i32s(&[3, 1, 1], vec![Y_R, Y_G, Y_B]);
    let luma = g.mul(&new, &yw);
    let axis0 = g.i64s(&[1], vec![0]);
    let luma = g.node("ReduceSum", &[&luma, &axis0], &[Attr::Int("keepdims", 0)]);
    let half = g.i32(HALF);
    let luma = g.add(&luma, &half);
    let luma = div_i32(&mut g, &luma, FIX);
    let c16 = g.i32(16);
    let luma = g.add(&luma, &c16);
    let luma = clamp_i32(&mut g, &luma, 0, 255);
    let y_new = g.node("Where", &[&changed_px, &luma, &y_old], &[]);

    // Chroma where a 2×2 block has a changed pixel: the block's sums, `128 + (w·s + 2¹⁷) >>
    // 18`, made non-negative by adding 128 · 2¹⁸ before the division.
    let (cw, ch) = (wi / 2, hi / 2);
    let blocks = g.reshape(&new, &[3, ch, 2, cw, 2]);
    let axes = g.i64s(&[2], vec![2, 4]);
    let sums = g.node("ReduceSum", &[&blocks, &axes], &[Attr::Int("keepdims", 0)]);
    let changed_i = g.cast(&changed, onnx_type::INT32);
    let changed_i = g.reshape(&changed_i, &[ch, 2, cw, 2]);
    let changed_block = g.node(
        "ReduceMax",
        &[&changed_i],
        &[Attr::Ints("axes", vec![1, 3]), Attr::Int("keepdims", 0)],
    );
    let changed_block = g.node("Greater", &[&changed_block, &zero], &[]);
    let offset = g.i32((1 << 17) + (128 << 18));
    let chroma = |g: &mut GraphBuilder, k: [i32; 3], old: &Value| {
        let k = g.i32s(&[3, 1, 1], k.to_vec());
        let c = g.mul(&sums, &k);
        let c = g.node("ReduceSum", &[&c, &axis0], &[Attr::Int("keepdims", 0)]);
        let c = g.add(&c, &offset);
        let c = div_i32(g, &c, 1 << 18);
        let c = clamp_i32(g, &c, 0, 255);
        g.node("Where", &[&changed_block, &c, old], &[])
    };
    let u_new = chroma(&mut g, CB, &u_old);
    let v_new = chroma(&mut g, CR, &v_old);
    for (v, name, shape) in [
        (y_new, Y_OUT, [hu, wu]),
        (u_new, U_OUT, [hu / 2, wu / 2]),
        (v_new, V_OUT, [hu / 2, wu / 2]),
    ] {
        let v = g.cast(&v, onnx_type::UINT8);
        g.output(&v, name, ElementType::U8, &shape);
    }
    Ok(g.to_bytes())
}

/// The frame's planes as the graphs' `y`, `u`, `v` inputs.
pub fn i420_inputs_of(image: &I420Image) -> Result<Vec<(String, Tensor)>, FaceError> {
    let (w, h) = (image.width(), image.height());
    check_frame(w, h)?;
    let (y, u, v) = image.planes();
    let (w, h) = (w as usize, h as usize);
    let plane = |name: &str, data: &[u8], shape: &[usize]| {
        Tensor::u8(shape, data.to_vec())
            .map(|t| (name.to_string(), t))
            .map_err(|e| FaceError::Shape(format!("plane {name}: {e}")))
    };
    Ok(vec![
        plane(Y, y, &[h, w])?,
        plane(U, u, &[h / 2, w / 2])?,
        plane(V, v, &[h / 2, w / 2])?,
    ])
}

/// A transform as a `[2, 3]` input, in `f32` as the CPU sampler takes it.
pub fn affine_input(m: &Affine) -> Tensor {
    let values = m.m.iter().flatten().map(|&v| v as f32).collect();
    Tensor::F32 {
        shape: vec![2, 3],
        data: values,
    }
}

/// A graph's 8-bit output as bytes (a float one, as some backends may widen it, clamped).
fn bytes_of(t: &Tensor) -> Vec<u8> {
    match t {
        Tensor::U8 { data, .. } => data.clone(),
        other => other
            .to_f32()
            .iter()
            .map(|&v| v.clamp(0.0, 255.0) as u8)
            .collect(),
    }
}

/// The align graph's `[1, 3, S, S]` output as an RGB image.
pub fn rgb_from_planar(t: &Tensor) -> Result<RgbImage, FaceError> {
    let [1, 3, h, w] = *t.shape() else {
        return Err(FaceError::Shape(format!(
            "a planar RGB tensor is [1, 3, H, W], not {:?}",
            t.shape()
        )));
    };
    let planar = bytes_of(t);
    let n = w * h;
    let mut data = vec![0u8; n * 3];
    for (i, px) in data.chunks_exact_mut(3).enumerate() {
        px.copy_from_slice(&[planar[i], planar[n + i], planar[2 * n + i]]);
    }
    RgbImage::from_data(w as u32, h as u32, data).map_err(|e| FaceError::Shape(e.to_string()))
}

/// An RGB image as a planar `[1, 3, H, W]` input (the swapped crop).
pub fn planar_from_rgb(img: &RgbImage) -> Tensor {
    let n = img.width() as usize * img.height() as usize;
    let mut data = vec![0u8; n * 3];
    for (i, px) in img.data().chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * n + i] = px[c];
        }
    }
    Tensor::U8 {
        shape: vec![1, 3, img.height() as usize, img.width() as usize],
        data,
    }
}

/// `image` with the paste graph's window planes (a `ww × wh` window at `origin`) written
/// into it.
pub fn write_window(
    image: &I420Image,
    outputs: &[(String, Tensor)],
    (x0, y0): (u32, u32),
    (ww, wh): (u32, u32),
) -> Result<I420Image, FaceError> {
    let (w, h) = (image.width(), image.height());
    if x0 % 2 == 1 || y0 % 2 == 1 || x0 + ww > w || y0 + wh > h || ww % 2 == 1 || wh % 2 == 1 {
        return Err(FaceError::Shape(format!(
            "a {ww}x{wh} window at ({x0}, {y0}) of a {w}x{h} frame"
        )));
    }
    let mut out = image.clone();
    let (py, pu, pv) = out.planes_mut();
    let places = [
        (Y_OUT, py, w as usize, (x0, y0, ww, wh)),
        (U_OUT, pu, w as usize / 2, (x0 / 2, y0 / 2, ww / 2, wh / 2)),
        (V_OUT, pv, w as usize / 2, (x0 / 2, y0 / 2, ww / 2, wh / 2)),
    ];
    for (name, plane, stride, (x, y, n, m)) in places {
        let t = outputs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, t)| t)
            .ok_or_else(|| FaceError::Shape(format!("the paste graph gave no {name}")))?;
        let data = bytes_of(t);
        let (n, m) = (n as usize, m as usize);
        if data.len() != n * m {
            return Err(FaceError::Shape(format!(
                "{name} holds {} values for a {n}x{m} window",
                data.len()
            )));
        }
        for (j, row) in data.chunks_exact(n).enumerate() {
            let o = (y as usize + j) * stride + x as usize;
            plane[o..o + n].copy_from_slice(row);
        }
    }
    Ok(out)
}
