//! Changes to a model's graph made as it loads, before any backend sees it: the few rewrites
//! an engine needs to run a published export more cheaply than its exporter did (a neural
//! voice's decoder cut to the newest frames of its window).
//!
//! The exporter's recorded shapes of intermediate values are gone by then (`Graph::read`
//! drops them), so an edit never leaves a stale one behind.
//!
//! A length the rewrite depends on travels as the *length* of an added `f32` input whose
//! values are never read ([`GraphEdit::add_length_input`]). Backends that plan per input shape
//! (tract) then see a constant and fold it; ONNX Runtime takes it as any other shape.

use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;

/// ONNX's element type codes used here.
const ONNX_FLOAT: i32 = 1;
const ONNX_INT64: i32 = 7;

/// The oldest default-domain opset whose `Slice` takes its bounds as inputs.
const SLICE_AS_INPUTS_OPSET: i64 = 10;
/// The oldest default-domain opset whose `Unsqueeze`/`Squeeze` take their axes as inputs.
const AXES_AS_INPUTS_OPSET: i64 = 13;

/// A graph being edited. Only what the edit adds is new: every existing value keeps its name,
/// so the edit never changes what the rest of the graph computes from it.
pub struct GraphEdit<'a> {
    graph: &'a mut pb::GraphProto,
    opset: i64,
    added: usize,
    changed: bool,
}

impl<'a> GraphEdit<'a> {
    pub(crate) fn new(model: &'a mut pb::ModelProto) -> Option<GraphEdit<'a>> {
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(0, |o| o.version);
        let graph = model.graph.as_mut()?;
        Some(GraphEdit {
            graph,
            opset,
            added: 0,
            changed: false,
        })
    }

    /// Whether anything was changed.
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }

    /// Whether this graph's opset allows the edits below (`Slice` with its bounds as inputs).
    pub fn can_slice(&self) -> bool {
        self.opset >= SLICE_AS_INPUTS_OPSET
    }

