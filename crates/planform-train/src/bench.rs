//! Training-throughput measurement on synthetic batches, using the same batch collation,
//! loss and optimizer code as [`crate::Trainer`].

use std::time::Instant;

use planform_model::{EncoderDecoder, ModelConfig};
use tch::nn::VarStore;
use tch::Device;

use crate::batch::Batch;
use crate::config::Precision;
use crate::data::Prepared;
use crate::error::{Result, TrainError};
use crate::loss::next_token_loss;
use crate::optim::{AdamWConfig, Algorithm, Optimizer};
use crate::precision::{prepare, with_autocast};
use planform_core::rng::Rng;

/// What to measure.
#[derive(Clone, Debug)]
pub struct TrainBench {
    /// Model.
    pub model: ModelConfig,
    /// Sequences per batch.
    pub batch: usize,
    /// Encoder length (`bos prompt eos`) of every sequence.
    pub enc_len: usize,
    /// Decoder length (`bos … eos`) of every sequence.
    pub dec_len: usize,
    /// Timed optimizer steps.
    pub steps: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Device.
    pub device: Device,
    /// Precision.
    pub precision: Precision,
    /// Seed of weights and tokens.
    pub seed: u64,
}

/// Measured throughput.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainBenchResult {
    /// Trainable parameters.
    pub parameters: usize,
    /// Mean seconds per optimizer step.
    pub step_secs: f64,
    /// Encoder + decoder tokens per second.
    pub tokens_per_sec: f64,
    /// Decoder tokens per second.
    pub dec_tokens_per_sec: f64,
    /// Loss of the last step (sanity).
    pub last_loss: f64,
}

/// Random token sequences of fixed lengths (ids in `2..vocab`, `bos`/`eos` at the ends).
pub fn synthetic_batch(
    vocab: usize,
    rows: usize,
    enc_len: usize,
    dec_len: usize,
    seed: u64,
) -> Vec<Prepared> {
    let mut rng = Rng::new(seed);
    let mut tok = |n: usize| -> Vec<u32> {
        let mut v = vec![0u32];
        v.extend((0..n.saturating_sub(2)).map(|_| 2 + rng.below(vocab as u64 - 2) as u32));
        v.push(1);
        v
    };
    (0..rows)
        .map(|_| {
            let enc = tok(enc_len);
            let dec = tok(dec_len);
            Prepared {
                enc,
                dec,
                plan_start: dec_len / 2,
            }
        })
        .collect()
}

/// Runs `warmup + steps` AdamW steps on one fixed synthetic batch and times the last `steps`.
pub fn bench_train(cfg: &TrainBench) -> Result<TrainBenchResult> {
    prepare(cfg.precision, cfg.device)?;
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(cfg.device);
    let model = EncoderDecoder::new(&vs.root(), &cfg.model)
        .map_err(|e| TrainError::invalid("model", e.to_string()))?;
    let mut opt = Optimizer::for_var_store(Algorithm::AdamW, AdamWConfig::default(), &vs);
    let seqs = synthetic_batch(
        cfg.model.vocab_size,
        cfg.batch,
        cfg.enc_len,
        cfg.dec_len,
        cfg.seed,
    );
    let batch = Batch::collate(&seqs, cfg.device)?;
    let mut last = 0.0;
    let mut t0 = Instant::now();
    for i in 0..cfg.warmup + cfg.steps {
        if i == cfg.warmup {
            if cfg.device.is_cuda() {
                tch::Cuda::synchronize(cuda_index(cfg.device));
            }
            t0 = Instant::now();
        }
        opt.zero_grad();
        let logits = with_autocast(cfg.precision, || {
            model.forward(&batch.enc_ids, &batch.enc_mask, &batch.dec_in)
        })?;
        let out = next_token_loss(&logits, &batch, 1.0 / batch.rows as f64)?;
        out.loss.f_backward()?;
        opt.step(1e-4)?;
        if i + 1 == cfg.warmup + cfg.steps {
            last = out.loss.double_value(&[]);
        }
    }
    if cfg.device.is_cuda() {
        tch::Cuda::synchronize(cuda_index(cfg.device));
    }
    let secs = t0.elapsed().as_secs_f64();
    let step_secs = secs / cfg.steps.max(1) as f64;
    Ok(TrainBenchResult {
        parameters: cfg.model.trainable_parameters(),
        step_secs,
        tokens_per_sec: (cfg.batch * (cfg.enc_len + cfg.dec_len)) as f64 / step_secs,
        dec_tokens_per_sec: (cfg.batch * cfg.dec_len) as f64 / step_secs,
        last_loss: last,
    })
}

fn cuda_index(d: Device) -> i64 {
    match d {
        Device::Cuda(i) => i as i64,
        _ => 0,
    }
}
