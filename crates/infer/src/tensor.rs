//! Tensors that cross the API: a shape plus owned data of one element type.

use crate::InferError;
use half::f16;

/// Element types the API moves across it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    F32,
    F16,
    I64,
    /// 8-bit pixels (`uint8`), so images cross to a device at a byte a value.
    U8,
    /// Anything else the file declares (`int32`, `bool`, ...), by its ONNX type number.
    Other(i32),
}

/// A dense, row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32 { shape: Vec<usize>, data: Vec<f32> },
    F16 { shape: Vec<usize>, data: Vec<f16> },
    I64 { shape: Vec<usize>, data: Vec<i64> },
    U8 { shape: Vec<usize>, data: Vec<u8> },
}

fn check(shape: &[usize], len: usize) -> Result<(), InferError> {
    let want: usize = shape.iter().product();
    if want == len {
        Ok(())
    } else {
        Err(InferError::Tensor(format!(
            "shape {shape:?} holds {want} elements but {len} were given"
        )))
    }
}

impl Tensor {
    pub fn f32(shape: &[usize], data: Vec<f32>) -> Result<Tensor, InferError> {
        check(shape, data.len())?;
        Ok(Tensor::F32 {
            shape: shape.to_vec(),
            data,
        })
    }

    pub fn i64(shape: &[usize], data: Vec<i64>) -> Result<Tensor, InferError> {
        check(shape, data.len())?;
        Ok(Tensor::I64 {
            shape: shape.to_vec(),
            data,
        })
    }

    pub fn u8(shape: &[usize], data: Vec<u8>) -> Result<Tensor, InferError> {
        check(shape, data.len())?;
        Ok(Tensor::U8 {
            shape: shape.to_vec(),
            data,
        })
    }

    pub fn f16(shape: &[usize], data: Vec<f16>) -> Result<Tensor, InferError> {
        check(shape, data.len())?;
        Ok(Tensor::F16 {
            shape: shape.to_vec(),
            data,
        })
    }

    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32 { shape, .. }
            | Tensor::F16 { shape, .. }
            | Tensor::I64 { shape, .. }
            | Tensor::U8 { shape, .. } => shape,
        }
    }

    pub fn element_type(&self) -> ElementType {
        match self {
            Tensor::F32 { .. } => ElementType::F32,
            Tensor::F16 { .. } => ElementType::F16,
            Tensor::I64 { .. } => ElementType::I64,
            Tensor::U8 { .. } => ElementType::U8,
        }
    }

    /// The values as `f32`, converting from `f16` (and `i64`, for index tensors read as data).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Tensor::F32 { data, .. } => data.clone(),
            Tensor::F16 { data, .. } => data.iter().map(|v| v.to_f32()).collect(),
            Tensor::I64 { data, .. } => data.iter().map(|&v| v as f32).collect(),
            Tensor::U8 { data, .. } => data.iter().map(|&v| f32::from(v)).collect(),
        }
    }

    /// This tensor with its floats in `to` (`f32` ↔ `f16`); integers are left alone. Models
    /// exported in half precision want `f16` inputs, and callers should not have to care.
    pub fn cast_float(self, to: ElementType) -> Tensor {
        match (self, to) {
            (Tensor::F32 { shape, data }, ElementType::F16) => Tensor::F16 {
                shape,
                data: data.into_iter().map(f16::from_f32).collect(),
            },
            (Tensor::F16 { shape, data }, ElementType::F32) => Tensor::F32 {
                shape,
                data: data.into_iter().map(|v| v.to_f32()).collect(),
            },
            (other, _) => other,
        }
    }
}

/// A bound buffer's values, typed, as a backend holds them (the bound run's view; see
/// `bound.rs`).
pub(crate) enum SliceMut<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [f16]),
    I64(&'a mut [i64]),
    U8(&'a mut [u8]),
}

/// A bound buffer's values, read only.
pub(crate) enum SliceRef<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    I64(&'a [i64]),
    U8(&'a [u8]),
}
