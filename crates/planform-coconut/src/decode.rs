//! Batched greedy decoding with continuous thoughts (the reference decodes one question
//! at a time: `Coconut.generate` asserts batch size 1).
//!
//! Prompts with the same number of thoughts are decoded together: left-padded so they all
//! end in the last column (their thoughts then share columns too), the prompt runs through
//! the same multi-pass forward as training ([`latent_forward`]), then one column per step
//! over the functional key/value state with the new token's key kept. A row stops at
//! `<eos>` or after `max_new_tokens`; outputs do not depend on the batching (tested against
//! one question at a time).

use std::collections::BTreeMap;

use planform_model::DecoderOnly;
use tch::{Kind, Tensor};

use crate::batch::{collate, Align};
use crate::error::Result;
use crate::forward::latent_forward;
use crate::layout::Sequence;
use crate::vocab::CoconutVocab;

/// One decoded answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Generated language tokens, without the final `<eos>`.
    pub tokens: Vec<i64>,
    /// Whether `<eos>` was generated.
    pub ended: bool,
    /// Continuous thoughts in the prompt.
    pub thoughts: usize,
}

/// Indices of `prompts` grouped by thought count, in chunks of at most `batch_size`.
fn chunks(prompts: &[Sequence], batch_size: usize) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in prompts.iter().enumerate() {
        groups.entry(p.latents()).or_default().push(i);
    }
    groups
        .into_values()
        .flat_map(|g| {
            g.chunks(batch_size.max(1))
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Greedy decoding of every prompt.
pub fn decode(
    model: &DecoderOnly,
    vocab: &CoconutVocab,
    prompts: &[Sequence],
    max_new_tokens: usize,
    batch_size: usize,
) -> Result<Vec<Decoded>> {
    let _guard = tch::no_grad_guard();
    let device = model.device();
    let mut out: Vec<Option<Decoded>> = vec![None; prompts.len()];
    for idx in chunks(prompts, batch_size) {
        let seqs: Vec<Sequence> = idx.iter().map(|&i| prompts[i].clone()).collect();
        let batch = collate(&seqs, vocab.pad, Align::End, device);
        let fwd = latent_forward(model, &batch)?;
        let t = batch.width as i64;
        let mut logits = model.head(&fwd.hidden.narrow(1, t - 1, 1)).squeeze_dim(1);
        let mut state = fwd.state;
        let mut keep = batch.keep.shallow_clone();
        let b = idx.len();
        let mut rows: Vec<Decoded> = seqs
            .iter()
            .map(|s| Decoded {
                tokens: Vec::new(),
                ended: false,
                thoughts: s.latents(),
            })
            .collect();
        for step in 0..max_new_tokens {
            let next: Vec<i64> = Vec::try_from(logits.argmax(-1, false))?;
            for (r, &tok) in rows.iter_mut().zip(&next) {
                if r.ended {
                    continue;
                }
                if tok == vocab.eos {
                    r.ended = true;
                } else {
                    r.tokens.push(tok);
                }
            }
            if rows.iter().all(|r| r.ended) || step + 1 == max_new_tokens {
                break;
            }
            let ids = Tensor::from_slice(&next).to(device).view([b as i64, 1]);
            keep = Tensor::cat(
                &[keep, Tensor::ones([b as i64, 1], (Kind::Bool, device))],
                1,
            );
            let (h, next_state) = model.hidden(&model.embed(&ids)?, Some(&state), Some(&keep))?;
            state = next_state;
            logits = model.head(&h).squeeze_dim(1);
        }
        for (i, r) in idx.into_iter().zip(rows) {
            out[i] = Some(r);
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// Log-probabilities of the token after each prompt, `[N, V]` (the frontier probe reads
/// them after forced thoughts).
pub fn next_token_logprobs(
    model: &DecoderOnly,
    vocab: &CoconutVocab,
    prompts: &[Sequence],
    batch_size: usize,
) -> Result<Tensor> {
    let _guard = tch::no_grad_guard();
    if prompts.is_empty() {
        let v = vocab.len() as i64;
        return Ok(Tensor::zeros([0, v], (Kind::Float, model.device())));
    }
    let mut rows: Vec<Option<Tensor>> = (0..prompts.len()).map(|_| None).collect();
    for idx in chunks(prompts, batch_size) {
        let seqs: Vec<Sequence> = idx.iter().map(|&i| prompts[i].clone()).collect();
        let batch = collate(&seqs, vocab.pad, Align::End, model.device());
        let fwd = latent_forward(model, &batch)?;
        let t = batch.width as i64;
        let lp = model
            .head(&fwd.hidden.narrow(1, t - 1, 1))
            .squeeze_dim(1)
            .log_softmax(-1, Kind::Float);
        for (r, i) in idx.into_iter().enumerate() {
            rows[i] = Some(lp.get(r as i64));
        }
    }
    let rows: Vec<Tensor> = rows.into_iter().flatten().collect();
    Ok(Tensor::stack(&rows, 0))
}
