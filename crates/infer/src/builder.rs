//! [`GraphBuilder`]: small ONNX graphs written by code (pre- and post-processing that runs on
//! the models' own execution provider), encoded to the bytes [`crate::Model::load_bytes`]
//! takes. Values are named by the builder, so a graph reads as the arithmetic it computes.

use crate::tensor::ElementType;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension::Value as DimValue};

/// ONNX's element type codes.
pub mod onnx_type {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const FLOAT16: i32 = 10;
}

/// The ONNX type code of an element type.
pub fn onnx_code(t: ElementType) -> i32 {
    match t {
        ElementType::F32 => onnx_type::FLOAT,
        ElementType::F16 => onnx_type::FLOAT16,
        ElementType::I64 => onnx_type::INT64,
        ElementType::U8 => onnx_type::UINT8,
        ElementType::Other(code) => code,
    }
}

/// A value of the graph being built: an input, a constant or a node's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value(String);

impl Value {
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Str(&'static str, &'static str),
}

impl Attr {
    fn proto(&self) -> pb::AttributeProto {
        use pb::attribute_proto::AttributeType;
        let mut a = pb::AttributeProto::default();
        match self {
            Attr::Int(name, v) => {
                a.name = (*name).into();
                a.r#type = AttributeType::Int as i32;
                a.i = *v;
            }
            Attr::Ints(name, v) => {
                a.name = (*name).into();
                a.r#type = AttributeType::Ints as i32;
                a.ints = v.clone();
            }
            Attr::Float(name, v) => {
                a.name = (*name).into();
                a.r#type = AttributeType::Float as i32;
                a.f = *v;
            }
            Attr::Str(name, v) => {
                a.name = (*name).into();
                a.r#type = AttributeType::String as i32;
                a.s = v.as_bytes().to_vec();
            }
        }
        a
    }
}

/// An ONNX graph in the default domain at one opset, built node by node.
pub struct GraphBuilder {
    name: String,
    opset: i64,
    graph: pb::GraphProto,
    next: usize,
}

fn value_info(name: &str, element_type: i32, shape: &[usize]) -> pb::ValueInfoProto {
    let dims = shape
        .iter()
        .map(|&d| Dimension {
            value: Some(DimValue::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: element_type,
                shape: Some(pb::TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl GraphBuilder {
    /// An empty graph called `name` at default-domain `opset`.
    pub fn new(name: &str, opset: i64) -> GraphBuilder {
        GraphBuilder {
            name: name.into(),
            opset,
            graph: pb::GraphProto {
                name: name.into(),
                ..Default::default()
            },
            next: 0,
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// A graph input of a fixed shape.
    pub fn input(&mut self, name: &str, element_type: ElementType, shape: &[usize]) -> Value {
        self.graph
            .input
            .push(value_info(name, onnx_code(element_type), shape));
        Value(name.into())
    }

    /// Makes `value` a graph output called `name`, of a fixed shape.
    pub fn output(
        &mut self,
        value: &Value,
        name: &str,
        element_type: ElementType,
        shape: &[usize],
    ) {
        self.node_named("Identity", &[value], &[], name);
        self.graph
            .output
            .push(value_info(name, onnx_code(element_type), shape));
    }

    fn initializer(&mut self, hint: &str, data_type: i32, shape: &[usize]) -> pb::TensorProto {
        pb::TensorProto {
            name: self.fresh(hint),
            data_type,
            dims: shape.iter().map(|&d| d as i64).collect(),
            ..Default::default()
        }
    }

    /// An `f32` constant (a scalar with `shape` `&[]`).
    pub fn f32s(&mut self, shape: &[usize], data: Vec<f32>) -> Value {
        let mut t = self.initializer("c", onnx_type::FLOAT, shape);
        t.float_data = data;
        let name = t.name.clone();
        self.graph.initializer.push(t);
        Value(name)
    }

    /// An `i32` constant.
    pub fn i32s(&mut self, shape: &[usize], data: Vec<i32>) -> Value {
        let mut t = self.initializer("c", onnx_type::INT32, shape);
        t.int32_data = data;
        let name = t.name.clone();
        self.graph.initializer.push(t);
        Value(name)
    }

    /// An `i64` constant (shapes, axes, indices).
    pub fn i64s(&mut self, shape: &[usize], data: Vec<i64>) -> Value {
        let mut t = self.initializer("c", onnx_type::INT64, shape);
        t.int64_data = data;
        let name = t.name.clone();
        self.graph.initializer.push(t);
        Value(name)
    }

    /// A scalar `f32` constant.
    pub fn f32(&mut self, v: f32) -> Value {
        self.f32s(&[], vec![v])
    }

    /// A scalar `i32` constant.
    pub fn i32(&mut self, v: i32) -> Value {
        self.i32s(&[], vec![v])
    }

    /// A node with one output.
    pub fn node(&mut self, op: &str, inputs: &[&Value], attrs: &[Attr]) -> Value {
        let out = self.fresh(&op.to_ascii_lowercase());
        self.node_named(op, inputs, attrs, &out);
        Value(out)
    }

    fn node_named(&mut self, op: &str, inputs: &[&Value], attrs: &[Attr], output: &str) {
        let name = self.fresh(op);
        self.graph.node.push(pb::NodeProto {
            name,
            op_type: op.into(),
            input: inputs.iter().map(|v| v.0.clone()).collect(),
            output: vec![output.into()],
            attribute: attrs.iter().map(Attr::proto).collect(),
            ..Default::default()
        });
    }

    /// `a + b` (broadcasting).
    pub fn add(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Add", &[a, b], &[])
    }

    /// `a − b`.
    pub fn sub(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Sub", &[a, b], &[])
    }

    /// `a · b`.
    pub fn mul(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Mul", &[a, b], &[])
    }

    /// `a / b` (integers truncate towards zero).
    pub fn div(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Div", &[a, b], &[])
    }

    pub fn min(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Min", &[a, b], &[])
    }

    pub fn max(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Max", &[a, b], &[])
    }

    /// `v` cast to the ONNX type `to` ([`onnx_type`]).
    pub fn cast(&mut self, v: &Value, to: i32) -> Value {
        self.node("Cast", &[v], &[Attr::Int("to", i64::from(to))])
    }

    /// `v` reshaped to `shape`.
    pub fn reshape(&mut self, v: &Value, shape: &[i64]) -> Value {
        let s = self.i64s(&[shape.len()], shape.to_vec());
        self.node("Reshape", &[v, &s], &[])
    }

    /// Entries `indices` of `v` along `axis`.
    pub fn gather(&mut self, v: &Value, indices: &[i64], axis: i64) -> Value {
        let i = self.i64s(&[indices.len()], indices.to_vec());
        self.node("Gather", &[v, &i], &[Attr::Int("axis", axis)])
    }

    /// `v[.., start..end, ..]` along `axis`.
    pub fn slice(&mut self, v: &Value, axis: i64, start: i64, end: i64) -> Value {
        let s = self.i64s(&[1], vec![start]);
        let e = self.i64s(&[1], vec![end]);
        let a = self.i64s(&[1], vec![axis]);
        self.node("Slice", &[v, &s, &e, &a], &[])
    }

    /// The encoded model.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto().encode_to_vec()
    }

    /// The model as a protobuf.
    pub fn proto(&self) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            producer_name: "studio".into(),
            graph: Some(self.graph.clone()),
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            doc_string: self.name.clone(),
            ..Default::default()
        }
    }
}
