//! planform-optim: optimizers written out as plain per-parameter tensor updates, and the
//! learning-rate schedules.
//!
//! [`Optimizer`] owns the named trainable parameters and one [`ParamRule`] per parameter.
//! The [`Algorithm`] — an enum carrying its parameters — chooses each parameter's rule from
//! its name, shape and [`ParamRole`] ([`Algorithm::rule_for`]), so a low-rank rule takes the
//! 2-D attention and MLP matrices while AdamW takes the rest, in one optimizer. A rule holds
//! that parameter's state and performs its update given the gradient:
//!
//! - [`AdamWRule`]: torch.optim.AdamW, bit-exact ([`adamw`]).
//! - [`AdamW8bitRule`]: bitsandbytes-style block-wise 8-bit AdamW ([`adamw`], [`quant`]).
//! - [`galore::GaloreRule`]: GaLore-AdamW, 32- or 8-bit moments ([`galore`]).
//! - [`qgalore::QGaloreRule`]: Q-GaLore: int8 weights, int4 projectors, lazy subspace
//!   updates ([`qgalore`]).
//! - [`lowrank::LowRankRule`]: LoRA and plain low-rank factors ([`lowrank`]).
//!
//! Per-layer updates ([`per_layer`]): [`Optimizer::set_per_layer`] puts a hook on every
//! parameter that runs its rule inside the backward pass as soon as the gradient is complete,
//! then frees the gradient.
//!
//! Weight decay is applied to *every* trainable parameter — embeddings and RMSNorm scales
//! included — as the Searchformer reference does (`AdamW(params=model.parameters())`, no
//! parameter groups; the RoPE tables have no gradient there and are not trainable here).
//!
//! [`schedule`]: the reference's warm-up + cosine (LambdaLR convention).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use planform_model::{ModelError, ParamRole};
use serde::{Deserialize, Serialize};
use tch::Tensor;

pub mod accounting;
pub mod adamw;
pub mod algorithm;
pub mod galore;
pub mod int8_linear;
pub mod lowrank;
mod optimizer;
pub mod per_layer;
pub mod projector;
pub mod qgalore;
pub mod quant;
pub mod schedule;

pub use adamw::{AdamW8bitRule, AdamWRule};
pub use algorithm::{
    AdamW8bitConfig, Algorithm, GaloreConfig, GaloreDefaults, LoraConfig, MatrixTargets, ProjType,
    QGaloreConfig, RuleKind,
};
pub use optimizer::{name_key, Optimizer, OptimizerStats};
pub use quant::Rounding;
pub use schedule::LrSchedule;

/// Everything that can go wrong stepping, saving or loading an optimizer.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A saved state does not fit this optimizer (names the file and the reason).
    #[error("optimizer state {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An algorithm parameter or a parameter's shape does not allow the rule.
    #[error("optimizer: {0}")]
    Config(String),
    /// A per-layer update failed, or per-layer mode was used wrongly.
    #[error("per-layer update: {0}")]
    PerLayer(String),
    /// Reading or writing the state file failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias of this crate.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;

/// Format tag written into optimizer safetensors headers.
pub const OPTIMIZER_FORMAT: &str = "planform-optimizer";
/// Version of the optimizer state layout.
pub const OPTIMIZER_FORMAT_VERSION: u32 = 1;

/// Hyper-parameters of AdamW with `torch.optim.AdamW` semantics (also the betas, epsilon and
/// weight decay of the other rules).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    /// `(β1, β2)`; reference (0.9, 0.99).
    pub betas: (f64, f64),
    /// Added to the bias-corrected `√v`; torch default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay; torch default 0.01 (the reference leaves it at the default).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            betas: (0.9, 0.99),
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// What the optimizer knows about a parameter when it chooses its rule.
#[derive(Clone, Copy, Debug)]
pub struct ParamInfo<'a> {
    /// Name (as the model creates it).
    pub name: &'a str,
    /// Shape.
    pub shape: &'a [i64],
    /// Role, from [`planform_model::param_role`].
    pub role: ParamRole,
}

/// Which parameters a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Targets {
    /// Every parameter.
    #[default]
    All,
    /// The 2-D attention and MLP matrices of the blocks (GaLore's choice).
    BlockMatrices,
    /// Parameters whose name contains one of these strings.
    NameContains(Vec<String>),
}

