//! The linear layer and the forms its weight is stored in: float (trainable), integer codes
//! dequantized on the fly ([`QuantizedWeight`]), or held outside the model
//! ([`ExternalWeight`], Q-GaLore's int8 training weights); and how new weights are drawn.

use tch::{nn, Tensor};

use crate::model::drawn;
pub use crate::quantized::QuantizedWeight;

/// The stored form of a linear layer's weight: float, integer codes with scales that
/// [`Linear::forward`] dequantizes on the fly, or a weight held elsewhere.
#[derive(Debug)]
pub enum Weight {
    /// A float tensor `[out, in]` (PyTorch layout), trainable.
    Float(Tensor),
    /// Round-to-nearest integer codes (inference only; written by `planform quantize`).
    Quantized(QuantizedWeight),
    /// Held and updated outside the model (Q-GaLore's int8 training weights, owned by the
    /// optimizer and updated inside the backward pass).
    External(std::sync::Arc<dyn ExternalWeight>),
}

/// A linear layer's weight held outside the model: the layer asks it for the product.
pub trait ExternalWeight: Send + Sync + std::fmt::Debug {
    /// `x [.., in] -> [.., out]`, differentiable in `x`.
    fn forward(&self, x: &Tensor) -> Tensor;
    /// The current weight `[out, in]` as a new float tensor.
    fn dequantize(&self) -> Tensor;
}

/// Bias-free linear layer `y = x Wᵀ`. Initialised like `nn.Linear` (U(±1/√in)) or from a
/// normal distribution ([`Init`]).
#[derive(Debug)]
pub struct Linear {
    /// The weight.
    pub weight: Weight,
}

/// How new weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// PyTorch's defaults: linears U(±1/√in), embeddings N(0, 1) (the Searchformer reference).
    Torch,
    /// N(0, std²) for linears and embeddings (LLaMA / Hugging Face `initializer_range`).
    Normal {
        /// Standard deviation.
        std: f64,
    },
}

impl Init {
    fn linear(self, in_dim: i64) -> nn::Init {
        match self {
            Init::Torch => {
                let bound = 1.0 / (in_dim as f64).sqrt();
                drawn(nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                })
            }
            Init::Normal { std } => drawn(nn::Init::Randn {
                mean: 0.0,
                stdev: std,
            }),
        }
    }

    /// An embedding table `[V, D]` named `weight` under `p`.
    pub fn embedding(self, p: nn::Path, vocab: i64, dim: i64) -> Tensor {
        let stdev = match self {
            Init::Torch => 1.0,
            Init::Normal { std } => std,
        };
        p.var(
            "weight",
            &[vocab, dim],
            drawn(nn::Init::Randn { mean: 0.0, stdev }),
        )
    }
}

impl Linear {
    /// A new `[out, in]` weight named `weight` under `p`.
    pub fn new(p: nn::Path, in_dim: i64, out_dim: i64, init: Init) -> Self {
        let weight = p.var("weight", &[out_dim, in_dim], init.linear(in_dim));
        Linear {
            weight: Weight::Float(weight),
        }
    }

    /// The float weight `[out, in]`, `None` when it is stored quantized or held elsewhere.
    pub fn float_weight(&self) -> Option<&Tensor> {
        match &self.weight {
            Weight::Float(w) => Some(w),
            Weight::Quantized(_) | Weight::External(_) => None,
        }
    }

    /// The float weight, mutable (to substitute a computed tensor), `None` when quantized.
    pub fn float_weight_mut(&mut self) -> Option<&mut Tensor> {
        match &mut self.weight {
            Weight::Float(w) => Some(w),
            Weight::Quantized(_) | Weight::External(_) => None,
        }
    }

    /// The weight `[out, in]` as a float tensor: the stored one (shared, not a copy) or the
    /// dequantized codes.
    pub fn weight_tensor(&self) -> Tensor {
        match &self.weight {
            Weight::Float(w) => w.shallow_clone(),
            Weight::Quantized(q) => q.dequantize(),
            Weight::External(e) => e.dequantize(),
        }
    }

    /// `[.., in] -> [.., out]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match &self.weight {
            Weight::Float(w) => x.linear(w, None::<Tensor>),
            Weight::Quantized(q) => q.forward(x),
            Weight::External(e) => e.forward(x),
        }
    }
}

/// Named parameter slots: `tensors` followed by the float weights of `linears` (quantized
/// ones are left out). `Model::parameter_slots_mut` ends here.
pub(crate) fn with_float_weights<'a>(
    mut tensors: Vec<(String, &'a mut Tensor)>,
    linears: Vec<(String, &'a mut Linear)>,
) -> Vec<(String, &'a mut Tensor)> {
    tensors.extend(
        linears
            .into_iter()
            .filter_map(|(n, l)| l.float_weight_mut().map(|w| (n, w))),
    );
    tensors
}
