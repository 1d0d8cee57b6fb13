//! AdamW: [`AdamWRule`] (torch.optim.AdamW, bit-exact) and [`AdamW8bitRule`] (bitsandbytes'
//! block-wise 8-bit Adam states and arithmetic), plus [`BnbMoments`], the 8-bit (or, for
//! small tensors, 32-bit) moments that 8-bit GaLore keeps in the projected space.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::quant::Blockwise8;
use crate::{AdamWConfig, ParamRule, Result};

/// AdamW state of one parameter, updated exactly like PyTorch's single-tensor AdamW:
///
/// ```text
/// t += 1
/// p  ← p · (1 − lr·wd)
/// m  ← lerp(m, g, 1 − β1)
/// v  ← v·β2 + (1 − β2)·g·g
/// p  ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
/// ```
///
/// The tensor operations are ordered so that each rounds like the corresponding fused
/// PyTorch kernel (`addcmul_`, `addcdiv_`), which makes the result bit-identical on CPU.
pub struct AdamWRule {
    cfg: AdamWConfig,
    exp_avg: Option<Tensor>,
    exp_avg_sq: Option<Tensor>,
    steps: u64,
}

impl AdamWRule {
    /// A fresh state (moments are created at the first step, like PyTorch).
    pub fn new(cfg: AdamWConfig) -> Self {
        AdamWRule {
            cfg,
            exp_avg: None,
            exp_avg_sq: None,
            steps: 0,
        }
    }
}

impl ParamRule for AdamWRule {
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        let (beta1, beta2) = self.cfg.betas;
        let m = match &mut self.exp_avg {
            Some(m) => m,
            slot => slot.insert(param.f_zeros_like()?),
        };
        let v = match &mut self.exp_avg_sq {
            Some(v) => v,
            slot => slot.insert(param.f_zeros_like()?),
        };
        self.steps += 1;
        if self.cfg.weight_decay != 0.0 {
            let _ = param.f_mul_scalar_(1.0 - lr * self.cfg.weight_decay)?;
        }
        let _ = m.f_lerp_(grad, 1.0 - beta1)?;
        let _ = v.f_mul_scalar_(beta2)?;
        // addcmul_(g, g, value=1-β2) rounds as self + ((value·g)·g).
        let _ = v.f_addcmul_(&grad.f_mul_scalar(1.0 - beta2)?, grad)?;
        // PyTorch reads the step back as a float and uses Python float arithmetic.
        let t = self.steps as f32 as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let step_size = lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.powf(0.5);
        let denom = v
            .f_sqrt()?
            .f_div_scalar(bias_correction2_sqrt)?
            .f_add_scalar(self.cfg.eps)?;
        // addcdiv_(m, denom, value=-step_size) rounds as self + ((value·m) / denom).
        let _ = param.f_addcdiv_(&m.f_mul_scalar(-step_size)?, &denom)?;
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn state_keys(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_sq"]
    }

