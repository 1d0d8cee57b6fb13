//! GaLore-AdamW (Zhao et al., ICML 2024), faithful to the reference code
//! (`galore_torch/adamw.py`, `adamw8bit.py`, `galore_projector.py`).
//!
//! For a 2-D weight `W ∈ R^{m×n}` with gradient `G`, at the rule's step `t` (0-based):
//!
//! ```text
//! if P is None or t % T == 0:  U, S, Vᵀ = svd(float32(G))            (no averaging, full SVD)
//!     std: m ≥ n → P = Vᵀ[:r, :] (right, r×n) ; m < n → P = U[:, :r] (left, m×r)
//!     P is cast back to G's dtype
//! R = G Pᵀ (right) | Pᵀ G (left) | U_rᵀ G V_rᵀ (full)
//! Adam in R's shape; the moments are kept across a projector change (reset: an option)
//!   32-bit (GaLoreAdamW, Hugging Face arithmetic):
//!     m ← β1 m + (1−β1) R ; v ← β2 v + (1−β2) R² ; N = m / (√v + ε)
//!   8-bit (GaLoreAdamW8bit, bitsandbytes arithmetic, [`BnbMoments`]):
//!     N = m / (√v + ε·√(1−β2^t))
//! W ← W − lr·√(1−β2^t)/(1−β1^t) · α · back(N)        back: N P | P N | U_r N V_r
//! W ← W − lr·wd·W                                     (decoupled, full rank, after the step)
//! ```
//!
//! [`Projector`] also carries Q-GaLore's options: an int4 (or int8) group-quantized
//! projector and the lazy layer-adaptive schedule (cosine similarity of the first singular
//! vector with the previous one, a queue of 5, mean ≥ 0.4 multiplies the gap by 2, checked
//! against the absolute step as the reference does).

use std::collections::BTreeMap;
use std::sync::Arc;

use tch::Tensor;

use crate::adamw::{BnbMoments, EightBit, BNB_KEYS};
use crate::algorithm::GaloreConfig;
use crate::projector::PROJ_KEYS;
pub use crate::projector::{Lazy, ProjQuant, Projector, Side, SvdBudget};
use crate::{AdamWConfig, OptimError, ParamRule, Result, RuleStats};

/// The optimizer applied in the projected space.
#[derive(Debug)]
enum LowRank {
    /// Hugging Face AdamW arithmetic, moments in the gradient's dtype.
    Hf { m: Tensor, v: Tensor },
    /// bitsandbytes arithmetic (8-bit or, for small tensors, 32-bit states).
    Bnb(BnbMoments),
}

/// The inner update (Adam in the reference; SGD for the theory check of the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inner {
    Adam,
    #[cfg(test)]
    Sgd,
}

/// GaLore's rule for one 2-D parameter.
pub struct GaloreRule {
    adamw: AdamWConfig,
    scale: f64,
    reset: bool,
    eight_bit: Option<EightBit>,
    pub(crate) inner: Inner,
    pub(crate) proj: Projector,
    moments: Option<LowRank>,
    steps: u64,
}

impl GaloreRule {
    /// A fresh state for a parameter; `key` seeds stand-in projectors.
    pub fn new(cfg: &GaloreConfig, adamw: AdamWConfig, key: u64) -> Self {
        Self::with_projector(
            cfg,
            adamw,
            Projector::new(cfg.rank, cfg.proj_type, cfg.gap(), None, None, key),
        )
    }

    /// A fresh state around `proj` (Q-GaLore passes its quantized, lazy projector).
    pub fn with_projector(cfg: &GaloreConfig, adamw: AdamWConfig, proj: Projector) -> Self {
        GaloreRule {
            adamw,
            scale: cfg.scale(),
            reset: cfg.reset_moments_on_switch,
            eight_bit: cfg.eight_bit.then_some(EightBit {
                block: cfg.block_size,
                min_size: cfg.min_8bit_size,
            }),
            inner: Inner::Adam,
            proj,
            moments: None,
            steps: 0,
        }
    }

    /// The projector.
    pub fn projector(&self) -> &Projector {
        &self.proj
    }

    /// The 32-bit moments `(m, v)` in the projected space, if that is how they are kept.
    pub fn moments_f32(&self) -> Option<(Tensor, Tensor)> {
        match &self.moments {
            Some(LowRank::Hf { m, v }) | Some(LowRank::Bnb(BnbMoments::Fp32 { m, v })) => {
                Some((m.shallow_clone(), v.shallow_clone()))
            }
            _ => None,
        }
    }
}

