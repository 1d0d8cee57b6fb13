//! [`Optimizer`]: the named parameters, one rule each, the ordinary step, per-layer steps
//! inside the backward pass, and saving/loading the state.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use planform_model::param_role;
use planform_model::tensor_io::{load_tensors, save_tensors, HostTensor};
use tch::{nn::VarStore, Device, Tensor};

use crate::adamw::{AdamW8bitRule, EightBit};
use crate::galore::{GaloreRule, SvdBudget};
use crate::lowrank::LowRankRule;
use crate::per_layer::{Hook, Shared};
use crate::qgalore::QGaloreRule;
use crate::{
    AdamWConfig, AdamWRule, Algorithm, OptimError, ParamInfo, ParamRule, Result, RuleKind,
    RuleStats, OPTIMIZER_FORMAT, OPTIMIZER_FORMAT_VERSION,
};

/// FNV-1a of a parameter name: its key in the random streams (stochastic rounding, LoRA's
/// initialisation, stand-in projectors).
pub fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn build(
    algorithm: &Algorithm,
    p: &ParamInfo,
    adamw: AdamWConfig,
    param: &Tensor,
) -> Box<dyn ParamRule> {
    let key = name_key(p.name);
    let eight = |block_size, min_8bit_size| EightBit {
        block: block_size,
        min_size: min_8bit_size,
    };
    let spec = match algorithm {
        Algorithm::AdamW8bit(c) => eight(c.block_size, c.min_8bit_size),
        Algorithm::Galore(c) => eight(c.block_size, c.min_8bit_size),
        Algorithm::QGalore(c) => eight(c.block_size, c.min_8bit_size),
        _ => eight(
            crate::quant::BNB_BLOCK_SIZE,
            crate::quant::BNB_MIN_8BIT_SIZE,
        ),
    };
    match (algorithm.rule_for(p), algorithm) {
        (RuleKind::AdamW, _) => Box::new(AdamWRule::new(adamw)),
        (RuleKind::AdamW8bit, _) => Box::new(AdamW8bitRule::new(adamw, spec)),
        (RuleKind::Galore, Algorithm::Galore(c)) => Box::new(GaloreRule::new(c, adamw, key)),
        (RuleKind::QGalore, Algorithm::QGalore(c)) => {
            Box::new(QGaloreRule::new(c, adamw, param, key))
        }
        (RuleKind::Lora, Algorithm::Lora(c)) => {
            Box::new(LowRankRule::new(c, adamw, param, true, key))
        }
        (RuleKind::LowRank, Algorithm::LowRank(c)) => {
            Box::new(LowRankRule::new(c, adamw, param, false, key))
        }
        // `rule_for` returns these kinds only for their own algorithm.
        _ => Box::new(AdamWRule::new(adamw)),
    }
}

struct Slot {
    name: String,
    param: Tensor,
    kind: RuleKind,
    rule: Arc<Mutex<Box<dyn ParamRule>>>,
}

impl Slot {
    /// The slot of `param`: its rule chosen by `algorithm` (AdamW when `valid` is false, the
    /// algorithm being invalid).
    fn new(
        algorithm: &Algorithm,
        adamw: AdamWConfig,
        valid: bool,
        name: String,
        param: Tensor,
    ) -> Self {
        let shape = param.size();
        let info = ParamInfo {
            name: &name,
            shape: &shape,
            role: param_role(&name, &shape),
        };
        let kind = algorithm.rule_for(&info);
        let rule: Box<dyn ParamRule> = if valid {
            build(algorithm, &info, adamw, &param)
        } else {
            Box::new(AdamWRule::new(adamw))
        };
        Slot {
            name,
            param,
            kind,
            rule: Arc::new(Mutex::new(rule)),
        }
    }