    fn state(&self) -> Vec<(&'static str, Tensor)> {
        match (&self.exp_avg, &self.exp_avg_sq) {
            (Some(m), Some(v)) => {
                vec![
                    ("exp_avg", m.shallow_clone()),
                    ("exp_avg_sq", v.shallow_clone()),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn load_state(
        &mut self,
        param: &Tensor,
        steps: u64,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<(), String> {
        let m = tensors.remove("exp_avg");
        let v = tensors.remove("exp_avg_sq");
        match (m, v) {
            (None, None) if steps == 0 => {
                self.exp_avg = None;
                self.exp_avg_sq = None;
            }
            (Some(m), Some(v)) if steps > 0 => {
                for (key, t) in [("exp_avg", &m), ("exp_avg_sq", &v)] {
                    if t.size() != param.size() {
                        return Err(format!(
                            "{key} has shape {:?}, the parameter {:?}",
                            t.size(),
                            param.size()
                        ));
                    }
                    if t.kind() != param.kind() {
                        return Err(format!(
                            "{key} has kind {:?}, the parameter {:?}",
                            t.kind(),
                            param.kind()
                        ));
                    }
                }
                let dev = param.device();
                self.exp_avg = Some(m.to_device(dev));
                self.exp_avg_sq = Some(v.to_device(dev));
            }
            _ => {
                return Err(format!(
                    "state tensors inconsistent with step count {steps}"
                ))
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// How 8-bit states are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EightBit {
    /// Elements per block.
    pub block: usize,
    /// Tensors with fewer elements keep f32 states.
    pub min_size: usize,
}

/// bitsandbytes' two Adam states of one tensor: block-wise 8-bit (dynamic map, signed for
/// the first moment, unsigned for the second) for tensors of at least
/// [`EightBit::min_size`] elements, f32 otherwise. The update runs in f32 on the dequantized
/// states, as bitsandbytes' kernel:
///
/// ```text
/// m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²          (f32, then re-quantized)
/// direction = m / (√v + ε·√(1 − β2^t))                      (from the f32 values)
/// ```
#[derive(Debug)]
pub enum BnbMoments {
    /// f32 states (small tensors).
    Fp32 {
        /// First moment.
        m: Tensor,
        /// Second moment.
        v: Tensor,
    },
    /// 8-bit states.
    Int8 {
        /// First moment (signed map).
        m: Blockwise8,
        /// Second moment (unsigned map).
        v: Blockwise8,
    },
}

/// State keys [`BnbMoments`] may save.
pub const BNB_KEYS: [&str; 6] = [
    "exp_avg",
    "exp_avg_sq",
    "exp_avg.codes",
    "exp_avg.absmax",
    "exp_avg_sq.codes",
    "exp_avg_sq.absmax",
];

/// Elements of an 8-bit state updated at a time (rounded down to whole blocks).
pub const CHUNK_ELEMENTS: i64 = 1 << 20;

/// [`CHUNK_ELEMENTS`] rounded down to whole blocks (groups) of `block` elements, at least one.
pub(crate) fn chunk_len(block: usize) -> i64 {
    let b = block as i64;
    (CHUNK_ELEMENTS / b).max(1) * b
}

/// bitsandbytes' Adam arithmetic in f32: the new moments and the direction.
fn adam_update(
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    t: u64,
    cfg: &AdamWConfig,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (beta1, beta2) = cfg.betas;
    let m = m
        .f_mul_scalar(beta1)?
        .f_add(&g.f_mul_scalar(1.0 - beta1)?)?;
    let v = v
        .f_mul_scalar(beta2)?
        .f_add(&g.f_mul_scalar(1.0 - beta2)?.f_mul(g)?)?;
    let c2 = (1.0 - beta2.powf(t as f64)).sqrt();
    let dir = m.f_div(&v.f_sqrt()?.f_add_scalar(cfg.eps * c2)?)?;
    Ok((m, v, dir))
}

impl BnbMoments {
    /// Zero moments for a tensor like `like`.
    pub fn zeros(like: &Tensor, spec: EightBit) -> Result<Self> {
        let (shape, device) = (like.size(), like.device());
        if like.numel() >= spec.min_size {
            Ok(BnbMoments::Int8 {
                m: Blockwise8::zeros(&shape, true, spec.block, device)?,
                v: Blockwise8::zeros(&shape, false, spec.block, device)?,
            })
        } else {
            Ok(BnbMoments::Fp32 {
                m: Tensor::f_zeros(shape.as_slice(), (Kind::Float, device))?,
                v: Tensor::f_zeros(shape.as_slice(), (Kind::Float, device))?,
            })
        }
    }

    /// Advances the moments with `grad` at step `t` (1-based) and returns the f32 direction
    /// `m / (√v + ε·√(1 − β2^t))`.
    ///
    /// 8-bit moments are updated [`CHUNK_ELEMENTS`] at a time (dequantize, update,
    /// re-quantize in place), so the f32 temporaries are bounded by the chunk, not the
    /// tensor: done on whole tensors they made 8-bit AdamW's peak memory exceed f32
    /// AdamW's. The arithmetic is element-wise and blocks are independent, so the result
    /// does not depend on the chunk size.
    pub fn step(&mut self, grad: &Tensor, t: u64, cfg: &AdamWConfig) -> Result<Tensor> {
        let g = grad.f_to_kind(Kind::Float)?;
        match self {
            BnbMoments::Fp32 { m, v } => {
                let (m2, v2, dir) = adam_update(m, v, &g, t, cfg)?;
                *m = m2;
                *v = v2;
                Ok(dir)
            }
            BnbMoments::Int8 { m, v } => {
                let n = m.numel();
                let chunk = chunk_len(m.block());
                let gflat = g.f_reshape([-1])?;
                let dir = Tensor::f_empty([n], (Kind::Float, g.device()))?;
                let mut start = 0;
                while start < n {
                    let len = chunk.min(n - start);
                    let mk = m.dequantize_range(start, len)?;
                    let vk = v.dequantize_range(start, len)?;
                    let gk = gflat.f_narrow(0, start, len)?;
                    let (mk, vk, dk) = adam_update(&mk, &vk, &gk, t, cfg)?;
                    dir.f_narrow(0, start, len)?.f_copy_(&dk)?;
                    m.requantize_range(start, &mk)?;
                    v.requantize_range(start, &vk)?;
                    start += len;
                }
                Ok(dir.f_reshape(g.size().as_slice())?)
            }
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match self {
            BnbMoments::Fp32 { m, v } => 4 * (m.numel() + v.numel()),
            BnbMoments::Int8 { m, v } => m.bytes() + v.bytes(),
        }
    }

    /// The tensors to save.
    pub fn state(&self) -> Vec<(&'static str, Tensor)> {
        match self {
            BnbMoments::Fp32 { m, v } => vec![
                ("exp_avg", m.shallow_clone()),
                ("exp_avg_sq", v.shallow_clone()),
            ],
            BnbMoments::Int8 { m, v } => vec![
                ("exp_avg.codes", m.codes.shallow_clone()),
                ("exp_avg.absmax", m.absmax.shallow_clone()),
                ("exp_avg_sq.codes", v.codes.shallow_clone()),
                ("exp_avg_sq.absmax", v.absmax.shallow_clone()),
            ],
        }
    }

    /// Restores saved moments of a tensor of `shape` (`None` when none were saved).
    pub fn load(
        tensors: &mut BTreeMap<&'static str, Tensor>,
        shape: &[i64],
        spec: EightBit,
        device: tch::Device,
    ) -> std::result::Result<Option<Self>, String> {
        let n: i64 = shape.iter().product();
        let want_8bit = n as usize >= spec.min_size;
        let f = (tensors.remove("exp_avg"), tensors.remove("exp_avg_sq"));
        let q = (
            tensors.remove("exp_avg.codes"),
            tensors.remove("exp_avg.absmax"),
            tensors.remove("exp_avg_sq.codes"),
            tensors.remove("exp_avg_sq.absmax"),
        );
        match (f, q) {
            ((None, None), (None, None, None, None)) => Ok(None),
            ((Some(m), Some(v)), (None, None, None, None)) if !want_8bit => {
                for (k, t) in [("exp_avg", &m), ("exp_avg_sq", &v)] {
                    if t.size() != shape || t.kind() != Kind::Float {
                        return Err(format!(
                            "{k} is {:?} {:?}, expected {shape:?} f32",
                            t.size(),
                            t.kind()
                        ));
                    }
                }
                Ok(Some(BnbMoments::Fp32 {
                    m: m.to_device(device),
                    v: v.to_device(device),
                }))
            }
            ((None, None), (Some(mc), Some(ma), Some(vc), Some(va))) if want_8bit => {
                let m = Blockwise8::from_parts(
                    mc.to_device(device),
                    ma.to_device(device),
                    shape,
                    true,
                    spec.block,
                )?;
                let v = Blockwise8::from_parts(
                    vc.to_device(device),
                    va.to_device(device),
                    shape,
                    false,
                    spec.block,
                )?;
                Ok(Some(BnbMoments::Int8 { m, v }))
            }
            _ => Err(format!(
                "moments saved in the wrong format for a tensor of {n} elements ({} expected)",
                if want_8bit { "8-bit" } else { "32-bit" }
            )),
        }
    }
}

/// bitsandbytes-style 8-bit AdamW (`bnb.optim.AdamW8bit`, block-wise): moments in
/// [`BnbMoments`] and bitsandbytes' update, weight decay after the step:
///
/// ```text
/// p ← p − lr·√(1 − β2^t)/(1 − β1^t) · m / (√v + ε·√(1 − β2^t)) ;  p ← p·(1 − lr·wd)
/// ```
pub struct AdamW8bitRule {
    cfg: AdamWConfig,
    spec: EightBit,
    moments: Option<BnbMoments>,
    steps: u64,
}

impl AdamW8bitRule {
    /// A fresh state.
    pub fn new(cfg: AdamWConfig, spec: EightBit) -> Self {
        AdamW8bitRule {
            cfg,
            spec,
            moments: None,
            steps: 0,
        }
    }
}

/// `p ← (p + step·dir)·(1 − lr·wd)` in `p`'s dtype (the shared end of the bitsandbytes rules).
pub(crate) fn apply_bnb_update(
    param: &mut Tensor,
    delta: &Tensor,
    lr: f64,
    weight_decay: f64,
) -> Result<()> {
    let _ = param.f_add_(&delta.f_to_kind(param.kind())?)?;
    if weight_decay > 0.0 {
        let _ = param.f_mul_scalar_(1.0 - lr * weight_decay)?;
    }
    Ok(())
}

impl ParamRule for AdamW8bitRule {
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        let moments = match &mut self.moments {
            Some(m) => m,
            slot => slot.insert(BnbMoments::zeros(param, self.spec)?),
        };
        self.steps += 1;
        let t = self.steps as f64;
        let (beta1, beta2) = self.cfg.betas;
        let step_size = lr * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));
        let dir = moments.step(grad, self.steps, &self.cfg)?;
        apply_bnb_update(
            param,
            &dir.f_mul_scalar(-step_size)?,
            lr,
            self.cfg.weight_decay,
        )
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    fn state_keys(&self) -> &'static [&'static str] {
        &BNB_KEYS
    }

    fn state(&self) -> Vec<(&'static str, Tensor)> {
        self.moments.as_ref().map(|m| m.state()).unwrap_or_default()
    }

    fn state_bytes(&self) -> usize {
        self.moments.as_ref().map_or(0, |m| m.bytes())
    }

    fn load_state(
        &mut self,
        param: &Tensor,
        steps: u64,
        tensors: &mut BTreeMap<&'static str, Tensor>,
    ) -> std::result::Result<(), String> {
        let m = BnbMoments::load(tensors, &param.size(), self.spec, param.device())?;
        if m.is_some() != (steps > 0) {
            return Err(format!(
                "state tensors inconsistent with step count {steps}"
            ));
        }
        self.moments = m;
        self.steps = steps;
        Ok(())
    }
}
