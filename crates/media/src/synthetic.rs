//! Synthetic sources for tests and demos: a moving test pattern that carries its frame
//! number, a tone, and the flash/click pair used to measure lip sync.

use crate::error::MediaError;
use crate::source::{AudioSource, VideoFormat, VideoSource};
use crate::video::I420Image;
use crate::video::rgb_to_ycbcr;

/// Moving colour bars with the frame number written as 32 black/white bit cells along the top
/// row, readable back with [`read_frame_number`] even after mild lossy coding.
///
/// The bars scroll left and a grey band moves down, so a frozen picture shows. The cells
/// (a guard, the low 32 bits of the frame counter LSB first, a check nibble) are squares of
/// about a fortieth of the width, wrapping onto a second or third row on narrow frames.
pub struct TestPattern {
    format: VideoFormat,
    frame: u64,
}

impl TestPattern {
    pub fn new(format: VideoFormat) -> TestPattern {
        TestPattern { format, frame: 0 }
    }
}

/// Cells before the number: a fixed on/off/off/on guard that no flat image can imitate.
const MARKER: [bool; 4] = [true, false, false, true];
const NUMBER_BITS: usize = 32;
const CHECK_BITS: usize = 4;
const CELLS: usize = MARKER.len() + NUMBER_BITS + CHECK_BITS;
const CELL_DARK: u8 = 16;
const CELL_LIGHT: u8 = 235;
/// Marker cells must read this far from the 128 threshold, so mid-grey images don't pass.
const MARKER_MARGIN: u32 = 32;
/// Pixels the bars scroll per frame.
const SCROLL_PX: u64 = 4;
/// 75% colour bars, as in a broadcast test card.
const BARS: [[u8; 3]; 8] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
    [0, 0, 0],
];

/// Where the bit cells go: squares of `size` (even, so they cover whole chroma samples),
/// `cols` to a row from the top-left corner, wrapping onto more rows on narrow frames.
#[derive(Debug, Clone, Copy)]
struct CellLayout {
    size: usize,
    cols: usize,
}

impl CellLayout {
    /// The layout for a frame size, or `None` when the cells don't fit.
    fn for_size(width: usize, height: usize) -> Option<CellLayout> {
        let size = ((width / CELLS) & !1).max(4);
        let cols = (width / size).min(CELLS);
        if cols == 0 || CELLS.div_ceil(cols) * size > height {
            return None;
        }
        Some(CellLayout { size, cols })
    }

    /// Top-left pixel of cell `i`.
    fn origin(self, i: usize) -> (usize, usize) {
        ((i % self.cols) * self.size, (i / self.cols) * self.size)
    }
}

/// The cells' bits: marker, the number LSB first, then a check nibble.
fn cell_bits(number: u32) -> [bool; CELLS] {
    let mut bits = [false; CELLS];
    bits[..MARKER.len()].copy_from_slice(&MARKER);
    let check = check_nibble(number);
    for (i, bit) in bits[MARKER.len()..].iter_mut().enumerate() {
        *bit = if i < NUMBER_BITS {
            number >> i & 1 == 1
        } else {
            check >> (i - NUMBER_BITS) & 1 == 1
        };
    }
    bits
}

/// XOR of the number's nibbles, flipped so that frame 0 is not all dark.
fn check_nibble(number: u32) -> u32 {
    let folded = number ^ (number >> 16);
    let folded = folded ^ (folded >> 8);
    (folded ^ (folded >> 4) ^ 0b0110) & 0xF
}

