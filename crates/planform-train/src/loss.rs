//! The reference `NextTokenPredictionLoss`: teacher-forced cross-entropy on every decoder
//! position after `bos`, normalised per sequence, then averaged over the batch.

use tch::{Kind, Reduction, Tensor};

use crate::batch::Batch;
use crate::error::Result;

/// Number of entries of [`LossOutput::sums`].
pub const N_SUMS: usize = 9;

/// The objective and the raw sums behind the logged metrics.
pub struct LossOutput {
    /// `Σ_rows per-sequence loss × weight` (differentiable scalar).
    pub loss: Tensor,
    /// Detached float64 sums over the batch, in this order:
    /// 0 Σ per-sequence loss, 1 Σ per-sequence trace loss (rows with a trace),
    /// 2 rows with a trace, 3 Σ per-sequence plan loss, 4 correct target tokens,
    /// 5 target tokens, 6 sequences predicted exactly, 7 rows, 8 sequences whose plan part
    /// (plan tokens and `eos`) is predicted exactly.
    pub sums: Tensor,
}

/// Computes the loss of `logits` (`[B, Ld − 1, V]`, any float kind) for `batch`.
///
/// Per sequence `i`: `ℓ_i = Σ_j ce_ij · m_ij / Σ_j m_ij` with `m` = trace ∪ plan mask; the
/// objective is `weight · Σ_i ℓ_i` (`weight = 1 / B` gives the reference's batch mean; with
/// gradient accumulation pass `1 / (sequences in the optimizer step)`).
///
/// The trace loss averages only over sequences that have a trace: the reference divides
/// 0 by 0 (NaN) for a trace-less sequence in a batch where others have one (Dualformer
/// level 4), and logs 0 when no sequence has one; this logs the mean over the rows that do.
pub fn next_token_loss(logits: &Tensor, batch: &Batch, weight: f64) -> Result<LossOutput> {
    let logits = logits.f_to_kind(Kind::Float)?;
    let size = logits.size();
    let v = *size.last().unwrap_or(&1);
    let ce = logits
        .f_view([-1, v])?
        .f_cross_entropy_loss::<Tensor>(
            &batch.targets.f_view([-1])?,
            None,
            Reduction::None,
            -100,
            0.0,
        )?
        .f_view_as(&batch.targets)?;
    let mask = batch.trace_mask.f_add(&batch.plan_mask)?;
    let per_seq = ce
        .f_mul(&mask)?
        .f_sum_dim_intlist(1, false, Kind::Float)?
        .f_div(&mask.f_sum_dim_intlist(1, false, Kind::Float)?)?;
    let loss = per_seq.f_sum(Kind::Float)?.f_mul_scalar(weight)?;

    let _guard = tch::no_grad_guard();
    let ce = ce.f_detach()?;
    let part = |m: &Tensor| -> Result<(Tensor, Tensor)> {
        let n = m.f_sum_dim_intlist(1, false, Kind::Float)?;
        let s = ce.f_mul(m)?.f_sum_dim_intlist(1, false, Kind::Float)?;
        Ok((s, n))
    };
    let (trace_sum, trace_n) = part(&batch.trace_mask)?;
    let has_trace = trace_n.f_gt(0.0)?;
    let trace_per_seq = trace_sum
        .f_div(&trace_n.f_clamp_min(1.0)?)?
        .f_mul(&has_trace.f_to_kind(Kind::Float)?)?;
    let (plan_sum, plan_n) = part(&batch.plan_mask)?;
    let plan_per_seq = plan_sum.f_div(&plan_n.f_clamp_min(1.0)?)?;
    let correct = logits
        .f_argmax(-1, false)?
        .f_eq_tensor(&batch.targets)?
        .f_to_kind(Kind::Float)?
        .f_mul(&mask)?;
    let correct_per_seq = correct.f_sum_dim_intlist(1, false, Kind::Float)?;
    let n_per_seq = mask.f_sum_dim_intlist(1, false, Kind::Float)?;
    let exact = correct_per_seq
        .f_eq_tensor(&n_per_seq)?
        .f_to_kind(Kind::Float)?;
    let plan_exact = correct
        .f_mul(&batch.plan_mask)?
        .f_sum_dim_intlist(1, false, Kind::Float)?
        .f_eq_tensor(&plan_n)?
        .f_to_kind(Kind::Float)?;
    let d = |t: Tensor| t.f_to_kind(Kind::Double);
    let sums = Tensor::f_stack(
        &[
            d(per_seq.f_detach()?.f_sum(Kind::Float)?)?,
            d(trace_per_seq.f_sum(Kind::Float)?)?,
            d(has_trace.f_sum(Kind::Float)?)?,
            d(plan_per_seq.f_sum(Kind::Float)?)?,
            d(correct_per_seq.f_sum(Kind::Float)?)?,
            d(n_per_seq.f_sum(Kind::Float)?)?,
            d(exact.f_sum(Kind::Float)?)?,
            Tensor::f_from_slice(&[batch.rows as f64])?
                .f_squeeze()?
                .f_to_device(ce.device())?,
            d(plan_exact.f_sum(Kind::Float)?)?,
        ],
        0,
    )?;
    Ok(LossOutput { loss, sums })
}

/// Means derived from accumulated [`LossOutput::sums`].
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossMetrics {
    /// Mean per-sequence loss (the objective).
    pub loss: f64,
    /// Mean per-sequence trace loss over sequences with a trace (0 if none).
    pub loss_trace: f64,
    /// Mean per-sequence plan loss (plan tokens and the final `eos`).
    pub loss_plan: f64,
    /// Teacher-forced token accuracy over all target tokens.
    pub token_acc: f64,
    /// Fraction of sequences whose every target token is predicted (reference
    /// `accuracy.objective`).
    pub seq_acc: f64,
    /// Fraction of sequences whose plan part is predicted exactly (reference
    /// `accuracy.plan`).
    pub plan_acc: f64,
}

