//! The ONNX Runtime backend: the library is loaded once per process, then each model gets a
//! session on the best execution provider the runtime offers (TensorRT > CUDA > CoreML >
//! DirectML > CPU).

use crate::tensor::{ElementType, SliceMut, SliceRef};
use crate::{InferError, Tensor};
use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{IoBinding, Session};
use ort::value::{DynTensor, DynTensorValueType, DynValue, TensorElementType, ValueType};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The process's ONNX Runtime: a library can be loaded only once, so the first path wins.
static RUNTIME: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();

/// Loads ONNX Runtime from `library` (once per process).
pub(crate) fn environment(library: &Path) -> Result<&'static Environment, InferError> {
    let loaded = RUNTIME.get_or_init(|| {
        // `init_from` resolves the library's symbols; a file that is not ONNX Runtime, or one
        // too old for the API this build asks for, fails here instead of crashing later.
        let builder = ort::init_from(library).map_err(|e| format!("{}: {e}", library.display()))?;
        let env = builder
            .with_name("streaming-studio")
            .build()
            .map_err(|e| format!("{}: {e}", library.display()))?;
        Ok((env, library.to_path_buf()))
    });
    match loaded {
        Ok((env, path)) => {
            if path != library {
                tracing::debug!(
                    "ONNX Runtime is already loaded from {}; {} is not loaded again",
                    path.display(),
                    library.display()
                );
            }
            Ok(env)
        }
        Err(e) => Err(InferError::RuntimeUnavailable(e.clone())),
    }
}

pub(crate) struct OrtModel {
    session: Session,
    /// The provider the session runs on (`CPU`, `CUDA`, `TensorRT`, ...) and its device index.
    provider: &'static str,
    device_index: i32,
    /// Whether the session replays CUDA graphs: then it runs only through a binding whose
    /// inputs and outputs stay at the addresses the graph was captured with.
    cuda_graph: bool,
}

/// Which execution provider to try for a `device` setting (`auto`, `cpu`, `cuda:N`, ...),
/// best first. TensorRT keeps its engines and timing cache in `engine_cache` when given.
fn providers_for(
    device: &str,
    engine_cache: Option<&Path>,
    cuda_graph: bool,
) -> Vec<(&'static str, String, ep::ExecutionProviderDispatch)> {
    let index = device_index(device);
    let mut list = Vec::new();
    let want = |kind: &str| device == "auto" || device.starts_with(kind);
    if want("tensorrt") && ep::TensorRT::is_available().unwrap_or(false) {
        let mut tensorrt = ep::TensorRT::default()
            .with_device_id(index)
            .with_cuda_graph(cuda_graph);
        if let Some(dir) = engine_cache {
            let dir = dir.display().to_string();
            tensorrt = tensorrt
                .with_engine_cache(true)
                .with_engine_cache_path(&dir)
                .with_timing_cache(true)
                .with_timing_cache_path(&dir);
        }
        list.push((
            "TensorRT",
            format!("cuda:{index}"),
            tensorrt.build().error_on_failure(),
        ));
    }
    if want("cuda") && ep::CUDA::is_available().unwrap_or(false) {
        list.push((
            "CUDA",
            format!("cuda:{index}"),
            ep::CUDA::default()
                .with_device_id(index)
                .with_cuda_graph(cuda_graph)
                .build()
                .error_on_failure(),
        ));
    }
    if cuda_graph {
        // CUDA graphs are asked for only where the device is NVIDIA's.
        return list;
    }
    if want("rocm") && ep::ROCm::is_available().unwrap_or(false) {
        list.push((
            "ROCm",
            format!("rocm:{index}"),
            ep::ROCm::default()
                .with_device_id(index)
                .build()
                .error_on_failure(),
        ));
    }
    if want("coreml") && ep::CoreML::is_available().unwrap_or(false) {
        list.push((
            "CoreML",
            "coreml".to_string(),
            ep::CoreML::default().build().error_on_failure(),
        ));
    }
    if want("directml") && ep::DirectML::is_available().unwrap_or(false) {
        list.push((
            "DirectML",
            format!("directml:{index}"),
            ep::DirectML::default()
                .with_device_id(index)
                .build()
                .error_on_failure(),
        ));
    }
    list
}

