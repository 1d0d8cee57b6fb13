//! The one training step, used by the training loop and by every benchmark.
//!
//! ```text
//! zero the gradients
//! for each micro-batch of the step:
//!     logits = model(batch)                  under the run's precision
//!     loss   = Σ_rows per-sequence loss / (sequences in the whole step)
//!     loss.backward()                        gradients accumulate
//! optimizer.step(lr)
//! ```
//!
//! The step's objective is therefore the mean per-sequence loss over all its sequences, as
//! one large batch would give (gradient accumulation is exact up to float summation order).
//!
//! With an optimizer in per-layer mode ([`Optimizer::per_layer`]: GaLore's per-layer
//! updates) the update happens inside the backward pass instead, each parameter as soon as
//! its gradient is complete; that needs exactly one micro-batch per step.

use planform_model::{with_precision, Model, Precision};
use planform_optim::Optimizer;
use tch::Tensor;

use crate::batch::Batch;
use crate::error::{Result, TrainError};
use crate::loss::{next_token_loss, LossOutput};

/// What one step did.
#[derive(Debug)]
pub struct StepStats {
    /// Each micro-batch's [`LossOutput::sums`] (float64, on the model's device), in order
    /// (kept apart so that a running total adds them one by one, as the loop always has).
    pub sums: Vec<Tensor>,
    /// Sequences.
    pub rows: usize,
    /// Real (non-padding) tokens.
    pub real_tokens: usize,
    /// Allocated token slots.
    pub padded_tokens: usize,
}

/// Forward pass and loss of one batch (weight as in [`next_token_loss`]).
pub fn forward_loss(
    model: &Model,
    batch: &Batch,
    weight: f64,
    precision: Precision,
) -> Result<LossOutput> {
    let logits = with_precision(precision, model.device(), || model.forward(&batch.input))?;
    next_token_loss(&logits, batch, weight)
}

/// One optimizer step over `micro` (at least one micro-batch) with learning rate `lr`.
pub fn train_step(
    model: &Model,
    opt: &mut Optimizer,
    micro: &[Batch],
    lr: f64,
    precision: Precision,
) -> Result<StepStats> {
    let n_step: usize = micro.iter().map(|b| b.rows).sum();
    let mut stats = StepStats {
        sums: Vec::with_capacity(micro.len()),
        rows: 0,
        real_tokens: 0,
        padded_tokens: 0,
    };
    opt.zero_grad();
    if opt.per_layer() {
        let [batch] = micro else {
            return Err(TrainError::invalid(
                "batch.accumulation",
                format!(
                    "per-layer optimizer updates need one micro-batch per step, not {}",
                    micro.len()
                ),
            ));
        };
        let out = forward_loss(model, batch, 1.0 / n_step as f64, precision)?;
        opt.begin_per_layer_step(lr)?;
        let backward = out.loss.f_backward();
        // The hooks' own error first: it names the parameter.
        opt.end_per_layer_step()?;
        backward?;
        stats.sums.push(out.sums);
        stats.rows += batch.rows;
        stats.real_tokens += batch.real_tokens;
        stats.padded_tokens += batch.padded_tokens;
        return Ok(stats);
    }
    for batch in micro {
        let out = forward_loss(model, batch, 1.0 / n_step as f64, precision)?;
        out.loss.f_backward()?;
        stats.sums.push(out.sums);
        stats.rows += batch.rows;
        stats.real_tokens += batch.real_tokens;
        stats.padded_tokens += batch.padded_tokens;
    }
    opt.step(lr)?;
    Ok(stats)
}
