//! Colour conversion against BT.601 limited-range reference values.

use studio_media::{I420Image, MediaError, RgbImage};

fn close(a: u8, b: u8, tol: u8) -> bool {
    a.abs_diff(b) <= tol
}

/// The I420 of a 2×2 image filled with one colour.
fn yuv_of(rgb: [u8; 3]) -> (u8, u8, u8) {
    let image = RgbImage::from_data(2, 2, rgb.repeat(4)).unwrap().to_i420();
    let (y, u, v) = image.planes();
    assert!(y.iter().all(|&l| l == y[0]));
    (y[0], u[0], v[0])
}

const REFERENCE: [([u8; 3], (u8, u8, u8)); 5] = [
    ([255, 0, 0], (81, 90, 240)),
    ([0, 255, 0], (145, 54, 34)),
    ([0, 0, 255], (41, 240, 110)),
    ([255, 255, 255], (235, 128, 128)),
    ([0, 0, 0], (16, 128, 128)),
];

#[test]
fn rgb_to_yuv_matches_reference_values() {
    for (rgb, (ey, eu, ev)) in REFERENCE {
        let (y, u, v) = yuv_of(rgb);
        assert!(
            close(y, ey, 1) && close(u, eu, 1) && close(v, ev, 1),
            "{rgb:?} -> ({y}, {u}, {v}), expected ({ey}, {eu}, {ev})"
        );
    }
}

#[test]
fn greys_have_neutral_chroma() {
    for level in [0u8, 1, 64, 127, 128, 200, 254, 255] {
        let (_, u, v) = yuv_of([level; 3]);
        assert_eq!((u, v), (128, 128), "grey {level}");
    }
}

#[test]
fn yuv_to_rgb_matches_reference_values() {
    for (rgb, (y, u, v)) in REFERENCE {
        let mut data = vec![y; 4];
        data.extend([u, v]);
        let out = I420Image::from_data(2, 2, data).unwrap().to_rgb();
        for py in 0..2 {
            for px in 0..2 {
                let got = out.pixel(px, py);
                assert!(
                    (0..3).all(|c| close(got[c], rgb[c], 2)),
                    "({y}, {u}, {v}) -> {got:?}, expected {rgb:?}"
                );
            }
        }
    }
}

/// Channels change by at most one level per pixel, whatever the size.
fn gradient(width: u32, height: u32) -> RgbImage {
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            data.extend([
                (40 + 160 * x / width.max(160)) as u8,
                (30 + 180 * y / height.max(180)) as u8,
                (200 - 150 * (x + y) / (width + height).max(150)) as u8,
            ]);
        }
    }
    RgbImage::from_data(width, height, data).unwrap()
}

#[test]
fn smooth_gradient_round_trips() {
    for (w, h) in [(1280, 720), (64, 48), (33, 17), (1, 1), (3, 2), (2, 3)] {
        let rgb = gradient(w, h);
        let i420 = rgb.to_i420();
        assert_eq!(i420.data().len(), I420Image::byte_len(w, h));
        assert_eq!(
            (i420.chroma_width(), i420.chroma_height()),
            (w.div_ceil(2), h.div_ceil(2))
        );
        let back = i420.to_rgb();
        let worst = rgb
            .data()
            .iter()
            .zip(back.data())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 3, "{w}x{h}: worst channel error {worst}");
    }
}

#[test]
fn odd_edges_average_only_real_pixels() {
    // 3×3: the right column and bottom row have their own chroma blocks; a red edge must
    // come out red, not mixed with anything outside the image.
    let mut data = [0, 0, 0].repeat(9);
    for y in 0..3 {
        data[(y * 3 + 2) * 3..][..3].copy_from_slice(&[255, 0, 0]);
    }
    let i420 = RgbImage::from_data(3, 3, data).unwrap().to_i420();
    let (_, u, v) = i420.planes();
    // Chroma is 2×2; column 1 covers only the red column.
    assert!(close(u[1], 90, 1) && close(v[1], 240, 1));
    assert!(close(u[3], 90, 1) && close(v[3], 240, 1));
    assert_eq!((u[0], v[0]), (128, 128));
}

