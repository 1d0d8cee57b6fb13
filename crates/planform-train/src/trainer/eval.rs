//! Held-out loss.

use super::*;

impl Trainer {
    pub(super) fn eval_batches(&mut self) -> Result<&Vec<Vec<Prepared>>> {
        if self.eval_batches.is_none() {
            let prepared = self
                .data
                .test
                .iter()
                .map(|r| self.builder.prepare(r, &self.data.vocab, 0))
                .collect::<Result<Vec<_>>>()?;
            let lengths: Vec<(usize, usize)> = prepared
                .iter()
                .map(|p| (p.enc.len(), p.dec.len()))
                .collect();
            let mut order: Vec<usize> = (0..prepared.len()).collect();
            order.sort_by_key(|&i| (lengths[i].1, lengths[i].0, i));
            // Sorted once, then cut greedily like the training batches.
            let mut cut = Vec::new();
            crate::sampler::cut(&order, &lengths, &self.cfg.batch, &mut cut);
            let batches: Vec<Vec<Prepared>> = cut
                .into_iter()
                .map(|b| b.into_iter().map(|i| prepared[i].clone()).collect())
                .collect();
            self.eval_batches = Some(batches);
        }
        self.eval_batches
            .as_ref()
            .ok_or_else(|| TrainError::Data("no eval batches".into()))
    }

    /// Loss metrics on the held-out examples (no gradients), and how many were evaluated.
    pub fn evaluate(&mut self) -> Result<(LossMetrics, u64)> {
        self.eval_batches()?;
        let batches: Vec<Vec<Prepared>> = self.eval_batches.take().unwrap_or_default();
        let result = self.evaluate_batches(&batches);
        self.eval_batches = Some(batches);
        result
    }

    fn evaluate_batches(&self, batches: &[Vec<Prepared>]) -> Result<(LossMetrics, u64)> {
        let _guard = tch::no_grad_guard();
        let mut sums = Tensor::zeros([N_SUMS as i64], (Kind::Double, self.device));
        let mut n = 0u64;
        for seqs in batches {
            let batch = Batch::collate(seqs, self.model.family(), self.device)?;
            let out = self.forward_loss(&batch, 1.0)?;
            let _ = sums.f_add_(&out.sums)?;
            n += batch.rows as u64;
        }
        Ok((LossMetrics::from_sums(&host_sums(&sums)?), n))
    }

    pub(super) fn evaluate_and_log(&mut self) -> Result<()> {
        if self.data.test.is_empty() {
            return Ok(());
        }
        let t0 = Instant::now();
        let (metrics, n) = self.evaluate()?;
        if !metrics.loss.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                what: "held-out",
                step: self.step,
                loss: metrics.loss,
                lr: self.cfg.optim.lr,
            });
        }
        let rec = EvalRecord {
            step: self.step,
            metrics,
            sequences: n,
            secs: t0.elapsed().as_secs_f64(),
            elapsed_secs: self.elapsed(),
        };
        self.write_record(&MetricsRecord::Eval(rec.clone()))?;
        self.last_eval = Some(rec);
        Ok(())
    }
}
