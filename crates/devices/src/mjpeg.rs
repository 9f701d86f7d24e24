//! MJPEG camera frames to I420: each frame is a JPEG (often without its Huffman tables, which
//! then are the standard ones of JPEG Annex K), decoded to YCbCr with no RGB in between, then
//! subsampled to 4:2:0 and moved from JPEG's full range to the studio's BT.601 limited range.

use std::borrow::Cow;
use studio_media::error::MediaError;
use studio_media::video::I420Image;
use studio_media::video::RgbImage;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The standard Huffman tables (JPEG Annex K.3, tables K.3 to K.6) as one DHT segment: what
/// MJPEG streams leave out of each frame (the OpenDML convention).
const STANDARD_DHT: [u8; 420] = [
    0xff, 0xc4, 0x01, 0xa2, 0x00, 0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
    0x0b, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x00,
    0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01,
    0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
    0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24,
    0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29,
    0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
    0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
    0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a,
    0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
    0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6,
    0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3,
    0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
    0xfa, 0x11, 0x00, 0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01,
    0x02, 0x77, 0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
    0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33,
    0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19,
    0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46,
    0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
    0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85,
    0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
    0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
    0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
    0xf7, 0xf8, 0xf9, 0xfa,
];

/// Decodes camera JPEGs into I420, reusing its buffers from frame to frame.
pub struct MjpegDecoder {
    /// Full-size interleaved YCbCr (or luma, or RGB) straight from the decoder.
    scratch: Vec<u8>,
    /// Full-range luma to limited range (16..=235).
    luma: [u8; 256],
    /// Full-range chroma to limited range (16..=240), both centred on 128.
    chroma: [u8; 256],
}

impl Default for MjpegDecoder {
    fn default() -> Self {
        MjpegDecoder::new()
    }
}

impl MjpegDecoder {
    pub fn new() -> MjpegDecoder {
        let mut luma = [0u8; 256];
        let mut chroma = [0u8; 256];
        for v in 0..256 {
            luma[v] = (16.0 + v as f64 * 219.0 / 255.0).round() as u8;
            chroma[v] = (128.0 + (v as f64 - 128.0) * 224.0 / 255.0).round() as u8;
        }
        MjpegDecoder {
            scratch: Vec::new(),
            luma,
            chroma,
        }
    }

    /// Decode one frame that the camera agreed to send at `width`×`height` (odd sizes lose
    /// their last row or column, as with the raw formats). A broken or truncated JPEG, or one
    /// of another size, is an error that names what is wrong.
    pub fn decode(
        &mut self,
        jpeg: &[u8],
        width: u32,
        height: u32,
    ) -> Result<I420Image, MediaError> {
        let broken =
            |why: String| MediaError::BadFormat(format!("a broken camera frame (JPEG): {why}"));
        let jpeg = with_huffman_tables(jpeg).map_err(broken)?;
        // Strict: a truncated frame is dropped rather than shown with a grey bottom half.
        let options = DecoderOptions::default()
            .set_strict_mode(true)
            .set_max_width(16_384)
            .set_max_height(16_384);
        let mut decoder = JpegDecoder::new_with_options(
            ZCursor::new(&jpeg[..]),
            options.jpeg_set_out_colorspace(ColorSpace::YCbCr),
        );
        decoder
            .decode_headers()
            .map_err(|e| broken(e.to_string()))?;
        let (w, h) = decoder
            .dimensions()
            .map(|(w, h)| (w as u32, h as u32))
            .ok_or_else(|| broken("no size in its header".into()))?;
        if (w, h) != (width, height) {
            return Err(broken(format!(
                "{w}x{h} where the camera agreed on {width}x{height}"
            )));
        }
        let input = decoder
            .input_colorspace()
            .ok_or_else(|| broken("no colour space in its header".into()))?;
        let out = match input {
            ColorSpace::YCbCr => ColorSpace::YCbCr,
            ColorSpace::Luma => ColorSpace::Luma,
            _ => ColorSpace::RGB,
        };
        if out != ColorSpace::YCbCr {
            decoder = JpegDecoder::new_with_options(
                ZCursor::new(&jpeg[..]),
                options.jpeg_set_out_colorspace(out),
            );
        }
        let size = w as usize * h as usize * out.num_components();
        self.scratch.resize(size, 0);
        decoder
            .decode_into(&mut self.scratch)
            .map_err(|e| broken(e.to_string()))?;
        Ok(match out {
            ColorSpace::YCbCr => self.convert_ycbcr(w as usize, h as usize),
            ColorSpace::Luma => self.convert_luma(w as usize, h as usize),
            _ => from_rgb(&self.scratch, w as usize, h as usize)?,
        })
    }

