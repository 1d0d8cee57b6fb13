//! LoRA and plain low-rank training of a matrix, as an optimizer rule.
//!
//! The model multiplies by a full `W` (`m×n`); the rule keeps factors `B` (`m×r`) and `A`
//! (`r×n`) and sets `W = W0 + s·B·A` after every update (LoRA: `W0` = the initial weight,
//! frozen, `s = α/r`, `A ~ U(±1/√n)` as `nn.init.kaiming_uniform_(a=√5)`, `B = 0`; plain
//! low-rank: no `W0`, `s = 1`, `B = U_r·√S_r` and `A = √S_r·V_rᵀ` from the SVD of the initial
//! weight, which the rule replaces by its rank-`r` approximation). With `G = ∂L/∂W` the
//! factors' exact gradients are `∂L/∂B = s·G·Aᵀ` and `∂L/∂A = s·Bᵀ·G` (chain rule through
//! `W = W0 + s·B·A`); each factor is updated by its own torch AdamW ([`AdamWRule`], weight
//! decay included). The training trajectory is the factorized model's; the memory is not
//! LoRA's, since the full `W` (and `W0`) stay materialized.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::adamw::AdamWRule;
use crate::algorithm::LoraConfig;
use crate::quant::uniforms;
use crate::{AdamWConfig, OptimError, ParamRule, Result};

/// LoRA / low-rank factors of one matrix.
pub struct LowRankRule {
    a: Tensor,
    b: Tensor,
    w0: Option<Tensor>,
    scale: f64,
    adam_a: AdamWRule,
    adam_b: AdamWRule,
    init_error: Option<String>,
}

fn init(
    param: &Tensor,
    cfg: &LoraConfig,
    lora: bool,
    key: u64,
) -> Result<(Tensor, Tensor, Option<Tensor>, f64)> {
    let size = param.size();
    if size.len() != 2 {
        return Err(OptimError::Config(format!(
            "low-rank factors need a 2-D parameter, not {size:?}"
        )));
    }
    let (m, n) = (size[0], size[1]);
    let r = (cfg.rank as i64).min(m.min(n));
    let kind = param.kind();
    let dev = param.device();
    if lora {
        let bound = 1.0 / (n as f64).sqrt();
        let a = uniforms(&[cfg.seed, key], (r * n) as usize, dev)?
            .f_mul_scalar(2.0 * bound)?
            .f_sub_scalar(bound)?
            .f_view([r, n])?
            .f_to_kind(kind)?;
        let b = Tensor::f_zeros([m, r], (kind, dev))?;
        let w0 = param.detach().copy();
        Ok((a, b, Some(w0), cfg.alpha / r as f64))
    } else {
        let (u, s, v) = param.f_to_kind(Kind::Float)?.f_svd(true, true)?;
        let vh = v.f_transpose(0, 1)?;
        let root = s.f_narrow(0, 0, r)?.f_sqrt()?;
        let b = u
            .f_narrow(1, 0, r)?
            .f_mul(&root.f_unsqueeze(0)?)?
            .f_to_kind(kind)?;
        let a = vh
            .f_narrow(0, 0, r)?
            .f_mul(&root.f_unsqueeze(1)?)?
            .f_to_kind(kind)?;
        Ok((a, b, None, 1.0))
    }
}

impl LowRankRule {
    /// Factors of `param` (`lora`: LoRA, otherwise plain low-rank). Plain low-rank replaces
    /// `param` by `B·A` now. `key` identifies the parameter in `A`'s random stream.
    pub fn new(cfg: &LoraConfig, adamw: AdamWConfig, param: &Tensor, lora: bool, key: u64) -> Self {
        let mut rule = LowRankRule {
            a: Tensor::new(),
            b: Tensor::new(),
            w0: None,
            scale: 1.0,
            adam_a: AdamWRule::new(adamw),
            adam_b: AdamWRule::new(adamw),
            init_error: None,
        };
        match tch::no_grad(|| -> Result<()> {
            let (a, b, w0, scale) = init(param, cfg, lora, key)?;
            (rule.a, rule.b, rule.w0, rule.scale) = (a, b, w0, scale);
            rule.write(&mut param.shallow_clone())
        }) {
            Ok(()) => {}
            Err(e) => rule.init_error = Some(e.to_string()),
        }
        rule
    }

