//! What the mouth mask adds to a 720p frame's paste-back: run with
//! `cargo test -p studio-face --test mouth_cost -- --ignored --nocapture`.

use std::hint::black_box;
use std::time::{Duration, Instant};
use studio_face::align::{ARCFACE_112, estimate_norm};
use studio_face::blend::PasteBack;
use studio_face::keep::Keep;
use studio_face::mouth::MouthMask;
use studio_face::standin::textured;

#[test]
#[ignore = "a timing, not a check"]
fn mouth_mask_cost_per_720p_frame() {
    let frame = textured(1280, 720, 5);
    let crop = textured(128, 128, 9);
    // A face about 280 px across in the middle of the frame, rolled a little.
    let (scale, roll) = (2.5f64, 0.08f64);
    let (c, s) = (roll.cos(), roll.sin());
    let kps = ARCFACE_112.map(|[x, y]| {
        let (x, y) = ((x - 56.0) * scale, (y - 64.0) * scale);
        [
            (640.0 + c * x - s * y) as f32,
            (360.0 + s * x + c * y) as f32,
        ]
    });
    let half = (56.0 * scale) as f32;
    let bbox = [640.0 - half, 360.0 - half, 640.0 + half, 360.0 + half];
    let to_crop = estimate_norm(&kps, 128).unwrap();
    let mut paste = PasteBack::new();
    let rounds = 300;
    let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
    for round in 0..rounds + 10 {
        let mut a = frame.clone();
        let t = Instant::now();
        paste
            .paste_keeping(&mut a, &crop, &to_crop, Some(bbox), None)
            .unwrap();
        let plain = t.elapsed();
        let mut b = frame.clone();
        let t = Instant::now();
        let keep = MouthMask::from_landmarks(black_box(&kps));
        paste
            .paste_keeping(
                &mut b,
                &crop,
                &to_crop,
                Some(bbox),
                keep.as_ref().map(Keep::from).as_ref(),
            )
            .unwrap();
        let masked = t.elapsed();
        black_box((&a, &b));
        // The first rounds fill the mask cache and warm up.
        if round >= 10 {
            without += plain;
            with += masked;
        }
    }
    // The mask's own work alone, as an upper bound on what it adds: built, then weighed at
    // every pixel of its bounds.
    let keep = MouthMask::from_landmarks(&kps).unwrap();
    let [x0, y0, x1, y1] = keep.bounds();
    let t = Instant::now();
    for _ in 0..rounds {
        let keep = MouthMask::from_landmarks(black_box(&kps)).unwrap();
        let mut sum = 0.0f32;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += keep.weight(x, y);
            }
        }
        black_box(sum);
    }
    let alone = t.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(rounds);
    println!(
        "the mask alone over its {}x{} px bounds: {:.4} ms",
        x1 - x0,
        y1 - y0,
        ms(alone)
    );
    println!(
        "720p paste-back, {rounds} frames: without the mouth mask {:.3} ms, with it {:.3} ms \
         ({:+.3} ms, ratio {:.3})",
        ms(without),
        ms(with),
        ms(with) - ms(without),
        with.as_secs_f64() / without.as_secs_f64()
    );
}