/// The device index of a `kind:N` setting (0 when none is given).
fn device_index(device: &str) -> i32 {
    device
        .split_once(':')
        .and_then(|(_, n)| n.parse::<i32>().ok())
        .unwrap_or(0)
}

fn builder(
    env: &Environment,
    threads: Option<usize>,
) -> Result<ort::session::builder::SessionBuilder, String> {
    let mut b = Session::builder(env)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| e.to_string())?
        // Several sessions run back to back on one block: spinning threads of one session
        // steal the cores the next one needs.
        .with_intra_op_spinning(false)
        .map_err(|e| e.to_string())?;
    if let Some(n) = threads {
        b = b.with_intra_threads(n).map_err(|e| e.to_string())?;
    }
    Ok(b)
}

/// Where a session runs: the device setting (`auto`, `cpu`, `cuda:N`, ...), threads per
/// model, and where TensorRT keeps its engines.
pub struct Placement<'a> {
    pub device: &'a str,
    pub threads: Option<usize>,
    pub engine_cache: Option<&'a Path>,
}

/// What a session is built from: the file, or the bytes of a graph edited as it loaded.
pub enum OrtSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl OrtSource {
    fn commit(&self, builder: &mut SessionBuilder) -> Result<Session, String> {
        match self {
            OrtSource::File(path) => builder.commit_from_file(path),
            OrtSource::Bytes(bytes) => builder.commit_from_memory(bytes),
        }
        .map_err(|e| e.to_string())
    }
}

impl OrtModel {
    /// A session on the first execution provider that accepts the model, else the CPU.
    /// Returns the model and `(provider, device)`.
    pub fn load(
        env: &Environment,
        path: &Path,
        source: &OrtSource,
        placement: &Placement,
    ) -> Result<(OrtModel, String, String), InferError> {
        let (device, threads) = (placement.device, placement.threads);
        let load_error = |reason: String| InferError::Load {
            backend: "ort",
            path: path.to_path_buf(),
            reason,
        };
        let mut notes = Vec::new();
        if device != "cpu" {
            let engine_cache = placement.engine_cache;
            for (name, dev, provider) in providers_for(device, engine_cache, false) {
                let attempt = builder(env, threads).and_then(|b| {
                    let mut b = b
                        .with_execution_providers([provider])
                        .map_err(|e| e.to_string())?;
                    source.commit(&mut b)
                });
                match attempt {
                    Ok(session) => {
                        let model = OrtModel {
                            session,
                            provider: name,
                            device_index: device_index(&dev),
                            cuda_graph: false,
                        };
                        return Ok((model, name.to_string(), dev));
                    }
                    Err(e) => notes.push(format!("{name}: {e}")),
                }
            }
        }
        let session = builder(env, threads)
            .and_then(|mut b| source.commit(&mut b))
            .map_err(load_error)?;
        let provider = if notes.is_empty() {
            "CPU".to_string()
        } else {
            format!("CPU (GPU providers refused: {})", notes.join("; "))
        };
        let model = OrtModel {
            session,
            provider: "CPU",
            device_index: 0,
            cuda_graph: false,
        };
        Ok((model, provider, "cpu".to_string()))
    }

    /// A second session of the model on the same NVIDIA provider with CUDA graphs on (ONNX
    /// Runtime's `enable_cuda_graph`, TensorRT's `trt_cuda_graph_enable`). The caller has
    /// checked that every input and output shape is fixed.
    pub fn with_cuda_graph(
        &self,
        env: &Environment,
        source: &OrtSource,
        placement: &Placement,
    ) -> Result<OrtModel, String> {
        if !self.on_nvidia() {
            return Err(format!(
                "CUDA graphs need the CUDA or TensorRT provider, the model runs on {}",
                self.provider
            ));
        }
        let device = format!(
            "{}:{}",
            self.provider.to_ascii_lowercase(),
            self.device_index
        );
        let (_, _, provider) = providers_for(&device, placement.engine_cache, true)
            .into_iter()
            .find(|(name, _, _)| *name == self.provider)
            .ok_or_else(|| format!("the {} provider is no longer offered", self.provider))?;
        let session = builder(env, placement.threads).and_then(|b| {
            let mut b = b
                .with_execution_providers([provider])
                .map_err(|e| e.to_string())?;
            source.commit(&mut b)
        })?;
        Ok(OrtModel {
            session,
            provider: self.provider,
            device_index: self.device_index,
            cuda_graph: true,
        })
    }

