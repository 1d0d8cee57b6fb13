//! Simulated low-bit inference (SpinQuant's evaluation set-up): activations fake-quantized
//! per token at every linear input, keys and values fake-quantized as the KV cache would
//! store them, and the online Hadamard rotations R3 (queries and keys after RoPE) and R4
//! (the down projection's input, whose inverse [`crate::merge::Rotations::r4`] merges into
//! `w2`). Installed with `DecoderOnly::set_activation_hook`.
//!
//! Keys and values are quantized per head and position over the head dimension (the
//! reference's group of 128 is LLaMA's head dimension).

use planform_model::{ActivationHook, Site};
use tch::Tensor;

use crate::hadamard;
use crate::rtn::Rtn;

/// What to simulate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuantSim {
    /// Activations at linear inputs, per token (`None`: full precision).
    pub act: Option<Rtn>,
    /// Keys and values (`None`: full precision).
    pub kv: Option<Rtn>,
    /// R3: Hadamard on queries and keys after RoPE (exact in full precision).
    pub r3: bool,
    /// R4: Hadamard on the down projection's input (needs `Rotations::r4` merged into the
    /// weights to be exact).
    pub r4: bool,
    /// Pass gradients straight through the quantizers (training rotations through the
    /// quantized model); the forward values are the same.
    pub ste: bool,
    /// The block linears quantize their own inputs with `act` (integer matmul,
    /// `QuantizedWeight::enable_int8_matmul`): the hook leaves [`Site::LinearInput`] and
    /// [`Site::DownInput`] unquantized (R4 still applies); output projections are still
    /// quantized here.
    pub integer_linears: bool,
}

impl QuantSim {
    /// The hook for `DecoderOnly::set_activation_hook`. Sizes were checked by
    /// [`QuantSim::check`]; a failure inside the forward pass panics with its reason.
    pub fn hook(self) -> ActivationHook {
        ActivationHook::new(move |site, x| self.apply(site, x))
    }

    /// Checks that the model's head dimension and FFN width suit the rotations and groups.
    pub fn check(&self, head_dim: usize, ffn_hidden: usize) -> crate::Result<()> {
        if self.r3 {
            hadamard::factor(head_dim)?;
        }
        if self.r4 {
            hadamard::factor(ffn_hidden)?;
        }
        Ok(())
    }

    fn apply(&self, site: Site, x: &Tensor) -> Tensor {
        let q = |r: &Option<Rtn>, x: Tensor| match r {
            Some(r) if self.ste => r.fake_quant_ste(&x).expect("quantizer settings checked"),
            Some(r) => r.fake_quant(&x).expect("quantizer settings checked"),
            None => x,
        };
        let had = |on: bool, x: &Tensor| {
            if on {
                hadamard::transform(x).expect("Hadamard size checked")
            } else {
                x.shallow_clone()
            }
        };
        match site {
            Site::LinearInput if self.integer_linears => x.shallow_clone(),
            Site::DownInput if self.integer_linears => had(self.r4, x),
            Site::LinearInput | Site::OutputInput => q(&self.act, x.shallow_clone()),
            Site::DownInput => q(&self.act, had(self.r4, x)),
            Site::Query => had(self.r3, x),
            Site::Key => q(&self.kv, had(self.r3, x)),
            Site::Value => q(&self.kv, x.shallow_clone()),
        }
    }
}