    /// The nodes of `op_type` whose weight (input 1) is an initializer of a shape `wanted`
    /// accepts, by index in graph order.
    pub fn nodes_with_weight(&self, op_type: &str, wanted: impl Fn(&[i64]) -> bool) -> Vec<usize> {
        self.graph
            .node
            .iter()
            .enumerate()
            .filter(|(_, n)| n.op_type == op_type && n.domain.is_empty())
            .filter(|(_, n)| {
                n.input.get(1).is_some_and(|w| {
                    self.graph
                        .initializer
                        .iter()
                        .any(|t| &t.name == w && wanted(&t.dims))
                })
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// How many nodes read the graph input `name`.
    pub fn readers_of(&self, name: &str) -> usize {
        self.graph
            .node
            .iter()
            .filter(|n| n.input.iter().any(|i| i == name))
            .count()
    }

    /// Adds an `f32` input of shape `[n]` named `name`: its length is what the edits that name
    /// it use; its values are never read.
    pub fn add_length_input(&mut self, name: &str) {
        let dim = pb::tensor_shape_proto::Dimension {
            value: Some(DimValue::DimParam(format!("{name}_length"))),
            ..Default::default()
        };
        self.graph.input.push(pb::ValueInfoProto {
            name: name.to_string(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: ONNX_FLOAT,
                    shape: Some(pb::TensorShapeProto { dim: vec![dim] }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
        self.changed = true;
    }

    /// Makes input `slot` of node `node` only the last `length_of`-length entries along
    /// `axis` of what it was. Returns the name of the new value.
    pub fn keep_tail_of_node_input(
        &mut self,
        node: usize,
        slot: usize,
        axis: i64,
        length_of: &str,
    ) -> Result<String, String> {
        if !self.can_slice() {
            return Err(format!(
                "opset {} has no Slice with input bounds",
                self.opset
            ));
        }
        let Some(value) = self
            .graph
            .node
            .get(node)
            .and_then(|n| n.input.get(slot))
            .cloned()
        else {
            return Err(format!("node {node} has no input {slot}"));
        };
        let (nodes, tail) = self.tail_nodes(&value, axis, length_of);
        if let Some(n) = self.graph.node.get_mut(node)
            && let Some(input) = n.input.get_mut(slot)
        {
            *input = tail.clone();
        }
        // Placed just before the node, where `value` already exists.
        self.graph.node.splice(node..node, nodes);
        self.changed = true;
        Ok(tail)
    }

    /// Makes every node reading the graph input `name` see only its last `length_of`-length
    /// entries along `axis`. Returns the name of the new value.
    pub fn keep_tail_of_graph_input(
        &mut self,
        name: &str,
        axis: i64,
        length_of: &str,
    ) -> Result<String, String> {
        if !self.can_slice() {
            return Err(format!(
                "opset {} has no Slice with input bounds",
                self.opset
            ));
        }
        if !self.graph.input.iter().any(|i| i.name == name) {
            return Err(format!("the graph has no input {name:?}"));
        }
        let (nodes, tail) = self.tail_nodes(name, axis, length_of);
        for node in &mut self.graph.node {
            for input in &mut node.input {
                if input == name {
                    *input = tail.clone();
                }
            }
        }
        // Graph inputs exist before every node.
        self.graph.node.splice(0..0, nodes);
        self.changed = true;
        Ok(tail)
    }

    /// Makes every node reading `value` (of rank 2 or 3) see it stretched or squeezed along
    /// its last axis to `length_of`'s length, by linear interpolation (torch's
    /// `F.interpolate(mode="linear")`: `Resize` with `pytorch_half_pixel`, on a 4-D view, the
    /// rank every backend resizes linearly).
    pub fn stretch_last_axis(
        &mut self,
        value: &str,
        rank: usize,
        length_of: &str,
    ) -> Result<(), String> {
        if self.opset < AXES_AS_INPUTS_OPSET {
            return Err(format!(
                "opset {} has no Unsqueeze with input axes",
                self.opset
            ));
        }
        let axes: Vec<i64> = match rank {
            3 => vec![2],
            2 => vec![1, 2],
            other => return Err(format!("cannot stretch a value of rank {other}")),
        };
        let Some(first_reader) = self
            .graph
            .node
            .iter()
            .position(|n| n.input.iter().any(|i| i == value))
        else {
            return Err(format!("nothing reads {value:?}"));
        };
        self.added += 1;
        let prefix = format!("studio_stretch_{}", self.added);
        let name = |what: &str| format!("{prefix}_{what}");
        self.graph.initializer.extend([
            int64_tensor(&name("axes"), &axes),
            int64_tensor(&name("zero"), &[0]),
            int64_tensor(&name("three"), &[3]),
        ]);
        let mut resize = plain_node(
            "Resize",
            vec![name("4d"), String::new(), String::new(), name("sizes")],
            name("resized"),
        );
        resize.attribute = vec![
            string_attribute("mode", "linear"),
            string_attribute("coordinate_transformation_mode", "pytorch_half_pixel"),
        ];
        let mut concat = plain_node("Concat", vec![name("outer"), name("length")], name("sizes"));
        concat.attribute = vec![int_attribute("axis", 0)];
        let nodes = vec![
            plain_node(
                "Unsqueeze",
                vec![value.to_string(), name("axes")],
                name("4d"),
            ),
            plain_node("Shape", vec![name("4d")], name("shape")),
            plain_node(
                "Slice",
                vec![name("shape"), name("zero"), name("three"), name("zero")],
                name("outer"),
            ),
            plain_node("Shape", vec![length_of.to_string()], name("length")),
            concat,
            resize,
            plain_node(
                "Squeeze",
                vec![name("resized"), name("axes")],
                name("value"),
            ),
        ];
        let stretched = name("value");
        for node in &mut self.graph.node {
            for input in &mut node.input {
                if input == value {
                    *input = stretched.clone();
                }
            }
        }
        self.graph.node.splice(first_reader..first_reader, nodes);
        self.changed = true;
        Ok(())
    }

    /// `Shape(length_of) → Neg → Slice(value, −n, end, [axis])`: the nodes and the name of
    /// the sliced value.
    fn tail_nodes(
        &mut self,
        value: &str,
        axis: i64,
        length_of: &str,
    ) -> (Vec<pb::NodeProto>, String) {
        self.added += 1;
        let prefix = format!("studio_tail_{}", self.added);
        let name = |what: &str| format!("{prefix}_{what}");
        self.graph
            .initializer
            .push(int64_tensor(&name("end"), &[i64::MAX]));
        self.graph
            .initializer
            .push(int64_tensor(&name("axis"), &[axis]));
        let nodes = vec![
            plain_node("Shape", vec![length_of.to_string()], name("length")),
            plain_node("Neg", vec![name("length")], name("start")),
            plain_node(
                "Slice",
                vec![value.to_string(), name("start"), name("end"), name("axis")],
                name("value"),
            ),
        ];
        (nodes, name("value"))
    }
}

fn int64_tensor(name: &str, values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        dims: vec![values.len() as i64],
        data_type: ONNX_INT64,
        int64_data: values.to_vec(),
        name: name.to_string(),
        ..Default::default()
    }
}

/// A default-domain node named after its one output.
fn plain_node(op: &str, inputs: Vec<String>, output: String) -> pb::NodeProto {
    pb::NodeProto {
        input: inputs,
        output: vec![output.clone()],
        name: output,
        op_type: op.to_string(),
        ..Default::default()
    }
}

/// ONNX's attribute type codes used here.
const ATTRIBUTE_INT: i32 = 2;
const ATTRIBUTE_STRING: i32 = 3;

fn string_attribute(name: &str, value: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: ATTRIBUTE_STRING,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: ATTRIBUTE_INT,
        i: value,
        ..Default::default()
    }
}
