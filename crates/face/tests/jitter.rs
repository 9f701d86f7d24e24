//! How much the swapped face's placement jitters on a moving face whose detections are noisy,
//! with and without smoothing. The placement is the paste-back boundary: the corners of the
//! aligned crop's square carried into the frame by the transform the pipeline pastes with.
//! Jitter is the RMS, over frames and corners, of each frame-to-frame move of the boundary
//! minus the true move (what the face itself did), so motion that is really there does not
//! count as jitter. Run with `--nocapture` for the figures.

use studio_face::align::estimate_norm;
use studio_face::smooth::Smoother;
use studio_face::{Affine, Detection};
use studio_media::Timestamp;

const FPS: f64 = 30.0;
const FRAMES: usize = 300;
/// Frames left out at the start, while the filter settles.
const SETTLE: usize = 30;
const CROP: u32 = 128;
/// Detector noise per coordinate (standard deviation, pixels) on a face about 150 pixels
/// wide: what SCRFD's landmarks do frame to frame on a still face.
const NOISE_PX: f64 = 1.5;

/// Gaussian noise from a fixed seed (xorshift and Box–Muller).
struct Gauss(u64);

impl Gauss {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self, sigma: f64) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        sigma * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// The true face at time `t` seconds: the ArcFace landmarks at 1.4× (a face about 150 px
/// wide) swaying across a 640×480 frame, nodding and rolling a little.
fn true_face(t: f64) -> Detection {
    use std::f64::consts::TAU;
    let (cx, cy) = (
        320.0 + 120.0 * (TAU * t / 4.0).sin(),
        240.0 + 40.0 * (TAU * t / 3.0).sin(),
    );
    let roll = 0.12 * (TAU * t / 5.0).sin();
    let scale = 1.4 * (1.0 + 0.05 * (TAU * t / 6.0).sin());
    let (c, s) = (roll.cos(), roll.sin());
    let place = |x: f64, y: f64| {
        let (x, y) = ((x - 56.0) * scale, (y - 64.0) * scale);
        [(cx + c * x - s * y) as f32, (cy + s * x + c * y) as f32]
    };
    let kps = studio_face::align::ARCFACE_112.map(|[x, y]| place(x, y));
    let half = (56.0 * scale) as f32;
    let (cx, cy) = (cx as f32, cy as f32);
    Detection {
        bbox: [cx - half, cy - half, cx + half, cy + half],
        score: 0.9,
        kps,
    }
}

fn noisy(face: &Detection, noise: &mut Gauss) -> Detection {
    let mut f = *face;
    for v in f.bbox.iter_mut().chain(f.kps.iter_mut().flatten()) {
        *v += noise.next(NOISE_PX) as f32;
    }
    f
}

/// The paste-back boundary: the crop square's corners in frame pixels.
fn boundary(face: &Detection) -> [(f64, f64); 4] {
    let to_frame: Affine = estimate_norm(&face.kps, CROP).unwrap().invert().unwrap();
    let s = f64::from(CROP);
    [(0.0, 0.0), (s, 0.0), (s, s), (0.0, s)].map(|(x, y)| to_frame.apply(x, y))
}

struct Figures {
    /// RMS frame-to-frame boundary move beyond the true one, pixels.
    jitter: f64,
    /// RMS distance of the boundary from the true one, pixels.
    error: f64,
    /// Largest distance of a boundary corner from the true one, pixels.
    worst: f64,
}

fn measure(used: &[[(f64, f64); 4]], truth: &[[(f64, f64); 4]]) -> Figures {
    let (mut jitter, mut error, mut worst, mut n_j, mut n_e) = (0.0, 0.0, 0.0f64, 0, 0);
    for i in SETTLE..used.len() {
        for k in 0..4 {
            let (ex, ey) = (used[i][k].0 - truth[i][k].0, used[i][k].1 - truth[i][k].1);
            let d = ex.hypot(ey);
            error += d * d;
            worst = worst.max(d);
            n_e += 1;
            let moved = (
                used[i][k].0 - used[i - 1][k].0,
                used[i][k].1 - used[i - 1][k].1,
            );
            let true_move = (
                truth[i][k].0 - truth[i - 1][k].0,
                truth[i][k].1 - truth[i - 1][k].1,
            );
            jitter += (moved.0 - true_move.0).powi(2) + (moved.1 - true_move.1).powi(2);
            n_j += 1;
        }
    }
    Figures {
        jitter: (jitter / f64::from(n_j)).sqrt(),
        error: (error / f64::from(n_e)).sqrt(),
        worst,
    }
}