#[test]
fn black_is_black() {
    let image = I420Image::black(5, 3);
    let (y, u, v) = image.planes();
    assert_eq!((y.len(), u.len(), v.len()), (15, 6, 6));
    assert!(y.iter().all(|&l| l == 16));
    assert!(u.iter().chain(v).all(|&c| c == 128));
    assert!(image.to_rgb().data().iter().all(|&c| c == 0));
}

#[test]
fn wrong_buffer_sizes_are_clear_errors() {
    let err = I420Image::from_data(1280, 720, vec![0; 5]).unwrap_err();
    assert!(matches!(err, MediaError::BadFormat(_)));
    assert_eq!(err.to_string(), "I420 1280x720 needs 1382400 bytes, got 5");
    let err = RgbImage::from_data(2, 2, vec![0; 11]).unwrap_err();
    assert_eq!(err.to_string(), "RGB 2x2 needs 12 bytes, got 11");
    assert_eq!(I420Image::byte_len(3, 3), 9 + 2 * 4);
}

#[test]
fn planes_mut_writes_through() {
    let mut image = I420Image::black(4, 2);
    let (y, u, v) = image.planes_mut();
    y[0] = 200;
    u[1] = 10;
    v[1] = 20;
    assert_eq!(image.data()[0], 200);
    assert_eq!(image.data()[8 + 1], 10);
    assert_eq!(image.data()[8 + 2 + 1], 20);
}

/// Each pixel depends only on its own luma and its 2×2 block's chroma, at any size (odd
/// widths and heights included): a whole image converts as its pixels do one by one.
#[test]
fn yuv_to_rgb_converts_each_pixel_with_its_blocks_chroma() {
    for (w, h) in [(1, 1), (5, 3), (16, 9), (37, 21)] {
        let mut seed = 0x2545_f491_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as u8
        };
        let len = I420Image::byte_len(w, h);
        let image = I420Image::from_data(w, h, (0..len).map(|_| next()).collect()).unwrap();
        let rgb = image.to_rgb();
        let (y, u, v) = image.planes();
        let cw = image.chroma_width();
        for py in 0..h {
            for px in 0..w {
                let c = ((py / 2) * cw + px / 2) as usize;
                let mut one = vec![y[(py * w + px) as usize]; 4];
                one.extend([u[c], v[c]]);
                let alone = I420Image::from_data(2, 2, one)
                    .unwrap()
                    .to_rgb()
                    .pixel(0, 0);
                assert_eq!(rgb.pixel(px, py), alone, "{w}x{h} at ({px}, {py})");
            }
        }
    }
}

fn random_i420(w: u32, h: u32, mut seed: u32) -> I420Image {
    let len = I420Image::byte_len(w, h);
    let data = (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 8) as u8
        })
        .collect();
    I420Image::from_data(w, h, data).unwrap()
}

/// A row, or part of one, converts as the whole image does, wherever it starts.
#[test]
fn a_rows_pixels_convert_as_the_whole_image_does() {
    for (w, h) in [(1, 1), (5, 3), (16, 9), (37, 21)] {
        let image = random_i420(w, h, 0x9e37_79b9 ^ w);
        let rgb = image.to_rgb();
        for y in 0..h {
            for x0 in [0, 1, w / 2, w - 1] {
                let mut out = vec![0u8; (w as usize + 2) * 3];
                let n = image.row_to_rgb(y, x0, &mut out);
                assert_eq!(n, (w - x0) as usize);
                let o = (y * w + x0) as usize * 3;
                assert_eq!(
                    &out[..n * 3],
                    &rgb.data()[o..o + n * 3],
                    "{w}x{h} row {y} from {x0}"
                );
            }
        }
        let mut out = [0u8; 6];
        assert_eq!(image.row_to_rgb(h, 0, &mut out), 0);
        assert_eq!(image.row_to_rgb(0, w, &mut out), 0);
        assert_eq!(image.row_to_rgb(0, 0, &mut out[..2]), 0);
    }
}

