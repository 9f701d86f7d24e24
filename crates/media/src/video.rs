//! Video images and frames: I420 (what travels) and packed RGB (what models see), with
//! BT.601 limited-range conversion between them.

use crate::error::MediaError;
use crate::time::Timestamp;

/// A planar YUV 4:2:0 image: the Y plane, then U, then V, each tightly packed. Chroma planes
/// are `ceil(width/2) × ceil(height/2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Image {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// Packed 8-bit RGB, row by row, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

/// One video frame in flight: the image plus its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Position in the stream, from 0, assigned at capture.
    pub seq: u64,
    pub capture: Timestamp,
    pub image: I420Image,
}

// BT.601 limited range in fixed point with 16 fraction bits. Forward coefficients are the studio-swing matrix
// scaled by 65536/255; each chroma row sums to zero so greys map to exactly 128.
const FIX: u32 = 16;
const HALF: i32 = 1 << (FIX - 1);
const Y_R: i32 = 16829;
const Y_G: i32 = 33039;
const Y_B: i32 = 6416;
const CB_R: i32 = -9714;
const CB_G: i32 = -19070;
const CB_B: i32 = 28784;
const CR_R: i32 = 28784;
const CR_G: i32 = -24103;
const CR_B: i32 = -4681;
// Inverse: 255/219 for luma, and the chroma terms scaled by 255/224.
const RGB_Y: i32 = 76309;
const R_CR: i32 = 104597;
const G_CB: i32 = -25675;
const G_CR: i32 = -53279;
const B_CB: i32 = 132201;

/// BT.601 limited-range `(Y, Cb, Cr)` of one full-range RGB colour.
pub(crate) fn rgb_to_ycbcr(rgb: [u8; 3]) -> (u8, u8, u8) {
    let [r, g, b] = rgb.map(i32::from);
    (
        luma(r, g, b),
        chroma(CB_R * r + CB_G * g + CB_B * b, FIX),
        chroma(CR_R * r + CR_G * g + CR_B * b, FIX),
    )
}

/// One 2×2 block of full-range RGB pixels (top left, top right, bottom left, bottom right)
/// in BT.601 limited range, exactly as [`RgbImage::to_i420`] converts it: the four pixels'
/// luma and the block's chroma (the mean of its four pixels; a block cut by an odd edge
/// repeats the edge's pixels, as `to_i420` does).
#[inline]
pub fn rgb_block_to_i420(px: [[u8; 3]; 4]) -> ([u8; 4], u8, u8) {
    let mut sum = [0i32; 3];
    let ys = px.map(|p| {
        let [r, g, b] = p.map(i32::from);
        sum[0] += r;
        sum[1] += g;
        sum[2] += b;
        luma(r, g, b)
    });
    let [r, g, b] = sum;
    (
        ys,
        chroma(CB_R * r + CB_G * g + CB_B * b, FIX + 2),
        chroma(CR_R * r + CR_G * g + CR_B * b, FIX + 2),
    )
}

#[inline(always)]
fn luma(r: i32, g: i32, b: i32) -> u8 {
    (16 + ((Y_R * r + Y_G * g + Y_B * b + HALF) >> FIX)).clamp(0, 255) as u8
}

/// `128 + weighted >> shift`, rounded; `shift` also divides out how many pixels were summed.
#[inline(always)]
fn chroma(weighted: i32, shift: u32) -> u8 {
    (128 + ((weighted + (1 << (shift - 1))) >> shift)).clamp(0, 255) as u8
}

#[inline(always)]
fn clamp_fix(v: i32) -> u8 {
    (v >> FIX).clamp(0, 255) as u8
}

/// Bytes of an RGB image; sizes from a file or a socket can be absurd, so the arithmetic
/// saturates (no buffer is ever `usize::MAX` long, so such a size never matches one).
fn rgb_len(width: u32, height: u32) -> usize {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(3))
        .unwrap_or(usize::MAX)
}