#[test]
fn smoothing_cuts_the_jitter_of_the_paste_back_and_follows_the_face() {
    let mut noise = Gauss(0x9E37_79B9_7F4A_7C15);
    let mut smoother = Smoother::default();
    let (mut truth, mut raw, mut smoothed) = (Vec::new(), Vec::new(), Vec::new());
    let mut true_motion = 0.0;
    for n in 0..FRAMES {
        let t = n as f64 / FPS;
        let face = true_face(t);
        let detected = noisy(&face, &mut noise);
        let time = Timestamp((t * 1e6).round() as u64);
        let out = smoother.update(time, &[detected]);
        truth.push(boundary(&face));
        raw.push(boundary(&detected));
        smoothed.push(boundary(&out[0]));
        if n > SETTLE {
            let (a, b) = (truth[n - 1][0], truth[n][0]);
            true_motion += (b.0 - a.0).powi(2) + (b.1 - a.1).powi(2);
        }
    }
    let true_motion = (true_motion / (FRAMES - SETTLE - 1) as f64).sqrt();
    let off = measure(&raw, &truth);
    let on = measure(&smoothed, &truth);
    println!(
        "paste-back boundary over {} frames at {FPS} fps, detector noise {NOISE_PX} px, \
         true motion {true_motion:.2} px/frame RMS",
        FRAMES - SETTLE
    );
    println!(
        "  smoothing off: jitter {:.3} px/frame RMS ({:.1}% of the motion), error {:.2} px RMS, worst {:.2} px",
        off.jitter,
        100.0 * off.jitter / true_motion,
        off.error,
        off.worst
    );
    println!(
        "  smoothing on:  jitter {:.3} px/frame RMS ({:.1}% of the motion), error {:.2} px RMS, worst {:.2} px",
        on.jitter,
        100.0 * on.jitter / true_motion,
        on.error,
        on.worst
    );
    println!("  jitter reduced {:.1}x", off.jitter / on.jitter);
    assert!(
        on.jitter * 3.0 < off.jitter,
        "jitter {:.3} px smoothed vs {:.3} px raw",
        on.jitter,
        off.jitter
    );
    // Following the motion: the smoothed boundary lags the true one by no more than the
    // noise displaces the raw one.
    assert!(
        on.error < off.error * 1.25 && on.worst < off.worst,
        "error {:.2} px RMS, worst {:.2} px smoothed vs {:.2}, {:.2} raw",
        on.error,
        on.worst,
        off.error,
        off.worst
    );
}

#[test]
fn a_sudden_move_is_followed_within_a_few_frames() {
    let mut smoother = Smoother::default();
    let still = true_face(0.0);
    let frame = |n: u64| Timestamp(n * 33_333);
    for n in 0..30 {
        smoother.update(frame(n), &[still]);
    }
    // The face jumps a third of its width (the box still overlaps, so the filters carry on).
    let mut moved = still;
    for v in moved.bbox.iter_mut().step_by(2) {
        *v += 50.0;
    }
    for p in moved.kps.iter_mut() {
        p[0] += 50.0;
    }
    let target = boundary(&moved);
    let mut caught_up = None;
    for k in 0..30 {
        let out = smoother.update(frame(30 + k), &[moved]);
        let at = boundary(&out[0]);
        let off = (0..4)
            .map(|i| (at[i].0 - target[i].0).hypot(at[i].1 - target[i].1))
            .fold(0.0, f64::max);
        if off < 1.0 {
            // Counting the jump's own frame as the first.
            caught_up = Some(k + 1);
            break;
        }
    }
    println!("a 50 px jump is followed to within 1 px on frame {caught_up:?} after it");
    assert!(matches!(caught_up, Some(k) if k <= 6), "{caught_up:?}");
}