impl ParamRule for GaloreRule {
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        if grad.dim() != 2 || grad.size() != param.size() {
            return Err(OptimError::Config(format!(
                "GaLore needs 2-D parameters with a gradient of the same shape ({:?}, {:?})",
                param.size(),
                grad.size()
            )));
        }
        let switched = self.proj.maybe_update(grad, self.steps)?;
        if switched && self.reset {
            self.moments = None;
        }
        let r = self.proj.project(grad)?;
        self.steps += 1;
        let t = self.steps as f64;
        let (beta1, beta2) = self.adamw.betas;
        let step_size = lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
        let wd = self.adamw.weight_decay;
        match self.inner {
            #[cfg(test)]
            Inner::Sgd => {
                let delta = self.proj.project_back(&r)?.f_mul_scalar(self.scale)?;
                let _ = param.f_sub_(&delta.f_mul_scalar(lr)?)?;
                Ok(())
            }
            Inner::Adam => {
                let moments = match &mut self.moments {
                    Some(m) => m,
                    slot => slot.insert(match self.eight_bit {
                        Some(spec) => LowRank::Bnb(BnbMoments::zeros(&r, spec)?),
                        None => LowRank::Hf {
                            m: r.f_zeros_like()?,
                            v: r.f_zeros_like()?,
                        },
                    }),
                };
                match moments {
                    LowRank::Hf { m, v } => {
                        let _ = m
                            .f_mul_scalar_(beta1)?
                            .f_add_(&r.f_mul_scalar(1.0 - beta1)?)?;
                        let _ = v
                            .f_mul_scalar_(beta2)?
                            .f_addcmul_(&r.f_mul_scalar(1.0 - beta2)?, &r)?;
                        let denom = v.f_sqrt()?.f_add_scalar(self.adamw.eps)?;
                        let n = m.f_div(&denom)?;
                        let delta = self.proj.project_back(&n)?.f_mul_scalar(self.scale)?;
                        let _ = param.f_add_(&delta.f_mul_scalar(-step_size)?)?;
                        if wd > 0.0 {
                            let _ = param.f_add_(&param.f_mul_scalar(-lr * wd)?)?;
                        }
                        Ok(())
                    }
                    LowRank::Bnb(b) => {
                        let dir = b.step(&r, self.steps, &self.adamw)?;
                        // bitsandbytes writes the low-rank update into a zeroed tensor of the
                        // parameter's dtype, which is then projected back.
                        let low = dir.f_mul_scalar(-step_size)?.f_to_kind(param.kind())?;
                        let delta = self.proj.project_back(&low)?.f_mul_scalar(self.scale)?;
                        let _ = param.f_add_(&delta)?;
                        if wd > 0.0 {
                            let _ = param.f_add_(&param.f_mul_scalar(-lr * wd)?)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn state_keys(&self) -> &'static [&'static str] {
        &ALL_KEYS
    }

    fn state(&self) -> Vec<(&'static str, Tensor)> {
        let mut out = self.proj.state();
        match &self.moments {
            Some(LowRank::Hf { m, v }) => {
                out.push(("exp_avg", m.shallow_clone()));
                out.push(("exp_avg_sq", v.shallow_clone()));
            }
            Some(LowRank::Bnb(b)) => out.extend(b.state()),
            None => {}
        }
        out
    }

    fn state_bytes(&self) -> usize {
        let t = |t: &Tensor| t.numel() * t.kind().elt_size_in_bytes();
        self.proj.bytes()
            + match &self.moments {
                None => 0,
                Some(LowRank::Hf { m, v }) => t(m) + t(v),
                Some(LowRank::Bnb(b)) => b.bytes(),
            }
    }

    fn set_svd_budget(&mut self, budget: Option<Arc<SvdBudget>>) {
        self.proj.set_budget(budget);
    }

    fn stats(&self) -> RuleStats {
        RuleStats {
            svd_count: self.proj.svd_count(),
            proj_gap: Some(self.proj.gap()),
            ..RuleStats::default()
        }
    }

    fn load_state(
        &mut self,
        param: &Tensor,
        steps: u64,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<(), String> {
        let has_proj = self.proj.load(param, tensors)?;
        if has_proj != (steps > 0) {
            return Err(format!("projector inconsistent with step count {steps}"));
        }
        self.moments = match self.proj.low_rank_shape(&param.size()) {
            None => None,
            Some(shape) => match self.eight_bit {
                Some(spec) => {
                    BnbMoments::load(tensors, &shape, spec, param.device())?.map(LowRank::Bnb)
                }
                None => match (tensors.remove("exp_avg"), tensors.remove("exp_avg_sq")) {
                    (Some(m), Some(v)) if m.size() == shape && v.size() == shape => {
                        Some(LowRank::Hf {
                            m: m.to_device(param.device()),
                            v: v.to_device(param.device()),
                        })
                    }
                    (None, None) => None,
                    _ => return Err(format!("moments are not {shape:?}")),
                },
            },
        };
        if has_proj && self.moments.is_none() && !self.reset {
            return Err("moments missing".into());
        }
        self.steps = steps;
        Ok(())
    }
}

/// Every key a GaLore state may hold.
const ALL_KEYS: [&str; 16] = [
    PROJ_KEYS[0],
    PROJ_KEYS[1],
    PROJ_KEYS[2],
    PROJ_KEYS[3],
    PROJ_KEYS[4],
    PROJ_KEYS[5],
    PROJ_KEYS[6],
    PROJ_KEYS[7],
    PROJ_KEYS[8],
    PROJ_KEYS[9],
    BNB_KEYS[0],
    BNB_KEYS[1],
    BNB_KEYS[2],
    BNB_KEYS[3],
    BNB_KEYS[4],
    BNB_KEYS[5],
];
