//! The mouth mask: the person's own mouth kept over the swapped face, so speech looks as it
//! is spoken. SCRFD gives only the two mouth corners and the nose tip (no lip outline), so
//! the kept region is an ellipse along the line through the corners, centred between them:
//! its half-width is 0.6 of the corners' distance (a tenth of it beyond each corner, as
//! speech moves them), and its half-height follows both the mouth's width and the nose's
//! distance from the corners' line (the lips' height and how far an open mouth reaches scale
//! with the lower face, which that distance measures, and it shortens as the head tilts up
//! or down just as the mouth's height does, which the width would not). Inside the ellipse
//! the weight is 1; it fades smoothly to 0 over a band outside it. Everything is in frame
//! pixels; pixels away from the mouth cost one bounds check.

/// Half-width of the ellipse, as a share of the corners' distance.
const HALF_WIDTH: f64 = 0.6;
/// Half-height, per unit of the corners' distance ...
const HEIGHT_PER_WIDTH: f64 = 0.2;
/// ... plus per unit of the nose's distance from the corners' line.
const HEIGHT_PER_NOSE: f64 = 0.35;
/// Width of the fade outside the ellipse, as a share of its radius in each direction.
const FEATHER: f64 = 0.4;
/// Below this half-axis (pixels) there is no mouth worth keeping.
const MIN_AXIS: f64 = 0.5;

/// A feathered ellipse around the mouth, in frame pixels: weight 1 inside the ellipse (the
/// core), fading to 0 at `1 + FEATHER` times its radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MouthMask {
    /// Midway between the mouth corners.
    pub centre: [f64; 2],
    /// Unit vector along the corners' line.
    pub axis: [f64; 2],
    /// Half-axes of the core along and across `axis`.
    pub half_width: f64,
    pub half_height: f64,
    /// Pixels `[x0, x1) × [y0, y1)` outside which the weight is 0.
    bounds: [i64; 4],
}

impl MouthMask {
    /// The mask from SCRFD's five landmarks (left eye, right eye, nose, left mouth corner,
    /// right mouth corner). `None` when they are not finite or the mouth is under a pixel
    /// wide or high (nothing to keep).
    pub fn from_landmarks(kps: &[[f32; 2]; 5]) -> Option<MouthMask> {
        let p = |i: usize| [f64::from(kps[i][0]), f64::from(kps[i][1])];
        let (nose, left, right) = (p(2), p(3), p(4));
        let centre = [(left[0] + right[0]) * 0.5, (left[1] + right[1]) * 0.5];
        let (dx, dy) = (right[0] - left[0], right[1] - left[1]);
        let width = dx.hypot(dy);
        // Corners at one point have no direction: any will do, the mask is empty anyway.
        let axis = if width > 1e-9 {
            [dx / width, dy / width]
        } else {
            [1.0, 0.0]
        };
        let (nx, ny) = (nose[0] - centre[0], nose[1] - centre[1]);
        let nose_drop = (nx * axis[1] - ny * axis[0]).abs();
        let half_width = HALF_WIDTH * width;
        let half_height = HEIGHT_PER_WIDTH * width + HEIGHT_PER_NOSE * nose_drop;
        let all_finite = [centre[0], centre[1], half_width, half_height]
            .iter()
            .all(|v| v.is_finite());
        if !all_finite || half_width < MIN_AXIS || half_height < MIN_AXIS {
            return None;
        }
        // The rotated outer ellipse's axis-aligned half-extents, plus a pixel.
        let (a, b) = (half_width * (1.0 + FEATHER), half_height * (1.0 + FEATHER));
        let ex = (a * axis[0]).hypot(b * axis[1]) + 1.0;
        let ey = (a * axis[1]).hypot(b * axis[0]) + 1.0;
        // Float to integer casts saturate, so a wild landmark gives a huge box, not a wrap.
        let bounds = [
            (centre[0] - ex).floor() as i64,
            (centre[1] - ey).floor() as i64,
            (centre[0] + ex).ceil() as i64 + 1,
            (centre[1] + ey).ceil() as i64 + 1,
        ];
        Some(MouthMask {
            centre,
            axis,
            half_width,
            half_height,
            bounds,
        })
    }

    /// Pixels `[x0, y0, x1, y1)` outside which the weight is 0 (not clamped to any frame).
    pub fn bounds(&self) -> [i64; 4] {
        self.bounds
    }

