//! Q-GaLore (Zhang et al. 2024), faithful to `q_galore_torch` (`QGaLoreLinear`,
//! `QGaLoreAdamW8bit`, `q_galore_projector.py`):
//!
//! - **int8 weights**: the targeted matrices are stored as unsigned 8-bit codes with a zero
//!   point per group of 256 ([`GroupQuant`]); quantized with round-to-nearest when the
//!   optimizer is built (the reference converts the model's Linear layers that way), and the
//!   model's float tensor is overwritten with the dequantized values, which is what the
//!   forward pass multiplies by.
//! - **update**: dequantize → GaLore step in float (8-bit Adam in the projected space,
//!   scale, decoupled weight decay) → re-quantize with seeded stochastic rounding
//!   ([`Rounding::Stochastic`], keyed by seed, parameter name and step) or round-to-nearest
//!   (the ablation); scales and zero points are recomputed from the new values each time.
//! - **int4 projectors** and the **lazy layer-adaptive subspace schedule**: [`Projector`]
//!   options (see [`crate::galore`]).
//!
//! By default the model keeps a float copy of each targeted weight (the dequantized codes,
//! rewritten after every update), so the int8 codes *add* one byte per element: the numerics
//! are the int8 model's, the memory is not. `Optimizer::take_int8_weights` removes the copies:
//! the model's layers then compute from the codes ([`crate::int8_linear`]), as the
//! reference's `QGaLoreLinear` does.

use std::collections::BTreeMap;
use std::sync::Arc;

use tch::Tensor;

use crate::algorithm::QGaloreConfig;
use crate::galore::{GaloreRule, Lazy, ProjQuant, Projector, SvdBudget};
use crate::quant::{uniforms, GroupQuant, Rounding};
use crate::{AdamWConfig, OptimError, ParamRule, Result, RuleStats};

/// Weight quantization bits.
pub const WEIGHT_BITS: u32 = 8;

/// Q-GaLore's rule for one 2-D parameter.
pub struct QGaloreRule {
    inner: GaloreRule,
    weight: Option<GroupQuant>,
    group: usize,
    rounding: Rounding,
    seed: u64,
    key: u64,
    init_error: Option<String>,
}

impl QGaloreRule {
    /// Takes over `param`: quantizes it (round-to-nearest, as the reference's model
    /// conversion) and writes the dequantized values back. `key` identifies the parameter in
    /// the rounding stream.
    pub fn new(cfg: &QGaloreConfig, adamw: AdamWConfig, param: &Tensor, key: u64) -> Self {
        let g = cfg.galore();
        let proj = Projector::new(
            g.rank,
            g.proj_type,
            g.gap(),
            cfg.proj_quant.then_some(ProjQuant {
                bits: cfg.proj_bits,
                group: cfg.proj_group_size,
            }),
            cfg.lazy.then_some(Lazy {
                cos_threshold: cfg.cos_threshold,
                gamma: cfg.gamma_proj,
                queue_size: cfg.queue_size,
            }),
            key,
        );
        let mut rule = QGaloreRule {
            inner: GaloreRule::with_projector(&g, adamw, proj),
            weight: None,
            group: cfg.weight_group_size,
            rounding: cfg.rounding,
            seed: cfg.seed,
            key,
            init_error: None,
        };
        let quantized = tch::no_grad(|| -> Result<GroupQuant> {
            let q = GroupQuant::quantize(param, WEIGHT_BITS, rule.group, Rounding::Nearest, None)?;
            let mut p = param.shallow_clone();
            p.f_copy_(&q.dequantize(param.kind())?)?;
            Ok(q)
        });
        match quantized {
            Ok(q) => rule.weight = Some(q),
            Err(e) => rule.init_error = Some(e.to_string()),
        }
        rule
    }

    /// The int8 weight.
    pub fn weight(&self) -> Option<&GroupQuant> {
        self.weight.as_ref()
    }

    /// The GaLore part.
    pub fn galore(&self) -> &GaloreRule {
        &self.inner
    }

