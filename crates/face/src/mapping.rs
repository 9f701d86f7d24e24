//! Face mapping: each person the camera shows wears their own target face. A person is known
//! by the ArcFace embedding of a reference photo; a face in the frame is that person when its
//! embedding is close enough, as FaceFusion's reference face selector decides it
//! (`face_selector.compare_faces`: the distance `1 − a·b` of the normed embeddings, mapped
//! from [0, 2] onto [0, 1], below `reference_face_distance`, 0.3 by default). A face that is
//! no one's passes as it came.

/// FaceFusion's default `reference_face_distance`: faces closer than this are the same
/// person (a cosine similarity above 0.4).
pub const SAME_PERSON_DISTANCE: f32 = 0.3;

/// The most people one mapping holds: each is a swap on every frame they are in.
pub const MAX_PEOPLE: usize = 8;

/// FaceFusion's face distance of two normed embeddings: `(1 − a·b) / 2`, 0 for the same
/// face, 1 for opposite ones. Embeddings of different lengths are as far apart as can be.
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 1.0;
    }
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    ((1.0 - dot) / 2.0).clamp(0.0, 1.0)
}

/// The person `embedding` is: the closest of `people` (their normed embeddings) nearer than
/// [`SAME_PERSON_DISTANCE`], or `None`.
pub fn person_of<'a>(
    embedding: &[f32],
    people: impl IntoIterator<Item = &'a [f32]>,
) -> Option<usize> {
    people
        .into_iter()
        .map(|p| distance(embedding, p))
        .enumerate()
        .filter(|(_, d)| d.is_finite() && *d < SAME_PERSON_DISTANCE)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(angle: f32) -> Vec<f32> {
        vec![angle.cos(), angle.sin()]
    }

    #[test]
    fn the_distance_is_facefusions() {
        assert_eq!(distance(&unit(0.0), &unit(0.0)), 0.0);
        assert!((distance(&unit(0.0), &unit(std::f32::consts::PI)) - 1.0).abs() < 1e-6);
        // Orthogonal faces sit half-way.
        assert!((distance(&unit(0.0), &unit(std::f32::consts::FRAC_PI_2)) - 0.5).abs() < 1e-6);
        assert_eq!(distance(&[1.0], &[1.0, 0.0]), 1.0);
    }

    #[test]
    fn the_closest_person_under_the_threshold_is_chosen() {
        let people = [unit(1.2), unit(0.3), unit(0.1)];
        let of = |e: &[f32]| person_of(e, people.iter().map(Vec::as_slice));
        // Closest to the third, though the second is near too.
        assert_eq!(of(&unit(0.05)), Some(2));
        assert_eq!(of(&unit(0.28)), Some(1));
        // A cosine of 0.4 is the edge: cos(1.2 + 1.2) is far below it.
        assert_eq!(of(&unit(2.4)), None);
        assert_eq!(person_of(&unit(0.0), std::iter::empty()), None);
        // NaN (a broken embedding) is no one.
        assert_eq!(of(&[f32::NAN, 0.0]), None);
    }
}
