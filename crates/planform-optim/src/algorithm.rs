//! The optimizer algorithms and their parameters, and how each chooses a rule per parameter.
//!
//! In a TOML config (`[optim] algorithm = …`):
//!
//! ```toml
//! algorithm = "adamw"                                        # torch AdamW on every parameter
//! algorithm = { adamw-8bit = {} }                            # bitsandbytes-style 8-bit states
//! algorithm = { galore = { rank = 32 } }                     # GaLore code defaults (T 50, α 1)
//! algorithm = { galore = { rank = 32, defaults = "paper" } } # paper defaults (T 200, α 0.25)
//! algorithm = { galore = { rank = 32, eight_bit = true, per_layer = true } }
//! algorithm = { q-galore = { rank = 32, rounding = "nearest" } }
//! algorithm = { lora = { rank = 32 } }                       # W = W0 + (α/r)·B·A, W0 frozen
//! algorithm = { low-rank = { rank = 32 } }                   # W = B·A
//! ```
//!
//! Every low-rank algorithm applies to the 2-D attention and MLP matrices of the blocks
//! ([`MatrixTargets`]); every other parameter gets AdamW (8-bit AdamW when the algorithm's
//! states are 8-bit), in the same optimizer. Values are checked by [`Algorithm::validate`];
//! an invalid value that reaches [`crate::Optimizer::new`] makes its first step fail.

use serde::{Deserialize, Serialize};

use crate::quant::{Rounding, BNB_BLOCK_SIZE, BNB_MIN_8BIT_SIZE};
use crate::{ParamInfo, Targets};

/// Which 2-D matrices a low-rank algorithm takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatrixTargets {
    /// The attention and MLP matrices of the blocks (the reference: Linear modules whose name
    /// contains `attn` or `mlp`).
    #[default]
    BlockMatrices,
    /// The attention matrices only.
    Attention,
    /// The MLP matrices only.
    Mlp,
}

impl MatrixTargets {
    /// Whether `p` is targeted (2-D only).
    pub fn matches(self, p: &ParamInfo) -> bool {
        use planform_model::ParamRole;
        Targets::BlockMatrices.matches(p)
            && match self {
                MatrixTargets::BlockMatrices => true,
                MatrixTargets::Attention => p.role == ParamRole::AttentionMatrix,
                MatrixTargets::Mlp => p.role == ParamRole::MlpMatrix,
            }
    }
}

/// GaLore's projection types (`proj_type` of the reference projector).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProjType {
    /// By shape: `m ≥ n` projects from the right (`G Pᵀ`, `P` = first `r` rows of `Vᵀ`),
    /// otherwise from the left (`Pᵀ G`, `P` = first `r` columns of `U`): the smaller side.
    #[default]
    Std,
    /// The opposite side of `std`.
    ReverseStd,
    /// Always `P` from `U` (left).
    Left,
    /// Always `P` from `Vᵀ` (right).
    Right,
    /// Both sides: `U_rᵀ G V_rᵀ` (`r × r`).
    Full,
}

/// Which published defaults fill `update_proj_gap` and `scale` when they are not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GaloreDefaults {
    /// The reference code (`torchrun_main.py`): T = 50, α = 1.0.
    #[default]
    Code,
    /// The paper, README and benchmark scripts: T = 200, α = 0.25.
    Paper,
}

impl GaloreDefaults {
    /// `(update_proj_gap, scale)`.
    pub fn values(self) -> (u64, f64) {
        match self {
            GaloreDefaults::Code => (50, 1.0),
            GaloreDefaults::Paper => (200, 0.25),
        }
    }
}

fn default_rank() -> usize {
    128
}

