//! What an ONNX file declares, read from its protobuf whatever the backend: inputs and outputs
//! with element types and (possibly symbolic) shapes, metadata properties and initializers.

use crate::tensor::ElementType;
use crate::tract_tensor;
use crate::{InferError, Tensor};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::prelude::Framework;

/// One dimension: known, or named (`"T"`) and fixed only when the model runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Symbolic(String),
}

/// A named input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub element_type: ElementType,
    pub shape: Vec<Dim>,
}

/// Everything a caller may want to know about a model before running it.
#[derive(Debug, Clone, Default)]
pub struct ModelInfo {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
    /// `metadata_props` of the file (w-okada's exports keep a JSON `metadata` entry here).
    pub metadata: BTreeMap<String, String>,
    /// Names of the graph's initializers (weights), in file order.
    pub initializer_names: Vec<String>,
}

impl ModelInfo {
    pub fn input(&self, name: &str) -> Option<&TensorInfo> {
        self.inputs.iter().find(|i| i.name == name)
    }

    pub fn has_inputs(&self, names: &[&str]) -> bool {
        names.iter().all(|n| self.input(n).is_some())
    }
}

/// The parsed file, kept so initializers can be read later without reading it again.
pub(crate) struct Graph {
    pub path: PathBuf,
    pub proto: pb::ModelProto,
    pub info: ModelInfo,
}

fn value_info(v: &pb::ValueInfoProto) -> TensorInfo {
    let (element_type, shape) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => {
            let shape = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(DimValue::DimValue(n)) if *n >= 0 => Dim::Fixed(*n as usize),
                            Some(DimValue::DimParam(p)) => Dim::Symbolic(p.clone()),
                            _ => Dim::Symbolic(String::from("?")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            (element_type_from_onnx(t.elem_type), shape)
        }
        None => (ElementType::Other(0), Vec::new()),
    };
    TensorInfo {
        name: v.name.clone(),
        element_type,
        shape,
    }
}

impl ModelInfo {
    /// The inputs, outputs and metadata of the ONNX file at `path`, without loading it on a
    /// backend (to check what a file is before it is used).
    pub fn read(path: &Path) -> Result<ModelInfo, InferError> {
        Graph::read(path).map(|graph| graph.info)
    }
}

impl Graph {
    pub fn read(path: &Path) -> Result<Graph, InferError> {
        if !path.is_file() {
            return Err(InferError::Read {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let proto =
            tract_onnx::onnx()
                .proto_model_for_path(path)
                .map_err(|e| InferError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("{e:#}"),
                })?;
        Graph::from_proto(path, proto)
    }

    /// The graph of an ONNX file's bytes; `path` names it in messages.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Graph, InferError> {
        let proto = pb::ModelProto::decode(bytes).map_err(|e| InferError::Invalid {
            path: path.to_path_buf(),
            reason: format!("not an ONNX protobuf: {e}"),
        })?;
        Graph::from_proto(path, proto)
    }

    fn from_proto(path: &Path, mut proto: pb::ModelProto) -> Result<Graph, InferError> {
        let Some(graph) = proto.graph.as_mut() else {
            return Err(InferError::Invalid {
                path: path.to_path_buf(),
                reason: "the file holds no graph".into(),
            });
        };
        // The exporter's recorded shapes of intermediate values are hints every backend
        // infers again, and torch's name the graph inputs' dynamic axes as symbols that tract
        // cannot bind once an input's shape is known (RVC's synthesizer exports fail so).
        graph.value_info.clear();
        let graph = &*graph;
        let initializer_names: Vec<String> =
            graph.initializer.iter().map(|t| t.name.clone()).collect();
        let (inputs, outputs) = inputs_outputs(graph, &initializer_names);
        let metadata = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        Ok(Graph {
            path: path.to_path_buf(),
            info: ModelInfo {
                inputs,
                outputs,
                metadata,
                initializer_names,
            },
            proto,
        })
    }

    /// Reads the inputs and outputs again from the (edited) protobuf.
    pub(crate) fn refresh_info(&mut self) {
        if let Some(graph) = self.proto.graph.as_ref() {
            let (inputs, outputs) = inputs_outputs(graph, &self.info.initializer_names);
            self.info.inputs = inputs;
            self.info.outputs = outputs;
        }
    }

    /// An initializer's value, converted to the API's tensor types.
    pub fn initializer(&self, name: &str) -> Result<Option<Tensor>, InferError> {
        let Some(graph) = self.proto.graph.as_ref() else {
            return Ok(None);
        };
        let Some(proto) = graph.initializer.iter().find(|t| t.name == name) else {
            return Ok(None);
        };
        let onnx = tract_onnx::onnx();
        let dir = self.path.parent().and_then(|p| p.to_str());
        let tensor = tract_onnx::tensor::load_tensor(&*onnx.provider, proto, dir)
            .map_err(|e| InferError::Tensor(format!("initializer {name:?}: {e:#}")))?;
        tract_tensor::from_tract(&tensor).map(Some)
    }
}

/// The graph's inputs and outputs. Older exporters list initializers among the inputs too;
/// those are not inputs.
fn inputs_outputs(
    graph: &pb::GraphProto,
    initializer_names: &[String],
) -> (Vec<TensorInfo>, Vec<TensorInfo>) {
    let inputs = graph
        .input
        .iter()
        .filter(|i| !initializer_names.contains(&i.name))
        .map(value_info)
        .collect();
    let outputs = graph.output.iter().map(value_info).collect();
    (inputs, outputs)
}

/// An ONNX element type number as the API's element type.
fn element_type_from_onnx(code: i32) -> ElementType {
    match code {
        1 => ElementType::F32,
        10 => ElementType::F16,
        7 => ElementType::I64,
        2 => ElementType::U8,
        other => ElementType::Other(other),
    }
}