impl Targets {
    /// Whether `p` is targeted.
    pub fn matches(&self, p: &ParamInfo) -> bool {
        match self {
            Targets::All => true,
            Targets::BlockMatrices => p.role.is_block_matrix() && p.shape.len() == 2,
            Targets::NameContains(parts) => parts.iter().any(|s| p.name.contains(s.as_str())),
        }
    }
}

/// What a rule reports beyond its state bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Subspace computations (GaLore SVDs) so far.
    pub svd_count: u64,
    /// The projector gap in effect (GaLore; grows under Q-GaLore's lazy rule).
    pub proj_gap: Option<u64>,
    /// Bytes of weights the rule stores itself (Q-GaLore's int8 codes, scales, zeros).
    pub master_weight_bytes: usize,
}

/// One parameter's optimizer state and update.
pub trait ParamRule: Send {
    /// Updates `param` in place from `grad` with learning rate `lr`. Called under `no_grad`.
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()>;
    /// Number of updates applied so far.
    fn steps(&self) -> u64;
    /// The keys [`ParamRule::state`] may use.
    fn state_keys(&self) -> &'static [&'static str];
    /// The state tensors to save, by short key (e.g. `exp_avg`). Empty before the first step.
    fn state(&self) -> Vec<(&'static str, Tensor)>;
    /// Restores the state from `tensors` (keys as in [`ParamRule::state`], removed when
    /// used) and `steps`. `param` is the parameter the state belongs to (for shape and
    /// device checks).
    fn load_state(
        &mut self,
        param: &Tensor,
        steps: u64,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<(), String>;
    /// Bytes of optimizer state held now.
    fn state_bytes(&self) -> usize {
        self.state()
            .iter()
            .map(|(_, t)| t.numel() * t.kind().elt_size_in_bytes())
            .sum()
    }
    /// Statistics beyond the state bytes.
    fn stats(&self) -> RuleStats {
        RuleStats::default()
    }
    /// Memory measurements only: see [`Optimizer::set_svd_budget`].
    fn set_svd_budget(&mut self, _budget: Option<Arc<galore::SvdBudget>>) {}
    /// Rules that store their parameter's values themselves (Q-GaLore's int8 weights):
    /// writes the current values into `out` (the parameter's shape, any float kind).
    /// `None`: the parameter tensor is where the values live.
    fn write_weight(&self, _out: &Tensor) -> Option<Result<()>> {
        None
    }
}

#[cfg(test)]
mod galore_tests;
#[cfg(test)]
mod lowrank_tests;
#[cfg(test)]
mod per_layer_tests;
#[cfg(test)]
mod quant_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod rule_choice_tests {
    use super::*;
    use planform_model::param_role;
    use tch::Device;

    #[test]
    fn targets_select_by_role_name_and_shape() {
        let info = |name: &'static str, shape: &'static [i64]| ParamInfo {
            name,
            shape,
            role: param_role(name, shape),
        };
        let wq = info("layers.0.attention.wq.weight", &[8, 8]);
        let w1 = info("decoder.layers.1.feed_forward.w1.weight", &[16, 8]);
        let emb = info("embedding.weight", &[10, 8]);
        let norm = info("layers.0.ffn_norm.weight", &[8]);
        let head = info("output.weight", &[10, 8]);
        let block = Targets::BlockMatrices;
        assert!(block.matches(&wq) && block.matches(&w1));
        assert!(!block.matches(&emb) && !block.matches(&norm) && !block.matches(&head));
        let named = Targets::NameContains(vec!["ffn_norm".into()]);
        assert!(named.matches(&norm) && !named.matches(&wq));
        assert!(Targets::All.matches(&emb));
        // AdamW: every parameter, whatever its role.
        for p in [wq, w1, emb, norm, head] {
            assert_eq!(Algorithm::AdamW.rule_for(&p), RuleKind::AdamW);
        }
    }

    #[test]
    fn state_bytes_are_two_moments_per_parameter_after_a_step() {
        let p = Tensor::ones([3, 4], (tch::Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut opt = Optimizer::new(
            Algorithm::AdamW,
            AdamWConfig::default(),
            vec![("w".into(), p.shallow_clone())],
        );
        assert_eq!(opt.state_bytes(), 0);
        p.sum(tch::Kind::Float).backward();
        opt.step(1e-3).unwrap();
        assert_eq!(opt.state_bytes(), 2 * 12 * 4);
        assert_eq!(
            opt.rules().collect::<Vec<_>>(),
            vec![("w", RuleKind::AdamW)]
        );
    }
}
