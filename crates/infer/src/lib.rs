//! One small model API over ONNX files, shared by the engines: load a model, look at its named
//! inputs, outputs, metadata and initializers, and run it on `f32`, `f16` or `i64` tensors.
//!
//! Two backends sit behind [`Model`]: ONNX Runtime (`ort`, loaded from a shared library at run
//! time, so nothing is linked at build time) and `tract` (pure Rust, CPU, always available).
//! [`BackendChoice::Auto`] takes ONNX Runtime when a runtime library is found and tract
//! otherwise, and [`Model::backend`] says which one runs, on what, and why.

mod bound;
mod builder;
mod edit;
mod error;
mod graph;
mod model;
mod ort_backend;
mod runtime;
mod shaped;
mod tensor;
mod tract_backend;
mod tract_tensor;

pub use bound::BoundIo;
pub use builder::{Attr, GraphBuilder, Value, onnx_code, onnx_type};
pub use edit::GraphEdit;
pub use error::InferError;
pub use graph::{Dim, ModelInfo, TensorInfo};
pub use model::{BackendChoice, BackendInfo, Model, ModelOptions};
pub use runtime::{RuntimeSearch, find_onnxruntime, use_fetched_runtime};
pub use shaped::ShapedBinding;
pub use tensor::{ElementType, Tensor};
