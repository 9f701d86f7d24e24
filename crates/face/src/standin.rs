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
    let mut img = RgbImage::new(w, h);
    img.data_mut().fill(64);
    let (pw, ph) = (240.min(w), 300.min(h));
    let patch = textured(pw, ph, 1);
    let (x0, y0) = (((w - pw) / 2) as usize, ((h - ph) / 2) as usize);
    let (row, stride) = (pw as usize * 3, w as usize * 3);
    for (y, src) in patch.data().chunks_exact(row).enumerate() {
        let o = (y0 + y) * stride + x0 * 3;
        img.data_mut()[o..o + row].copy_from_slice(src);
    }
    img
}
