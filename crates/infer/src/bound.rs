//! Bound runs: a model's inputs and outputs in buffers allocated once ([`crate::Model::bind`]),
//! the inputs written in place by the caller, the outputs read in place after
//! [`crate::Model::run_bound`]. A streaming caller runs one shape set all the time; building
//! fresh tensors for every frame costs an allocation, a copy and, on a GPU, pageable transfers.
//!
//! Where the buffers live is the backend's business: tract copies them into its own tensors;
//! ONNX Runtime binds them (host memory on the CPU, pinned host memory on CUDA, so each
//! transfer is one DMA copy; with CUDA graphs, device tensors at fixed addresses with the
//! pinned buffers copied in and out around each run).

use crate::ort_backend::OrtBinding;
use crate::tensor::{ElementType, SliceMut, SliceRef};
use crate::{InferError, Tensor};
use half::f16;

fn tensor_mut(tensor: &mut Tensor) -> SliceMut<'_> {
    match tensor {
        Tensor::F32 { data, .. } => SliceMut::F32(data),
        Tensor::F16 { data, .. } => SliceMut::F16(data),
        Tensor::I64 { data, .. } => SliceMut::I64(data),
        Tensor::U8 { data, .. } => SliceMut::U8(data),
    }
}

fn tensor_ref(tensor: &Tensor) -> SliceRef<'_> {
    match tensor {
        Tensor::F32 { data, .. } => SliceRef::F32(data),
        Tensor::F16 { data, .. } => SliceRef::F16(data),
        Tensor::I64 { data, .. } => SliceRef::I64(data),
        Tensor::U8 { data, .. } => SliceRef::U8(data),
    }
}

/// A zeroed host tensor of `element` and `shape`.
pub(crate) fn zeroed(element: ElementType, shape: &[usize]) -> Result<Tensor, InferError> {
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| InferError::Tensor(format!("shape {shape:?} is too large")))?;
    match element {
        ElementType::F32 => Tensor::f32(shape, vec![0.0; n]),
        ElementType::F16 => Tensor::f16(shape, vec![f16::ZERO; n]),
        ElementType::I64 => Tensor::i64(shape, vec![0; n]),
        ElementType::U8 => Tensor::u8(shape, vec![0; n]),
        ElementType::Other(code) => Err(InferError::Tensor(format!(
            "element type {code} cannot be bound (f32, f16, i64 and u8 can)"
        ))),
    }
}

/// Where the bound buffers are.
pub(crate) enum BoundStore {
    /// tract: host tensors, copied into tract's at each run; outputs copied back in place.
    Host {
        inputs: Vec<Tensor>,
        outputs: Vec<Option<Tensor>>,
    },
    /// ONNX Runtime's binding and its tensors.
    Ort(Box<OrtBinding>),
}

/// One bound input or output.
pub(crate) struct Slot {
    pub name: String,
    pub element: ElementType,
    /// `f32` values of a half-precision slot: what the caller writes and reads, converted
    /// before and after each run, so callers have one code path for both precisions.
    pub staging: Vec<f32>,
}

/// A model's inputs and outputs bound to buffers allocated once; made by
/// [`crate::Model::bind`], run by [`crate::Model::run_bound`] on the model that made it.
pub struct BoundIo {
    pub(crate) owner: u64,
    pub(crate) inputs: Vec<Slot>,
    pub(crate) outputs: Vec<Slot>,
    pub(crate) store: BoundStore,
    pub(crate) placement: String,
    pub(crate) runs: u64,
}

impl BoundIo {
    /// Where the buffers live, in words (`host memory`, `CUDA with inputs and outputs in
    /// pinned host memory`, ...; and why CUDA graphs are not used where they were asked for).
    pub fn placement(&self) -> &str {
        &self.placement
    }

