//! Which frames run the detector: every `interval`-th frame, and every frame while no face is
//! known; the frames in between reuse the last faces (detection costs more than the frame
//! budget on most machines, and faces move little in a few frames). Sans-IO: the caller asks,
//! runs the detector when told, and reports what it found.

use crate::Detection;

/// The detect-every-N schedule and the faces it carries between detections.
#[derive(Debug, Clone)]
pub struct Tracker {
    interval: u32,
    since_detect: Option<u32>,
    faces: Vec<Detection>,
}

impl Tracker {
    /// `interval` frames per detection; 0 and 1 both mean every frame.
    pub fn new(interval: u32) -> Tracker {
        Tracker {
            interval: interval.max(1),
            since_detect: None,
            faces: Vec::new(),
        }
    }

    /// Whether the coming frame must run the detector.
    pub fn needs_detection(&self) -> bool {
        match self.since_detect {
            None => true,
            Some(n) => self.faces.is_empty() || n + 1 >= self.interval,
        }
    }

    /// Record the detector's result for this frame.
    pub fn detected(&mut self, faces: Vec<Detection>) {
        self.faces = faces;
        self.since_detect = Some(0);
    }

    /// Record a frame that reused the previous faces.
    pub fn followed(&mut self) {
        if let Some(n) = self.since_detect.as_mut() {
            *n += 1;
        }
    }

    /// The faces to use for the current frame.
    pub fn faces(&self) -> &[Detection] {
        &self.faces
    }

    /// Forget the faces: the next frame detects (a new stream, a seek, a changed setting).
    pub fn reset(&mut self) {
        self.since_detect = None;
        self.faces.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> Detection {
        Detection {
            bbox: [0.0, 0.0, 10.0, 10.0],
            score: 0.9,
            kps: [[5.0, 5.0]; 5],
        }
    }

    /// Run `frames` frames, finding a face only when `found(frame)`; return the detect frames.
    fn run(interval: u32, frames: u32, found: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut t = Tracker::new(interval);
        let mut ran = Vec::new();
        for f in 0..frames {
            if t.needs_detection() {
                ran.push(f);
                t.detected(if found(f) { vec![face()] } else { vec![] });
            } else {
                t.followed();
            }
        }
        ran
    }

    #[test]
    fn detects_every_nth_frame_while_a_face_is_known() {
        assert_eq!(run(3, 10, |_| true), vec![0, 3, 6, 9]);
        assert_eq!(run(1, 4, |_| true), vec![0, 1, 2, 3]);
        assert_eq!(run(0, 3, |_| true), vec![0, 1, 2]);
    }

    #[test]
    fn detects_every_frame_until_a_face_appears() {
        assert_eq!(run(4, 10, |f| f >= 2), vec![0, 1, 2, 6]);
    }

    #[test]
    fn reuses_faces_between_detections_and_reset_forgets_them() {
        let mut t = Tracker::new(5);
        t.detected(vec![face()]);
        t.followed();
        assert!(!t.needs_detection());
        assert_eq!(t.faces().len(), 1);
        t.reset();
        assert!(t.needs_detection() && t.faces().is_empty());
    }
}
