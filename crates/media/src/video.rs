//! Video images and frames: I420 (what travels) and packed RGB (what models see), with
//! BT.601 limited-range conversion between them.

use crate::{MediaError, Timestamp};

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

// BT.601 limited range in 16-bit fixed point. Forward coefficients are the studio-swing matrix
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

fn rgb_len(width: u32, height: u32) -> usize {
    width as usize * height as usize * 3
}

impl I420Image {
    /// Bytes an I420 image of this size takes.
    pub fn byte_len(width: u32, height: u32) -> usize {
        let chroma = width.div_ceil(2) as usize * height.div_ceil(2) as usize;
        width as usize * height as usize + 2 * chroma
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
            // Two pixels share each chroma pair; the last chunk is one pixel when w is odd.
            let pairs = rgb_row.chunks_mut(6).zip(y_row.chunks(2)).zip(u_row.iter().zip(v_row));
            for ((rgb, ys), (&u, &v)) in pairs {
                let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
                let r_off = R_CR * v + HALF;
                let g_off = G_CB * u + G_CR * v + HALF;
                let b_off = B_CB * u + HALF;
                for (px, &y) in rgb.chunks_exact_mut(3).zip(ys) {
                    let yv = (i32::from(y) - 16) * RGB_Y;
                    px[0] = clamp_fix(yv + r_off);
                    px[1] = clamp_fix(yv + g_off);
                    px[2] = clamp_fix(yv + b_off);
                }
            }
        }
        out
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

        for (y_px, rgb) in y_plane.iter_mut().zip(self.data.chunks_exact(3)) {
            *y_px = luma(rgb[0].into(), rgb[1].into(), rgb[2].into());
        }

        let rgb_rows = |row: usize| &self.data[row * w * 3..][..w * 3];
        let chroma_rows = u_plane.chunks_exact_mut(cw).zip(v_plane.chunks_exact_mut(cw));
        for (crow, (u_row, v_row)) in chroma_rows.enumerate() {
            // An odd last row or column repeats its pixels, so every block sums four samples.
            let top = rgb_rows(2 * crow);
            let bottom = rgb_rows((2 * crow + 1).min(h - 1));
            let blocks = top.chunks(6).zip(bottom.chunks(6));
            for ((u, v), (a, b)) in u_row.iter_mut().zip(v_row.iter_mut()).zip(blocks) {
                let (a1, b1) = (&a[a.len() - 3..], &b[b.len() - 3..]);
                let sum = |c: usize| i32::from(a[c]) + i32::from(a1[c]) + i32::from(b[c]) + i32::from(b1[c]);
                let (r, g, bl) = (sum(0), sum(1), sum(2));
                *u = chroma(CB_R * r + CB_G * g + CB_B * bl, FIX + 2);
                *v = chroma(CR_R * r + CR_G * g + CR_B * bl, FIX + 2);
            }
        }
        out
    }
}