/// Read the frame number a [`TestPattern`] wrote; `None` if the cells are not there.
pub fn read_frame_number(image: &I420Image) -> Option<u64> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let layout = CellLayout::for_size(w, h)?;
    let (luma, _, _) = image.planes();
    // The middle half of each cell, away from edges that lossy coding smears.
    let (lo, hi) = (layout.size / 4, layout.size - layout.size / 4);
    let mut bits = [false; CELLS];
    for (i, bit) in bits.iter_mut().enumerate() {
        let (x0, y0) = layout.origin(i);
        let sum: u32 = (y0 + lo..y0 + hi)
            .flat_map(|y| &luma[y * w + x0 + lo..y * w + x0 + hi])
            .map(|&v| u32::from(v))
            .sum();
        let mean = sum / ((hi - lo) * (hi - lo)) as u32;
        if i < MARKER.len() && mean.abs_diff(128) < MARKER_MARGIN {
            return None;
        }
        *bit = mean >= 128;
    }
    let (marker, rest) = bits.split_at(MARKER.len());
    let (number, check) = rest.split_at(NUMBER_BITS);
    // LSB first, as `cell_bits` lays them out.
    let value = |bits: &[bool]| {
        bits.iter()
            .rev()
            .fold(0u32, |acc, &b| acc << 1 | u32::from(b))
    };
    let number = value(number);
    (marker == MARKER && value(check) == check_nibble(number)).then_some(u64::from(number))
}

fn draw_pattern(format: VideoFormat, frame: u64) -> I420Image {
    let mut image = I420Image::black(format.width, format.height);
    let (w, h) = (format.width as usize, format.height as usize);
    if w == 0 || h == 0 {
        return image;
    }
    let cw = image.chroma_width() as usize;
    let (y_plane, u_plane, v_plane) = image.planes_mut();

    // Colour bars scrolling left: build one row of each plane, then copy it down.
    let bars = BARS.map(rgb_to_ycbcr);
    let offset = (frame * SCROLL_PX % w as u64) as usize;
    let bar_at = |x: usize| bars[(x + offset) % w * BARS.len() / w];
    let y_row: Vec<u8> = (0..w).map(|x| bar_at(x).0).collect();
    let u_row: Vec<u8> = (0..cw).map(|cx| bar_at(2 * cx).1).collect();
    let v_row: Vec<u8> = (0..cw).map(|cx| bar_at(2 * cx).2).collect();
    for row in y_plane.chunks_exact_mut(w) {
        row.copy_from_slice(&y_row);
    }
    for (u, v) in u_plane
        .chunks_exact_mut(cw)
        .zip(v_plane.chunks_exact_mut(cw))
    {
        u.copy_from_slice(&u_row);
        v.copy_from_slice(&v_row);
    }

    // A grey ramp band moving down, starting on an even row so it covers whole chroma rows.
    let band_h = (h / 8).max(2) & !1;
    let band_y = (frame * 2 % h as u64) as usize & !1;
    let ramp: Vec<u8> = (0..w)
        .map(|x| (16 + 219 * x / (w - 1).max(1)) as u8)
        .collect();
    for row in y_plane.chunks_exact_mut(w).skip(band_y).take(band_h) {
        row.copy_from_slice(&ramp);
    }
    for (u, v) in u_plane
        .chunks_exact_mut(cw)
        .zip(v_plane.chunks_exact_mut(cw))
        .skip(band_y / 2)
        .take(band_h / 2)
    {
        u.fill(128);
        v.fill(128);
    }

    // The frame number, on neutral chroma so colour coding can't bleed into the luma read.
    if let Some(layout) = CellLayout::for_size(w, h) {
        let s = layout.size;
        for (i, bit) in cell_bits(frame as u32).into_iter().enumerate() {
            let (x0, y0) = layout.origin(i);
            let value = if bit { CELL_LIGHT } else { CELL_DARK };
            for row in y_plane.chunks_exact_mut(w).skip(y0).take(s) {
                row[x0..x0 + s].fill(value);
            }
            for y in y0 / 2..(y0 + s) / 2 {
                let x = y * cw + x0 / 2;
                u_plane[x..x + s / 2].fill(128);
                v_plane[x..x + s / 2].fill(128);
            }
        }
    }
    image
}

impl VideoSource for TestPattern {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_image(&mut self) -> Result<Option<I420Image>, MediaError> {
        let image = draw_pattern(self.format, self.frame);
        self.frame += 1;
        Ok(Some(image))
    }
}

/// White (Y 235) on the first frame of each second, dark (Y 16) on the others.
pub struct SyncFlash {
    format: VideoFormat,
    frame: u64,
}

impl SyncFlash {
    pub fn new(format: VideoFormat) -> SyncFlash {
        SyncFlash { format, frame: 0 }
    }
}

