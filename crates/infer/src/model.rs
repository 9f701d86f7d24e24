//! [`Model`]: one ONNX file behind whichever backend was chosen.

use crate::bound::{BoundIo, BoundStore, Slot, zeroed};
use crate::edit::GraphEdit;
use crate::graph::Dim;
use crate::graph::{Graph, ModelInfo};
use crate::ort_backend::SlotSpec;
use crate::ort_backend::{self, OrtModel, OrtSource, Placement};
use crate::runtime::find_onnxruntime;
use crate::tensor::ElementType;
use crate::tract_backend::TractModel;
use crate::tract_tensor::{copy_from_tract, from_tract};
use crate::{InferError, Tensor};
use ort::environment::Environment;
use prost::Message;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Whether a bound model ([`Model::bind`]) on CUDA or TensorRT replays CUDA graphs, where
    /// every input and output shape is fixed: the kernels launched in one call rather than
    /// one by one. Off by default: a second session is built for the binding.
    pub cuda_graphs: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            backend: BackendChoice::Auto,
            device: "auto".into(),
            runtime_path: None,
            threads: None,
            engine_cache: None,
            cuda_graphs: false,
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

/// What building a CUDA-graph session for a binding needs, kept only where they were asked
/// for ([`ModelOptions::cuda_graphs`]) on ONNX Runtime.
struct CudaGraphSource {
    env: &'static Environment,
    source: OrtSource,
    threads: Option<usize>,
    engine_cache: Option<PathBuf>,
}

/// A loaded ONNX model. Not shared between threads: each engine owns its models.
pub struct Model {
    graph: Graph,
    inner: Inner,
    backend: BackendInfo,
    /// Tells this model's bindings from others'.
    id: u64,
    cuda_graph_source: Option<CudaGraphSource>,
    /// [`ModelOptions::cuda_graphs`], so a binding says why it runs without them.
    cuda_graphs_wanted: bool,
}