impl I420Image {
    /// Bytes an I420 image of this size takes, or `None` when that does not fit in memory's
    /// address space (sizes come from files and sockets).
    pub fn checked_byte_len(width: u32, height: u32) -> Option<usize> {
        let chroma = (width.div_ceil(2) as usize).checked_mul(height.div_ceil(2) as usize)?;
        (width as usize)
            .checked_mul(height as usize)?
            .checked_add(chroma.checked_mul(2)?)
    }

    /// Bytes an I420 image of this size takes; saturates at `usize::MAX` (which no buffer
    /// matches) instead of overflowing.
    pub fn byte_len(width: u32, height: u32) -> usize {
        I420Image::checked_byte_len(width, height).unwrap_or(usize::MAX)
    }

    /// A black image (Y 16, U and V 128).
    pub fn black(width: u32, height: u32) -> I420Image {
        let luma = width as usize * height as usize;
        let mut data = vec![128; I420Image::byte_len(width, height)];
        data[..luma].fill(16);
        I420Image {
            width,
            height,
            data,
        }
    }

    /// Wrap planes read from a file or a socket; the length must match the size.
    pub fn from_data(width: u32, height: u32, data: Vec<u8>) -> Result<I420Image, MediaError> {
        let need = I420Image::byte_len(width, height);
        if data.len() != need {
            return Err(MediaError::BadFormat(format!(
                "I420 {width}x{height} needs {need} bytes, got {}",
                data.len()
            )));
        }
        Ok(I420Image {
            width,
            height,
            data,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    /// All three planes, Y then U then V.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
    pub fn chroma_width(&self) -> u32 {
        self.width.div_ceil(2)
    }
    pub fn chroma_height(&self) -> u32 {
        self.height.div_ceil(2)
    }

    fn plane_lens(&self) -> (usize, usize) {
        (
            self.width as usize * self.height as usize,
            self.chroma_width() as usize * self.chroma_height() as usize,
        )
    }

    /// `(y, u, v)` planes.
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let (luma, chroma) = self.plane_lens();
        let (y, uv) = self.data.split_at(luma);
        let (u, v) = uv.split_at(chroma);
        (y, u, v)
    }
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let (luma, chroma) = self.plane_lens();
        let (y, uv) = self.data.split_at_mut(luma);
        let (u, v) = uv.split_at_mut(chroma);
        (y, u, v)
    }

    /// BT.601 limited range to full-range RGB; chroma is shared by each 2×2 block.
    pub fn to_rgb(&self) -> RgbImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = self.chroma_width() as usize;
        let mut out = RgbImage::new(self.width, self.height);
        if w == 0 || h == 0 {
            return out;
        }
        let (y_plane, u_plane, v_plane) = self.planes();
        let rows = out
            .data
            .chunks_exact_mut(w * 3)
            .zip(y_plane.chunks_exact(w));
        for (row, (rgb_row, y_row)) in rows.enumerate() {
            let u_row = &u_plane[row / 2 * cw..][..cw];
            let v_row = &v_plane[row / 2 * cw..][..cw];
            // Straight to interleaved bytes, a pixel pair per chroma sample: splitting the row
            // into channel planes first cost more in the final interleave than it saved.
            let pairs = rgb_row.chunks_mut(6).zip(y_row.chunks(2));
            for ((rgb_pair, y_pair), (&u, &v)) in pairs.zip(u_row.iter().zip(v_row)) {
                let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
                let (r, g, b) = (R_CR * v + HALF, G_CB * u + G_CR * v + HALF, B_CB * u + HALF);
                for (px, &y) in rgb_pair.chunks_exact_mut(3).zip(y_pair) {
                    let l = (i32::from(y) - 16) * RGB_Y;
                    px[0] = clamp_fix(l + r);
                    px[1] = clamp_fix(l + g);
                    px[2] = clamp_fix(l + b);
                }
            }
        }
        out
    }
}