/// GaLore-AdamW (`galore_torch.GaLoreAdamW` / `GaLoreAdamW8bit`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GaloreConfig {
    /// Rank `r` (clamped to `min(m, n)`). Default 128 (code default).
    pub rank: usize,
    /// Fills `update_proj_gap` and `scale` when unset. Default `code`.
    pub defaults: GaloreDefaults,
    /// Steps between projector updates `T`. Default from `defaults` (code 50, paper 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_proj_gap: Option<u64>,
    /// Scale `α` applied on projecting back. Default from `defaults` (code 1.0, paper 0.25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Projection type. Default `std`.
    pub proj_type: ProjType,
    /// Zero the low-rank moments when the projector changes (the reference keeps them, in
    /// the new basis as they are). Default false.
    pub reset_moments_on_switch: bool,
    /// The matrices that get GaLore. Default the blocks' attention and MLP matrices.
    pub targets: MatrixTargets,
    /// 8-bit moments (`GaLoreAdamW8bit`, bitsandbytes arithmetic) for every parameter.
    pub eight_bit: bool,
    /// Elements per 8-bit block. Default 2048 (bitsandbytes).
    pub block_size: usize,
    /// Tensors smaller than this keep 32-bit moments. Default 4096 (bitsandbytes).
    pub min_8bit_size: usize,
    /// Update each parameter inside the backward pass as soon as its gradient is complete,
    /// then free the gradient (the reference's `*_per_layer` optimizers). Default false.
    pub per_layer: bool,
}

impl Default for GaloreConfig {
    fn default() -> Self {
        GaloreConfig {
            rank: default_rank(),
            defaults: GaloreDefaults::Code,
            update_proj_gap: None,
            scale: None,
            proj_type: ProjType::Std,
            reset_moments_on_switch: false,
            targets: MatrixTargets::BlockMatrices,
            eight_bit: false,
            block_size: BNB_BLOCK_SIZE,
            min_8bit_size: BNB_MIN_8BIT_SIZE,
            per_layer: false,
        }
    }
}

impl GaloreConfig {
    /// The code defaults (T 50, α 1.0) at rank `rank`.
    pub fn code(rank: usize) -> Self {
        GaloreConfig {
            rank,
            ..GaloreConfig::default()
        }
    }

    /// The paper defaults (T 200, α 0.25) at rank `rank`.
    pub fn paper(rank: usize) -> Self {
        GaloreConfig {
            rank,
            defaults: GaloreDefaults::Paper,
            ..GaloreConfig::default()
        }
    }

    /// `T` in effect.
    pub fn gap(&self) -> u64 {
        self.update_proj_gap.unwrap_or(self.defaults.values().0)
    }

    /// `α` in effect.
    pub fn scale(&self) -> f64 {
        self.scale.unwrap_or(self.defaults.values().1)
    }
}

/// Q-GaLore (`q_galore_torch.QGaLoreAdamW8bit` with `QGaLoreLinear` weights).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QGaloreConfig {
    /// Rank `r`. Default 128.
    pub rank: usize,
    /// Fills `update_proj_gap` and `scale` when unset. Default `paper` (Q-GaLore's scripts:
    /// T 200, α 0.25).
    pub defaults: GaloreDefaults,
    /// Initial steps between projector updates `T` (doubled by the lazy rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_proj_gap: Option<u64>,
    /// Scale `α`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Zero the moments on a projector change. Default false (as the reference).
    pub reset_moments_on_switch: bool,
    /// The matrices that get Q-GaLore (int8 weights). Default attention + MLP.
    pub targets: MatrixTargets,
    /// Weight quantization group. Default 256.
    pub weight_group_size: usize,
    /// Re-quantization rounding of the weights. Default stochastic.
    pub rounding: Rounding,
    /// Quantize the projectors. Default true.
    pub proj_quant: bool,
    /// Projector bits. Default 4.
    pub proj_bits: u32,
    /// Projector quantization group. Default 256.
    pub proj_group_size: usize,
    /// Lazy layer-adaptive subspace updates. Default true.
    pub lazy: bool,
    /// Mean cosine similarity of the first singular vectors at or above which the gap grows.
    /// Default 0.4.
    pub cos_threshold: f64,
    /// Gap multiplier. Default 2.
    pub gamma_proj: f64,
    /// Cosine similarities averaged. Default 5.
    pub queue_size: usize,
    /// 8-bit moments (bitsandbytes). Default true.
    pub eight_bit: bool,
    /// Elements per 8-bit block. Default 2048.
    pub block_size: usize,
    /// Tensors smaller than this keep 32-bit moments. Default 4096.
    pub min_8bit_size: usize,
    /// Per-layer updates inside the backward pass. Default false (the reference's 7B runs
    /// use them; the memory benchmark turns them on).
    pub per_layer: bool,
    /// Seed of the stochastic rounding.
    pub seed: u64,
}