impl LossMetrics {
    /// From summed [`LossOutput::sums`] (as host values).
    pub fn from_sums(s: &[f64; N_SUMS]) -> Self {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        LossMetrics {
            loss: div(s[0], s[7]),
            loss_trace: div(s[1], s[2]),
            loss_plan: div(s[3], s[7]),
            token_acc: div(s[4], s[5]),
            seq_acc: div(s[6], s[7]),
            plan_acc: div(s[8], s[7]),
        }
    }
}

/// Copies a sums tensor to the host.
pub fn host_sums(t: &Tensor) -> Result<[f64; N_SUMS]> {
    let v = Vec::<f64>::try_from(t.f_to_device(tch::Device::Cpu)?)?;
    let mut out = [0.0; N_SUMS];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Prepared;
    use tch::Device;

    /// Hand-computed reference: log-softmax by hand with f64 on the same logits.
    #[test]
    fn per_sequence_normalisation_matches_hand_computation() {
        let a = Prepared {
            enc: vec![0, 2, 1],
            dec: vec![0, 3, 2, 1],
            plan_start: 2,
        };
        let b = Prepared {
            enc: vec![0, 1],
            dec: vec![0, 2, 1],
            plan_start: 1,
        };
        let batch =
            Batch::collate(&[a, b], planform_model::Family::EncoderDecoder, Device::Cpu).unwrap();
        let v = 4i64;
        let vals: Vec<f32> = (0..2 * 3 * v)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let logits = Tensor::from_slice(&vals).view([2, 3, v]);
        let out = next_token_loss(&logits, &batch, 0.5).unwrap();
        let ce = |row: usize, pos: usize, tgt: usize| -> f64 {
            let l: Vec<f64> = (0..v as usize)
                .map(|k| vals[(row * 3 + pos) * v as usize + k] as f64)
                .collect();
            let lse = l.iter().map(|x| x.exp()).sum::<f64>().ln();
            lse - l[tgt]
        };
        // Row 0 targets [3, 2, 1] (trace, plan, plan); row 1 targets [2, 1] (plan, plan).
        let r0 = [ce(0, 0, 3), ce(0, 1, 2), ce(0, 2, 1)];
        let r1 = [ce(1, 0, 2), ce(1, 1, 1)];
        let l0 = r0.iter().sum::<f64>() / 3.0;
        let l1 = r1.iter().sum::<f64>() / 2.0;
        let got = out.loss.double_value(&[]);
        assert!(
            (got - 0.5 * (l0 + l1)).abs() < 1e-5,
            "{got} vs {}",
            0.5 * (l0 + l1)
        );
        let m = LossMetrics::from_sums(&host_sums(&out.sums).unwrap());
        assert!((m.loss - (l0 + l1) / 2.0).abs() < 1e-5);
        assert!(
            (m.loss_trace - r0[0]).abs() < 1e-5,
            "only row 0 has a trace"
        );
        let p0 = (r0[1] + r0[2]) / 2.0;
        assert!((m.loss_plan - (p0 + l1) / 2.0).abs() < 1e-5);
        // Accuracy by hand: argmax of each logit row.
        let argmax = |row: usize, pos: usize| -> usize {
            (0..v as usize)
                .max_by(|&i, &j| {
                    vals[(row * 3 + pos) * v as usize + i]
                        .total_cmp(&vals[(row * 3 + pos) * v as usize + j])
                })
                .unwrap()
        };
        let hits0 = [(0, 3), (1, 2), (2, 1)]
            .iter()
            .filter(|&&(p, t)| argmax(0, p) == t)
            .count();
        let hits1 = [(0, 2), (1, 1)]
            .iter()
            .filter(|&&(p, t)| argmax(1, p) == t)
            .count();
        assert!((m.token_acc - (hits0 + hits1) as f64 / 5.0).abs() < 1e-12);
        let exact = (hits0 == 3) as u32 + (hits1 == 2) as u32;
        assert!((m.seq_acc - exact as f64 / 2.0).abs() < 1e-12);
        let plan0 = [(1, 2), (2, 1)].iter().all(|&(p, t)| argmax(0, p) == t) as u32;
        assert!((m.plan_acc - (plan0 + (hits1 == 2) as u32) as f64 / 2.0).abs() < 1e-12);
    }

    #[test]
    fn gradient_flows_only_through_masked_positions() {
        let a = Prepared {
            enc: vec![0, 1],
            dec: vec![0, 2, 1],
            plan_start: 1,
        };
        let b = Prepared {
            enc: vec![0, 1],
            dec: vec![0, 3, 3, 2, 1],
            plan_start: 3,
        };
        let batch =
            Batch::collate(&[a, b], planform_model::Family::EncoderDecoder, Device::Cpu).unwrap();
        let logits = Tensor::zeros([2, 4, 5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let out = next_token_loss(&logits, &batch, 0.5).unwrap();
        // Uniform logits: every token costs ln 5.
        assert!((out.loss.double_value(&[]) - 5f64.ln()).abs() < 1e-6);
        out.loss.backward();
        let g = logits.grad().abs().sum_dim_intlist(2, false, Kind::Float);
        let g = Vec::<f32>::try_from(g.flatten(0, -1)).unwrap();
        // Row 0 has 2 targets, padded positions 2 and 3 get no gradient.
        assert!(
            g[0] > 0.0 && g[1] > 0.0 && g[2] == 0.0 && g[3] == 0.0,
            "{g:?}"
        );
        assert!(g[4..].iter().all(|&x| x > 0.0));
    }
}
