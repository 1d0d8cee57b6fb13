//! planform-optim: optimizers written out as plain per-parameter tensor updates, and the
//! learning-rate schedules.
//!
//! [`Optimizer`] owns the named trainable parameters and one [`ParamRule`] per parameter.
//! The [`Algorithm`] — an enum carrying its parameters — chooses each parameter's rule from
//! its name, shape and [`ParamRole`] ([`Algorithm::rule_for`]), so a low-rank rule can take
//! the 2-D attention and MLP matrices while AdamW takes the rest, in one optimizer. A rule
//! holds that parameter's state and performs its update given the gradient; today's rule is
//! [`AdamWRule`] (torch.optim.AdamW, bit-exact).
//!
//! Weight decay is applied to *every* trainable parameter — embeddings and RMSNorm scales
//! included — as the Searchformer reference does (`AdamW(params=model.parameters())`, no
//! parameter groups; the RoPE tables have no gradient there and are not trainable here).
//!
//! [`schedule`]: the reference's warm-up + cosine (LambdaLR convention).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planform_model::tensor_io::{load_tensors, save_tensors, HostTensor};
use planform_model::{param_role, ModelError, ParamRole};
use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Tensor};

pub mod schedule;

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

/// Hyper-parameters of AdamW with `torch.optim.AdamW` semantics.
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

/// The optimizer algorithm, with its parameters. New algorithms (GaLore variants carrying
/// rank, projection gap and scale) become variants that pick their rule per parameter in
/// [`Algorithm::rule_for`].
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// AdamW on every parameter.
    #[default]
    #[serde(rename = "adamw")]
    AdamW,
}

/// What the optimizer knows about a parameter when it chooses its rule.
#[derive(Clone, Copy, Debug)]
pub struct ParamInfo<'a> {
    /// Name (as the model creates it).
    pub name: &'a str,
    /// Shape.
    pub shape: &'a [i64],
    /// Role, from [`param_role`].
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

/// The kinds of per-parameter rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// [`AdamWRule`].
    AdamW,
}

impl Algorithm {
    /// The rule of parameter `p`.
    pub fn rule_for(&self, _p: &ParamInfo) -> RuleKind {
        match self {
            Algorithm::AdamW => RuleKind::AdamW,
        }
    }

    fn build(&self, p: &ParamInfo, adamw: AdamWConfig) -> Box<dyn ParamRule> {
        match self.rule_for(p) {
            RuleKind::AdamW => Box::new(AdamWRule::new(adamw)),
        }
    }
}

/// One parameter's optimizer state and update.
pub trait ParamRule: Send {
    /// Updates `param` in place from `grad` with learning rate `lr`. Called under `no_grad`.
    fn step(&mut self, param: &mut Tensor, grad: &Tensor, lr: f64) -> Result<()>;
    /// Number of updates applied so far.
    fn steps(&self) -> u64;
    /// The keys [`ParamRule::state`] uses once the state exists.
    fn state_keys(&self) -> &'static [&'static str];
    /// The state tensors to save, by short key (e.g. `exp_avg`). Empty before the first step.
    fn state(&self) -> Vec<(&'static str, Tensor)>;
    /// Restores the state from `tensors` (keys as in [`ParamRule::state`]) and `steps`.
    /// `param` is the parameter the state belongs to (for shape and device checks).
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
}

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

struct Slot {
    name: String,
    param: Tensor,
    kind: RuleKind,
    rule: Box<dyn ParamRule>,
}

/// A set of named parameters and their per-parameter update rules.
pub struct Optimizer {
    algorithm: Algorithm,
    adamw: AdamWConfig,
    slots: Vec<Slot>,
    steps: u64,
}