    /// The square of the ellipse's radius at `(x, y)`: 1 on the core's edge (squared, so the
    /// core and the far side need no square root).
    fn radius_sq(&self, x: f64, y: f64) -> f64 {
        let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
        let along = (dx * self.axis[0] + dy * self.axis[1]) / self.half_width;
        let across = (dy * self.axis[0] - dx * self.axis[1]) / self.half_height;
        along * along + across * across
    }

    /// Whether `(x, y)` lies in the core, where the weight is exactly 1.
    pub fn in_core(&self, x: f64, y: f64) -> bool {
        self.radius_sq(x, y) <= 1.0
    }

    /// The weight at `(x, y)`: 1 in the core, a smoothstep down to 0 across the feather.
    pub fn weight_at(&self, x: f64, y: f64) -> f32 {
        let r2 = self.radius_sq(x, y);
        if r2 <= 1.0 {
            return 1.0;
        }
        // NaN (from a wild landmark) weighs nothing too.
        if r2.is_nan() || r2 >= (1.0 + FEATHER) * (1.0 + FEATHER) {
            return 0.0;
        }
        let s = 1.0 - (r2.sqrt() - 1.0) / FEATHER;
        (s * s * (3.0 - 2.0 * s)).clamp(0.0, 1.0) as f32
    }

