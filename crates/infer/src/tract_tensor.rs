//! Tensors between the API's types and tract's: used by the tract backend to run a model and
//! by the graph reader to decode initializers, so neither has to import the other.

use crate::tensor::ElementType;
use crate::{InferError, Tensor};
use tract_onnx::prelude::{DatumType, f16};

/// tract's datum type for an element type the API moves; `None` for the others.
pub(crate) fn datum(element: ElementType) -> Option<DatumType> {
    match element {
        ElementType::F32 => Some(DatumType::F32),
        ElementType::F16 => Some(DatumType::F16),
        ElementType::I64 => Some(DatumType::I64),
        ElementType::U8 => Some(DatumType::U8),
        ElementType::Other(_) => None,
    }
}

pub(crate) fn to_tract(tensor: &Tensor) -> Result<tract_onnx::prelude::Tensor, InferError> {
    let bad = |e: anyhow::Error| InferError::Tensor(format!("{e:#}"));
    match tensor {
        Tensor::F32 { shape, data } => {
            tract_onnx::prelude::Tensor::from_shape::<f32>(shape, data).map_err(bad)
        }
        Tensor::F16 { shape, data } => {
            tract_onnx::prelude::Tensor::from_shape::<f16>(shape, data).map_err(bad)
        }
        Tensor::I64 { shape, data } => {
            tract_onnx::prelude::Tensor::from_shape::<i64>(shape, data).map_err(bad)
        }
        Tensor::U8 { shape, data } => {
            tract_onnx::prelude::Tensor::from_shape::<u8>(shape, data).map_err(bad)
        }
    }
}

pub(crate) fn from_tract(value: &tract_onnx::prelude::Tensor) -> Result<Tensor, InferError> {
    let shape = value.shape().to_vec();
    match value.datum_type() {
        DatumType::F32 => Ok(Tensor::F32 {
            data: elements::<f32>(value)?,
            shape,
        }),
        DatumType::F16 => Ok(Tensor::F16 {
            data: elements::<f16>(value)?,
            shape,
        }),
        DatumType::I64 => Ok(Tensor::I64 {
            data: elements::<i64>(value)?,
            shape,
        }),
        DatumType::U8 => Ok(Tensor::U8 {
            data: elements::<u8>(value)?,
            shape,
        }),
        other => {
            // Other numeric outputs (int32, double, ...) are widened to f32 for the caller.
            let cast = value
                .cast_to::<f32>()
                .map_err(|e| InferError::Tensor(format!("output of type {other:?}: {e:#}")))?;
            Ok(Tensor::F32 {
                data: elements::<f32>(&cast)?,
                shape,
            })
        }
    }
}

/// `value` into `into`, in place where its element type and shape are already `value`'s (a
/// bound output, allocated once), else replacing it.
pub(crate) fn copy_from_tract(
    value: &tract_onnx::prelude::Tensor,
    into: &mut Tensor,
) -> Result<(), InferError> {
    fn copy<T: tract_onnx::prelude::Datum + Copy>(
        value: &tract_onnx::prelude::Tensor,
        into: &mut [T],
    ) -> Result<bool, InferError> {
        let view = value
            .to_plain_array_view::<T>()
            .map_err(|e| InferError::Tensor(format!("{e:#}")))?;
        match view.as_slice() {
            Some(slice) if slice.len() == into.len() => into.copy_from_slice(slice),
            _ if view.len() == into.len() => {
                for (d, s) in into.iter_mut().zip(view.iter()) {
                    *d = *s;
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
    let same_shape = into.shape() == value.shape();
    let copied = same_shape
        && match (value.datum_type(), &mut *into) {
            (DatumType::F32, Tensor::F32 { data, .. }) => copy::<f32>(value, data)?,
            (DatumType::F16, Tensor::F16 { data, .. }) => copy::<f16>(value, data)?,
            (DatumType::I64, Tensor::I64 { data, .. }) => copy::<i64>(value, data)?,
            (DatumType::U8, Tensor::U8 { data, .. }) => copy::<u8>(value, data)?,
            _ => false,
        };
    if !copied {
        *into = from_tract(value)?;
    }
    Ok(())
}

/// The tensor's elements in row-major order, copied out of tract (in one copy when they lie
/// in order, as tract's outputs do: a large output, such as a face parser's 19 score planes,
/// costs milliseconds element by element).
fn elements<T: tract_onnx::prelude::Datum + Copy>(
    value: &tract_onnx::prelude::Tensor,
) -> Result<Vec<T>, InferError> {
    let view = value
        .to_plain_array_view::<T>()
        .map_err(|e| InferError::Tensor(format!("{e:#}")))?;
    Ok(match view.as_slice() {
        Some(slice) => slice.to_vec(),
        None => view.iter().copied().collect(),
    })
}