impl Default for QGaloreConfig {
    fn default() -> Self {
        QGaloreConfig {
            rank: default_rank(),
            defaults: GaloreDefaults::Paper,
            update_proj_gap: None,
            scale: None,
            reset_moments_on_switch: false,
            targets: MatrixTargets::BlockMatrices,
            weight_group_size: 256,
            rounding: Rounding::Stochastic,
            proj_quant: true,
            proj_bits: 4,
            proj_group_size: 256,
            lazy: true,
            cos_threshold: 0.4,
            gamma_proj: 2.0,
            queue_size: 5,
            eight_bit: true,
            block_size: BNB_BLOCK_SIZE,
            min_8bit_size: BNB_MIN_8BIT_SIZE,
            per_layer: false,
            seed: 0,
        }
    }
}

impl QGaloreConfig {
    /// `(T, α)` in effect.
    pub fn gap_and_scale(&self) -> (u64, f64) {
        let g = self.galore();
        (g.gap(), g.scale())
    }

    /// The GaLore settings underneath.
    pub fn galore(&self) -> GaloreConfig {
        GaloreConfig {
            rank: self.rank,
            defaults: self.defaults,
            update_proj_gap: self.update_proj_gap,
            scale: self.scale,
            proj_type: ProjType::Std,
            reset_moments_on_switch: self.reset_moments_on_switch,
            targets: self.targets,
            eight_bit: self.eight_bit,
            block_size: self.block_size,
            min_8bit_size: self.min_8bit_size,
            per_layer: self.per_layer,
        }
    }
}

/// bitsandbytes-style 8-bit AdamW on every parameter.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamW8bitConfig {
    /// Elements per block. Default 2048.
    pub block_size: usize,
    /// Smaller tensors keep 32-bit states. Default 4096.
    pub min_8bit_size: usize,
    /// Per-layer updates. Default false.
    pub per_layer: bool,
}

impl Default for AdamW8bitConfig {
    fn default() -> Self {
        AdamW8bitConfig {
            block_size: BNB_BLOCK_SIZE,
            min_8bit_size: BNB_MIN_8BIT_SIZE,
            per_layer: false,
        }
    }
}

/// LoRA (`W = W0 + (α/r)·B·A`, `W0` frozen at its initial value) and plain low-rank
/// (`W = B·A`) on the targeted matrices, as optimizer rules: the rule keeps the factors,
/// updates them with AdamW from their exact gradients `∂L/∂B = s·G·Aᵀ`, `∂L/∂A = s·Bᵀ·G`
/// (`G = ∂L/∂W`, chain rule) and writes `W` back, so training follows the factorized model;
/// its memory is not LoRA's (the full `W` stays materialized).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r`. Default 128.
    pub rank: usize,
    /// LoRA's `α` (scale `α / r`; the paper's LoRA baseline uses 32). Plain low-rank
    /// ignores it (scale 1).
    pub alpha: f64,
    /// The factorized matrices. Default attention + MLP.
    pub targets: MatrixTargets,
    /// Seed of LoRA's `A` initialisation.
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: default_rank(),
            alpha: 32.0,
            targets: MatrixTargets::BlockMatrices,
            seed: 0,
        }
    }
}

/// The optimizer algorithm, with its parameters. Each chooses a rule per parameter in
/// [`Algorithm::rule_for`].
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub enum Algorithm {
    /// AdamW on every parameter.
    #[default]
    #[serde(rename = "adamw")]
    AdamW,
    /// 8-bit AdamW on every parameter.
    #[serde(rename = "adamw-8bit")]
    AdamW8bit(AdamW8bitConfig),
    /// GaLore on the targeted matrices, AdamW (8-bit with `eight_bit`) on the rest.
    #[serde(rename = "galore")]
    Galore(GaloreConfig),
    /// Q-GaLore on the targeted matrices, 8-bit AdamW on the rest.
    #[serde(rename = "q-galore")]
    QGalore(QGaloreConfig),
    /// LoRA on the targeted matrices, AdamW on the rest.
    #[serde(rename = "lora")]
    Lora(LoraConfig),
    /// Plain low-rank factors on the targeted matrices, AdamW on the rest.
    #[serde(rename = "low-rank")]
    LowRank(LoraConfig),
}

