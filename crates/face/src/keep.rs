//! What the paste-back keeps of the frame as it came, in frame pixels: the person's own mouth
//! ([`MouthMask`]) and whatever is in front of the face ([`OcclusionMask`]). Each is optional;
//! with neither the paste is the plain one.

use crate::mouth::MouthMask;
use crate::occlusion::OcclusionMask;

/// The masks that keep frame pixels, applied to the paste mask's weight pixel by pixel.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep<'a> {
    /// Multiplies the weight by `1 − mouth`.
    pub mouth: Option<&'a MouthMask>,
    /// Caps the weight at the face mask's (FaceFusion's minimum of masks).
    pub occlusion: Option<&'a OcclusionMask>,
}

impl<'a> Keep<'a> {
    /// `Some` when at least one mask is there, else `None` (the paste then skips the check).
    pub fn any(mouth: Option<&'a MouthMask>, occlusion: Option<&'a OcclusionMask>) -> Option<Self> {
        (mouth.is_some() || occlusion.is_some()).then_some(Keep { mouth, occlusion })
    }

    /// The paste weight `a` at frame pixel `(x, y)` once the kept pixels are taken out: 0
    /// where the frame stays bit for bit as it came.
    #[inline]
    pub fn apply(&self, mut a: f32, x: i64, y: i64) -> f32 {
        if let Some(o) = self.occlusion {
            a = a.min(o.face_weight(x, y));
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
            occlusion: None,
        }
    }
}