    /// Q-GaLore's int8 weights: `linears[name]` computes from this slot's codes from now on
    /// and the float tensor is emptied. Other slots, and one already taken, are left.
    /// Returns whether the slot was taken over.
    fn take_int8(
        &mut self,
        linears: &mut BTreeMap<String, &mut planform_model::Linear>,
        shared: &Arc<Mutex<Shared>>,
    ) -> Result<bool> {
        if self.kind != RuleKind::QGalore || self.param.numel() == 0 {
            return Ok(false);
        }
        let linear = linears.get_mut(&self.name).ok_or_else(|| {
            OptimError::Config(format!(
                "Q-GaLore parameter {} is not a linear layer of the model",
                self.name
            ))
        })?;
        let ext = crate::int8_linear::Int8Linear::new(
            &self.name,
            &self.param,
            self.rule.clone(),
            shared.clone(),
        );
        // The codes must reproduce the layer's weight.
        let _guard = tch::no_grad_guard();
        let w = planform_model::ExternalWeight::dequantize(&ext);
        if !w.f_equal(&self.param)? {
            return Err(OptimError::Config(format!(
                "{}: the float weight differs from its int8 codes (updated outside the \
                 optimizer?)",
                self.name
            )));
        }
        drop(w);
        linear.weight = planform_model::Weight::External(Arc::new(ext));
        let empty = Tensor::f_empty([0], (self.param.kind(), self.param.device()))?;
        self.param.set_data(&empty);
        Ok(true)
    }
}

fn lock(rule: &Mutex<Box<dyn ParamRule>>) -> Result<MutexGuard<'_, Box<dyn ParamRule>>> {
    rule.lock()
        .map_err(|_| OptimError::PerLayer("a rule's lock is poisoned".into()))
}

struct PerLayer {
    shared: Arc<Mutex<Shared>>,
    _hooks: Vec<Hook>,
}

/// Totals over the rules (see [`RuleStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OptimizerStats {
    /// Optimizer-state bytes held (moments, projectors, factors).
    pub state_bytes: usize,
    /// Bytes of master weights kept by the optimizer (Q-GaLore's int8 codes, scales, zeros).
    pub master_weight_bytes: usize,
    /// Subspace computations (SVDs, or stand-ins under an SVD budget) since this optimizer
    /// was built (a resumed run counts from its resumption).
    pub svd_count: u64,
    /// Projectors made without an SVD because the budget was spent.
    pub stand_in_projectors: u64,
}

/// A set of named parameters and their per-parameter update rules.
pub struct Optimizer {
    algorithm: Algorithm,
    adamw: AdamWConfig,
    slots: Vec<Slot>,
    steps: u64,
    per_layer: Option<PerLayer>,
    /// The per-layer state that int8 layers ([`Optimizer::take_int8_weights`]) report to,
    /// once any exists (per-layer mode then stays on and keeps it).
    int8: Option<Arc<Mutex<Shared>>>,
    init_error: Option<String>,
    budget: Option<Arc<SvdBudget>>,
}