    /// Re-quantizes `w` with the configured rounding for the update numbered `step`.
    ///
    /// Done [`crate::adamw::CHUNK_ELEMENTS`] elements (whole groups) at a time, so the
    /// temporaries (the f32 copy, the uniforms, the rounding) are bounded by the chunk, not
    /// the matrix. Groups are independent, so round-to-nearest gives the same codes as one
    /// pass over the whole tensor; stochastic rounding draws chunk `c > 0`'s uniforms from
    /// the key `[seed, tensor, step, c]` (chunk 0, and so every tensor of at most one
    /// chunk, from `[seed, tensor, step]`).
    pub fn requantize(&self, w: &Tensor, step: u64) -> Result<GroupQuant> {
        let n = w.numel() as i64;
        let g = self.group as i64;
        let chunk = crate::adamw::chunk_len(self.group);
        let quant = |part: &Tensor, c: u64| match self.rounding {
            Rounding::Nearest => {
                GroupQuant::quantize(part, WEIGHT_BITS, self.group, Rounding::Nearest, None)
            }
            Rounding::Stochastic => {
                let mut key = vec![self.seed, self.key, step];
                if c > 0 {
                    key.push(c);
                }
                let u = uniforms(&key, part.numel(), part.device())?;
                GroupQuant::quantize(
                    part,
                    WEIGHT_BITS,
                    self.group,
                    Rounding::Stochastic,
                    Some(&u),
                )
            }
        };
        if n <= chunk || g <= 0 || n % g != 0 {
            return quant(w, 0);
        }
        let flat = w.f_reshape([-1])?;
        let (mut codes, mut scales, mut zeros) = (Vec::new(), Vec::new(), Vec::new());
        let mut start = 0;
        let mut c = 0;
        while start < n {
            let len = chunk.min(n - start);
            let q = quant(&flat.f_narrow(0, start, len)?, c)?;
            codes.push(q.codes);
            scales.push(q.scales);
            zeros.push(q.zeros);
            start += len;
            c += 1;
        }
        GroupQuant::from_parts(
            Tensor::f_cat(&codes, 0)?,
            Tensor::f_cat(&scales, 0)?,
            Tensor::f_cat(&zeros, 0)?,
            &w.size(),
            WEIGHT_BITS,
            self.group,
        )
        .map_err(OptimError::Config)
    }
}

impl ParamRule for QGaloreRule {
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        if let Some(e) = &self.init_error {
            return Err(OptimError::Config(format!("Q-GaLore: {e}")));
        }
        // `param` holds the dequantized int8 weight; GaLore updates it in float.
        self.inner.step(param, grad, lr)?;
        let q = self.requantize(param, self.inner.steps())?;
        q.dequantize_into(param)?;
        self.weight = Some(q);
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    fn state_keys(&self) -> &'static [&'static str] {
        &KEYS
    }

    fn state(&self) -> Vec<(&'static str, Tensor)> {
        let mut out = self.inner.state();
        if let Some(w) = &self.weight {
            out.push(("weight.codes", w.codes.shallow_clone()));
            out.push(("weight.scales", w.scales.shallow_clone()));
            out.push(("weight.zeros", w.zeros.shallow_clone()));
        }
        out
    }

    fn state_bytes(&self) -> usize {
        self.inner.state_bytes()
    }

    fn set_svd_budget(&mut self, budget: Option<Arc<SvdBudget>>) {
        self.inner.set_svd_budget(budget);
    }

    fn write_weight(&self, out: &Tensor) -> Option<Result<()>> {
        self.weight.as_ref().map(|q| q.dequantize_into(out))
    }

    fn stats(&self) -> RuleStats {
        RuleStats {
            master_weight_bytes: self.weight.as_ref().map_or(0, |w| w.bytes()),
            ..self.inner.stats()
        }
    }

    fn load_state(
        &mut self,
        param: &Tensor,
        steps: u64,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<(), String> {
        let dev = param.device();
        let parts = (
            tensors.remove("weight.codes"),
            tensors.remove("weight.scales"),
            tensors.remove("weight.zeros"),
        );
        let (Some(c), Some(s), Some(z)) = parts else {
            return Err("int8 weight (weight.codes/scales/zeros) missing".into());
        };
        let q = GroupQuant::from_parts(
            c.to_device(dev),
            s.to_device(dev),
            z.to_device(dev),
            &param.size(),
            WEIGHT_BITS,
            self.group,
        )?;
        // The int8 weight is the master copy: the model's float weight is its dequantization.
        tch::no_grad(|| -> Result<()> {
            param
                .shallow_clone()
                .f_copy_(&q.dequantize(param.kind())?)?;
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        self.inner.load_state(param, steps, tensors)?;
        self.weight = Some(q);
        self.init_error = None;
        Ok(())
    }
}

const KEYS: [&str; 19] = [
    "projector",
    "projector.codes",
    "projector.scales",
    "projector.zeros",
    "projector.u",
    "projector.vh",
    "galore.gap",
    "galore.svd_count",
    "galore.queue",
    "galore.past",
    "exp_avg",
    "exp_avg_sq",
    "exp_avg.codes",
    "exp_avg.absmax",
    "exp_avg_sq.codes",
    "exp_avg_sq.absmax",
    "weight.codes",
    "weight.scales",
    "weight.zeros",
];