    /// `W ← W0 + s·B·A`.
    fn write(&self, param: &mut Tensor) -> Result<()> {
        let ba = self.b.f_matmul(&self.a)?.f_mul_scalar(self.scale)?;
        let w = match &self.w0 {
            Some(w0) => w0.f_add(&ba)?,
            None => ba,
        };
        param.f_copy_(&w)?;
        Ok(())
    }

    /// `(A, B)`.
    pub fn factors(&self) -> (&Tensor, &Tensor) {
        (&self.a, &self.b)
    }
}

impl ParamRule for LowRankRule {
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        if let Some(e) = &self.init_error {
            return Err(OptimError::Config(e.clone()));
        }
        let g = grad.f_to_kind(self.a.kind())?;
        let grad_b = g
            .f_matmul(&self.a.f_transpose(0, 1)?)?
            .f_mul_scalar(self.scale)?;
        let grad_a = self
            .b
            .f_transpose(0, 1)?
            .f_matmul(&g)?
            .f_mul_scalar(self.scale)?;
        self.adam_b.step(&mut self.b, &grad_b, lr)?;
        self.adam_a.step(&mut self.a, &grad_a, lr)?;
        self.write(param)
    }

    fn steps(&self) -> u64 {
        self.adam_a.steps()
    }

    fn state_keys(&self) -> &'static [&'static str] {
        &[
            "lora.a",
            "lora.b",
            "lora.w0",
            "lora.a.exp_avg",
            "lora.a.exp_avg_sq",
            "lora.b.exp_avg",
            "lora.b.exp_avg_sq",
        ]
    }

    fn state(&self) -> Vec<(&'static str, Tensor)> {
        let mut out = vec![
            ("lora.a", self.a.shallow_clone()),
            ("lora.b", self.b.shallow_clone()),
        ];
        if let Some(w0) = &self.w0 {
            out.push(("lora.w0", w0.shallow_clone()));
        }
        let named = |rule: &AdamWRule, keys: [&'static str; 2]| {
            rule.state()
                .into_iter()
                .map(move |(k, t)| (if k == "exp_avg" { keys[0] } else { keys[1] }, t))
        };
        out.extend(named(&self.adam_a, ["lora.a.exp_avg", "lora.a.exp_avg_sq"]));
        out.extend(named(&self.adam_b, ["lora.b.exp_avg", "lora.b.exp_avg_sq"]));
        out
    }

    fn state_bytes(&self) -> usize {
        let t = |t: &Tensor| t.numel() * t.kind().elt_size_in_bytes();
        t(&self.a)
            + t(&self.b)
            + self.w0.as_ref().map_or(0, t)
            + self.adam_a.state_bytes()
            + self.adam_b.state_bytes()
    }

    fn load_state(
        &mut self,
        param: &Tensor,
        steps: u64,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<(), String> {
        let dev = param.device();
        let (Some(a), Some(b)) = (tensors.remove("lora.a"), tensors.remove("lora.b")) else {
            return Err("lora.a / lora.b missing".into());
        };
        if a.size() != self.a.size() || b.size() != self.b.size() {
            return Err(format!(
                "factors are {:?} and {:?}, expected {:?} and {:?}",
                a.size(),
                b.size(),
                self.a.size(),
                self.b.size()
            ));
        }
        let w0 = tensors.remove("lora.w0");
        if w0.is_some() != self.w0.is_some() {
            return Err("lora.w0 present for plain low-rank or missing for LoRA".into());
        }
        let mut sub = |keys: [&'static str; 2]| {
            let mut m: BTreeMap<&'static str, Tensor> = BTreeMap::new();
            for (key, short) in keys.into_iter().zip(["exp_avg", "exp_avg_sq"]) {
                if let Some(t) = tensors.remove(key) {
                    m.insert(short, t);
                }
            }
            m
        };
        let mut ma = sub(["lora.a.exp_avg", "lora.a.exp_avg_sq"]);
        let mut mb = sub(["lora.b.exp_avg", "lora.b.exp_avg_sq"]);
        self.a = a.to_device(dev);
        self.b = b.to_device(dev);
        self.w0 = w0.map(|t| t.to_device(dev));
        self.adam_a.load_state(&self.a, steps, &mut ma)?;
        self.adam_b.load_state(&self.b, steps, &mut mb)?;
        self.init_error = None;
        Ok(())
    }
}