impl I420Image {
    /// Pixels `x0..` of row `y` as full-range RGB, exactly as [`I420Image::to_rgb`] gives
    /// them, into `out` (three bytes a pixel, as many pixels as it holds and the row has).
    /// Returns how many pixels were written; none when `y` or `x0` lies outside the image.
    pub fn row_to_rgb(&self, y: u32, x0: u32, out: &mut [u8]) -> usize {
        if y >= self.height || x0 >= self.width {
            return 0;
        }
        let n = (out.len() / 3).min((self.width - x0) as usize);
        let (w, cw) = (self.width as usize, self.chroma_width() as usize);
        let (y_plane, u_plane, v_plane) = self.planes();
        let (row, x0) = (y as usize, x0 as usize);
        let y_row = &y_plane[row * w..][..w];
        let u_row = &u_plane[row / 2 * cw..][..cw];
        let v_row = &v_plane[row / 2 * cw..][..cw];
        let pixel = |px: &mut [u8], y: u8, (r, g, b): (i32, i32, i32)| {
            let l = (i32::from(y) - 16) * RGB_Y;
            px[0] = clamp_fix(l + r);
            px[1] = clamp_fix(l + g);
            px[2] = clamp_fix(l + b);
        };
        let chroma_terms = |c: usize| {
            let (u, v) = (i32::from(u_row[c]) - 128, i32::from(v_row[c]) - 128);
            (R_CR * v + HALF, G_CB * u + G_CR * v + HALF, B_CB * u + HALF)
        };
        // An odd first pixel alone, then pixel pairs sharing their chroma sample, as `to_rgb`
        // goes, then an odd last one.
        let (mut x, mut rest) = (x0, &mut out[..n * 3]);
        if x % 2 == 1 {
            let (px, tail) = rest.split_at_mut(3);
            pixel(px, y_row[x], chroma_terms(x / 2));
            (x, rest) = (x + 1, tail);
        }
        let mut pairs = rest.chunks_exact_mut(6);
        for pair in &mut pairs {
            let terms = chroma_terms(x / 2);
            let (a, b) = pair.split_at_mut(3);
            pixel(a, y_row[x], terms);
            pixel(b, y_row[x + 1], terms);
            x += 2;
        }
        let last = pairs.into_remainder();
        if last.len() == 3 {
            pixel(last, y_row[x], chroma_terms(x / 2));
        }
        n
    }

    /// Row `j` of [`I420Image::to_rgb_half`] with each channel in its own slice (`planes[0]`
    /// red, then green, then blue), without building the rest: what a planar model input
    /// wants. Returns how many pixels were written (as many as the shortest slice holds and
    /// the half row has); none when `j` lies outside the half-size image.
    pub fn half_row_to_planes(&self, j: u32, planes: [&mut [u8]; 3]) -> usize {
        half_row_planes(self, j, planes)
    }

    /// The image at half size in RGB, `width / 2 × height / 2` (an odd last row or column is
    /// left out): each pixel the mean of a 2×2 block of [`I420Image::to_rgb`]'s pixels,
    /// rounded half up, which is what a 2:1 bilinear resize of the RGB image gives. Each
    /// block shares one chroma sample, so this never builds the full-size image.
    pub fn to_rgb_half(&self) -> RgbImage {
        let (hw, hh) = (self.width / 2, self.height / 2);
        let mut out = RgbImage::new(hw, hh);
        if hw == 0 || hh == 0 {
            return out;
        }
        let mut planes = [
            vec![0u8; hw as usize],
            vec![0u8; hw as usize],
            vec![0u8; hw as usize],
        ];
        let rows = out.data.chunks_exact_mut(hw as usize * 3);
        for (j, out_row) in rows.enumerate() {
            let [r, g, b] = &mut planes;
            self.half_row_to_planes(j as u32, [r, g, b]);
            for (x, px) in out_row.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&[planes[0][x], planes[1][x], planes[2][x]]);
            }
        }
        out
    }
}