    /// Whether the session runs on one of NVIDIA's providers, the ones with CUDA graphs and
    /// pinned host memory.
    pub fn on_nvidia(&self) -> bool {
        matches!(self.provider, "CUDA" | "TensorRT")
    }

    /// Whether the session replays CUDA graphs (and so runs only bound).
    pub fn uses_cuda_graph(&self) -> bool {
        self.cuda_graph
    }

    /// The element type each input wants, as the session reports it.
    pub fn input_type(&self, name: &str) -> Option<ElementType> {
        self.session
            .inputs()
            .iter()
            .find(|i| i.name() == name)
            .and_then(|i| match i.dtype() {
                ValueType::Tensor { ty, .. } => Some(element_type(*ty)),
                _ => None,
            })
    }

    pub fn run(
        &mut self,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, InferError> {
        let run_error = |reason: String| InferError::Run {
            backend: "ort",
            reason,
        };
        if self.cuda_graph {
            return Err(run_error(
                "the session replays CUDA graphs, so it runs only through its binding".into(),
            ));
        }
        let mut values: Vec<(String, DynValue)> = Vec::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            let value = to_value(tensor).map_err(|e| InferError::Input {
                name: name.clone(),
                reason: e,
            })?;
            values.push((name, value));
        }
        let outputs = self
            .session
            .run(values)
            .map_err(|e| run_error(e.to_string()))?;
        let mut result = Vec::new();
        for (name, value) in outputs.iter() {
            result.push((name.to_string(), from_value(&value).map_err(run_error)?));
        }
        Ok(result)
    }
}

fn element_type(ty: TensorElementType) -> ElementType {
    match ty {
        TensorElementType::Float32 => ElementType::F32,
        TensorElementType::Float16 => ElementType::F16,
        TensorElementType::Int64 => ElementType::I64,
        TensorElementType::Uint8 => ElementType::U8,
        other => ElementType::Other(other as i32),
    }
}

fn to_value(tensor: Tensor) -> Result<DynValue, String> {
    match tensor {
        Tensor::F32 { shape, data } => ort::value::Tensor::from_array((shape, data))
            .map(|t| t.into_dyn())
            .map_err(|e| e.to_string()),
        Tensor::F16 { shape, data } => ort::value::Tensor::from_array((shape, data))
            .map(|t| t.into_dyn())
            .map_err(|e| e.to_string()),
        Tensor::I64 { shape, data } => ort::value::Tensor::from_array((shape, data))
            .map(|t| t.into_dyn())
            .map_err(|e| e.to_string()),
        Tensor::U8 { shape, data } => ort::value::Tensor::from_array((shape, data))
            .map(|t| t.into_dyn())
            .map_err(|e| e.to_string()),
    }
}

fn from_value(value: &ort::value::DynValueRef<'_>) -> Result<Tensor, String> {
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err("an output is not a tensor".into());
    };
    let dims =
        |shape: &ort::value::Shape| shape.iter().map(|&d| d.max(0) as usize).collect::<Vec<_>>();
    match ty {
        TensorElementType::Float32 => {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| e.to_string())?;
            Ok(Tensor::F32 {
                shape: dims(shape),
                data: data.to_vec(),
            })
        }
        TensorElementType::Float16 => {
            let (shape, data) = value
                .try_extract_tensor::<half::f16>()
                .map_err(|e| e.to_string())?;
            Ok(Tensor::F16 {
                shape: dims(shape),
                data: data.to_vec(),
            })
        }
        TensorElementType::Int64 => {
            let (shape, data) = value
                .try_extract_tensor::<i64>()
                .map_err(|e| e.to_string())?;
            Ok(Tensor::I64 {
                shape: dims(shape),
                data: data.to_vec(),
            })
        }
        TensorElementType::Uint8 => {
            let (shape, data) = value
                .try_extract_tensor::<u8>()
                .map_err(|e| e.to_string())?;
            Ok(Tensor::U8 {
                shape: dims(shape),
                data: data.to_vec(),
            })
        }
        other => Err(format!("output element type {other:?} is not supported")),
    }
}