impl VideoSource for SyncFlash {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_image(&mut self) -> Result<Option<I420Image>, MediaError> {
        let fps = (self.format.rate.as_f64().round() as u64).max(1);
        let mut image = I420Image::black(self.format.width, self.format.height);
        if self.frame.is_multiple_of(fps) {
            let (y, _, _) = image.planes_mut();
            y.fill(235);
        }
        self.frame += 1;
        Ok(Some(image))
    }
}

/// A continuous sine at amplitude 0.5.
pub struct Tone {
    hz: f64,
    sample_rate: u32,
    sample: u64,
}

impl Tone {
    pub fn new(hz: f64, sample_rate: u32) -> Tone {
        Tone {
            hz,
            sample_rate,
            sample: 0,
        }
    }
}

impl AudioSource for Tone {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, n: usize) -> Result<Option<Vec<f32>>, MediaError> {
        // Phase from the absolute sample index, reduced to one cycle before the sine, so the
        // tone neither drifts nor loses precision however long it runs.
        let cycles_per_sample = self.hz / f64::from(self.sample_rate.max(1));
        let start = self.sample;
        let samples = (start..start + n as u64)
            .map(|i| {
                let phase = (i as f64 * cycles_per_sample).fract();
                (0.5 * (std::f64::consts::TAU * phase).sin()) as f32
            })
            .collect();
        self.sample += n as u64;
        Ok(Some(samples))
    }
}

/// A 10 ms click (1 kHz burst at amplitude 0.8) at the start of every second, silence
/// (exact zeros) otherwise: the audio twin of [`SyncFlash`].
pub struct SyncClick {
    sample_rate: u32,
    sample: u64,
}

impl SyncClick {
    pub fn new(sample_rate: u32) -> SyncClick {
        SyncClick {
            sample_rate,
            sample: 0,
        }
    }
}

impl AudioSource for SyncClick {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, n: usize) -> Result<Option<Vec<f32>>, MediaError> {
        let rate = u64::from(self.sample_rate.max(1));
        let burst = rate / 100;
        let hz_per_rate = 1000.0 / rate as f64;
        let start = self.sample;
        let samples = (start..start + n as u64)
            .map(|i| {
                let pos = i % rate;
                if pos < burst {
                    // Half a sample in, so no sample of the burst lands on a zero crossing.
                    let phase = (pos as f64 + 0.5) * hz_per_rate;
                    (0.8 * (std::f64::consts::TAU * phase).sin()) as f32
                } else {
                    0.0
                }
            })
            .collect();
        self.sample += n as u64;
        Ok(Some(samples))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FrameRate;

    #[test]
    fn frame_number_is_the_low_32_bits() {
        let format = VideoFormat {
            width: 320,
            height: 240,
            rate: FrameRate::per_second(30),
        };
        for frame in [0xDEAD_BEEF, u64::from(u32::MAX), (7 << 32) | 0x8000_0001] {
            let mut pattern = TestPattern { format, frame };
            let image = pattern.next_image().unwrap().unwrap();
            assert_eq!(read_frame_number(&image), Some(frame & 0xFFFF_FFFF));
        }
    }

    #[test]
    fn a_wrong_check_nibble_is_rejected() {
        let bits = cell_bits(12345);
        assert_eq!(bits[..MARKER.len()], MARKER);
        let mut image = draw_pattern(
            VideoFormat {
                width: 400,
                height: 100,
                rate: FrameRate::per_second(30),
            },
            12345,
        );
        assert_eq!(read_frame_number(&image), Some(12345));
        // Flip one data cell: the check nibble no longer matches.
        let layout = CellLayout::for_size(400, 100).unwrap();
        let (x0, y0) = layout.origin(MARKER.len());
        let value = if bits[MARKER.len()] {
            CELL_DARK
        } else {
            CELL_LIGHT
        };
        for row in image
            .planes_mut()
            .0
            .chunks_exact_mut(400)
            .skip(y0)
            .take(layout.size)
        {
            row[x0..x0 + layout.size].fill(value);
        }
        assert_eq!(read_frame_number(&image), None);
    }
}