/// [`I420Image::half_row_to_planes`]; compiled for AVX2 as well, whose vectors are twice as
/// wide and have the 32-bit minimum and maximum the baseline instruction set lacks.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn half_row_planes(image: &I420Image, j: u32, planes: [&mut [u8]; 3]) -> usize {
    let (hw, hh) = (image.width as usize / 2, image.height / 2);
    if j >= hh {
        return 0;
    }
    let [r_out, g_out, b_out] = planes;
    let n = hw.min(r_out.len()).min(g_out.len()).min(b_out.len());
    let (w, cw, j) = (
        image.width as usize,
        image.chroma_width() as usize,
        j as usize,
    );
    let (y_plane, u_plane, v_plane) = image.planes();
    let top = &y_plane[2 * j * w..][..2 * n];
    let bottom = &y_plane[(2 * j + 1) * w..][..2 * n];
    let u_row = &u_plane[j * cw..][..n];
    let v_row = &v_plane[j * cw..][..n];
    // A chunk at a time through fixed-size arrays: the four luma terms and the three
    // chroma terms of each pixel first, then one straight loop per channel, which the
    // compiler turns into vector instructions (the interleaved loop does not vectorise).
    // Every term is below 2^25 in magnitude, so the wrapping operations never wrap; they
    // only keep overflow checks out of the loops, which would stop the vectorising.
    const CHUNK: usize = 64;
    let mut start = 0;
    while start < n {
        let m = CHUNK.min(n - start);
        let mut luma = [[0i32; CHUNK]; 4];
        let mut chroma = [[0i32; CHUNK]; 3];
        let (t, b) = (&top[2 * start..][..2 * m], &bottom[2 * start..][..2 * m]);
        let term = |y: u8| (i32::from(y) - 16).wrapping_mul(RGB_Y);
        for k in 0..m {
            luma[0][k] = term(t[2 * k]);
            luma[1][k] = term(t[2 * k + 1]);
            luma[2][k] = term(b[2 * k]);
            luma[3][k] = term(b[2 * k + 1]);
            let u = i32::from(u_row[start + k]) - 128;
            let v = i32::from(v_row[start + k]) - 128;
            chroma[0][k] = R_CR.wrapping_mul(v).wrapping_add(HALF);
            chroma[1][k] = G_CB
                .wrapping_mul(u)
                .wrapping_add(G_CR.wrapping_mul(v))
                .wrapping_add(HALF);
            chroma[2][k] = B_CB.wrapping_mul(u).wrapping_add(HALF);
        }
        let channel = |terms: &[i32; CHUNK], out: &mut [u8]| {
            let fix = |l: i32, c: i32| (l.wrapping_add(c) >> FIX).clamp(0, 255);
            for (k, o) in out.iter_mut().enumerate() {
                let c = terms[k];
                let sum = fix(luma[0][k], c)
                    .wrapping_add(fix(luma[1][k], c))
                    .wrapping_add(fix(luma[2][k], c))
                    .wrapping_add(fix(luma[3][k], c));
                *o = (sum.wrapping_add(2) >> 2) as u8;
            }
        };
        channel(&chroma[0], &mut r_out[start..start + m]);
        channel(&chroma[1], &mut g_out[start..start + m]);
        channel(&chroma[2], &mut b_out[start..start + m]);
        start += m;
    }
    n
}

/// One row split into R, G and B (or per-channel values) as `i32`, the layout the conversion
/// loops vectorise well on.
struct Planar {
    r: Vec<i32>,
    g: Vec<i32>,
    b: Vec<i32>,
}

impl Planar {
    fn new(len: usize) -> Planar {
        Planar {
            r: vec![0; len],
            g: vec![0; len],
            b: vec![0; len],
        }
    }