/// One input or output of a binding: its name, element type and, where fixed, its shape.
pub(crate) struct SlotSpec {
    pub name: String,
    pub element: ElementType,
    pub shape: Option<Vec<usize>>,
}

/// Where a binding keeps what the caller reads and writes.
enum BindMode {
    /// The CPU provider: host tensors bound as they are.
    Host,
    /// A CUDA provider: host tensors in pinned memory, so the upload at each bind and the
    /// download after each run are one DMA copy each.
    Pinned,
    /// CUDA graphs: device tensors bound once at fixed addresses; the pinned host tensors are
    /// copied into them before each run and out of them after.
    CudaGraph {
        device_inputs: Vec<DynTensor>,
        device_outputs: Vec<DynTensor>,
    },
}

/// An ONNX Runtime binding with its host tensors, allocated once.
pub(crate) struct OrtBinding {
    binding: IoBinding,
    mode: BindMode,
    input_names: Vec<String>,
    inputs: Vec<DynTensor>,
    output_names: Vec<String>,
    /// Fixed outputs hold their tensor from the start; the others the last run's value.
    outputs: Vec<Option<DynTensor>>,
    /// Outputs whose shape is known only after a run, bound to host memory the run allocates.
    dynamic: Vec<bool>,
}

fn ort_type(element: ElementType) -> Result<TensorElementType, String> {
    match element {
        ElementType::F32 => Ok(TensorElementType::Float32),
        ElementType::F16 => Ok(TensorElementType::Float16),
        ElementType::I64 => Ok(TensorElementType::Int64),
        ElementType::U8 => Ok(TensorElementType::Uint8),
        ElementType::Other(code) => Err(format!(
            "element type {code} cannot be bound (f32, f16, i64 and u8 can)"
        )),
    }
}

fn new_tensor(
    allocator: &Allocator,
    spec: &SlotSpec,
    shape: &[usize],
) -> Result<DynTensor, String> {
    let dims: Vec<i64> = shape
        .iter()
        .map(|&d| {
            i64::try_from(d).map_err(|_| format!("{}: dimension {d} is too large", spec.name))
        })
        .collect::<Result<_, _>>()?;
    DynTensor::new(allocator, ort_type(spec.element)?, dims)
        .map_err(|e| format!("allocating {}: {e}", spec.name))
}