    /// The weight at pixel `(x, y)`; a bounds check alone for pixels away from the mouth.
    #[inline]
    pub fn weight(&self, x: i64, y: i64) -> f32 {
        let [x0, y0, x1, y1] = self.bounds;
        if x < x0 || y < y0 || x >= x1 || y >= y1 {
            return 0.0;
        }
        self.weight_at(x as f64, y as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Landmarks with the mouth corners at `left` and `right` and the nose `nose_up` pixels
    /// from their midpoint, on the side away from the chin.
    fn kps(left: [f32; 2], right: [f32; 2], nose_up: f32) -> [[f32; 2]; 5] {
        let (dx, dy) = (right[0] - left[0], right[1] - left[1]);
        let len = dx.hypot(dy).max(1e-6);
        let centre = [(left[0] + right[0]) / 2.0, (left[1] + right[1]) / 2.0];
        // Up is the corners' line turned a quarter anticlockwise on screen (y grows down).
        let up = [dy / len, -dx / len];
        let nose = [centre[0] + up[0] * nose_up, centre[1] + up[1] * nose_up];
        [
            [centre[0] - 20.0, centre[1] - 60.0],
            [centre[0] + 20.0, centre[1] - 60.0],
            nose,
            left,
            right,
        ]
    }

    #[test]
    fn the_mask_is_centred_between_the_corners_and_one_there() {
        let m = MouthMask::from_landmarks(&kps([100.0, 200.0], [140.0, 200.0], 28.0)).unwrap();
        assert_eq!(m.centre, [120.0, 200.0]);
        assert_eq!(m.weight(120, 200), 1.0);
        // Symmetric about the centre along and across the mouth.
        for (dx, dy) in [(10, 0), (23, 0), (0, 9), (17, 6), (30, 3)] {
            assert_eq!(m.weight(120 + dx, 200 + dy), m.weight(120 - dx, 200 - dy));
            assert_eq!(m.weight(120 + dx, 200 - dy), m.weight(120 - dx, 200 + dy));
        }
        // The corners themselves are kept, and the height follows width and nose.
        assert_eq!(m.weight(100, 200), 1.0);
        assert_eq!(m.weight(140, 200), 1.0);
        assert!((m.half_width - 24.0).abs() < 1e-9);
        assert!((m.half_height - (0.2 * 40.0 + 0.35 * 28.0)).abs() < 1e-9);
    }

    #[test]
    fn the_mask_fades_to_zero_away_from_the_mouth() {
        let m = MouthMask::from_landmarks(&kps([100.0, 200.0], [140.0, 200.0], 28.0)).unwrap();
        let [x0, y0, x1, y1] = m.bounds();
        // Zero outside its bounds and past the feather inside them.
        for (x, y) in [
            (0, 0),
            (120, 160),
            (120, 240),
            (60, 200),
            (180, 200),
            (x1, y1),
        ] {
            assert_eq!(m.weight(x, y), 0.0, "({x}, {y})");
        }
        assert_eq!(m.weight(x0, y0), 0.0);
        // Along the mouth's axis: one in the core, strictly falling across the feather.
        let along: Vec<f32> = (120..x1).map(|x| m.weight(x, 200)).collect();
        assert!(along.windows(2).all(|w| w[1] <= w[0]));
        assert!(along.iter().any(|w| *w > 0.0 && *w < 1.0));
        assert_eq!(m.weight(144, 200), 1.0);
        assert_eq!(m.weight(154, 200), 0.0);
        // Every weight in the bounds is a proper one.
        for y in y0..y1 {
            for x in x0..x1 {
                let w = m.weight(x, y);
                assert!((0.0..=1.0).contains(&w), "({x}, {y}): {w}");
            }
        }
    }

    #[test]
    fn the_mask_turns_with_the_corners() {
        // The same mouth rolled by 30°: its long axis follows the corners.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let (cx, cy, half) = (300.0f32, 250.0f32, 20.0f32);
        let left = [cx - half * c, cy - half * s];
        let right = [cx + half * c, cy + half * s];
        let m = MouthMask::from_landmarks(&kps(left, right, 28.0)).unwrap();
        let level = MouthMask::from_landmarks(&kps([280.0, 250.0], [320.0, 250.0], 28.0)).unwrap();
        assert!((m.centre[0] - 300.0).abs() < 1e-4 && (m.centre[1] - 250.0).abs() < 1e-4);
        assert!((m.axis[0] - f64::from(c)).abs() < 1e-6 && (m.axis[1] - f64::from(s)).abs() < 1e-6);
        assert!((m.half_width - level.half_width).abs() < 1e-4);
        assert!((m.half_height - level.half_height).abs() < 1e-4);
        // 23 px along the rolled axis is in the core; 26 px across it is past the feather.
        let at = |d: f32, ux: f32, uy: f32| (f64::from(cx + d * ux), f64::from(cy + d * uy));
        let (x, y) = at(23.0, c, s);
        assert_eq!(m.weight_at(x, y), 1.0);
        assert!(
            level.weight_at(x, y) < 1.0,
            "the unrolled mask does not follow"
        );
        let (x, y) = at(26.0, -s, c);
        assert_eq!(m.weight_at(x, y), 0.0);
        // Mirrored corners (right left of left) make the same mask.
        let swapped = MouthMask::from_landmarks(&kps(right, left, -28.0)).unwrap();
        for (x, y) in [
            (300.0, 250.0),
            (315.0, 262.0),
            (290.0, 240.0),
            (280.0, 262.0),
        ] {
            assert!((swapped.weight_at(x, y) - m.weight_at(x, y)).abs() < 1e-6);
        }
    }

    #[test]
    fn degenerate_landmarks_keep_nothing_and_never_give_nan() {
        let one_point = kps([120.0, 200.0], [120.0, 200.0], 0.0);
        assert_eq!(MouthMask::from_landmarks(&one_point), None);
        let mut nan = kps([100.0, 200.0], [140.0, 200.0], 28.0);
        nan[3][0] = f32::NAN;
        assert_eq!(MouthMask::from_landmarks(&nan), None);
        let mut inf = kps([100.0, 200.0], [140.0, 200.0], 28.0);
        inf[4][1] = f32::INFINITY;
        assert_eq!(MouthMask::from_landmarks(&inf), None);
        // Corners a hair apart with the nose on their line: too small to keep.
        let tiny = kps([120.0, 200.0], [120.5, 200.0], 0.0);
        assert_eq!(MouthMask::from_landmarks(&tiny), None);
        // Corners at one point with the nose above: no width, so still nothing.
        let mut pinched = one_point;
        pinched[2] = [120.0, 170.0];
        assert_eq!(MouthMask::from_landmarks(&pinched), None);
        // Landmarks far outside any frame: finite weights, zero in the frame.
        let far = kps([1.0e30, 1.0e30], [1.0e30 + 40.0, 1.0e30], 28.0);
        if let Some(m) = MouthMask::from_landmarks(&far) {
            assert_eq!(m.weight(100, 100), 0.0);
        }
        let huge = kps([-3.0e38, 0.0], [3.0e38, 0.0], 28.0);
        if let Some(m) = MouthMask::from_landmarks(&huge) {
            let w = m.weight(0, 0);
            assert!(w.is_finite() && (0.0..=1.0).contains(&w));
        }
    }
}
