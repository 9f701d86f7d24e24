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
