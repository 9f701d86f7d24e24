//! Colour transfer: the swapped face takes the lighting of the face it replaces, so a swap
//! made under other light (or from a camera with a blue cast) does not stand out. Each
//! channel's mean and spread over the swapped crop are moved to those of the aligned crop
//! of the frame, as Deep-Live-Cam's colour transfer does (Reinhard's method). That works in
//! Lab; this works in full-range YCbCr (BT.601), which likewise keeps brightness apart from
//! colour and costs a few multiplies per pixel. The spread's ratio is bounded, so a flat crop
//! (a face in the dark, a stand-in) is not blown up into noise.

use studio_media::RgbImage;

/// The spread may change by at most this factor either way.
const MAX_SPREAD_RATIO: f64 = 2.0;

/// RGB → full-range YCbCr (BT.601), without the 128 offset of the chroma (it cancels out).
const TO_YCBCR: [[f64; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [-0.168_736, -0.331_264, 0.5],
    [0.5, -0.418_688, -0.081_312],
];
/// Its inverse.
const TO_RGB: [[f64; 3]; 3] = [
    [1.0, 0.0, 1.402],
    [1.0, -0.344_136, -0.714_136],
    [1.0, 1.772, 0.0],
];

/// Each channel's mean and the second moments, in RGB, from integer sums (exact).
struct Moments {
    mean: [f64; 3],
    /// The covariance matrix of R, G and B.
    covariance: [[f64; 3]; 3],
}

fn moments(image: &RgbImage) -> Option<Moments> {
    let pixels = image.data().chunks_exact(3);
    let n = pixels.len();
    if n == 0 {
        return None;
    }
    let (mut sum, mut products) = ([0u64; 3], [[0u64; 3]; 3]);
    // In u32 over runs short enough that no sum can overflow (255² · 65536 < 2³²), then
    // into the u64 totals: the same exact sums, with half-width arithmetic.
    for run in image.data().chunks(3 * 65_536) {
        let (mut s, mut q) = ([0u32; 3], [0u32; 6]);
        for p in run.chunks_exact(3) {
            let [r, g, b] = [u32::from(p[0]), u32::from(p[1]), u32::from(p[2])];
            s[0] += r;
            s[1] += g;
            s[2] += b;
            q[0] += r * r;
            q[1] += r * g;
            q[2] += r * b;
            q[3] += g * g;
            q[4] += g * b;
            q[5] += b * b;
        }
        for a in 0..3 {
            sum[a] += u64::from(s[a]);
        }
        for (k, (a, b)) in [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
            .into_iter()
            .enumerate()
        {
            products[a][b] += u64::from(q[k]);
        }
    }
    let n = n as f64;
    let mean = sum.map(|s| s as f64 / n);
    let mut covariance = [[0f64; 3]; 3];
    for a in 0..3 {
        for b in a..3 {
            let c = products[a][b] as f64 / n - mean[a] * mean[b];
            covariance[a][b] = c;
            covariance[b][a] = c;
        }
    }
    Some(Moments { mean, covariance })
}

/// The YCbCr channels' means and standard deviations, from the RGB moments.
fn ycbcr_stats(m: &Moments) -> ([f64; 3], [f64; 3]) {
    let mut mean = [0f64; 3];
    let mut spread = [0f64; 3];
    for k in 0..3 {
        let row = TO_YCBCR[k];
        mean[k] = (0..3).map(|a| row[a] * m.mean[a]).sum();
        let variance: f64 = (0..3)
            .map(|a| {
                (0..3)
                    .map(|b| row[a] * m.covariance[a][b] * row[b])
                    .sum::<f64>()
            })
            .sum();
        spread[k] = variance.max(0.0).sqrt();
    }
    (mean, spread)
}

/// Moves `swapped`'s colours to `reference`'s lighting (both crops of the same face).
/// Images of different sizes, or an empty one, are left as they are. The whole move is one
/// affine map of RGB (to YCbCr, scale and shift each channel, back), applied per pixel.
pub fn match_colour(swapped: &mut RgbImage, reference: &RgbImage) {
    if swapped.width() != reference.width() || swapped.height() != reference.height() {
        return;
    }
    let (Some(from), Some(to)) = (moments(swapped), moments(reference)) else {
        return;
    };
    let ((from_mean, from_spread), (to_mean, to_spread)) = (ycbcr_stats(&from), ycbcr_stats(&to));
    let gain: [f64; 3] = std::array::from_fn(|k| {
        if from_spread[k] > 1e-3 {
            (to_spread[k] / from_spread[k]).clamp(1.0 / MAX_SPREAD_RATIO, MAX_SPREAD_RATIO)
        } else {
            1.0
        }
    });
    // rgb' = TO_RGB · (G · (TO_YCBCR · rgb − μ_from) + μ_to) = A · rgb + b
    let shift: [f64; 3] = std::array::from_fn(|k| to_mean[k] - gain[k] * from_mean[k]);
    let mut a = [[0f32; 3]; 3];
    let mut b = [0f32; 3];
    for r in 0..3 {
        for c in 0..3 {
            a[r][c] = (0..3)
                .map(|k| TO_RGB[r][k] * gain[k] * TO_YCBCR[k][c])
                .sum::<f64>() as f32;
        }
        b[r] = (0..3).map(|k| TO_RGB[r][k] * shift[k]).sum::<f64>() as f32;
    }
    for p in swapped.data_mut().chunks_exact_mut(3) {
        let c = [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])];
        for r in 0..3 {
            let v = a[r][0] * c[0] + a[r][1] * c[1] + a[r][2] * c[2] + b[r];
            p[r] = crate::pixel::round_u8(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                img.data_mut()[i..i + 3].copy_from_slice(&f(x, y));
            }
        }
        img
    }

    fn mean_rgb(img: &RgbImage) -> [f32; 3] {
        let mut s = [0f32; 3];
        for p in img.data().chunks_exact(3) {
            for k in 0..3 {
                s[k] += f32::from(p[k]);
            }
        }
        let n = (img.data().len() / 3) as f32;
        s.map(|v| v / n)
    }

    #[test]
    fn a_blue_cast_takes_the_frames_warmer_light() {
        let skin = |x: u32, y: u32| {
            let v = ((x + y) % 40) as u8;
            [180 + v / 2, 130 + v / 2, 110 + v / 2]
        };
        let reference = image(64, 64, skin);
        // The swap came out cold and dark: blue up, red down.
        let mut swapped = image(64, 64, |x, y| {
            let [r, g, b] = skin(x, y);
            [r - 60, g - 20, b + 40]
        });
        match_colour(&mut swapped, &reference);
        let (got, want) = (mean_rgb(&swapped), mean_rgb(&reference));
        for k in 0..3 {
            assert!(
                (got[k] - want[k]).abs() < 2.0,
                "channel {k}: {got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn same_lighting_changes_next_to_nothing_and_a_flat_crop_is_not_blown_up() {
        let reference = image(32, 32, |x, y| [(x * 7) as u8, (y * 7) as u8, 90]);
        let mut same = reference.clone();
        match_colour(&mut same, &reference);
        let worst = same
            .data()
            .iter()
            .zip(reference.data())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "rounding only: {worst}");

        let mut flat = image(32, 32, |_, _| [100, 100, 100]);
        match_colour(&mut flat, &reference);
        let first = flat.data()[..3].to_vec();
        assert!(
            flat.data().chunks_exact(3).all(|p| p == first.as_slice()),
            "a flat crop stays flat (its spread is not multiplied up)"
        );
        // Mismatched sizes: left alone.
        let mut small = image(8, 8, |_, _| [1, 2, 3]);
        let before = small.clone();
        match_colour(&mut small, &reference);
        assert_eq!(small, before);
    }

    /// `cargo test -p studio-face --lib colour -- --ignored --nocapture`: the transfer's cost
    /// on inswapper's 128-px crop, beside a copy of the crop as the baseline.
    #[test]
    #[ignore]
    fn cost_on_a_128_px_crop() {
        let reference = image(128, 128, |x, y| [(x * 2) as u8, (y * 2) as u8, 120]);
        let swapped = image(128, 128, |x, y| [(y * 2) as u8, 90, (x * 2) as u8]);
        let runs = 2000;
        let t = std::time::Instant::now();
        for _ in 0..runs {
            std::hint::black_box(swapped.clone());
        }
        let copy = t.elapsed().as_secs_f64() / f64::from(runs);
        let t = std::time::Instant::now();
        for _ in 0..runs {
            let mut s = swapped.clone();
            match_colour(&mut s, &reference);
            std::hint::black_box(s);
        }
        let transfer = t.elapsed().as_secs_f64() / f64::from(runs) - copy;
        println!(
            "colour transfer on 128x128: {:.3} ms ({:.1}x a copy of the crop at {:.4} ms)",
            transfer * 1000.0,
            transfer / copy,
            copy * 1000.0
        );
    }
}
