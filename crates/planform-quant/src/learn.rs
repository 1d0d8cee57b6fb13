//! Learned rotations (SpinQuant §3.2): R1 and R2 trained by Cayley SGD to minimise the
//! next-token loss of the *quantized* model, its weights frozen.
//!
//! ```text
//! R ← random-sign Hadamards (the seed's)                       one per stream / attention
//! for step in 0..steps:                                        lr cosine from `lr` to 0
//!     W' = merge(R, W)                                         differentiable in R
//!     Ŵ  = W' + (q(W') − W').detach()                          block linears, straight through
//!     loss = mean next-token loss of the model with Ŵ on a batch, activations and KV
//!            fake-quantized (straight through) with the online R3/R4
//!     R ← CayleySGD(R, ∂loss/∂R)                               stays on the Stiefel manifold
//! ```
//!
//! Batches cycle through the given training sequences in order; the held-out loss is
//! measured at full precision, before learning (the Hadamard start) and after.

use planform_model::{Model, Precision};
use planform_train::batch::Batch;
use planform_train::data::Prepared;
use planform_train::step::forward_loss;
use serde::{Deserialize, Serialize};
use tch::nn;

use crate::error::{QuantError, Result};
use crate::merge::{weights_of_model, ModelRotations, Weights};
use crate::rotation::CayleySgd;
use crate::spec::QuantSpec;

/// Settings of the rotation training (defaults: SpinQuant's script where it applies).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnConfig {
    /// Cayley SGD steps (SpinQuant: 100).
    pub steps: usize,
    /// Peak learning rate, cosine-decayed to 0 (SpinQuant: 1.5).
    pub lr: f64,
    /// Sequences per step (SpinQuant: 8 GPUs × 1 sequence of 2,048 tokens).
    pub batch: usize,
}

impl Default for LearnConfig {
    fn default() -> Self {
        LearnConfig {
            steps: 100,
            lr: 1.5,
            batch: 8,
        }
    }
}

/// What the training did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnReport {
    /// The settings.
    pub config: LearnConfig,
    /// Training sequences available (cycled through).
    pub train_sequences: usize,
    /// Held-out sequences the losses below are measured on.
    pub heldout_sequences: usize,
    /// Mean per-sequence training loss of each step (quantized model).
    pub losses: Vec<f64>,
    /// Held-out loss at full precision (no rotation, no quantization).
    pub heldout_fp: f64,
    /// Held-out loss quantized with the starting rotations (random-sign Hadamards).
    pub heldout_start: f64,
    /// Held-out loss quantized with the learned rotations.
    pub heldout_learned: f64,
    /// QR re-orthonormalisations done (about 1 in 101 steps per matrix).
    pub retractions: u64,
    /// Largest ‖RᵀR − I‖ (Frobenius) over the matrices as Cayley SGD left them (the
    /// iterative Cayley transform is approximate; the drift accumulates between the
    /// occasional QR retractions).
    pub drift: f64,
    /// Largest ‖RᵀR − I‖ after the final QR retraction (the rotations merged).
    pub orthogonality_error: f64,
}

/// The quantized model of `spec` with rotations `rot` merged, built for gradients: its
/// parameters are computed tensors (differentiable in the rotations), not variables.
struct Reparametrised {
    _vs: nn::VarStore,
    model: Model,
}

impl Reparametrised {
    fn new(
        base: &Weights,
        cfg: &planform_model::ModelConfig,
        spec: &QuantSpec,
        rot: &ModelRotations,
        device: tch::Device,
    ) -> Result<Self> {
        let (_, cfg2) = tch::no_grad(|| rot.merge(base, cfg))?;
        let vs = nn::VarStore::new(device);
        let mut model =
            Model::new(&vs.root(), &cfg2).map_err(|e| QuantError::Config(e.to_string()))?;
        let mut sim = spec.sim();
        sim.ste = true;
        model.set_activation_hook(Some(sim.hook()));
        Ok(Reparametrised { _vs: vs, model })
    }

    /// Sets every parameter to the quantized merge of `rot` into `base`.
    fn set(
        &mut self,
        base: &Weights,
        cfg: &planform_model::ModelConfig,
        spec: &QuantSpec,
        rot: &ModelRotations,
        ste: bool,
    ) -> Result<()> {
        let (mut w, _) = rot.merge(base, cfg)?;
        spec.fake_quant_weights(&mut w, ste)?;
        for (name, slot) in self.model.parameter_slots_mut() {
            let t = w
                .get(&name)
                .ok_or_else(|| QuantError::Missing(name.clone()))?;
            *slot = t.shallow_clone();
        }
        Ok(())
    }
}

/// Sequences per batch of [`heldout_loss`]. Fixed, because the encoder–decoder's training
/// forward pass lets padding reach the encoder (the reference's unmasked encoder), so the
/// loss depends a little on how sequences are batched.
pub const HELDOUT_BATCH: usize = 32;

