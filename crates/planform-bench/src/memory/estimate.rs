//! The requirement of a configuration, predicted without allocating it: weights, gradients,
//! optimizer state and master weights exactly (from the parameter shapes and
//! [`planform_optim::accounting::predict`]); activations, the SVD's workspace and the
//! process baseline roughly.

use planform_model::{param_role, DecoderConfig, Model, ModelConfig};
use planform_optim::accounting::{add, predict, PredictedBytes};
use planform_optim::ParamInfo;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind};

use super::{MemoryCase, MemoryOptimizer, WeightDtype};
use crate::error::Result;

/// Predicted bytes of one configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    /// Trainable parameters.
    pub params: u64,
    /// Weights (exact).
    pub weights: u64,
    /// Gradients alive at once (exact: all of them, or with per-layer updates the largest
    /// one, twice for the moment its successor is being produced).
    pub grads: u64,
    /// Optimizer state after the first step (exact).
    pub state: u64,
    /// Master weights held by the optimizer (exact).
    pub master_weights: u64,
    /// Activations kept for the backward pass and the logits (rough).
    pub activations: u64,
    /// Transient work of the update: the SVD of the largest matrix in f32 (rough).
    pub transient: u64,
    /// Resident memory of a process with libtorch loaded (rough).
    pub baseline: u64,
    /// Peak of the set-up when it may exceed the steps' (Q-GaLore: the float model is built
    /// before its matrices are converted to int8 one at a time; exact up to one matrix).
    #[serde(default)]
    pub setup: u64,
}

impl Estimate {
    /// The sum.
    pub fn total(&self) -> u64 {
        self.steps().max(self.setup)
    }

    /// The steps' requirement: the sum of the parts.
    pub fn steps(&self) -> u64 {
        self.weights
            + self.grads
            + self.state
            + self.master_weights
            + self.activations
            + self.transient
            + self.baseline
    }
}

/// The decoder-only model's parameters (names and shapes as `DecoderOnly` creates them),
/// without allocating them.
pub fn decoder_shapes(c: &DecoderConfig) -> Vec<(String, Vec<i64>)> {
    let (v, d, h) = (c.vocab_size as i64, c.dim as i64, c.ffn_hidden as i64);
    let kv = (c.kv_heads * c.head_dim()) as i64;
    let mut out = vec![("embedding.weight".to_string(), vec![v, d])];
    for i in 0..c.layers {
        let p = |n: &str| format!("layers.{i}.{n}.weight");
        out.push((p("attention_norm"), vec![d]));
        out.push((p("attention.wq"), vec![d, d]));
        out.push((p("attention.wk"), vec![kv, d]));
        out.push((p("attention.wv"), vec![kv, d]));
        out.push((p("attention.wo"), vec![d, d]));
        out.push((p("ffn_norm"), vec![d]));
        out.push((p("feed_forward.w1"), vec![h, d]));
        out.push((p("feed_forward.w2"), vec![d, h]));
        if c.activation == planform_model::Activation::Swiglu {
            out.push((p("feed_forward.w3"), vec![h, d]));
        }
    }
    out.push(("norm.weight".to_string(), vec![d]));
    if !c.tied_embeddings {
        out.push(("output.weight".to_string(), vec![v, d]));
    }
    out
}

/// The parameters of any model: decoder-only by formula, the (small) encoder–decoder by
/// building it.
pub fn param_shapes(cfg: &ModelConfig) -> Result<Vec<(String, Vec<i64>)>> {
    match cfg {
        ModelConfig::DecoderOnly(c) => Ok(decoder_shapes(c)),
        ModelConfig::EncoderDecoder(_) => {
            let vs = VarStore::new(Device::Cpu);
            let _m = Model::new(&vs.root(), cfg)?;
            Ok(vs
                .variables()
                .into_iter()
                .filter(|(_, t)| t.requires_grad())
                .map(|(n, t)| (n, t.size()))
                .collect())
        }
    }
}