    /// Split an interleaved RGB row; when the row is shorter (odd width into an even-length
    /// `Planar`), the last pixel is repeated.
    fn load(&mut self, rgb_row: &[u8]) {
        let pixels = rgb_row.chunks_exact(3);
        let n = pixels.len();
        let planes = self
            .r
            .iter_mut()
            .zip(self.g.iter_mut())
            .zip(self.b.iter_mut());
        for (((r, g), b), px) in planes.zip(pixels) {
            (*r, *g, *b) = (px[0].into(), px[1].into(), px[2].into());
        }
        if let Some(last) = n.checked_sub(1) {
            for plane in [&mut self.r, &mut self.g, &mut self.b] {
                let value = plane[last];
                plane[n..].fill(value);
            }
        }
    }

    /// Limited-range luma of the row into `out` (as many pixels as `out` holds).
    fn luma_into(&self, out: &mut [u8]) {
        let pixels = self.r.iter().zip(&self.g).zip(&self.b);
        for (y, ((&r, &g), &b)) in out.iter_mut().zip(pixels) {
            *y = luma(r, g, b);
        }
    }

    /// Sums of each 2×2 block of `top` and `bottom` (both of length `2 * self.len`).
    fn block_sums(&mut self, top: &Planar, bottom: &Planar) {
        let channels = [
            (&mut self.r, &top.r, &bottom.r),
            (&mut self.g, &top.g, &bottom.g),
            (&mut self.b, &top.b, &bottom.b),
        ];
        for (sum, top, bottom) in channels {
            let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for (s, (t, b)) in sum.iter_mut().zip(pairs) {
                *s = t[0] + t[1] + b[0] + b[1];
            }
        }
    }
}

impl RgbImage {
    /// A black image.
    pub fn new(width: u32, height: u32) -> RgbImage {
        RgbImage {
            width,
            height,
            data: vec![0; rgb_len(width, height)],
        }
    }
    pub fn from_data(width: u32, height: u32, data: Vec<u8>) -> Result<RgbImage, MediaError> {
        let need = rgb_len(width, height);
        if data.len() != need {
            return Err(MediaError::BadFormat(format!(
                "RGB {width}x{height} needs {need} bytes, got {}",
                data.len()
            )));
        }
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
    /// The pixel at `(x, y)`. Panics outside the image, like slice indexing.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{}",
            self.width,
            self.height
        );
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Full-range RGB to BT.601 limited range; each chroma sample averages its 2×2 block.
    pub fn to_i420(&self) -> I420Image {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut out = I420Image::black(self.width, self.height);
        if w == 0 || h == 0 {
            return out;
        }
        let cw = out.chroma_width() as usize;
        let (y_plane, u_plane, v_plane) = out.planes_mut();
        let rgb_row = |row: usize| &self.data[row * w * 3..][..w * 3];
        // An odd last row or column repeats its pixels, so every chroma block sums four.
        let (mut top, mut bottom) = (Planar::new(2 * cw), Planar::new(2 * cw));
        let mut sums = Planar::new(cw);
        let rows = y_plane.chunks_mut(2 * w).zip(
            u_plane
                .chunks_exact_mut(cw)
                .zip(v_plane.chunks_exact_mut(cw)),
        );
        for (pair, (y_rows, (u_row, v_row))) in rows.enumerate() {
            let (y_top, y_bottom) = y_rows.split_at_mut(w);
            top.load(rgb_row(2 * pair));
            bottom.load(rgb_row((2 * pair + 1).min(h - 1)));
            top.luma_into(y_top);
            bottom.luma_into(y_bottom);
            sums.block_sums(&top, &bottom);
            let chroma_out = u_row.iter_mut().zip(v_row.iter_mut());
            let blocks = sums.r.iter().zip(&sums.g).zip(&sums.b);
            for ((u, v), ((&r, &g), &b)) in chroma_out.zip(blocks) {
                *u = chroma(CB_R * r + CB_G * g + CB_B * b, FIX + 2);
                *v = chroma(CR_R * r + CR_G * g + CR_B * b, FIX + 2);
            }
        }
        out
    }
}
