//! 2×3 affine transforms in f64: apply, invert, and map rectangles.

/// `[x', y'] = [[a, b, c], [d, e, f]] · [x, y, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub m: [[f64; 3]; 2],
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    };

    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.m;
        (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        )
    }

    /// The inverse transform, or `None` when the linear part is singular.
    pub fn invert(&self) -> Option<Affine> {
        let [[a, b, c], [d, e, f]] = self.m;
        let det = a * e - b * d;
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        // Multiply by the reciprocal, as OpenCV's invertAffineTransform does.
        let r = 1.0 / det;
        let (ia, ib, id, ie) = (e * r, -b * r, -d * r, a * r);
        Some(Affine {
            m: [[ia, ib, -(ia * c + ib * f)], [id, ie, -(id * c + ie * f)]],
        })
    }

    /// The axis-aligned bounds `(x0, y0, x1, y1)` of the rectangle `[0, w] × [0, h]` mapped
    /// through this transform.
    pub fn map_rect_bounds(&self, w: f64, h: f64) -> (f64, f64, f64, f64) {
        let corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)].map(|(x, y)| self.apply(x, y));
        let mut b = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (x, y) in corners {
            b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert_round_trips_a_point() {
        let t = Affine {
            m: [[0.8, -0.3, 12.0], [0.3, 0.8, -4.0]],
        };
        let inv = t.invert().unwrap();
        let (x, y) = t.apply(17.0, 33.0);
        let (bx, by) = inv.apply(x, y);
        assert!((bx - 17.0).abs() < 1e-9 && (by - 33.0).abs() < 1e-9);
    }

    #[test]
    fn singular_transform_has_no_inverse() {
        let t = Affine {
            m: [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]],
        };
        assert!(t.invert().is_none());
    }
}
