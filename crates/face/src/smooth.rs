//! Temporal smoothing of detections, so a swapped face does not flicker: every coordinate of
//! each face (the landmarks' centre, and the box corners and five landmarks relative to it)
//! goes through a One Euro filter (Casiez, Roussel and Vogel, CHI 2012): a low-pass whose
//! cutoff rises with the coordinate's speed, so a still face is held steady while a moving
//! one is followed without lag. Sans-IO: time comes from
//! the frames' capture timestamps, never from a clock.
//!
//! Faces are matched to the previous frame's by box overlap, so each keeps its own filters;
//! a face that is not seen again drops its filters, and a new face starts unfiltered.

use crate::Detection;
use studio_media::Timestamp;

/// The One Euro filter's parameters, with speeds measured in face sizes (the square root of
/// the box's area when the face was first seen) per second, so the same settings suit a face
/// 60 pixels wide and one 600 pixels wide.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothParams {
    /// Cutoff in Hz for a still face: how much detector noise is removed.
    pub min_cutoff: f64,
    /// How fast the cutoff rises with speed (Hz per face size per second): what keeps moves
    /// from lagging.
    pub beta: f64,
    /// Cutoff in Hz of the speed estimate itself.
    pub d_cutoff: f64,
    /// The least box overlap (intersection over union) for a face to continue a previous one.
    pub match_iou: f32,
    /// Frames further apart than this (microseconds) start afresh: after a pause or a seek the
    /// face may be anywhere.
    pub max_gap_us: u64,
}

impl Default for SmoothParams {
    /// `min_cutoff` 0.5 Hz: detector noise (a pixel or two, frame to frame) lies well above
    /// it, while a slow drift is still followed within a fraction of a second. `beta` 8: at
    /// one face size per second (a brisk sway) the cutoff reaches 8.5 Hz and the lag stays a
    /// few pixels, and a jump of a third of the face is caught within a few frames; noise
    /// alone lifts the cutoff by about 1 Hz. `d_cutoff` 1 Hz is the paper's. (`tests/jitter.rs`
    /// measures the jitter and lag they give.)
    /// `match_iou` 0.3: a face moves well under a third of its size between two detections,
    /// while two faces side by side overlap less. `max_gap_us` half a second.
    fn default() -> Self {
        SmoothParams {
            min_cutoff: 0.5,
            beta: 8.0,
            d_cutoff: 1.0,
            match_iou: 0.3,
            max_gap_us: 500_000,
        }
    }
}

/// Steps shorter than this (1 ms) are taken as this long: two frames stamped alike must not
/// divide by zero.
const MIN_STEP_S: f64 = 1e-3;

/// Box corners (4) plus five landmarks of two coordinates each.
const COORDS: usize = 14;

/// The smoothing factor of a first-order low-pass with `cutoff` Hz over `dt` seconds.
fn alpha(cutoff: f64, dt: f64) -> f64 {
    let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

/// One coordinate's filter state: its filtered value and filtered speed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OneEuro {
    value: f64,
    speed: f64,
}

impl OneEuro {
    fn start(x: f64) -> OneEuro {
        OneEuro {
            value: x,
            speed: 0.0,
        }
    }

    /// Filter `x`, `dt` seconds after the previous value; `scale` converts the speed into
    /// face sizes. A non-finite `x` leaves the state as it was and gives the held value.
    fn step(&mut self, x: f64, dt: f64, scale: f64, p: &SmoothParams) -> f64 {
        if !x.is_finite() {
            return self.value;
        }
        let raw_speed = (x - self.value) / dt;
        let speed = self.speed + alpha(p.d_cutoff, dt) * (raw_speed - self.speed);
        let cutoff = p.min_cutoff + p.beta * speed.abs() / scale;
        // `value + a·(x − value)` rather than `a·x + (1 − a)·value`: a repeated input comes
        // out exactly as it went in.
        let value = self.value + alpha(cutoff, dt) * (x - self.value);
        if value.is_finite() && speed.is_finite() {
            self.value = value;
            self.speed = speed;
        }
        self.value
    }
}

/// The face in the coordinates it is filtered in: the landmarks' centre, and the box corners
/// and landmarks relative to it. A moving face moves its centre while its shape (how the
/// landmarks and box sit around the centre) changes slowly, so the shape keeps a low cutoff,
/// and its noise (which the crop's corners magnify into rolls and zooms) stays filtered, even
/// while the centre follows a fast move.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FaceCoords {
    centre: [f64; 2],
    shape: [f64; COORDS],
}

