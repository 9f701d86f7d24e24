//! What the paste-back keeps of the frame as it came, in frame pixels: the person's own mouth
//! ([`MouthMask`]), whatever is in front of the face and, with the region mask, whatever the
//! face parser does not call face (both [`OcclusionMask`]s). Each is optional; with none the
//! paste is the plain one.

use crate::mouth::MouthMask;
use crate::occlusion::OcclusionMask;

/// The masks that keep frame pixels, applied to the paste mask's weight pixel by pixel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep<'a> {
    /// Multiplies the weight by `1 − mouth`.
    pub mouth: Option<&'a MouthMask>,
    /// Caps the weight at the face mask's (FaceFusion's minimum of masks).
    pub occlusion: Option<&'a OcclusionMask>,
    /// Caps the weight at the region mask's (the face parser's face regions).
    pub region: Option<&'a OcclusionMask>,
}

impl<'a> Keep<'a> {
    /// `Some` when at least one mask is there, else `None` (the paste then skips the check).
    pub fn any(
        mouth: Option<&'a MouthMask>,
        occlusion: Option<&'a OcclusionMask>,
        region: Option<&'a OcclusionMask>,
    ) -> Option<Self> {
        (mouth.is_some() || occlusion.is_some() || region.is_some()).then_some(Keep {
            mouth,
            occlusion,
            region,
        })
    }

    /// The paste weight `a` at frame pixel `(x, y)` once the kept pixels are taken out: 0
    /// where the frame stays bit for bit as it came.
    #[inline]
    pub fn apply(&self, mut a: f32, x: i64, y: i64) -> f32 {
        for mask in [self.occlusion, self.region].into_iter().flatten() {
            a = a.min(mask.face_weight(x, y));
        }
        if let Some(m) = self.mouth {
            a *= 1.0 - m.weight(x, y);
        }
        a
    }
}

impl<'a> From<&'a MouthMask> for Keep<'a> {
    fn from(mouth: &'a MouthMask) -> Self {
        Keep {
            mouth: Some(mouth),
            ..Keep::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Affine;

    #[test]
    fn occlusion_caps_the_weight_and_the_mouth_multiplies_it() {
        // A 2×2 crop on frame pixels (0..2, 0..2): face 0.25 at (0, 0), 1 elsewhere.
        let occlusion = OcclusionMask::new(vec![0.25, 1.0, 1.0, 1.0], 2, 2, Affine::IDENTITY)
            .expect("a 2×2 mask");
        let kps = [
            [10.0, 10.0],
            [30.0, 10.0],
            [20.0, 20.0],
            [12.0, 30.0],
            [28.0, 30.0],
        ];
        let mouth = MouthMask::from_landmarks(&kps).expect("a mouth");
        assert!(Keep::any(None, None, None).is_none());
        let keep = Keep::any(Some(&mouth), Some(&occlusion), None).expect("two masks");
        // FaceFusion's minimum of masks: the paste mask's weight, capped at the face mask's.
        assert_eq!(keep.apply(0.8, 0, 0), 0.25);
        assert_eq!(keep.apply(0.1, 0, 0), 0.1);
        assert_eq!(keep.apply(0.8, 1, 1), 0.8);
        // Outside the crop nothing is face: nothing is pasted.
        assert_eq!(keep.apply(0.8, 5, 5), 0.0);
        // The mouth's core keeps the frame whatever the other masks say.
        let only_mouth = Keep::from(&mouth);
        assert_eq!(only_mouth.apply(0.9, 20, 30), 0.0);
        assert_eq!(only_mouth.apply(0.9, 0, 0), 0.9);
        // The region mask caps like the occlusion mask; both together take the smaller.
        let region = OcclusionMask::new(vec![1.0, 0.5, 1.0, 0.0], 2, 2, Affine::IDENTITY)
            .expect("a 2×2 mask");
        let both = Keep::any(None, Some(&occlusion), Some(&region)).expect("two masks");
        assert_eq!(both.apply(0.8, 0, 0), 0.25);
        assert_eq!(both.apply(0.8, 1, 0), 0.5);
        assert_eq!(both.apply(0.8, 1, 1), 0.0);
    }
}
