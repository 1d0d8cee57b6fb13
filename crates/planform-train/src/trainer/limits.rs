//! Checks that keep a run from crashing or writing garbage: the memory a micro-batch's
//! logits need (estimated before allocating), finite weights before a checkpoint, and a
//! data cursor that fits the epoch plan.

use super::*;
use crate::rundir::{available_memory, human_bytes};
use planform_model::Family;

/// Copies of the logits alive at the peak of a training step (logits, log-softmax output,
/// their gradient): the lower bound the estimate uses.
pub(super) const TRAIN_LOGIT_COPIES: u64 = 3;
/// The same without gradients (held-out loss).
pub(super) const EVAL_LOGIT_COPIES: u64 = 2;
/// The share of available memory the logits may take (weights, activations and the rest
/// need the remainder).
const MEMORY_SHARE: f64 = 0.8;

/// Why a micro-batch of `rows` sequences of up to `len` predicted tokens over `vocab`
/// tokens cannot fit in `available` bytes, if it cannot. `what` names the batch.
pub(super) fn batch_memory_error(
    what: &str,
    rows: u64,
    len: u64,
    vocab: u64,
    copies: u64,
    available: u64,
    batch: &crate::config::BatchConfig,
) -> Option<String> {
    let logits = rows
        .saturating_mul(len)
        .saturating_mul(vocab)
        .saturating_mul(4);
    let need = logits.saturating_mul(copies);
    let budget = (available as f64 * MEMORY_SHARE) as u64;
    if need <= budget {
        return None;
    }
    // Tokens (rows × length) that fit, as a `batch.max_tokens` suggestion.
    let per_token = vocab.saturating_mul(4).saturating_mul(copies).max(1);
    let fit = budget / per_token;
    let advice = if fit >= len {
        format!(
            "lower `batch.sequences` (now {}) or set `batch.max_tokens` (e.g. {fit})",
            batch.sequences
        )
    } else {
        format!(
            "even one sequence of {len} tokens needs {}: use shorter sequences (e.g. \
             `data.max_reasoning_len`), a smaller vocabulary, or a machine with more memory",
            human_bytes(len * per_token)
        )
    };
    Some(format!(
        "the largest {what} ({rows} sequences × {len} tokens × a vocabulary of {vocab}) has \
         {} of logits, and needs about {} ({copies} copies, a lower bound); {} is available; \
         {advice}",
        human_bytes(logits),
        human_bytes(need),
        human_bytes(available)
    ))
}

impl Trainer {
    /// Refuses (before anything is allocated) a run whose largest training or held-out
    /// micro-batch cannot fit in the memory available. CPU only: on CUDA an out-of-memory
    /// error is reported by libtorch itself.
    pub(super) fn check_memory(&mut self) -> Result<()> {
        if self.device != Device::Cpu {
            return Ok(());
        }
        let Some(available) = available_memory() else {
            return Ok(());
        };
        let vocab = self.model_cfg.vocab_size() as u64;
        let family = self.model.family();
        let predicted = move |(enc, dec): (usize, usize)| match family {
            Family::EncoderDecoder => dec as u64,
            Family::DecoderOnly => (enc + dec) as u64,
        };
        let epoch = self.cursor.epoch;
        let lengths = self.epoch_lengths(epoch)?;
        let largest = |batches: &mut dyn Iterator<Item = Vec<(usize, usize)>>| {
            batches
                .map(|b| {
                    let len = b.iter().map(|&l| predicted(l)).max().unwrap_or(0);
                    (b.len() as u64, len)
                })
                .max_by_key(|&(rows, len)| rows * len)
        };
        let plan = self.epoch_plan(epoch)?.clone();
        let train = largest(&mut plan.iter().map(|b| b.iter().map(|&i| lengths[i]).collect()));
        if let Some((rows, len)) = train {
            let copies = TRAIN_LOGIT_COPIES;
            if let Some(m) = batch_memory_error(
                "training micro-batch",
                rows,
                len,
                vocab,
                copies,
                available,
                &self.cfg.batch,
            ) {
                return Err(TrainError::Memory(m));
            }
        }
        if !self.data.test.is_empty() {
            let batches = self.eval_batches()?;
            let eval = largest(
                &mut batches
                    .iter()
                    .map(|b| b.iter().map(|p| (p.enc.len(), p.dec.len())).collect()),
            );
            if let Some((rows, len)) = eval {
                if let Some(m) = batch_memory_error(
                    "held-out batch",
                    rows,
                    len,
                    vocab,
                    EVAL_LOGIT_COPIES,
                    available,
                    &self.cfg.batch,
                ) {
                    return Err(TrainError::Memory(m));
                }
            }
        }
        Ok(())
    }