impl FaceCoords {
    fn of(face: &Detection) -> FaceCoords {
        let n = face.kps.len() as f64;
        let sum = face.kps.iter().fold([0.0, 0.0], |acc, [x, y]| {
            [acc[0] + f64::from(*x), acc[1] + f64::from(*y)]
        });
        let centre = [sum[0] / n, sum[1] / n];
        let mut shape = [0.0; COORDS];
        for (i, v) in face.bbox.iter().enumerate() {
            shape[i] = f64::from(*v) - centre[i % 2];
        }
        for (k, [x, y]) in face.kps.iter().enumerate() {
            shape[4 + 2 * k] = f64::from(*x) - centre[0];
            shape[5 + 2 * k] = f64::from(*y) - centre[1];
        }
        FaceCoords { centre, shape }
    }

    /// The face back in frame pixels, with `face`'s score.
    fn to_detection(self, face: &Detection) -> Detection {
        let at = |i: usize| (self.centre[i % 2] + self.shape[i]) as f32;
        Detection {
            bbox: std::array::from_fn(at),
            score: face.score,
            kps: std::array::from_fn(|k| [at(4 + 2 * k), at(5 + 2 * k)]),
        }
    }
}

/// A face followed from frame to frame.
#[derive(Debug, Clone)]
struct Track {
    /// The box the detector last gave (unfiltered), for matching the next frame's faces.
    last_box: [f32; 4],
    /// The face's size in pixels when first seen.
    size: f64,
    centre: [OneEuro; 2],
    shape: [OneEuro; COORDS],
}

fn is_finite(face: &Detection) -> bool {
    face.bbox.iter().all(|v| v.is_finite()) && face.kps.iter().flatten().all(|v| v.is_finite())
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes; 0 for empty or non-finite ones.
fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    let v = inter / union;
    if union > 0.0 && v.is_finite() { v } else { 0.0 }
}

impl Track {
    fn start(face: &Detection) -> Track {
        let size = f64::from(face.area()).sqrt();
        let coords = FaceCoords::of(face);
        Track {
            last_box: face.bbox,
            // A degenerate box still needs a positive scale for the speed.
            size: if size.is_finite() { size.max(1.0) } else { 1.0 },
            centre: coords.centre.map(OneEuro::start),
            shape: coords.shape.map(OneEuro::start),
        }
    }

    fn step(&mut self, face: &Detection, dt: f64, p: &SmoothParams) -> Detection {
        let raw = FaceCoords::of(face);
        let mut out = raw;
        for ((o, f), x) in out.centre.iter_mut().zip(&mut self.centre).zip(raw.centre) {
            *o = f.step(x, dt, self.size, p);
        }
        for ((o, f), x) in out.shape.iter_mut().zip(&mut self.shape).zip(raw.shape) {
            *o = f.step(x, dt, self.size, p);
        }
        self.last_box = face.bbox;
        out.to_detection(face)
    }
}

/// The per-face One Euro filters of one stream.
#[derive(Debug, Clone)]
pub struct Smoother {
    params: SmoothParams,
    tracks: Vec<Track>,
    last_time: Option<Timestamp>,
}

impl Smoother {
    pub fn new(params: SmoothParams) -> Smoother {
        Smoother {
            params,
            tracks: Vec::new(),
            last_time: None,
        }
    }

    pub fn params(&self) -> &SmoothParams {
        &self.params
    }

    /// How many faces have filter state.
    pub fn tracked(&self) -> usize {
        self.tracks.len()
    }

