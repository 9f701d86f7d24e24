//! [`Model`]: one ONNX file behind whichever backend was chosen.

use crate::edit::GraphEdit;
use crate::graph::{Graph, ModelInfo};
use crate::ort_backend::{self, OrtModel, OrtSource, Placement};
use crate::runtime::find_onnxruntime;
use crate::tensor::ElementType;
use crate::tract_backend::TractModel;
use crate::{InferError, Tensor};
use prost::Message;
use std::path::{Path, PathBuf};

/// Which backend to use (`servers.<role>.backend` in config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// ONNX Runtime when its library is found, else tract.
    #[default]
    Auto,
    Ort,
    Tract,
}

/// How to load models.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    pub backend: BackendChoice,
    /// `auto`, `cpu`, `cuda:N`, `tensorrt:N`, `rocm:N`, `coreml`, `directml:N`.
    pub device: String,
    /// An explicit ONNX Runtime library (file or folder), from config.
    pub runtime_path: Option<PathBuf>,
    /// Threads per model; `None` lets the backend decide.
    pub threads: Option<usize>,
    /// Where TensorRT keeps the engines it builds and its timing cache, so an engine is
    /// built once per model and GPU rather than at every start (minutes for a large model).
    pub engine_cache: Option<PathBuf>,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            backend: BackendChoice::Auto,
            device: "auto".into(),
            runtime_path: None,
            threads: None,
            engine_cache: None,
        }
    }
}

/// Which backend runs a model, on what, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// `ort` or `tract`.
    pub backend: &'static str,
    /// `cpu`, `cuda:0`, ...
    pub device: String,
    /// The execution provider (`CPU`, `CUDA`, `TensorRT`, ...; `tract` for tract).
    pub provider: String,
    /// A sentence: why this backend (e.g. where the runtime was found, or why it was not).
    pub reason: String,
}

impl BackendInfo {
    /// What `auto` would pick now, without loading a model: for status before any model runs.
    pub fn probe(options: &ModelOptions) -> BackendInfo {
        match options.backend {
            BackendChoice::Tract => BackendInfo {
                backend: "tract",
                device: "cpu".into(),
                provider: "tract".into(),
                reason: "backend tract chosen in config".into(),
            },
            choice => {
                let search = find_onnxruntime(options.runtime_path.as_deref());
                match (&search.found, search.source) {
                    (Some(path), Some(source)) => BackendInfo {
                        backend: "ort",
                        device: if options.device == "auto" {
                            "auto".into()
                        } else {
                            options.device.clone()
                        },
                        provider: "pending".into(),
                        reason: format!("ONNX Runtime found ({source}): {}", path.display()),
                    },
                    _ if choice == BackendChoice::Ort => BackendInfo {
                        backend: "ort",
                        device: "none".into(),
                        provider: "none".into(),
                        reason: format!(
                            "backend ort chosen but no runtime found; tried {}",
                            search.tried.join("; ")
                        ),
                    },
                    _ => BackendInfo {
                        backend: "tract",
                        device: "cpu".into(),
                        provider: "tract".into(),
                        reason: format!(
                            "no ONNX Runtime found, using tract; tried {}",
                            search.tried.join("; ")
                        ),
                    },
                }
            }
        }
    }
}

enum Inner {
    Ort(Box<OrtModel>),
    Tract(Box<TractModel>),
}

/// A loaded ONNX model. Not shared between threads: each engine owns its models.
pub struct Model {
    graph: Graph,
    inner: Inner,
    backend: BackendInfo,
}

impl Model {
    /// Reads and prepares `path` on the backend `options` selects.
    ///
    /// Cost: parsing the file and, for ONNX Runtime, building a session (seconds for large
    /// models); tract optimises per input shape on the first [`Model::run`].
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Model, InferError> {
        Model::load_edited(path, options, |_| Ok(()))
    }