/// The kinds of per-parameter rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// [`crate::AdamWRule`].
    AdamW,
    /// [`crate::AdamW8bitRule`].
    AdamW8bit,
    /// [`crate::galore::GaloreRule`].
    Galore,
    /// [`crate::qgalore::QGaloreRule`].
    QGalore,
    /// [`crate::lowrank::LowRankRule`] with a frozen `W0`.
    Lora,
    /// [`crate::lowrank::LowRankRule`] without `W0`.
    LowRank,
}

impl Algorithm {
    /// The rule of parameter `p`.
    pub fn rule_for(&self, p: &ParamInfo) -> RuleKind {
        let rest = |eight_bit: bool| {
            if eight_bit {
                RuleKind::AdamW8bit
            } else {
                RuleKind::AdamW
            }
        };
        match self {
            Algorithm::AdamW => RuleKind::AdamW,
            Algorithm::AdamW8bit(_) => RuleKind::AdamW8bit,
            Algorithm::Galore(c) if c.targets.matches(p) => RuleKind::Galore,
            Algorithm::Galore(c) => rest(c.eight_bit),
            Algorithm::QGalore(c) if c.targets.matches(p) => RuleKind::QGalore,
            Algorithm::QGalore(c) => rest(c.eight_bit),
            Algorithm::Lora(c) if c.targets.matches(p) => RuleKind::Lora,
            Algorithm::LowRank(c) if c.targets.matches(p) => RuleKind::LowRank,
            Algorithm::Lora(_) | Algorithm::LowRank(_) => RuleKind::AdamW,
        }
    }

    /// Whether parameters are updated inside the backward pass ([`crate::Optimizer`]'s
    /// per-layer mode).
    pub fn per_layer(&self) -> bool {
        match self {
            Algorithm::AdamW8bit(c) => c.per_layer,
            Algorithm::Galore(c) => c.per_layer,
            Algorithm::QGalore(c) => c.per_layer,
            _ => false,
        }
    }

    /// Checks the parameters; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        // Every `min_8bit_size` is valid (0: quantize every tensor).
        let bits8 = |block: usize| {
            if block == 0 {
                Err("block_size must be > 0".to_string())
            } else {
                Ok(())
            }
        };
        let galore = |c: &GaloreConfig| -> Result<(), String> {
            if c.rank == 0 {
                return Err("rank must be > 0".into());
            }
            if c.gap() == 0 {
                return Err("update_proj_gap must be > 0".into());
            }
            if !c.scale().is_finite() {
                return Err("scale must be finite".into());
            }
            bits8(c.block_size)
        };
        match self {
            Algorithm::AdamW => Ok(()),
            Algorithm::AdamW8bit(c) => bits8(c.block_size),
            Algorithm::Galore(c) => galore(c),
            Algorithm::QGalore(c) => {
                galore(&c.galore())?;
                if c.weight_group_size == 0 || c.proj_group_size == 0 {
                    return Err("group sizes must be > 0".into());
                }
                if c.proj_bits != 4 && c.proj_bits != 8 {
                    return Err(format!("proj_bits {}: 4 or 8", c.proj_bits));
                }
                if c.queue_size == 0
                    || c.gamma_proj.is_nan()
                    || c.gamma_proj < 1.0
                    || !c.cos_threshold.is_finite()
                {
                    return Err(
                        "lazy updates need queue_size > 0, gamma_proj >= 1 and a finite \
                         cos_threshold"
                            .into(),
                    );
                }
                Ok(())
            }
            Algorithm::Lora(c) | Algorithm::LowRank(c) => {
                if c.rank == 0 || !c.alpha.is_finite() {
                    Err("rank must be > 0 and alpha finite".into())
                } else {
                    Ok(())
                }
            }
        }
    }
}