    /// Refuses to go on from weights that are not all finite (the first bad one named).
    pub(super) fn check_weights_finite(&self) -> Result<()> {
        let mut vars: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in vars {
            if !bool::try_from(t.f_isfinite()?.f_all()?)? {
                return Err(TrainError::NonFiniteWeights {
                    step: self.step,
                    tensor: name,
                    lr: self.cfg.optim.lr,
                });
            }
        }
        Ok(())
    }

    /// Checks a restored data cursor against the epoch plan: its epoch cannot be later
    /// than the micro-batches taken so far allow, and its batch must lie in that epoch.
    pub(super) fn check_cursor(&mut self, dir: &Path) -> Result<()> {
        let c = self.cursor;
        let taken = self.step.saturating_mul(self.cfg.batch.accumulation as u64);
        let bad = |reason: String| Err(TrainError::checkpoint(dir.join(STATE), reason));
        if c.epoch > taken {
            return bad(format!(
                "data cursor epoch {} is impossible after {} steps of {} micro-batches",
                c.epoch, self.step, self.cfg.batch.accumulation
            ));
        }
        let batches = self.epoch_plan(c.epoch)?.len();
        if c.batch > batches {
            return bad(format!(
                "data cursor batch {} is past the {batches} batches of epoch {}",
                c.batch, c.epoch
            ));
        }
        Ok(())
    }
}

const STATE: &str = crate::checkpoint::STATE_FILE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BatchConfig;

    #[test]
    fn the_sokoban_logits_of_the_report_are_refused_with_advice() {
        // 7×7 Sokoban, tiny model: 16 sequences × 2,406 tokens × 40,016 tokens ≈ 6.16 GB
        // of logits; 20 GB available is not enough for three copies.
        let batch = BatchConfig::default();
        let gb = 1_000_000_000u64;
        let m = batch_memory_error("training micro-batch", 16, 2406, 40016, 3, 20 * gb, &batch)
            .expect("refused");
        assert!(m.contains("6.16 GB of logits"), "{m}");
        assert!(m.contains("18.49 GB"), "{m}");
        assert!(m.contains("`batch.sequences` (now 16)"), "{m}");
        let tokens: u64 = m
            .rsplit("`batch.max_tokens` (e.g. ")
            .next()
            .and_then(|t| t.split(')').next())
            .and_then(|t| t.parse().ok())
            .expect("a max_tokens suggestion");
        // The suggestion fits: three copies of its logits take at most 80% of 20 GB.
        assert!(tokens * 40016 * 4 * 3 <= 16 * gb, "{tokens}");
        assert!(tokens >= 2406, "{tokens}");
        // With 64 GB it fits.
        assert!(
            batch_memory_error("training micro-batch", 16, 2406, 40016, 3, 64 * gb, &batch)
                .is_none()
        );
        // One sequence that cannot fit at all gets other advice.
        let m = batch_memory_error("held-out batch", 1, 1 << 30, 40016, 2, 20 * gb, &batch)
            .expect("refused");
        assert!(m.contains("even one sequence"), "{m}");
        // Absurd sizes do not overflow.
        assert!(batch_memory_error("b", u64::MAX, u64::MAX, u64::MAX, 3, 1, &batch).is_some());
    }
}