impl OrtModel {
    /// A binding of `inputs` (every one with its shape) and `outputs` (a shape where fixed).
    /// With `cuda_graph`, on a session built for it, device tensors are bound once; any
    /// failure there gives an error and the caller falls back to [`OrtModel::bind`] without.
    pub fn bind(
        &mut self,
        inputs: &[SlotSpec],
        outputs: &[SlotSpec],
    ) -> Result<(OrtBinding, String), String> {
        let on_nvidia = self.on_nvidia();
        let pinned = |memory_type| {
            MemoryInfo::new(
                AllocationDevice::CUDA_PINNED,
                self.device_index,
                AllocatorType::Device,
                memory_type,
            )
            .and_then(|info| Allocator::new(&self.session, info))
            .map_err(|e| format!("pinned host memory: {e}"))
        };
        // Pinned memory makes each transfer one DMA copy; where the provider does not give
        // it, pageable host memory still works (the driver stages it), so only CUDA graphs,
        // which want the fastest copies around a replay, give up without it.
        let (host_allocator, pinned_refused) = if on_nvidia {
            match pinned(MemoryType::CPUInput).and_then(|i| Ok((i, pinned(MemoryType::CPUOutput)?)))
            {
                Ok(pair) => (pair, None),
                Err(reason) if !self.cuda_graph => {
                    ((Allocator::default(), Allocator::default()), Some(reason))
                }
                Err(reason) => return Err(reason),
            }
        } else {
            ((Allocator::default(), Allocator::default()), None)
        };
        let mut binding = self.session.create_binding().map_err(|e| e.to_string())?;
        let mut host_inputs = Vec::with_capacity(inputs.len());
        for spec in inputs {
            let shape = spec
                .shape
                .as_deref()
                .ok_or_else(|| format!("input {} has no shape", spec.name))?;
            host_inputs.push(new_tensor(&host_allocator.0, spec, shape)?);
        }
        let mut host_outputs = Vec::with_capacity(outputs.len());
        for spec in outputs {
            host_outputs.push(match &spec.shape {
                Some(shape) => Some(new_tensor(&host_allocator.1, spec, shape)?),
                None => None,
            });
        }
        let dynamic: Vec<bool> = host_outputs.iter().map(Option::is_none).collect();
        let (mode, placement) = if self.cuda_graph {
            if host_outputs.iter().any(Option::is_none) {
                return Err("CUDA graphs need every output's shape fixed".into());
            }
            let device = MemoryInfo::new(
                AllocationDevice::CUDA,
                self.device_index,
                AllocatorType::Device,
                MemoryType::Default,
            )
            .and_then(|info| Allocator::new(&self.session, info))
            .map_err(|e| format!("device memory: {e}"))?;
            let mut device_inputs = Vec::with_capacity(inputs.len());
            for (spec, host) in inputs.iter().zip(&host_inputs) {
                let shape = spec.shape.as_deref().unwrap_or_default();
                let mut tensor = new_tensor(&device, spec, shape)?;
                host.copy_into(&mut tensor)
                    .map_err(|e| format!("copying {} to the device: {e}", spec.name))?;
                binding
                    .bind_input(spec.name.as_str(), &tensor)
                    .map_err(|e| format!("binding {}: {e}", spec.name))?;
                device_inputs.push(tensor);
            }
            let mut device_outputs = Vec::with_capacity(outputs.len());
            for spec in outputs {
                let shape = spec.shape.as_deref().unwrap_or_default();
                let mut tensor = new_tensor(&device, spec, shape)?;
                binding
                    .bind_output(spec.name.as_str(), &mut tensor)
                    .map_err(|e| format!("binding {}: {e}", spec.name))?;
                device_outputs.push(tensor);
            }
            (
                BindMode::CudaGraph {
                    device_inputs,
                    device_outputs,
                },
                format!(
                    "{} device memory at fixed addresses, CUDA graphs replayed",
                    self.provider
                ),
            )
        } else {
            for (spec, host) in outputs.iter().zip(host_outputs.iter_mut()) {
                if let Some(tensor) = host {
                    binding
                        .bind_output(spec.name.as_str(), tensor)
                        .map_err(|e| format!("binding {}: {e}", spec.name))?;
                }
            }
            let memory = host_allocator.1.memory_info().to_owned();
            for (spec, host) in outputs.iter().zip(&host_outputs) {
                if host.is_none() {
                    binding
                        .bind_output_to_device(spec.name.as_str(), &memory)
                        .map_err(|e| format!("binding {}: {e}", spec.name))?;
                }
            }
            match (on_nvidia, pinned_refused) {
                (true, None) => (
                    BindMode::Pinned,
                    format!(
                        "{} with inputs and outputs in pinned host memory",
                        self.provider
                    ),
                ),
                (true, Some(reason)) => (
                    BindMode::Host,
                    format!(
                        "{} with inputs and outputs in pageable host memory ({reason})",
                        self.provider
                    ),
                ),
                (false, _) => (BindMode::Host, "host memory".to_string()),
            }
        };
        Ok((
            OrtBinding {
                binding,
                mode,
                input_names: inputs.iter().map(|s| s.name.clone()).collect(),
                inputs: host_inputs,
                output_names: outputs.iter().map(|s| s.name.clone()).collect(),
                outputs: host_outputs,
                dynamic,
            },
            placement,
        ))
    }