impl Optimizer {
    /// An optimizer over `params` (name, tensor), ordered by name; each parameter's rule is
    /// chosen by `algorithm` from its name, shape and role. Rules that own their parameter's
    /// values (Q-GaLore's int8 weights, plain low-rank factors) set them now. An invalid
    /// algorithm makes the first step fail (see [`Optimizer::try_new`]).
    pub fn new(
        algorithm: Algorithm,
        adamw: AdamWConfig,
        mut params: Vec<(String, Tensor)>,
    ) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let init_error = algorithm.validate().err();
        let slots = params
            .into_iter()
            .map(|(name, param)| Slot::new(&algorithm, adamw, init_error.is_none(), name, param))
            .collect();
        let mut opt = Optimizer::from_slots(
            algorithm,
            adamw,
            slots,
            None,
            init_error.map(|e| format!("optimizer algorithm: {e}")),
        );
        if opt.init_error.is_none() && algorithm.per_layer() {
            if let Err(e) = opt.set_per_layer(true) {
                opt.init_error = Some(e.to_string());
            }
        }
        opt
    }

    /// A fresh optimizer (no steps, per-layer mode off) over `slots`.
    fn from_slots(
        algorithm: Algorithm,
        adamw: AdamWConfig,
        slots: Vec<Slot>,
        int8: Option<Arc<Mutex<Shared>>>,
        init_error: Option<String>,
    ) -> Self {
        Optimizer {
            algorithm,
            adamw,
            slots,
            steps: 0,
            per_layer: None,
            int8,
            init_error,
            budget: None,
        }
    }

    /// As [`Optimizer::new`], failing at once on an invalid algorithm.
    pub fn try_new(
        algorithm: Algorithm,
        adamw: AdamWConfig,
        params: Vec<(String, Tensor)>,
    ) -> Result<Self> {
        let opt = Self::new(algorithm, adamw, params);
        match &opt.init_error {
            Some(e) => Err(OptimError::Config(e.clone())),
            None => Ok(opt),
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

    /// The algorithm.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
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
        self.stats().state_bytes
    }

    /// Totals over the rules.
    pub fn stats(&self) -> OptimizerStats {
        let mut out = OptimizerStats::default();
        for s in &self.slots {
            if let Ok(rule) = s.rule.lock() {
                let st: RuleStats = rule.stats();
                out.state_bytes += rule.state_bytes();
                out.master_weight_bytes += st.master_weight_bytes;
                out.svd_count += st.svd_count;
            }
        }
        if let Some(b) = &self.budget {
            out.stand_in_projectors = b.stand_ins.load(std::sync::atomic::Ordering::SeqCst);
        }
        out
    }

    /// One rule's statistics, by parameter name.
    pub fn rule_stats(&self, name: &str) -> Option<RuleStats> {
        let s = self.slots.iter().find(|s| s.name == name)?;
        s.rule.lock().ok().map(|r| r.stats())
    }

    /// Memory measurements only: at most `real` SVDs in total, then projectors of the same
    /// shape from QR of seeded random matrices (counted in
    /// [`OptimizerStats::stand_in_projectors`]). `None`: always SVD (the algorithm).
    pub fn set_svd_budget(&mut self, real: Option<u64>) {
        self.budget = real.map(|n| {
            Arc::new(SvdBudget {
                left: n.into(),
                stand_ins: 0.into(),
            })
        });
        for s in &self.slots {
            if let Ok(mut rule) = s.rule.lock() {
                rule.set_svd_budget(self.budget.clone());
            }
        }
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.param.zero_grad();
        }
    }

    fn check(&self) -> Result<()> {
        match &self.init_error {
            Some(e) => Err(OptimError::Config(e.clone())),
            None => Ok(()),
        }
    }

    /// One update of every parameter that has a gradient, with learning rate `lr`.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        self.check()?;
        let _guard = tch::no_grad_guard();
        for s in &mut self.slots {
            let grad = s.param.grad();
            if !grad.defined() {
                continue;
            }
            lock(&s.rule)?.step(&mut s.param, &grad, lr)?;
        }
        self.steps += 1;
        Ok(())
    }

    /// Turns per-layer mode on (hooks on every parameter) or off. In per-layer mode a
    /// backward pass between [`Optimizer::begin_per_layer_step`] and
    /// [`Optimizer::end_per_layer_step`] updates each parameter as soon as its gradient is
    /// complete and frees that gradient; outside such a pair the hooks do nothing.
    pub fn set_per_layer(&mut self, on: bool) -> Result<()> {
        if !on {
            if self.int8.is_some() {
                return Err(OptimError::Config(
                    "layers compute from int8 weights: per-layer mode stays on".into(),
                ));
            }
            self.per_layer = None;
            return Ok(());
        }
        if self.per_layer.is_some() {
            return Ok(());
        }
        let shared = self
            .int8
            .clone()
            .unwrap_or_else(|| Arc::new(Mutex::new(Shared::default())));
        let hooks = self
            .slots
            .iter()
            .map(|s| Hook::register(&s.name, &s.param, s.rule.clone(), shared.clone()))
            .collect::<Result<Vec<_>>>()?;
        self.per_layer = Some(PerLayer {
            shared,
            _hooks: hooks,
        });
        Ok(())
    }

    /// Q-GaLore without float copies: every Q-GaLore parameter's layer among `linears` (a
    /// model's `linears_mut()`, matched by name as in the var store) computes from its rule's int8 codes from now
    /// on ([`crate::int8_linear`]; updated inside the backward pass, no weight gradient
    /// stored), and the parameter's float tensor is emptied (its memory is freed once no
    /// other tensor shares it). Needs per-layer mode and a model whose layers are each used
    /// once per forward pass (no block sharing). Checkpoints of the float weights are not
    /// possible afterwards (the emptied tensors would be written): for memory measurements.
    /// Returns the number of layers taken over.
    pub fn take_int8_weights(
        &mut self,
        linears: Vec<(String, &mut planform_model::Linear)>,
    ) -> Result<usize> {
        self.check()?;
        let shared = match &self.per_layer {
            Some(pl) => pl.shared.clone(),
            None => {
                return Err(OptimError::Config(
                    "int8 weights need per-layer mode (Q-GaLore's codes are updated inside \
                     the backward pass)"
                        .into(),
                ))
            }
        };
        let mut linears: BTreeMap<String, &mut planform_model::Linear> =
            linears.into_iter().collect();
        let mut n = 0;
        for s in &mut self.slots {
            n += usize::from(s.take_int8(&mut linears, &shared)?);
        }
        if n > 0 {
            self.int8 = Some(shared);
        }
        Ok(n)
    }

    /// As [`Optimizer::try_new`] followed by [`Optimizer::take_int8_weights`], one parameter
    /// at a time: each Q-GaLore matrix's float tensor is emptied as soon as its codes exist,
    /// as the reference converts a model layer by layer, so the float model and all the
    /// codes never coexist. The algorithm must be per-layer Q-GaLore.
    pub fn try_new_int8(
        algorithm: Algorithm,
        adamw: AdamWConfig,
        mut params: Vec<(String, Tensor)>,
        linears: Vec<(String, &mut planform_model::Linear)>,
    ) -> Result<Self> {
        algorithm
            .validate()
            .map_err(|e| OptimError::Config(format!("optimizer algorithm: {e}")))?;
        if !matches!(algorithm, Algorithm::QGalore(_)) || !algorithm.per_layer() {
            return Err(OptimError::Config(
                "int8 weights need per-layer Q-GaLore".into(),
            ));
        }
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut linears: BTreeMap<String, &mut planform_model::Linear> =
            linears.into_iter().collect();
        let mut slots = Vec::with_capacity(params.len());
        for (name, param) in params {
            let mut slot = Slot::new(&algorithm, adamw, true, name, param);
            slot.take_int8(&mut linears, &shared)?;
            slots.push(slot);
        }
        let mut opt = Optimizer::from_slots(algorithm, adamw, slots, Some(shared), None);
        opt.set_per_layer(true)?;
        Ok(opt)
    }

    /// Whether per-layer mode is on.
    pub fn per_layer(&self) -> bool {
        self.per_layer.is_some()
    }

    fn shared(&self) -> Result<MutexGuard<'_, Shared>> {
        let pl = self
            .per_layer
            .as_ref()
            .ok_or_else(|| OptimError::PerLayer("per-layer mode is off".into()))?;
        pl.shared
            .lock()
            .map_err(|_| OptimError::PerLayer("per-layer state poisoned".into()))
    }

    /// Arms the hooks: the next backward pass updates with learning rate `lr`.
    pub fn begin_per_layer_step(&mut self, lr: f64) -> Result<()> {
        self.check()?;
        let mut s = self.shared()?;
        *s = Shared {
            lr: Some(lr),
            updates: 0,
            error: None,
        };
        Ok(())
    }

    /// Disarms the hooks and counts the step; returns the number of parameters updated, or
    /// the first error of a hook (the backward pass also failed then).
    pub fn end_per_layer_step(&mut self) -> Result<usize> {
        let (updates, error) = {
            let mut s = self.shared()?;
            s.lr = None;
            (s.updates, s.error.take())
        };
        if let Some(e) = error {
            return Err(OptimError::PerLayer(e));
        }
        self.steps += 1;
        Ok(updates)
    }

    /// Saves the state (moments, projectors, factors and step counts) as safetensors,
    /// atomically. Tensor names are `<param>.<key>`; per-parameter step counts are
    /// `<param>.step` (int64 scalars).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = Vec::new();
        for s in &self.slots {
            let rule = lock(&s.rule)?;
            for (key, t) in rule.state() {
                let name = format!("{}.{key}", s.name);
                tensors.push((name.clone(), HostTensor::from_tensor(&name, &t)?));
            }
            let name = format!("{}.step", s.name);
            let step = Tensor::from(rule.steps() as i64);
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
            let mut rule = lock(&s.rule)?;
            let mut own = BTreeMap::new();
            for &key in rule.state_keys() {
                if let Some(t) = tensors.remove(&format!("{}.{key}", s.name)) {
                    own.insert(key, t);
                }
            }
            rule.load_state(&s.param, param_steps as u64, &mut own)
                .map_err(|e| bad(format!("parameter {}: {e}", s.name)))?;
            if let Some(extra) = own.keys().next() {
                return Err(bad(format!("parameter {}: unexpected {extra}", s.name)));
            }
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(bad(format!(
                "unexpected tensor {extra} (not a parameter of this model)"
            )));
        }
        self.steps = steps;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn with_rule<T>(
        &self,
        name: &str,
        f: impl FnOnce(&dyn ParamRule) -> T,
    ) -> Option<T> {
        let s = self.slots.iter().find(|s| s.name == name)?;
        let rule = s.rule.lock().ok()?;
        Some(f(rule.as_ref()))
    }
}
