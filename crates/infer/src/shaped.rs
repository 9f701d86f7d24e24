//! [`ShapedBinding`]: a model's binding kept while the caller asks for the shapes it was made
//! for, made again when they change (a voice's window follows its block size, which changes
//! only with a setting).

use crate::{BoundIo, InferError, Model};

/// A [`BoundIo`] for the shapes last asked for. A model replaying CUDA graphs
/// ([`crate::ModelOptions::cuda_graphs`]) is bound once for good, so asking it for other
/// shapes is an error: give such a model one shape set.
#[derive(Default)]
pub struct ShapedBinding {
    shapes: Vec<(String, Vec<usize>)>,
    io: Option<BoundIo>,
}

impl ShapedBinding {
    pub fn new() -> ShapedBinding {
        ShapedBinding::default()
    }

    /// `model`'s binding at `shapes` (as [`Model::bind`] takes them): the one made last
    /// when they are the same, else a new one (the old one dropped first, its buffers freed).
    pub fn at(
        &mut self,
        model: &mut Model,
        shapes: &[(&str, &[usize])],
    ) -> Result<&mut BoundIo, InferError> {
        let same = self.io.is_some()
            && self.shapes.len() == shapes.len()
            && self
                .shapes
                .iter()
                .zip(shapes)
                .all(|((n, s), (m, t))| n == m && s.as_slice() == *t);
        if !same {
            self.io = None;
            self.shapes = shapes
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_vec()))
                .collect();
        }
        match &mut self.io {
            Some(io) => Ok(io),
            slot => Ok(slot.insert(model.bind(shapes)?)),
        }
    }
}