/// Predicts `case` on `cfg`.
pub fn estimate(cfg: &ModelConfig, case: &MemoryCase) -> Result<Estimate> {
    let kind = match case.dtype {
        WeightDtype::Fp32 => Kind::Float,
        WeightDtype::Bf16 => Kind::BFloat16,
    };
    let elt = kind.elt_size_in_bytes() as u64;
    let algorithm = case.optimizer.algorithm(case.rank);
    let shapes = param_shapes(cfg)?;
    let mut pred = PredictedBytes::default();
    let (mut params, mut largest, mut largest_matrix) = (0u64, 0u64, (0i64, 0i64));
    // Q-GaLore's matrices compute from their int8 codes during the steps (their float
    // tensors are freed): only the other weights stay in float.
    let mut int8_params = 0u64;
    for (name, shape) in &shapes {
        let info = ParamInfo {
            name,
            shape,
            role: param_role(name, shape),
        };
        add(&mut pred, predict(&algorithm, &info, kind));
        let n = shape.iter().product::<i64>() as u64;
        if algorithm.rule_for(&info) == planform_optim::RuleKind::QGalore {
            int8_params += n;
        }
        params += n;
        largest = largest.max(n);
        if shape.len() == 2 && info.role.is_block_matrix() {
            let (m, k) = (shape[0], shape[1]);
            if m * k > largest_matrix.0 * largest_matrix.1 {
                largest_matrix = (m, k);
            }
        }
    }
    let per_layer = algorithm.per_layer();
    let grads = if per_layer {
        2 * largest * elt
    } else {
        params * elt
    };
    let (b, t) = (case.batch as u64, case.tokens as u64);
    let (layers, dim, ffn, heads, vocab) = match cfg {
        ModelConfig::DecoderOnly(c) => (
            c.depth() as u64,
            c.dim as u64,
            c.ffn_hidden as u64,
            c.heads as u64,
            c.vocab_size as u64,
        ),
        ModelConfig::EncoderDecoder(c) => (
            (c.encoder.layers + 2 * c.decoder.layers) as u64,
            c.decoder.dim as u64,
            c.ffn_hidden(&c.decoder) as u64,
            c.decoder.heads as u64,
            c.vocab_size as u64,
        ),
    };
    let activations =
        layers * b * t * ((12 * dim + 4 * ffn) * elt + 4 * heads * t) + 3 * 4 * b * t * vocab;
    let galore = !matches!(
        case.optimizer,
        MemoryOptimizer::Adamw | MemoryOptimizer::Adamw8bit
    );
    let (m, n) = (largest_matrix.0 as u64, largest_matrix.1 as u64);
    let k = m.min(n);
    let transient = if galore {
        4 * (2 * m * n + m * k + k * n + 4 * k * k)
    } else {
        4 * largest
    };
    let baseline = 400_000_000;
    Ok(Estimate {
        params,
        weights: (params - int8_params) * elt,
        grads,
        state: pred.state as u64,
        master_weights: pred.master_weights as u64,
        activations,
        transient,
        baseline,
        setup: if int8_params > 0 {
            params * elt + baseline
        } else {
            0
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::{DecoderPreset, DecoderSpec};

    #[test]
    fn decoder_shapes_are_the_models() {
        for preset in [DecoderPreset::Tiny, DecoderPreset::DeepThin] {
            let c = DecoderSpec::preset(preset).resolve(40).unwrap();
            let vs = VarStore::new(Device::Cpu);
            let _m = Model::new(&vs.root(), &ModelConfig::DecoderOnly(c.clone())).unwrap();
            let mut built: Vec<(String, Vec<i64>)> = vs
                .variables()
                .into_iter()
                .map(|(n, t)| (n, t.size()))
                .collect();
            let mut ours = decoder_shapes(&c);
            built.sort();
            ours.sort();
            assert_eq!(built, ours, "{preset:?}");
        }
        let l7 = DecoderPreset::Llama7B.config();
        let n: i64 = decoder_shapes(&l7)
            .iter()
            .map(|(_, s)| s.iter().product::<i64>())
            .sum();
        assert_eq!(n as usize, l7.trainable_parameters());
    }
}
