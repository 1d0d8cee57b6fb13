//! Throughput measurements on random weights and random token ids (used by
//! `examples/bench.rs`; `planform bench` can call the same functions).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use crate::config::ModelConfig;
use crate::decode::{generate, DecodeConfig, DecodeStats, Precision, Sampler};
use crate::error::ModelError;
use crate::model::EncoderDecoder;

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// What was measured.
    pub name: String,
    /// Tokens processed in the timed part (see each function for what counts).
    pub tokens: usize,
    /// Wall-clock seconds of the timed part.
    pub seconds: f64,
    /// `tokens / seconds`.
    pub tokens_per_second: f64,
    /// Trainable parameters of the model.
    pub parameters: usize,
    /// Decoding counters, for decode benchmarks.
    pub decode_stats: Option<DecodeStats>,
}

impl BenchResult {
    fn new(
        name: String,
        tokens: usize,
        seconds: f64,
        parameters: usize,
        decode_stats: Option<DecodeStats>,
    ) -> Self {
        BenchResult {
            name,
            tokens,
            seconds,
            tokens_per_second: tokens as f64 / seconds.max(1e-12),
            parameters,
            decode_stats,
        }
    }
}

/// Shape of a training-step benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainBench {
    /// Sequences per step.
    pub batch: usize,
    /// Prompt (encoder) length.
    pub prompt_len: usize,
    /// Decoder length.
    pub decoder_len: usize,
    /// Untimed steps first.
    pub warmup_steps: usize,
    /// Timed steps.
    pub steps: usize,
    /// bf16 autocast (CUDA only; ignored on CPU).
    pub precision: Precision,
}

/// Forward + backward + AdamW step on random tokens (no padding).
/// Counts `batch x (prompt_len + decoder_len)` tokens per step.
pub fn bench_train(
    cfg: &ModelConfig,
    device: Device,
    tb: &TrainBench,
    seed: i64,
) -> Result<BenchResult, ModelError> {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(device);
    let model = EncoderDecoder::new(&vs.root(), cfg)?;
    let mut opt = nn::AdamW {
        beta1: 0.9,
        beta2: 0.99,
        wd: 0.01,
        eps: 1e-8,
        amsgrad: false,
    }
    .build(&vs, 1e-4)?;
    let (b, lp, ld, v) = (
        tb.batch as i64,
        tb.prompt_len as i64,
        tb.decoder_len as i64,
        cfg.vocab_size as i64,
    );
    let enc = Tensor::randint(v, [b, lp], (Kind::Int64, device));
    let mask = Tensor::ones([b, lp], (Kind::Bool, device));
    let seq = Tensor::randint(v, [b, ld + 1], (Kind::Int64, device));
    let (dec_in, target) = (seq.narrow(1, 0, ld), seq.narrow(1, 1, ld));
    let mut step = || -> Result<(), ModelError> {
        let loss = tch::autocast(
            tb.precision == Precision::Bf16Autocast && device.is_cuda(),
            || {
                model.forward(&enc, &mask, &dec_in).map(|logits| {
                    logits
                        .view([-1, v])
                        .cross_entropy_for_logits(&target.reshape([-1]))
                })
            },
        )?;
        opt.zero_grad();
        loss.backward();
        opt.step();
        Ok(())
    };
    for _ in 0..tb.warmup_steps {
        step()?;
    }
    sync(device);
    let start = Instant::now();
    for _ in 0..tb.steps {
        step()?;
    }
    sync(device);
    let seconds = start.elapsed().as_secs_f64();
    let name = format!(
        "train enc {:?} dec {:?} batch {} x ({} + {})",
        cfg.encoder, cfg.decoder, tb.batch, tb.prompt_len, tb.decoder_len
    );
    Ok(BenchResult::new(
        name,
        tb.steps * tb.batch * (tb.prompt_len + tb.decoder_len),
        seconds,
        cfg.trainable_parameters(),
        None,
    ))
}

/// Shape of a decoding benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodeBench {
    /// Number of prompts.
    pub prompts: usize,
    /// Prompt lengths are drawn uniformly from this inclusive range.
    pub prompt_len: (usize, usize),
    /// Decoding settings (`max_rows`, samples, sampler, max_len, ...).
    pub decode: DecodeConfig,
    /// Decode one prompt per `generate` call (the reference's rollout
    /// pattern: all samples of one prompt batched) instead of all at once.
    pub one_prompt_at_a_time: bool,
}

impl DecodeBench {
    /// `prompts` prompts, `samples` multinomial samples each (temperature 1,
    /// bos 0, eos 1), at most `max_len` decoder tokens, `max_rows` rows.
    pub fn new(
        prompts: usize,
        prompt_len: (usize, usize),
        samples: usize,
        max_len: usize,
        max_rows: usize,
    ) -> Self {
        let mut decode = DecodeConfig::new(0, 1, max_len);
        decode.samples_per_prompt = samples;
        decode.sampler = Sampler::Multinomial { temperature: 1.0 };
        decode.max_rows = max_rows;
        DecodeBench {
            prompts,
            prompt_len,
            decode,
            one_prompt_at_a_time: false,
        }
    }
}

/// Decoding throughput with random weights: generated tokens (sampled, not
/// forced) per second, encoder included. Sampling does not depend on
/// batching, so batched and one-at-a-time runs generate the same tokens (up
/// to rare float-rounding flips; compare `tokens` of the two results).
pub fn bench_decode(
    cfg: &ModelConfig,
    device: Device,
    db: &DecodeBench,
    seed: i64,
) -> Result<BenchResult, ModelError> {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(device);
    let model = EncoderDecoder::new(&vs.root(), cfg)?;
    let (lo, hi) = (
        db.prompt_len.0.max(1),
        db.prompt_len.1.max(db.prompt_len.0.max(1)),
    );
    let prompts: Vec<Vec<i64>> = (0..db.prompts)
        .map(|i| {
            let len = lo + (i * 7919) % (hi - lo + 1);
            // Ids 2.. so that random prompts contain no bos/eos.
            (0..len)
                .map(|j| 2 + ((i * 31 + j * 17) % (cfg.vocab_size - 2).max(1)) as i64)
                .collect()
        })
        .collect();
    sync(device);
    let start = Instant::now();
    let mut stats = DecodeStats::default();
    if db.one_prompt_at_a_time {
        for (i, p) in prompts.iter().enumerate() {
            let mut d = db.decode.clone();
            d.first_prompt_index = db.decode.first_prompt_index + i;
            let s = generate(&model, std::slice::from_ref(p), &d)?.stats;
            stats.steps += s.steps;
            stats.row_steps += s.row_steps;
            stats.generated_tokens += s.generated_tokens;
            stats.encoder_batches += s.encoder_batches;
            stats.compactions += s.compactions;
        }
    } else {
        stats = generate(&model, &prompts, &db.decode)?.stats;
    }
    sync(device);
    let seconds = start.elapsed().as_secs_f64();
    let mode = if db.one_prompt_at_a_time {
        "one prompt at a time"
    } else {
        "all prompts batched"
    };
    let name = format!(
        "decode {mode}: {} prompts x {} samples, max_rows {}, max_len {}",
        db.prompts, db.decode.samples_per_prompt, db.decode.max_rows, db.decode.max_len
    );
    Ok(BenchResult::new(
        name,
        stats.generated_tokens,
        seconds,
        cfg.trainable_parameters(),
        Some(stats),
    ))
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}