/// The half-size image is the rounded mean of each 2×2 block of the full conversion.
#[test]
fn the_half_size_image_averages_each_block_of_the_full_one() {
    // 1280 and 130 wide: half rows longer than the conversion's chunk of 64 pixels.
    for (w, h) in [
        (1, 1),
        (2, 2),
        (6, 4),
        (37, 21),
        (64, 36),
        (130, 4),
        (1280, 8),
    ] {
        let image = random_i420(w, h, 0x5bd1_e995 ^ h);
        let (full, half) = (image.to_rgb(), image.to_rgb_half());
        assert_eq!((half.width(), half.height()), (w / 2, h / 2));
        for y in 0..h / 2 {
            for x in 0..w / 2 {
                let mut want = [0u8; 3];
                for (c, v) in want.iter_mut().enumerate() {
                    let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                        .iter()
                        .map(|&(dx, dy)| u32::from(full.pixel(2 * x + dx, 2 * y + dy)[c]))
                        .sum();
                    *v = ((sum + 2) >> 2) as u8;
                }
                assert_eq!(half.pixel(x, y), want, "{w}x{h} at ({x}, {y})");
            }
        }
    }
}

/// A block converts as a whole image of it does, odd edges included.
#[test]
fn a_block_converts_as_the_whole_image_does() {
    for (w, h) in [(2, 2), (6, 4), (5, 3), (37, 21)] {
        let rgb = random_i420(w, h, w * 31 + h).to_rgb();
        let i420 = rgb.to_i420();
        let (y, u, v) = i420.planes();
        let cw = i420.chroma_width();
        for by in 0..h.div_ceil(2) {
            for bx in 0..w.div_ceil(2) {
                let at = |dx: u32, dy: u32| {
                    rgb.pixel((2 * bx + dx).min(w - 1), (2 * by + dy).min(h - 1))
                };
                let (ys, bu, bv) =
                    studio_media::rgb_block_to_i420([at(0, 0), at(1, 0), at(0, 1), at(1, 1)]);
                for (k, (dx, dy)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
                    let (px, py) = (2 * bx + dx, 2 * by + dy);
                    if px < w && py < h {
                        assert_eq!(
                            ys[k],
                            y[(py * w + px) as usize],
                            "{w}x{h} luma ({px}, {py})"
                        );
                    }
                }
                let c = (by * cw + bx) as usize;
                assert_eq!((bu, bv), (u[c], v[c]), "{w}x{h} chroma ({bx}, {by})");
            }
        }
    }
}

/// A planar half row, or the start of one, holds that row of the half-size image channel by
/// channel: across the conversion's chunk boundary (a 720p frame's 640-pixel half rows), and
/// for slices shorter than the row.
#[test]
fn a_planar_half_row_is_that_row_of_the_half_size_image() {
    for (w, h, seed) in [(1280, 8, 0x5eed_0001), (37, 21, 0x0bad_cafe), (130, 4, 7)] {
        let image = random_i420(w, h, seed);
        let half = image.to_rgb_half();
        let hw = (w / 2) as usize;
        for j in 0..h / 2 {
            for len in [hw, 65, 64, 3] {
                let mut planes = [vec![0u8; len], vec![0u8; len], vec![0u8; len]];
                let [r, g, b] = &mut planes;
                let n = image.half_row_to_planes(j, [r, g, b]);
                assert_eq!(n, len.min(hw), "{w}x{h} row {j}");
                let [r, g, b] = &planes;
                for (x, ((&r, &g), &b)) in r.iter().zip(g).zip(b).take(n).enumerate() {
                    assert_eq!(
                        [r, g, b],
                        half.pixel(x as u32, j),
                        "{w}x{h} row {j} pixel {x}"
                    );
                }
            }
        }
        let (mut r, mut g, mut b) = ([0u8; 4], [0u8; 4], [0u8; 4]);
        assert_eq!(image.half_row_to_planes(h / 2, [&mut r, &mut g, &mut b]), 0);
    }
}