    /// Like [`Model::load`], with `edit` changing the graph first (see [`GraphEdit`]). An
    /// edit that changes nothing loads the file as it is; one that fails loads nothing.
    pub fn load_edited(
        path: &Path,
        options: &ModelOptions,
        edit: impl FnOnce(&mut GraphEdit) -> Result<(), String>,
    ) -> Result<Model, InferError> {
        let mut graph = Graph::read(path)?;
        let edited = match GraphEdit::new(&mut graph.proto) {
            Some(mut editor) => {
                edit(&mut editor).map_err(|reason| InferError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("editing the graph: {reason}"),
                })?;
                editor.changed()
            }
            None => false,
        };
        let ort_source = if edited {
            graph.refresh_info();
            OrtSource::Bytes(graph.proto.encode_to_vec())
        } else {
            OrtSource::File(path.to_path_buf())
        };
        Model::load_graph(graph, ort_source, options)
    }

    /// Loads a model from the bytes of an ONNX file (a graph built by code, see
    /// [`crate::GraphBuilder`]); `name` stands for its path in messages.
    pub fn load_bytes(
        name: &str,
        bytes: Vec<u8>,
        options: &ModelOptions,
    ) -> Result<Model, InferError> {
        let graph = Graph::from_bytes(Path::new(name), &bytes)?;
        Model::load_graph(graph, OrtSource::Bytes(bytes), options)
    }

    fn load_graph(
        graph: Graph,
        ort_source: OrtSource,
        options: &ModelOptions,
    ) -> Result<Model, InferError> {
        let path = graph.path.clone();
        let path = path.as_path();
        let placement = Placement {
            device: &options.device,
            threads: options.threads,
            engine_cache: options.engine_cache.as_deref(),
        };
        let (inner, backend) = match options.backend {
            BackendChoice::Tract => (
                Inner::Tract(Box::new(TractModel::load(&graph)?)),
                BackendInfo {
                    backend: "tract",
                    device: "cpu".into(),
                    provider: "tract".into(),
                    reason: "backend tract chosen in config".into(),
                },
            ),
            choice => {
                let search = find_onnxruntime(options.runtime_path.as_deref());
                let ort = match (&search.found, search.source) {
                    (Some(lib), Some(source)) => ort_backend::environment(lib)
                        .and_then(|env| OrtModel::load(env, path, &ort_source, &placement))
                        .map(|(m, provider, device)| {
                            (
                                m,
                                BackendInfo {
                                    backend: "ort",
                                    device,
                                    provider,
                                    reason: format!(
                                        "ONNX Runtime found ({source}): {}",
                                        lib.display()
                                    ),
                                },
                            )
                        }),
                    _ => Err(InferError::RuntimeUnavailable(format!(
                        "no runtime library found; tried {}",
                        search.tried.join("; ")
                    ))),
                };
                match ort {
                    Ok((m, info)) => (Inner::Ort(Box::new(m)), info),
                    Err(e) if choice == BackendChoice::Ort => return Err(e),
                    Err(InferError::Load { reason, .. }) => {
                        return Err(InferError::Load {
                            backend: "ort",
                            path: path.to_path_buf(),
                            reason,
                        });
                    }
                    Err(e) => (
                        Inner::Tract(Box::new(TractModel::load(&graph)?)),
                        BackendInfo {
                            backend: "tract",
                            device: "cpu".into(),
                            provider: "tract".into(),
                            reason: format!("{e}; using tract"),
                        },
                    ),
                }
            }
        };
        Ok(Model {
            graph,
            inner,
            backend,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.graph.info
    }

    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    pub fn path(&self) -> &Path {
        &self.graph.path
    }

    /// An initializer's value (e.g. a weight matrix the caller needs outside the graph).
    pub fn initializer(&self, name: &str) -> Result<Option<Tensor>, InferError> {
        self.graph.initializer(name)
    }

    /// Runs the model on named inputs and returns every output by name, in graph order.
    /// Float inputs are converted to the precision the model declares (`f32` ↔ `f16`), so a
    /// half-precision export takes the same calls as a full-precision one.
    pub fn run(
        &mut self,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, InferError> {
        let mut prepared = Vec::with_capacity(inputs.len());
        for (name, tensor) in inputs {
            let Some(declared) = self.graph.info.input(&name) else {
                let known: Vec<&str> = self
                    .graph
                    .info
                    .inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                return Err(InferError::Input {
                    name,
                    reason: format!("the model has no such input (it has {known:?})"),
                });
            };
            let want = match &self.inner {
                Inner::Ort(m) => m.input_type(&name).unwrap_or(declared.element_type),
                Inner::Tract(_) => declared.element_type,
            };
            let tensor = match want {
                ElementType::F32 | ElementType::F16 => tensor.cast_float(want),
                _ => tensor,
            };
            prepared.push((name, tensor));
        }
        match &mut self.inner {
            Inner::Ort(m) => m.run(prepared),
            Inner::Tract(m) => m.run(prepared),
        }
    }

    /// Runs and returns the named output (or the first one when `name` is `None`).
    pub fn run_one(
        &mut self,
        inputs: Vec<(String, Tensor)>,
        name: Option<&str>,
    ) -> Result<Tensor, InferError> {
        let outputs = self.run(inputs)?;
        let found = match name {
            Some(n) => outputs.into_iter().find(|(k, _)| k == n),
            None => outputs.into_iter().next(),
        };
        found.map(|(_, t)| t).ok_or_else(|| InferError::Run {
            backend: self.backend.backend,
            reason: format!(
                "the model produced no output {:?}",
                name.unwrap_or("(first)")
            ),
        })
    }
}
