//! The ONNX Runtime backend: the library is loaded once per process, then each model gets a
//! session on the best execution provider the runtime offers (TensorRT > CUDA > CoreML >
//! DirectML > CPU).

use crate::tensor::ElementType;
use crate::{InferError, Tensor};
use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{DynValue, TensorElementType, ValueType};
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
}

/// Which execution provider to try for a `device` setting (`auto`, `cpu`, `cuda:N`, ...),
/// best first. TensorRT keeps its engines and timing cache in `engine_cache` when given.
fn providers_for(
    device: &str,
    engine_cache: Option<&Path>,
) -> Vec<(&'static str, String, ep::ExecutionProviderDispatch)> {
    let index = device
        .split_once(':')
        .and_then(|(_, n)| n.parse::<i32>().ok())
        .unwrap_or(0);
    let mut list = Vec::new();
    let want = |kind: &str| device == "auto" || device.starts_with(kind);
    if want("tensorrt") && ep::TensorRT::is_available().unwrap_or(false) {
        let mut tensorrt = ep::TensorRT::default().with_device_id(index);
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
                .build()
                .error_on_failure(),
        ));
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
            for (name, dev, provider) in providers_for(device, engine_cache) {
                let attempt = builder(env, threads).and_then(|b| {
                    let mut b = b
                        .with_execution_providers([provider])
                        .map_err(|e| e.to_string())?;
                    source.commit(&mut b)
                });
                match attempt {
                    Ok(session) => return Ok((OrtModel { session }, name.to_string(), dev)),
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
        Ok((OrtModel { session }, provider, "cpu".to_string()))
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