/// Mean per-sequence loss of `model` on `seqs` (batches of [`HELDOUT_BATCH`], in order),
/// without gradients.
pub fn heldout_loss(model: &Model, seqs: &[Prepared]) -> Result<f64> {
    let batch = HELDOUT_BATCH;
    if seqs.is_empty() {
        return Err(QuantError::Config("no held-out sequences".into()));
    }
    let mut total = 0.0;
    tch::no_grad(|| -> Result<()> {
        for chunk in seqs.chunks(batch) {
            let b = Batch::collate(chunk, model.family(), model.device()).map_err(train_err)?;
            let out = forward_loss(model, &b, 1.0, Precision::Fp32).map_err(train_err)?;
            total += out.sums.double_value(&[0]);
        }
        Ok(())
    })?;
    Ok(total / seqs.len() as f64)
}

fn train_err(e: planform_train::TrainError) -> QuantError {
    QuantError::Config(format!("training data: {e}"))
}

/// Learns the R1/R2 rotations of `spec` (its `rotation.kind` must be `Learned`) for
/// `model` on `train` sequences, measuring the held-out loss on `heldout`. `progress` sees
/// each step and its loss. Returns the learned rotations (detached, on the model's
/// device, f64) and the report.
pub fn learn_rotations(
    model: &Model,
    spec: &QuantSpec,
    train: &[Prepared],
    heldout: &[Prepared],
    cfg: &LearnConfig,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(ModelRotations, LearnReport)> {
    if spec.rotation.kind != crate::Rotation::Learned {
        return Err(QuantError::Config(format!(
            "learning rotations needs `learned` rotations, not `{}`",
            spec.rotation
        )));
    }
    if train.is_empty() || cfg.batch == 0 || cfg.steps == 0 {
        return Err(QuantError::Config(
            "learning rotations needs training sequences, a batch ≥ 1 and steps ≥ 1".into(),
        ));
    }
    if !(cfg.lr > 0.0 && cfg.lr.is_finite()) {
        return Err(QuantError::Config(format!(
            "learning rate {} must be > 0",
            cfg.lr
        )));
    }
    let device = model.device();
    let base_cfg = model.config();
    let base = weights_of_model(model);
    let mut rot = spec.draw_rotations(&base_cfg)?;
    for (_, r) in rot.matrices_mut() {
        *r = r.to_device(device);
    }
    let heldout_fp = heldout_loss(model, heldout)?;
    let mut net = Reparametrised::new(&base, &base_cfg, spec, &rot, device)?;
    tch::no_grad(|| net.set(&base, &base_cfg, spec, &rot, false))?;
    let heldout_start = heldout_loss(&net.model, heldout)?;

    let mut opts: Vec<CayleySgd> = (0..rot.matrices_mut().len())
        .map(|i| CayleySgd::new(cfg.lr, 0.0, spec.seed ^ (0xCA1E_0000 + i as u64)))
        .collect();
    let mut losses = Vec::with_capacity(cfg.steps);
    for step in 0..cfg.steps {
        let lr =
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / cfg.steps as f64).cos());
        let start = (step * cfg.batch) % train.len();
        let seqs: Vec<Prepared> = (0..cfg.batch)
            .map(|j| train[(start + j) % train.len()].clone())
            .collect();
        let batch = Batch::collate(&seqs, model.family(), device).map_err(train_err)?;
        for (_, r) in rot.matrices_mut() {
            *r = r.detach().set_requires_grad(true);
        }
        net.set(&base, &base_cfg, spec, &rot, true)?;
        let out = forward_loss(&net.model, &batch, 1.0 / batch.rows as f64, Precision::Fp32)
            .map_err(train_err)?;
        out.loss.f_backward()?;
        let loss = out.sums.double_value(&[0]) / batch.rows as f64;
        if !loss.is_finite() {
            return Err(QuantError::Config(format!(
                "step {step}: the loss is {loss}; lower the learning rate"
            )));
        }
        losses.push(loss);
        tch::no_grad(|| -> Result<()> {
            for ((_, r), opt) in rot.matrices_mut().into_iter().zip(&mut opts) {
                let g = r.grad();
                opt.lr = lr.max(1e-12);
                *r = opt.step(r, &g)?;
            }
            Ok(())
        })?;
        progress(step + 1, loss);
    }
    // A final QR retraction puts each R back on the manifold (the reference merges the
    // last iterate as it is; see docs/fidelity.md).
    let (mut drift, mut orthogonality_error): (f64, f64) = (0.0, 0.0);
    for (_, r) in rot.matrices_mut() {
        *r = r.detach();
        drift = drift.max(crate::rotation::orthogonality_error(r));
        *r = crate::rotation::qr_retraction(r);
        orthogonality_error = orthogonality_error.max(crate::rotation::orthogonality_error(r));
    }
    tch::no_grad(|| net.set(&base, &base_cfg, spec, &rot, false))?;
    let heldout_learned = heldout_loss(&net.model, heldout)?;
    let report = LearnReport {
        config: *cfg,
        train_sequences: train.len(),
        heldout_sequences: heldout.len(),
        losses,
        heldout_fp,
        heldout_start,
        heldout_learned,
        retractions: opts.iter().map(|o| o.retractions).sum(),
        drift,
        orthogonality_error,
    };
    Ok((rot, report))
}
