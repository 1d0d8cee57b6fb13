//! The Coconut forward pass (`coconut.py: Coconut.forward`): with at most `n` continuous
//! thoughts in a batch, `n + 1` sequential passes of [`DecoderOnly::hidden`] over one
//! functional [`KvState`]:
//!
//! ```text
//! pass 0:      columns [0, s)                      (s = the aligned first thought)
//! pass j:      column s+j-1   for j = 1..n-1       (one column)
//! pass n:      columns [s+n-1, T)                  (the rest)
//! before the pass that reads column s+j, rows with more than j thoughts get as that
//! column's input embedding the final-normed last hidden state of column s+j-1 (scattered with
//! `where`, no in-place write), so gradients flow through the whole chain
//! ```
//!
//! The concatenated hidden states equal one full pass over the final input embeddings
//! (tested). Methods without continuous thoughts take the single pass (`n = 0`).

use planform_model::{DecoderOnly, KvState};
use tch::{Kind, Reduction, Tensor};

use crate::batch::Batch;
use crate::error::{CoconutError, Result};
use crate::layout::IGNORE;

/// What [`latent_forward`] returns.
#[derive(Debug)]
pub struct LatentOutput {
    /// Last hidden states `[B, T, D]` (before the final norm).
    pub hidden: Tensor,
    /// The input embeddings after the thoughts were filled in, `[B, T, D]`.
    pub inputs: Tensor,
    /// Keys/values of all `T` columns.
    pub state: KvState,
    /// Forward passes made (`n + 1`).
    pub passes: usize,
}

/// The multi-pass forward of `batch` (see the module docs).
pub fn latent_forward(model: &DecoderOnly, batch: &Batch) -> Result<LatentOutput> {
    let emb = model.embed(&batch.ids)?;
    let n = batch.max_latents();
    let t = batch.width as i64;
    let keep = &batch.keep;
    let s = match (n, batch.first_latent) {
        (0, _) => None,
        (_, Some(s)) if s >= 1 && s + n <= t => Some(s),
        (_, first) => {
            return Err(CoconutError::Data(format!(
                "batch with {n} thoughts has its first thought at column {first:?} of {t}"
            )))
        }
    };
    let Some(s) = s else {
        let (hidden, state) = model.hidden(&emb, None, Some(keep))?;
        return Ok(LatentOutput {
            hidden,
            inputs: emb,
            state,
            passes: 1,
        });
    };
    let device = emb.device();
    let (h0, mut state) = model.hidden(&emb.narrow(1, 0, s), None, Some(&keep.narrow(1, 0, s)))?;
    // The thought is the final-normed last hidden state, as the reference's
    // `outputs.hidden_states[-1]` (GPT-2 appends it after `ln_f`).
    let mut last = model.final_norm(&h0.narrow(1, s - 1, 1));
    let mut hidden = vec![h0];
    let mut inputs = vec![emb.narrow(1, 0, s)];
    for j in 0..n {
        let col = s + j;
        let has: Vec<bool> = batch.latents.iter().map(|&c| j < c).collect();
        let has = Tensor::from_slice(&has)
            .to_kind(Kind::Bool)
            .to(device)
            .view([-1, 1, 1]);
        let x = last.where_self(&has, &emb.narrow(1, col, 1));
        inputs.push(x.shallow_clone());
        let (x, upto) = if j + 1 < n {
            (x, col + 1)
        } else {
            let rest = emb.narrow(1, col + 1, t - col - 1);
            inputs.push(rest.shallow_clone());
            (Tensor::cat(&[x, rest], 1), t)
        };
        let (h, next) = model.hidden(&x, Some(&state), Some(&keep.narrow(1, 0, upto)))?;
        last = model.final_norm(&h.narrow(1, 0, 1));
        hidden.push(h);
        state = next;
    }
    Ok(LatentOutput {
        hidden: Tensor::cat(&hidden, 1),
        inputs: Tensor::cat(&inputs, 1),
        state,
        passes: n as usize + 1,
    })
}

/// Loss sums of a batch.
#[derive(Debug)]
pub struct LossOut {
    /// Mean next-token cross-entropy over every labelled position of the batch (the
    /// reference's `CrossEntropyLoss()`), differentiable.
    pub loss: Tensor,
    /// Labelled positions.
    pub tokens: i64,
    /// Of those, predicted (argmax) correctly.
    pub correct: i64,
}

/// Shifted next-token loss of `logits [B,T,V]` against `labels [B,T]` (`-100` ignored).
pub fn lm_loss(logits: &Tensor, labels: &Tensor) -> Result<LossOut> {
    let (b, t, v) = logits.size3()?;
    let pred = logits.narrow(1, 0, t - 1).reshape([b * (t - 1), v]);
    let target = labels.narrow(1, 1, t - 1).reshape([b * (t - 1)]);
    let loss = pred.f_cross_entropy_loss::<Tensor>(&target, None, Reduction::Mean, IGNORE, 0.0)?;
    let _guard = tch::no_grad_guard();
    let mask = target.ne(IGNORE);
    let tokens = mask.sum(Kind::Int64).int64_value(&[]);
    let correct = pred
        .argmax(-1, false)
        .eq_tensor(&target)
        .logical_and(&mask)
        .sum(Kind::Int64)
        .int64_value(&[]);
    Ok(LossOut {
        loss,
        tokens,
        correct,
    })
}