    /// Forget every face: the next frame's faces start unfiltered (a new stream, a seek, the
    /// tracker starting over).
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.last_time = None;
    }

    /// The smoothed faces of the frame captured at `time`, in the order given. A face that
    /// matches one of the previous frame's continues its filters; any other starts them
    /// (and comes out as given); a face with non-finite coordinates starts nothing.
    pub fn update(&mut self, time: Timestamp, faces: &[Detection]) -> Vec<Detection> {
        let dt_us = match self.last_time {
            Some(last) if time >= last => time.0 - last.0,
            _ => u64::MAX,
        };
        if dt_us > self.params.max_gap_us {
            self.tracks.clear();
        }
        self.last_time = Some(time);
        let dt = (dt_us as f64 / 1e6).max(MIN_STEP_S);

        // Greedy matching, best overlap first.
        let mut pairs = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (f, face) in faces.iter().enumerate() {
                let overlap = iou(&track.last_box, &face.bbox);
                if overlap >= self.params.match_iou && overlap > 0.0 {
                    pairs.push((overlap, t, f));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of_face = vec![None; faces.len()];
        let mut track_taken = vec![false; self.tracks.len()];
        for (_, t, f) in pairs {
            if !track_taken[t] && track_of_face[f].is_none() {
                track_taken[t] = true;
                track_of_face[f] = Some(t);
            }
        }

        let mut previous: Vec<Option<Track>> = self.tracks.drain(..).map(Some).collect();
        let mut out = Vec::with_capacity(faces.len());
        for (face, matched) in faces.iter().zip(track_of_face) {
            match matched.and_then(|t| previous.get_mut(t).and_then(Option::take)) {
                Some(mut track) => {
                    out.push(track.step(face, dt, &self.params));
                    self.tracks.push(track);
                }
                None => {
                    if is_finite(face) {
                        self.tracks.push(Track::start(face));
                    }
                    out.push(*face);
                }
            }
        }
        out
    }
}

impl Default for Smoother {
    fn default() -> Self {
        Smoother::new(SmoothParams::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_US: u64 = 33_333;

    /// A 100-pixel face with its landmarks, moved by `(dx, dy)`.
    fn face_at(dx: f32, dy: f32) -> Detection {
        let kps = [
            [30.0, 40.0],
            [70.0, 40.0],
            [50.0, 60.0],
            [35.0, 80.0],
            [65.0, 80.0],
        ];
        Detection {
            bbox: [dx, dy, 100.0 + dx, 100.0 + dy],
            score: 0.9,
            kps: kps.map(|[x, y]| [x + dx, y + dy]),
        }
    }

    /// Deterministic noise, uniform in ±`amp`.
    struct Noise(u32);
    impl Noise {
        fn next(&mut self, amp: f32) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            (self.0 as f32 / u32::MAX as f32 * 2.0 - 1.0) * amp
        }
        fn jitter(&mut self, face: &Detection, amp: f32) -> Detection {
            let mut f = *face;
            for v in f.bbox.iter_mut().chain(f.kps.iter_mut().flatten()) {
                *v += self.next(amp);
            }
            f
        }
    }

    /// Root mean square of frame-to-frame changes of the first landmark's x.
    fn rms_step(xs: &[f32]) -> f32 {
        let sq: f32 = xs.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
        (sq / (xs.len() - 1) as f32).sqrt()
    }

    #[test]
    fn a_still_noisy_face_is_much_steadier() {
        let mut s = Smoother::default();
        let mut noise = Noise(12345);
        let truth = face_at(200.0, 100.0);
        let (mut raw, mut smooth) = (Vec::new(), Vec::new());
        for n in 0..300 {
            let f = noise.jitter(&truth, 2.0);
            let out = s.update(Timestamp(n * FRAME_US), &[f]);
            // Past the first second, once the filter has settled.
            if n >= 30 {
                raw.push(f.kps[0][0]);
                smooth.push(out[0].kps[0][0]);
            }
        }
        let (r, m) = (rms_step(&raw), rms_step(&smooth));
        assert!(m * 4.0 < r, "jitter {m} px smoothed vs {r} px raw");
        let mean = smooth.iter().sum::<f32>() / smooth.len() as f32;
        assert!((mean - truth.kps[0][0]).abs() < 0.5, "settled at {mean}");
    }

    #[test]
    fn a_step_is_followed_within_a_few_frames() {
        let mut s = Smoother::default();
        for n in 0..30 {
            s.update(Timestamp(n * FRAME_US), &[face_at(0.0, 0.0)]);
        }
        // A 40-pixel jump keeps the box overlapping, so the face keeps its filters.
        let target = face_at(40.0, 0.0);
        let mut within = None;
        for k in 0..30 {
            let out = s.update(Timestamp((30 + k) * FRAME_US), &[target]);
            assert_eq!(s.tracked(), 1);
            let err = (out[0].kps[2][0] - target.kps[2][0]).abs();
            if k == 0 {
                assert!(
                    err < 40.0 && err > 0.0,
                    "the first frame after the step: {err}"
                );
            }
            if err < 1.0 && within.is_none() {
                within = Some(k);
            }
        }
        let within = within.unwrap_or(u64::MAX);
        assert!(within <= 6, "within a pixel after {within} frames");
    }

    #[test]
    fn two_faces_keep_their_own_filters() {
        let mut s = Smoother::default();
        let mut noise = Noise(777);
        let (left, right) = (face_at(0.0, 0.0), face_at(300.0, 0.0));
        for n in 0..60 {
            // The order of the faces flips each frame; each must still follow its own.
            let (a, b) = (noise.jitter(&left, 2.0), noise.jitter(&right, 2.0));
            let faces = if n % 2 == 0 { [a, b] } else { [b, a] };
            let out = s.update(Timestamp(n * FRAME_US), &faces);
            assert_eq!(out.len(), 2);
            let (l, r) = if n % 2 == 0 {
                (out[0], out[1])
            } else {
                (out[1], out[0])
            };
            assert!((l.kps[0][0] - left.kps[0][0]).abs() < 3.0);
            assert!((r.kps[0][0] - right.kps[0][0]).abs() < 3.0);
        }
        assert_eq!(s.tracked(), 2);
        // The right face leaves: its state goes; it comes back unfiltered.
        s.update(Timestamp(60 * FRAME_US), &[left]);
        assert_eq!(s.tracked(), 1);
        let moved = face_at(310.0, 0.0);
        let out = s.update(Timestamp(61 * FRAME_US), &[left, moved]);
        assert_eq!(out[1], moved);
        assert_eq!(s.tracked(), 2);
    }

    #[test]
    fn a_new_face_starts_unfiltered_and_reset_forgets() {
        let mut s = Smoother::default();
        let f = face_at(10.0, 20.0);
        assert_eq!(s.update(Timestamp(0), &[f]), vec![f]);
        s.update(Timestamp(FRAME_US), &[face_at(0.0, 0.0)]);
        s.reset();
        assert_eq!(s.tracked(), 0);
        let g = face_at(5.0, 5.0);
        assert_eq!(s.update(Timestamp(2 * FRAME_US), &[g]), vec![g]);
    }

    #[test]
    fn a_long_gap_or_time_going_back_starts_afresh() {
        let mut s = Smoother::default();
        s.update(Timestamp(0), &[face_at(0.0, 0.0)]);
        let f = face_at(5.0, 0.0);
        assert_eq!(s.update(Timestamp(2_000_000), &[f]), vec![f]);
        let g = face_at(8.0, 0.0);
        assert_eq!(s.update(Timestamp(1_000_000), &[g]), vec![g]);
    }

    #[test]
    fn a_repeated_face_comes_out_exactly_as_it_went_in() {
        let mut s = Smoother::default();
        let f = face_at(12.3, 45.6);
        for n in 0..10 {
            assert_eq!(s.update(Timestamp(n * FRAME_US), &[f]), vec![f]);
        }
        // Two frames stamped alike do not divide by zero.
        assert_eq!(s.update(Timestamp(9 * FRAME_US), &[f]), vec![f]);
    }

    #[test]
    fn non_finite_input_never_poisons_the_state() {
        let mut s = Smoother::default();
        let f = face_at(0.0, 0.0);
        for n in 0..10 {
            s.update(Timestamp(n * FRAME_US), &[f]);
        }
        // A bad landmark: the face stays matched, that coordinate holds its value.
        let mut bad = f;
        bad.kps[1] = [f32::NAN, f32::INFINITY];
        let out = s.update(Timestamp(10 * FRAME_US), &[bad]);
        assert_eq!(out[0].kps[1], f.kps[1]);
        // A bad box: nothing to match, the face passes as given and starts no state.
        let mut bad_box = f;
        bad_box.bbox[2] = f32::NAN;
        let out = s.update(Timestamp(11 * FRAME_US), &[bad_box]);
        assert!(out[0].bbox[2].is_nan());
        assert_eq!(s.tracked(), 0);
        // Afterwards everything is finite again.
        for n in 12..20 {
            let out = s.update(Timestamp(n * FRAME_US), &[face_at(1.0, 0.0)]);
            assert!(is_finite(&out[0]));
        }
        // Huge values do not overflow into the state either.
        let huge = face_at(3e38, 3e38);
        let out = s.update(Timestamp(20 * FRAME_US), &[huge, f]);
        assert!(out.iter().all(|d| d.bbox.iter().all(|v| !v.is_nan())));
    }
}
