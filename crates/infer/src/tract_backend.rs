//! The tract backend: pure Rust, CPU. A plan is optimised for concrete input shapes, so one is
//! built per shape set on first use and kept (streaming callers use one shape all the time).

use crate::graph::Graph;
use crate::tract_tensor::{datum, from_tract, to_tract};
use crate::{InferError, Tensor};
use std::collections::HashMap;
use tract_onnx::prelude::*;

type Plan = std::sync::Arc<TypedRunnableModel>;

pub(crate) struct TractModel {
    model: InferenceModel,
    input_names: Vec<String>,
    output_names: Vec<String>,
    plans: HashMap<Vec<Vec<usize>>, Plan>,
}

/// At most this many shape sets keep a plan; more would mean a caller changes shapes all the
/// time, and memory would grow without bound.
const MAX_PLANS: usize = 4;

impl TractModel {
    pub fn load(graph: &Graph) -> Result<TractModel, InferError> {
        let load_error = |e: anyhow::Error| InferError::Load {
            backend: "tract",
            path: graph.path.clone(),
            reason: format!("{e:#}"),
        };
        let onnx = tract_onnx::onnx();
        let model = onnx
            .model_for_proto_model(&graph.proto)
            .map_err(load_error)?;
        let input_names = graph.info.inputs.iter().map(|i| i.name.clone()).collect();
        let output_names = graph.info.outputs.iter().map(|o| o.name.clone()).collect();
        Ok(TractModel {
            model,
            input_names,
            output_names,
            plans: HashMap::new(),
        })
    }

    fn plan(&mut self, inputs: &[&Tensor]) -> Result<&Plan, InferError> {
        let key: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        if !self.plans.contains_key(&key) {
            let mut model = self.model.clone();
            for (i, tensor) in inputs.iter().enumerate() {
                let datum = datum(tensor.element_type())
                    .ok_or_else(|| InferError::Tensor("unsupported element type".into()))?;
                let fact = InferenceFact::dt_shape(datum, tensor.shape().to_vec());
                model = model
                    .with_input_fact(i, fact)
                    .map_err(|e| run_error(format!("{e:#}")))?;
            }
            let plan = model
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .map_err(|e| run_error(format!("{e:#}")))?;
            if self.plans.len() >= MAX_PLANS {
                self.plans.clear();
            }
            self.plans.insert(key.clone(), plan);
        }
        self.plans
            .get(&key)
            .ok_or_else(|| run_error("plan cache lost its entry".into()))
    }

    pub fn run(
        &mut self,
        inputs: Vec<(String, Tensor)>,
    ) -> Result<Vec<(String, Tensor)>, InferError> {
        // tract takes inputs by position: put them in the graph's order.
        let mut ordered = Vec::with_capacity(self.input_names.len());
        let mut by_name: HashMap<String, Tensor> = inputs.into_iter().collect();
        for name in &self.input_names {
            let tensor = by_name.remove(name).ok_or_else(|| InferError::Input {
                name: name.clone(),
                reason: "not given".into(),
            })?;
            ordered.push(tensor);
        }
        if let Some(extra) = by_name.keys().next() {
            return Err(InferError::Input {
                name: extra.clone(),
                reason: "the model has no such input".into(),
            });
        }
        let ordered: Vec<&Tensor> = ordered.iter().collect();
        let outputs = self.run_ordered(&ordered)?;
        let names = self.output_names.clone();
        outputs
            .iter()
            .zip(names)
            .map(|(value, name)| from_tract(value).map(|t| (name, t)))
            .collect()
    }

    /// Runs on inputs in the graph's order, copied into tract's tensors; tract's outputs in
    /// the graph's order.
    pub fn run_ordered(&mut self, ordered: &[&Tensor]) -> Result<TVec<TValue>, InferError> {
        if ordered.len() != self.input_names.len() {
            return Err(run_error(format!(
                "{} inputs given, the model has {}",
                ordered.len(),
                self.input_names.len()
            )));
        }
        let values: TVec<TValue> = ordered
            .iter()
            .map(|t| to_tract(t))
            .collect::<Result<TVec<_>, _>>()?
            .into_iter()
            .map(|t| t.into_tvalue())
            .collect();
        let plan = self.plan(ordered)?;
        plan.run(values).map_err(|e| run_error(format!("{e:#}")))
    }
}

fn run_error(reason: String) -> InferError {
    InferError::Run {
        backend: "tract",
        reason,
    }
}