impl Optimizer {
    /// An optimizer over `params` (name, tensor), ordered by name; each parameter's rule is
    /// chosen by `algorithm` from its name, shape and role.
    pub fn new(
        algorithm: Algorithm,
        adamw: AdamWConfig,
        mut params: Vec<(String, Tensor)>,
    ) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = params
            .into_iter()
            .map(|(name, param)| {
                let shape = param.size();
                let info = ParamInfo {
                    name: &name,
                    shape: &shape,
                    role: param_role(&name, &shape),
                };
                let kind = algorithm.rule_for(&info);
                let rule = algorithm.build(&info, adamw);
                Slot {
                    name,
                    param,
                    kind,
                    rule,
                }
            })
            .collect();
        Optimizer {
            algorithm,
            adamw,
            slots,
            steps: 0,
        }
    }

    /// An optimizer over every trainable variable of `vs` (names as in the var store).
    pub fn for_var_store(algorithm: Algorithm, adamw: AdamWConfig, vs: &VarStore) -> Self {
        let params = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        Self::new(algorithm, adamw, params)
    }

    /// Number of optimizer steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Sets the optimizer-step counter (e.g. to 0 when a fine-tune starts from a loaded
    /// state); per-parameter step counts (bias correction) are kept.
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// Names of the optimized parameters, in update order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }

    /// Each parameter's name and rule, in update order.
    pub fn rules(&self) -> impl Iterator<Item = (&str, RuleKind)> {
        self.slots.iter().map(|s| (s.name.as_str(), s.kind))
    }

    /// Bytes of optimizer state held now (moments and projections; 0 before the first step).
    pub fn state_bytes(&self) -> usize {
        self.slots.iter().map(|s| s.rule.state_bytes()).sum()
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.param.zero_grad();
        }
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for s in &mut self.slots {
            let grad = s.param.grad();
            if !grad.defined() {
                continue;
            }
            s.rule.step(&mut s.param, &grad, lr)?;
        }
        self.steps += 1;
        Ok(())
    }

    /// Saves the state (moments and step counts) as safetensors, atomically. Tensor names
    /// are `<param>.<key>`; per-parameter step counts are `<param>.step` (int64 scalars).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = Vec::new();
        for s in &self.slots {
            for (key, t) in s.rule.state() {
                let name = format!("{}.{key}", s.name);
                tensors.push((name.clone(), HostTensor::from_tensor(&name, &t)?));
            }
            let name = format!("{}.step", s.name);
            let step = Tensor::from(s.rule.steps() as i64);
            tensors.push((name.clone(), HostTensor::from_tensor(&name, &step)?));
        }
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), OPTIMIZER_FORMAT.to_string());
        meta.insert("version".to_string(), OPTIMIZER_FORMAT_VERSION.to_string());
        meta.insert(
            "algorithm".to_string(),
            serde_json::to_string(&self.algorithm).unwrap_or_default(),
        );
        meta.insert(
            "adamw".to_string(),
            serde_json::to_string(&self.adamw).unwrap_or_default(),
        );
        meta.insert("steps".to_string(), self.steps.to_string());
        Ok(save_tensors(path, &tensors, meta)?)
    }

    /// Restores the state saved by [`Optimizer::save`]. Every parameter must be present with
    /// matching shapes, and the file must hold nothing else.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bad = |reason: String| OptimError::State {
            path: path.to_path_buf(),
            reason,
        };
        let loaded = load_tensors(path, Device::Cpu)?;
        let meta = &loaded.metadata;
        if meta.get("format").map(String::as_str) != Some(OPTIMIZER_FORMAT) {
            return Err(bad(
                "not a planform optimizer state (header `format` missing)".into(),
            ));
        }
        let version = meta.get("version").cloned().unwrap_or_default();
        if version != OPTIMIZER_FORMAT_VERSION.to_string() {
            return Err(bad(format!(
                "optimizer state version {version:?}, expected {OPTIMIZER_FORMAT_VERSION}"
            )));
        }
        let algorithm = serde_json::to_string(&self.algorithm).unwrap_or_default();
        if meta.get("algorithm") != Some(&algorithm) {
            return Err(bad(format!(
                "optimizer algorithm {:?} differs from the configured {algorithm}",
                meta.get("algorithm")
            )));
        }
        let steps: u64 = meta
            .get("steps")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("header `steps` missing or not an integer".into()))?;
        let mut tensors = loaded.tensors;
        for s in &mut self.slots {
            let step_name = format!("{}.step", s.name);
            let step_t = tensors
                .remove(&step_name)
                .ok_or_else(|| bad(format!("missing tensor {step_name}")))?;
            if step_t.numel() != 1 || step_t.kind() != tch::Kind::Int64 {
                return Err(bad(format!("{step_name} is not an int64 scalar")));
            }
            let param_steps = step_t.int64_value(&[]);
            if param_steps < 0 {
                return Err(bad(format!("{step_name} is negative")));
            }
            let mut own = BTreeMap::new();
            for &key in s.rule.state_keys() {
                if let Some(t) = tensors.remove(&format!("{}.{key}", s.name)) {
                    own.insert(key, t);
                }
            }
            s.rule
                .load_state(&s.param, param_steps as u64, &mut own)
                .map_err(|e| bad(format!("parameter {}: {e}", s.name)))?;
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(bad(format!(
                "unexpected tensor {extra} (not a parameter of this model)"
            )));
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rule_choice_tests {
    use super::*;

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
