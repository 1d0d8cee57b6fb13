//! Decode k responses per task with the model and score them: the path shared by
//! evaluation and bootstrapping (reference `rollout.py` + `evaluate_rollout`).

use std::time::Instant;

use planform_model::{generate, DecodeConfig, Model, Precision, Sampler};
use planform_trace::vocab::{Vocabulary, BOS, EOS};
use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::error::{EvalError, Result};
use crate::score::{score_task, Response, Retention, TaskInput, TaskResult};

/// Each `generate` call gets enough tasks for about this many times `batch_rows`
/// sequences: the calls keep the decode batch full by continuous batching, and progress
/// is reported between calls. Sampling is keyed by (seed, task index, sample,
/// position), so the chunking changes no token.
pub const CHUNK_BATCHES: usize = 8;

/// How to sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleConfig {
    /// Responses per task, k (reference: 64).
    pub samples: usize,
    /// Forced first token (Dualformer modes).
    pub mode: Mode,
    /// Next-token rule (reference: temperature-1 multinomial).
    pub sampler: Sampler,
    /// Maximum decoder length, `bos`, prefix and `eos` included.
    pub max_len: usize,
    /// Sequences decoded at once.
    pub batch_rows: usize,
    /// Sampler seed.
    pub seed: u64,
    /// Sampler key of `tasks[0]`: task `i` draws from the stream of
    /// `(seed, first_index + i, sample)`, so a caller can split a prompt set into
    /// several calls and get the same responses. Default 0.
    pub first_index: usize,
    /// Decoder step precision.
    pub precision: Precision,
    /// Which response tokens the results keep.
    pub retention: Retention,
}

impl SampleConfig {
    /// Reference sampling (64 samples, temperature 1, auto mode) with `max_len`, 256
    /// rows, seed 0, fp32, no tokens kept.
    pub fn new(max_len: usize) -> Self {
        SampleConfig {
            samples: 64,
            mode: Mode::Auto,
            sampler: Sampler::Multinomial { temperature: 1.0 },
            max_len,
            batch_rows: 256,
            seed: 0,
            first_index: 0,
            precision: Precision::Fp32,
            retention: Retention::None,
        }
    }
}

/// Progress of [`sample_and_score`], reported after each chunk of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    /// Tasks decoded and scored.
    pub tasks_done: usize,
    /// Tasks in the call.
    pub tasks_total: usize,
    /// Tokens generated so far (excludes `bos` and forced prefixes).
    pub generated_tokens: usize,
    /// Seconds since the call started.
    pub elapsed_secs: f64,
}

impl Progress {
    /// Generated tokens per second so far.
    pub fn tokens_per_sec(&self) -> f64 {
        self.generated_tokens as f64 / self.elapsed_secs.max(1e-9)
    }
}

/// Scored responses plus decoding work.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    /// One result per task, in input order.
    pub results: Vec<TaskResult>,
    /// Tokens chosen by the sampler (excludes `bos` and forced prefixes).
    pub generated_tokens: usize,
    /// Wall seconds of decoding and scoring.
    pub seconds: f64,
}

fn to_u32(tokens: Vec<i64>) -> Vec<u32> {
    // Generated ids lie in 0..vocab; anything else maps to an id no vocabulary has.
    tokens
        .into_iter()
        .map(|t| u32::try_from(t).unwrap_or(u32::MAX))
        .collect()
}

/// Decodes `cfg.samples` responses for every task with `model` and scores them.
/// `vocab` must be the model's vocabulary.
pub fn sample_and_score(
    model: &Model,
    vocab: &Vocabulary,
    tasks: &[TaskInput],
    cfg: &SampleConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Sampled> {
    if model.vocab_size() != vocab.len() {
        return Err(EvalError::Responses(format!(
            "model vocabulary size {} differs from the task vocabulary ({} tokens)",
            model.vocab_size(),
            vocab.len()
        )));
    }
    let mut dcfg = DecodeConfig::new(i64::from(BOS), i64::from(EOS), cfg.max_len);
    dcfg.samples_per_prompt = cfg.samples;
    dcfg.sampler = cfg.sampler;
    dcfg.prefix = cfg.mode.prefix(vocab)?.into_iter().map(i64::from).collect();
    dcfg.max_rows = cfg.batch_rows;
    dcfg.seed = cfg.seed;
    dcfg.precision = cfg.precision;
    dcfg.validate(&model.config())?;

    let start = Instant::now();
    let chunk = (CHUNK_BATCHES * cfg.batch_rows.max(1))
        .div_ceil(cfg.samples.max(1))
        .max(1);
    let mut results = Vec::with_capacity(tasks.len());
    let mut generated = 0usize;
    let report = |done: usize, generated: usize| Progress {
        tasks_done: done,
        tasks_total: tasks.len(),
        generated_tokens: generated,
        elapsed_secs: start.elapsed().as_secs_f64(),
    };
    progress(&report(0, 0));
    for (c, block) in tasks.chunks(chunk).enumerate() {
        dcfg.first_prompt_index = cfg.first_index + c * chunk;
        let prompts: Vec<Vec<i64>> = block
            .iter()
            .map(|t| {
                let prompt: Vec<i64> = t.prompt.iter().map(|&x| i64::from(x)).collect();
                model.frame_prompt(&prompt, i64::from(BOS), i64::from(EOS))
            })
            .collect();
        let out = generate(model, &prompts, &dcfg)?;
        generated += out.stats.generated_tokens;
        for (task, gens) in block.iter().zip(out.generations) {
            let responses = gens
                .into_iter()
                .map(|g| Response {
                    tokens: to_u32(g.tokens),
                    stop: g.stop,
                })
                .collect();
            results.push(score_task(task, vocab, responses, cfg.retention));
        }
        progress(&report(results.len(), generated));
    }
    Ok(Sampled {
        results,
        generated_tokens: generated,
        seconds: start.elapsed().as_secs_f64(),
    })
}