    /// Interleaved full-range YCbCr to limited-range I420, chroma averaged over each 2×2.
    fn convert_ycbcr(&self, width: usize, height: usize) -> I420Image {
        let (w, h) = (width & !1, height & !1);
        let mut image = I420Image::black(w as u32, h as u32);
        let (y, u, v) = image.planes_mut();
        let (cw, row_bytes) = (w / 2, width * 3);
        let (luma, chroma) = (&self.luma, &self.chroma);
        for row in 0..h / 2 {
            let top = &self.scratch[2 * row * row_bytes..][..w * 3];
            let bottom = &self.scratch[(2 * row + 1) * row_bytes..][..w * 3];
            let (y_top, y_bottom) = y[2 * row * w..(2 * row + 2) * w].split_at_mut(w);
            let u_row = &mut u[row * cw..(row + 1) * cw];
            let v_row = &mut v[row * cw..(row + 1) * cw];
            for x in 0..cw {
                let (a, b) = (&top[6 * x..6 * x + 6], &bottom[6 * x..6 * x + 6]);
                y_top[2 * x] = luma[a[0] as usize];
                y_top[2 * x + 1] = luma[a[3] as usize];
                y_bottom[2 * x] = luma[b[0] as usize];
                y_bottom[2 * x + 1] = luma[b[3] as usize];
                let avg = |i: usize| {
                    (u16::from(a[i])
                        + u16::from(a[i + 3])
                        + u16::from(b[i])
                        + u16::from(b[i + 3])
                        + 2)
                        >> 2
                };
                u_row[x] = chroma[avg(1) as usize];
                v_row[x] = chroma[avg(2) as usize];
            }
        }
        image
    }

    /// A greyscale JPEG: luma only, neutral chroma.
    fn convert_luma(&self, width: usize, height: usize) -> I420Image {
        let (w, h) = (width & !1, height & !1);
        let mut image = I420Image::black(w as u32, h as u32);
        let (y, _, _) = image.planes_mut();
        for row in 0..h {
            for (out, &full) in y[row * w..(row + 1) * w]
                .iter_mut()
                .zip(&self.scratch[row * width..row * width + w])
            {
                *out = self.luma[full as usize];
            }
        }
        image
    }
}

/// An RGB (Adobe-transformed) or CMYK JPEG, rare from cameras: through the studio's own RGB
/// conversion.
fn from_rgb(rgb: &[u8], width: usize, height: usize) -> Result<I420Image, MediaError> {
    let (w, h) = (width & !1, height & !1);
    let mut cropped = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        cropped.extend_from_slice(&rgb[row * width * 3..][..w * 3]);
    }
    Ok(RgbImage::from_data(w as u32, h as u32, cropped)?.to_i420())
}

/// The frame with the standard Huffman tables added after its start marker when it has none
/// of its own (most MJPEG cameras send them only implicitly).
pub fn with_huffman_tables(jpeg: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if jpeg.len() < 4 || jpeg[0..2] != [0xFF, 0xD8] {
        return Err(format!(
            "it does not start like a JPEG ({} bytes)",
            jpeg.len()
        ));
    }
    // Walk the header segments up to the start of scan; entropy-coded data is never read.
    let mut at = 2;
    loop {
        let Some(&[marker_lead, marker]) = jpeg.get(at..at + 2) else {
            return Err("it ends inside its header".into());
        };
        if marker_lead != 0xFF {
            return Err(format!(
                "a header byte {marker_lead:#04x} where a marker belongs"
            ));
        }
        match marker {
            0xFF => at += 1, // fill byte
            0xC4 => return Ok(Cow::Borrowed(jpeg)),
            0xDA => break,
            0xD8 | 0xD9 | 0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let Some(len) = jpeg.get(at + 2..at + 4) else {
                    return Err("it ends inside its header".into());
                };
                at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
        }
    }
    let mut with = Vec::with_capacity(jpeg.len() + STANDARD_DHT.len());
    with.extend_from_slice(&jpeg[..2]);
    with.extend_from_slice(&STANDARD_DHT);
    with.extend_from_slice(&jpeg[2..]);
    Ok(Cow::Owned(with))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_tables_are_one_well_formed_dht_segment() {
        assert_eq!(&STANDARD_DHT[..4], &[0xFF, 0xC4, 0x01, 0xA2]);
        // Four tables, each: class/id, 16 counts, then as many symbols as the counts add to.
        let mut at = 4;
        let mut ids = Vec::new();
        while at < STANDARD_DHT.len() {
            ids.push(STANDARD_DHT[at]);
            let symbols: usize = STANDARD_DHT[at + 1..at + 17]
                .iter()
                .map(|&c| c as usize)
                .sum();
            at += 17 + symbols;
        }
        assert_eq!(at, STANDARD_DHT.len());
        assert_eq!(ids, [0x00, 0x01, 0x10, 0x11]);
    }

    #[test]
    fn full_range_maps_onto_the_limited_range() {
        let decoder = MjpegDecoder::new();
        assert_eq!((decoder.luma[0], decoder.luma[255]), (16, 235));
        assert_eq!(
            (decoder.chroma[0], decoder.chroma[128], decoder.chroma[255]),
            (16, 128, 240)
        );
    }

    #[test]
    fn what_is_not_a_jpeg_is_refused_with_a_reason() {
        assert!(
            with_huffman_tables(b"GIF89a")
                .unwrap_err()
                .contains("does not start")
        );
        assert!(
            with_huffman_tables(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00])
                .unwrap_err()
                .contains("ends inside")
        );
    }
}
