//! inswapper's source input: not the ArcFace embedding itself but
//! `normalize(normalize(embedding) · emap)`, with `emap` the 512×512 matrix stored as the
//! model graph's last initializer (insightface normalises twice; FaceFusion skips the second).

use crate::FaceError;

/// The embedding scaled to unit length.
pub fn normalize(v: &[f32]) -> Result<Vec<f32>, FaceError> {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm < 1e-12 || !norm.is_finite() {
        return Err(FaceError::Degenerate(format!(
            "vector of length {} has no direction (norm {norm})",
            v.len()
        )));
    }
    Ok(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

/// The inswapper `source` vector for `embedding`; `emap` is row-major `d × d`.
pub fn source_latent(embedding: &[f32], emap: &[f32]) -> Result<Vec<f32>, FaceError> {
    let d = embedding.len();
    if d == 0 || emap.len() != d * d {
        return Err(FaceError::Shape(format!(
            "emap must be {d}x{d} for a {d}-d embedding, has {} values",
            emap.len()
        )));
    }
    let e = normalize(embedding)?;
    let mut latent = vec![0f64; d];
    for (i, &ei) in e.iter().enumerate() {
        let row = &emap[i * d..(i + 1) * d];
        for (l, &m) in latent.iter_mut().zip(row) {
            *l += f64::from(ei) * f64::from(m);
        }
    }
    let latent: Vec<f32> = latent.into_iter().map(|x| x as f32).collect();
    normalize(&latent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_emap_gives_the_normalised_embedding() {
        let mut emap = vec![0f32; 9];
        for i in 0..3 {
            emap[i * 3 + i] = 2.0;
        }
        let l = source_latent(&[3.0, 0.0, 4.0], &emap).unwrap();
        assert!((l[0] - 0.6).abs() < 1e-6 && (l[2] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn wrong_sizes_and_zero_vectors_are_errors() {
        assert!(source_latent(&[1.0, 2.0], &[1.0; 3]).is_err());
        assert!(source_latent(&[0.0, 0.0], &[1.0; 4]).is_err());
    }
}
