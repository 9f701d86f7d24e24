//! Pictures for the random-weight stand-in models: smooth waves plus noise, which their
//! detector answers with faces (a flat picture gets none). The benchmark and the tests use it.

use studio_media::RgbImage;

/// A `w × h` textured picture; the same `seed` gives the same picture.
pub fn textured(w: u32, h: u32, seed: u32) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let mut s = seed.wrapping_mul(2654435761).max(1);
    for (i, v) in img.data_mut().iter_mut().enumerate() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let (x, y) = ((i / 3) as u32 % w, (i / 3) as u32 / w);
        let smooth = 128.0 + 90.0 * ((x as f32 / 23.0).sin() * (y as f32 / 17.0).cos());
        *v = (smooth as i32 + (s % 40) as i32 - 20).clamp(0, 255) as u8;
    }
    img
}

/// A `w × h` dark picture (level 64) with a textured 240 × 300 patch at its centre: at
/// 1280 × 720 the tiny stand-in detector's largest face lands on the patch, clear of the
/// frame's edges, as a person's face sits in a call (its other answers, on the dark
/// background and the letterbox's black, are smaller). The video benchmark uses it.
pub fn one_face(w: u32, h: u32) -> RgbImage {
    faces(w, h, 1)
}

/// A `w × h` dark picture (level 64) with `n` textured patches in a near-square grid, each
/// as large as 240 × 300 where the picture has room: the stand-in detector's largest answers
/// come from around them, as from several people in one camera's picture.
pub fn faces(w: u32, h: u32, n: u32) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    img.data_mut().fill(64);
    let n = n.max(1);
    let cols = (1..=n).find(|c| c * c >= n).unwrap_or(n);
    let rows = n.div_ceil(cols);
    let (cell_w, cell_h) = (w / cols, h / rows);
    let (pw, ph) = (240.min(cell_w * 3 / 4), 300.min(cell_h * 3 / 4));
    let (row, stride) = (pw as usize * 3, w as usize * 3);
    for i in 0..n {
        let (col, r) = (i % cols, i / cols);
        let patch = textured(pw, ph, i + 1);
        let x0 = (col * cell_w + (cell_w - pw) / 2) as usize;
        let y0 = (r * cell_h + (cell_h - ph) / 2) as usize;
        for (y, src) in patch.data().chunks_exact(row).enumerate() {
            let o = (y0 + y) * stride + x0 * 3;
            img.data_mut()[o..o + row].copy_from_slice(src);
        }
    }
    img
}