    fn input_index(&self, name: &str) -> Result<usize, InferError> {
        self.inputs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| InferError::Input {
                name: name.to_string(),
                reason: format!(
                    "the model has no such input (it has {:?})",
                    self.inputs
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                ),
            })
    }

    fn output_index(&self, name: &str) -> Result<usize, InferError> {
        self.outputs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| {
                InferError::Tensor(format!(
                    "the model has no output {name:?} (it has {:?})",
                    self.outputs
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                ))
            })
    }

    fn input_slice(&mut self, index: usize) -> Result<SliceMut<'_>, InferError> {
        match &mut self.store {
            BoundStore::Host { inputs, .. } => inputs
                .get_mut(index)
                .map(tensor_mut)
                .ok_or_else(|| InferError::Tensor("no such input".into())),
            BoundStore::Ort(binding) => binding.input_mut(index).map_err(InferError::Tensor),
        }
    }

    fn output_slice(&self, index: usize) -> Result<Option<(Vec<usize>, SliceRef<'_>)>, InferError> {
        match &self.store {
            BoundStore::Host { outputs, .. } => Ok(outputs
                .get(index)
                .and_then(Option::as_ref)
                .map(|t| (t.shape().to_vec(), tensor_ref(t)))),
            BoundStore::Ort(binding) => binding.output(index).map_err(InferError::Tensor),
        }
    }

    /// The `f32` input `name` to write in place. A half-precision input is written as `f32`
    /// too and converted at the run. Whatever was written last stays until overwritten.
    pub fn input_f32(&mut self, name: &str) -> Result<&mut [f32], InferError> {
        let index = self.input_index(name)?;
        if self.inputs[index].element == ElementType::F16 {
            return Ok(&mut self.inputs[index].staging);
        }
        let element = self.inputs[index].element;
        match self.input_slice(index)? {
            SliceMut::F32(s) => Ok(s),
            _ => Err(wrong_type(name, element, "f32")),
        }
    }

    /// The `i64` input `name` to write in place.
    pub fn input_i64(&mut self, name: &str) -> Result<&mut [i64], InferError> {
        let index = self.input_index(name)?;
        let element = self.inputs[index].element;
        match self.input_slice(index)? {
            SliceMut::I64(s) => Ok(s),
            _ => Err(wrong_type(name, element, "i64")),
        }
    }

    /// The 8-bit input `name` to write in place.
    pub fn input_u8(&mut self, name: &str) -> Result<&mut [u8], InferError> {
        let index = self.input_index(name)?;
        let element = self.inputs[index].element;
        match self.input_slice(index)? {
            SliceMut::U8(s) => Ok(s),
            _ => Err(wrong_type(name, element, "u8")),
        }
    }

    /// Copies `values` into the `f32` input `name`: an error, naming both lengths, unless
    /// they are exactly the input's size.
    pub fn write_f32(&mut self, name: &str, values: &[f32]) -> Result<(), InferError> {
        copy_exact(name, self.input_f32(name)?, values)
    }

    /// Copies `values` into the `i64` input `name` (exactly its size).
    pub fn write_i64(&mut self, name: &str, values: &[i64]) -> Result<(), InferError> {
        copy_exact(name, self.input_i64(name)?, values)
    }

    /// The last run's `f32` output `name`, read in place (a half-precision output converted
    /// after the run).
    pub fn output_f32(&self, name: &str) -> Result<&[f32], InferError> {
        let index = self.output_index(name)?;
        if self.runs == 0 {
            return Err(InferError::Tensor(format!(
                "output {name:?} is read before the first run"
            )));
        }
        let slot = &self.outputs[index];
        if slot.element == ElementType::F16 {
            return Ok(&slot.staging);
        }
        match self.output_slice(index)? {
            Some((_, SliceRef::F32(s))) => Ok(s),
            Some(_) => Err(InferError::Tensor(format!(
                "output {name:?} holds {:?}, not f32",
                slot.element
            ))),
            None => Err(InferError::Tensor(format!("output {name:?} has no value"))),
        }
    }

    /// The last run's `i64` output `name`, read in place.
    pub fn output_i64(&self, name: &str) -> Result<&[i64], InferError> {
        match self.read_output(name)? {
            SliceRef::I64(s) => Ok(s),
            _ => Err(InferError::Tensor(format!("output {name:?} is not i64"))),
        }
    }

    /// The last run's 8-bit output `name`, read in place.
    pub fn output_u8(&self, name: &str) -> Result<&[u8], InferError> {
        match self.read_output(name)? {
            SliceRef::U8(s) => Ok(s),
            _ => Err(InferError::Tensor(format!("output {name:?} is not u8"))),
        }
    }

    fn read_output(&self, name: &str) -> Result<SliceRef<'_>, InferError> {
        let index = self.output_index(name)?;
        match self.output_slice(index)? {
            Some((_, values)) if self.runs > 0 => Ok(values),
            _ => Err(InferError::Tensor(format!(
                "output {name:?} is read before the first run"
            ))),
        }
    }

    /// The last run's shape of output `name`.
    pub fn output_shape(&self, name: &str) -> Result<Vec<usize>, InferError> {
        let index = self.output_index(name)?;
        match self.output_slice(index)? {
            Some((shape, _)) if self.runs > 0 => Ok(shape),
            _ => Err(InferError::Tensor(format!(
                "output {name:?} is read before the first run"
            ))),
        }
    }

    /// The outputs' names, in the graph's order.
    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().map(|s| s.name.as_str())
    }

    /// Half-precision inputs from what the caller wrote as `f32`.
    pub(crate) fn before_run(&mut self) -> Result<(), InferError> {
        for index in 0..self.inputs.len() {
            if self.inputs[index].element != ElementType::F16 {
                continue;
            }
            let staging = std::mem::take(&mut self.inputs[index].staging);
            let result = match self.input_slice(index)? {
                SliceMut::F16(dst) if dst.len() == staging.len() => {
                    for (d, s) in dst.iter_mut().zip(&staging) {
                        *d = f16::from_f32(*s);
                    }
                    Ok(())
                }
                _ => Err(InferError::Tensor(format!(
                    "input {:?}: its half-precision buffer does not match",
                    self.inputs[index].name
                ))),
            };
            self.inputs[index].staging = staging;
            result?;
        }
        Ok(())
    }

    /// Half-precision outputs as `f32` for the caller.
    pub(crate) fn after_run(&mut self) -> Result<(), InferError> {
        self.runs += 1;
        for index in 0..self.outputs.len() {
            if self.outputs[index].element != ElementType::F16 {
                continue;
            }
            let mut staging = std::mem::take(&mut self.outputs[index].staging);
            if let Some((_, SliceRef::F16(src))) = self.output_slice(index)? {
                staging.clear();
                staging.extend(src.iter().map(|v| v.to_f32()));
            }
            self.outputs[index].staging = staging;
        }
        Ok(())
    }
}

/// `values` into the bound input `name`, which must hold exactly as many.
fn copy_exact<T: Copy>(name: &str, input: &mut [T], values: &[T]) -> Result<(), InferError> {
    if input.len() != values.len() {
        return Err(InferError::Input {
            name: name.to_string(),
            reason: format!(
                "{} values given, the bound input holds {}",
                values.len(),
                input.len()
            ),
        });
    }
    input.copy_from_slice(values);
    Ok(())
}

fn wrong_type(name: &str, element: ElementType, asked: &str) -> InferError {
    InferError::Input {
        name: name.to_string(),
        reason: format!("the bound input holds {element:?}, not {asked}"),
    }
}