    /// Runs on what the binding's host tensors hold; outputs are then in its host tensors.
    pub fn run_bound(&mut self, io: &mut OrtBinding) -> Result<(), InferError> {
        let run_error = |reason: String| InferError::Run {
            backend: "ort",
            reason,
        };
        match &mut io.mode {
            BindMode::Host | BindMode::Pinned => {
                // Binding a host tensor to a CPU session shares it; to a CUDA session it is
                // the upload, so it happens at every run, after the caller wrote.
                for (name, tensor) in io.input_names.iter().zip(&io.inputs) {
                    io.binding
                        .bind_input(name.as_str(), tensor)
                        .map_err(|e| run_error(format!("binding {name}: {e}")))?;
                }
            }
            BindMode::CudaGraph { device_inputs, .. } => {
                for ((name, host), device) in io
                    .input_names
                    .iter()
                    .zip(&io.inputs)
                    .zip(device_inputs.iter_mut())
                {
                    host.copy_into_async(device)
                        .map_err(|e| run_error(format!("uploading {name}: {e}")))?;
                }
                // The copies run on their own stream: wait for them before the graph reads.
                io.binding
                    .synchronize_inputs()
                    .map_err(|e| run_error(e.to_string()))?;
            }
        }
        let mut outputs = self
            .session
            .run_binding(&io.binding)
            .map_err(|e| run_error(e.to_string()))?;
        match &mut io.mode {
            BindMode::Host | BindMode::Pinned => {
                // Outputs of a shape known only now were allocated by the run: keep them.
                for (index, name) in io.output_names.iter().enumerate() {
                    if !io.dynamic[index] {
                        continue;
                    }
                    let value = outputs
                        .remove(name.as_str())
                        .ok_or_else(|| run_error(format!("the run gave no output {name}")))?;
                    let tensor = value
                        .downcast::<DynTensorValueType>()
                        .map_err(|e| run_error(format!("output {name}: {e}")))?;
                    io.outputs[index] = Some(tensor);
                }
            }
            BindMode::CudaGraph { device_outputs, .. } => {
                for ((name, device), host) in io
                    .output_names
                    .iter()
                    .zip(device_outputs.iter())
                    .zip(io.outputs.iter_mut())
                {
                    if let Some(host) = host {
                        device
                            .copy_into(host)
                            .map_err(|e| run_error(format!("downloading {name}: {e}")))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A bound tensor's values, typed.
pub(crate) fn slice_mut(tensor: &mut DynTensor) -> Result<SliceMut<'_>, String> {
    let ValueType::Tensor { ty, .. } = tensor.dtype() else {
        return Err("not a tensor".into());
    };
    let e = |e: ort::Error| e.to_string();
    Ok(match ty {
        TensorElementType::Float32 => SliceMut::F32(tensor.try_extract_tensor_mut().map_err(e)?.1),
        TensorElementType::Float16 => SliceMut::F16(tensor.try_extract_tensor_mut().map_err(e)?.1),
        TensorElementType::Int64 => SliceMut::I64(tensor.try_extract_tensor_mut().map_err(e)?.1),
        TensorElementType::Uint8 => SliceMut::U8(tensor.try_extract_tensor_mut().map_err(e)?.1),
        other => return Err(format!("element type {other:?} is not supported")),
    })
}

/// A bound tensor's shape and values, typed.
pub(crate) fn slice(tensor: &DynTensor) -> Result<(Vec<usize>, SliceRef<'_>), String> {
    let ValueType::Tensor { ty, shape, .. } = tensor.dtype() else {
        return Err("not a tensor".into());
    };
    let dims = shape.iter().map(|&d| d.max(0) as usize).collect();
    let e = |e: ort::Error| e.to_string();
    let values = match ty {
        TensorElementType::Float32 => SliceRef::F32(tensor.try_extract_tensor().map_err(e)?.1),
        TensorElementType::Float16 => SliceRef::F16(tensor.try_extract_tensor().map_err(e)?.1),
        TensorElementType::Int64 => SliceRef::I64(tensor.try_extract_tensor().map_err(e)?.1),
        TensorElementType::Uint8 => SliceRef::U8(tensor.try_extract_tensor().map_err(e)?.1),
        other => return Err(format!("element type {other:?} is not supported")),
    };
    Ok((dims, values))
}

impl OrtBinding {
    pub fn input_mut(&mut self, index: usize) -> Result<SliceMut<'_>, String> {
        let tensor = self.inputs.get_mut(index).ok_or("no such input")?;
        slice_mut(tensor)
    }

    /// The output's shape and values; `None` before the first run for a dynamic one.
    pub fn output(&self, index: usize) -> Result<Option<(Vec<usize>, SliceRef<'_>)>, String> {
        match self.outputs.get(index).ok_or("no such output")? {
            Some(tensor) => slice(tensor).map(Some),
            None => Ok(None),
        }
    }
}