/// Model ids, so a binding is run only by the model that made it.
static NEXT_MODEL_ID: AtomicU64 = AtomicU64::new(1);

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
        let mut cuda_graph_source = None;
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
                        .and_then(|env| {
                            OrtModel::load(env, path, &ort_source, &placement)
                                .map(|loaded| (env, loaded))
                        })
                        .map(|(env, (m, provider, device))| {
                            (
                                env,
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
                    Ok((env, m, info)) => {
                        if options.cuda_graphs && m.on_nvidia() {
                            cuda_graph_source = Some(CudaGraphSource {
                                env,
                                source: ort_source,
                                threads: options.threads,
                                engine_cache: options.engine_cache.clone(),
                            });
                        }
                        (Inner::Ort(Box::new(m)), info)
                    }
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
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
            cuda_graph_source,
            cuda_graphs_wanted: options.cuda_graphs,
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

    /// Binds every input to a buffer allocated once, of the shape the graph fixes or `shapes`
    /// gives (by input name; every dynamic input needs one), and every output whose shape
    /// the graph fixes to one too (the others to host memory each run allocates). Write the
    /// inputs in place ([`BoundIo::input_f32`]), run with [`Model::run_bound`], read the
    /// outputs in place ([`BoundIo::output_f32`]).
    ///
    /// On ONNX Runtime with CUDA or TensorRT the buffers are pinned host memory; with
    /// [`ModelOptions::cuda_graphs`] and every shape fixed, the model is loaded again with
    /// CUDA graphs on and runs from device buffers at fixed addresses, from then on only
    /// bound. Where that fails, the plain binding is used and [`BoundIo::placement`] says why.
    pub fn bind(&mut self, shapes: &[(&str, &[usize])]) -> Result<BoundIo, InferError> {
        let info = &self.graph.info;
        if let Some((name, _)) = shapes.iter().find(|(n, _)| info.input(n).is_none()) {
            return Err(InferError::Input {
                name: name.to_string(),
                reason: format!(
                    "the model has no such input (it has {:?})",
                    info.inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                ),
            });
        }
        let mut inputs = Vec::with_capacity(info.inputs.len());
        for input in &info.inputs {
            let given = shapes
                .iter()
                .find(|(n, _)| *n == input.name)
                .map(|(_, s)| *s);
            let shape = bound_shape(&input.name, &input.shape, given)?;
            let element = match &self.inner {
                Inner::Ort(m) => m.input_type(&input.name).unwrap_or(input.element_type),
                Inner::Tract(_) => input.element_type,
            };
            inputs.push(SlotSpec {
                name: input.name.clone(),
                element,
                shape: Some(shape),
            });
        }
        let outputs: Vec<SlotSpec> = info
            .outputs
            .iter()
            .map(|o| SlotSpec {
                name: o.name.clone(),
                element: o.element_type,
                shape: o
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dim::Fixed(n) => Some(*n),
                        Dim::Symbolic(_) => None,
                    })
                    .collect::<Option<Vec<usize>>>()
                    .filter(|s| !s.is_empty() || o.shape.is_empty()),
            })
            .collect();
        let slots = |specs: &[SlotSpec]| -> Vec<Slot> {
            specs
                .iter()
                .map(|s| Slot {
                    name: s.name.clone(),
                    element: s.element,
                    staging: match (&s.shape, s.element) {
                        (Some(shape), ElementType::F16) => vec![0.0; shape.iter().product()],
                        _ => Vec::new(),
                    },
                })
                .collect()
        };
        let (store, placement) = match &mut self.inner {
            Inner::Tract(_) => {
                let host_inputs = inputs
                    .iter()
                    .map(|s| zeroed(s.element, s.shape.as_deref().unwrap_or_default()))
                    .collect::<Result<Vec<_>, _>>()?;
                let host_outputs = outputs
                    .iter()
                    .map(|s| {
                        s.shape
                            .as_deref()
                            .map(|shape| zeroed(s.element, shape))
                            .transpose()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (
                    BoundStore::Host {
                        inputs: host_inputs,
                        outputs: host_outputs,
                    },
                    if self.cuda_graphs_wanted {
                        "host memory, copied into tract's tensors at each run (CUDA graphs \
                         not used: tract runs on the CPU)"
                            .to_string()
                    } else {
                        "host memory, copied into tract's tensors at each run".to_string()
                    },
                )
            }
            Inner::Ort(m) => {
                let bind_error = |reason: String| InferError::Load {
                    backend: "ort",
                    path: self.graph.path.clone(),
                    reason: format!("binding inputs and outputs: {reason}"),
                };
                if m.uses_cuda_graph() {
                    return Err(bind_error(
                        "the model is already bound with CUDA graphs, which replay one binding's \
                         addresses"
                            .into(),
                    ));
                }
                let mut not_graphed = (self.cuda_graphs_wanted && self.cuda_graph_source.is_none())
                    .then(|| {
                        format!(
                            "they need the CUDA or TensorRT provider, the model runs on {}",
                            self.backend.provider
                        )
                    });
                let mut graphed = None;
                if let Some(graph_source) = &self.cuda_graph_source {
                    if outputs.iter().any(|o| o.shape.is_none()) {
                        not_graphed = Some("an output's shape is not fixed".to_string());
                    } else {
                        let placement = Placement {
                            device: &self.backend.device,
                            threads: graph_source.threads,
                            engine_cache: graph_source.engine_cache.as_deref(),
                        };
                        let attempt = m
                            .with_cuda_graph(graph_source.env, &graph_source.source, &placement)
                            .and_then(|mut g| g.bind(&inputs, &outputs).map(|b| (g, b)));
                        match attempt {
                            Ok(done) => graphed = Some(done),
                            Err(reason) => not_graphed = Some(reason),
                        }
                    }
                }
                match graphed {
                    Some((graph_model, (binding, placement))) => {
                        **m = graph_model;
                        // The plain session is gone; its source is not needed any more.
                        self.cuda_graph_source = None;
                        (BoundStore::Ort(Box::new(binding)), placement)
                    }
                    None => {
                        let (binding, placement) = m.bind(&inputs, &outputs).map_err(bind_error)?;
                        let placement = match not_graphed {
                            Some(reason) => {
                                tracing::warn!(
                                    "{}: CUDA graphs not used ({reason}); bound to {placement}",
                                    self.graph.path.display()
                                );
                                format!("{placement} (CUDA graphs not used: {reason})")
                            }
                            None => placement,
                        };
                        (BoundStore::Ort(Box::new(binding)), placement)
                    }
                }
            }
        };
        Ok(BoundIo {
            owner: self.id,
            inputs: slots(&inputs),
            outputs: slots(&outputs),
            store,
            placement,
            runs: 0,
        })
    }

    /// Runs on what `io`'s inputs hold; its outputs then hold the answers.
    pub fn run_bound(&mut self, io: &mut BoundIo) -> Result<(), InferError> {
        if io.owner != self.id {
            return Err(InferError::Run {
                backend: self.backend.backend,
                reason: "the binding belongs to another model".into(),
            });
        }
        io.before_run()?;
        match (&mut self.inner, &mut io.store) {
            (Inner::Tract(m), BoundStore::Host { inputs, outputs }) => {
                let ordered: Vec<&Tensor> = inputs.iter().collect();
                let values = m.run_ordered(&ordered)?;
                for (value, slot) in values.iter().zip(outputs.iter_mut()) {
                    match slot {
                        Some(tensor) => copy_from_tract(value, tensor)?,
                        None => *slot = Some(from_tract(value)?),
                    }
                }
            }
            (Inner::Ort(m), BoundStore::Ort(binding)) => m.run_bound(binding)?,
            _ => {
                return Err(InferError::Run {
                    backend: self.backend.backend,
                    reason: "the binding was made for another backend".into(),
                });
            }
        }
        io.after_run()
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

/// The shape an input is bound at: the caller's where given (the graph's fixed dimensions
/// must agree), else the graph's, which must then be fixed.
fn bound_shape(
    name: &str,
    declared: &[Dim],
    given: Option<&[usize]>,
) -> Result<Vec<usize>, InferError> {
    let error = |reason: String| InferError::Input {
        name: name.to_string(),
        reason,
    };
    match given {
        Some(shape) => {
            if shape.len() != declared.len() {
                return Err(error(format!(
                    "shape {shape:?} has {} dimensions, the model declares {declared:?}",
                    shape.len()
                )));
            }
            for (&n, d) in shape.iter().zip(declared) {
                if let Dim::Fixed(fixed) = d
                    && *fixed != n
                {
                    return Err(error(format!(
                        "shape {shape:?} does not fit the declared {declared:?}"
                    )));
                }
            }
            Ok(shape.to_vec())
        }
        None => declared
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Ok(*n),
                Dim::Symbolic(_) => Err(error(format!(
                    "its shape {declared:?} is not fixed: give the shape to bind it at"
                ))),
            })
            .collect(),
    }
}
