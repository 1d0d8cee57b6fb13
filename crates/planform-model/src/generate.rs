//! Batched, KV-cached autoregressive decoding for both model families (reference
//! `EncoderDecoder.rollout` + `searchformer/rollout.py`).
//!
//! Each prompt is the model's context: the encoder input for the encoder–decoder (which
//! then decodes `bos response`), the start of the sequence for the decoder-only model
//! (which continues it with the response). [`Model::frame_prompt`] builds either from a
//! task's prompt tokens (`bos p eos`, resp. `bos p`). Either way a [`Generation`] holds
//! `bos` followed by the response, so scoring does not depend on the family.
//!
//! Many prompts × many samples are decoded together in a bounded set of at
//! most `max_rows` rows. Each row is one (prompt, sample) sequence with its
//! own position; when a row hits `eos` or `max_len` its slot is handed to the
//! next queued sequence (continuous batching), and once the queue is empty
//! idle slots are compacted away, so finished rows stop costing compute.
//! Every prompt is encoded once (in blocks of prompts), with the padding
//! masked in the encoder self-attention, so a prompt's features equal those
//! of the reference rollout, which encodes one unpadded prompt at a time. For the
//! decoder-only model a block of prompts is prefilled at once and each row starts from
//! its prompt's keys/values.
//!
//! Sampling draws one uniform number per (seed, prompt, sample, position)
//! from a counter-based hash and inverts the CDF of the softmax, so results
//! depend neither on global torch RNG state nor on how rows are batched:
//! changing `max_rows` or splitting the prompts over several calls (with
//! [`DecodeConfig::first_prompt_index`]) gives the same samples, up to the
//! rare draw that falls within float rounding (~1e-6) of a CDF boundary,
//! where batch-dependent rounding of the logits can pick the neighbour token.
//! (The reference uses `torch.multinomial` with unseeded global state, so
//! its exact draws cannot be reproduced anyway.)

use planform_core::rng::splitmix64;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::cache::{CrossKv, KvCache, Prefix};
use crate::config::{EncoderAttention, ModelConfig};
use crate::error::ModelError;
use crate::model::Model;
use crate::precision::{with_precision, Precision};

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// `argmax` (first maximum on ties), reference `sample_greedy`.
    Greedy,
    /// Categorical sample from `softmax(logits / temperature)`.
    /// `temperature = 1` is the reference `probability` sampler used in all
    /// paper evaluations. (The reference's optional `temp` argument
    /// *multiplies* the logits, i.e. reference `temp = t` is ours `1/t`.)
    Multinomial {
        /// Softmax temperature, > 0.
        temperature: f64,
    },
}

/// Decoding settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodeConfig {
    /// Begin-of-sequence token id (first decoder input).
    pub bos: i64,
    /// End-of-sequence token id; a row stops after generating it.
    pub eos: i64,
    /// Maximum total decoder length including `bos`, prefix and `eos`
    /// (reference `max_rollout_len`: 10,000 maze, 11,000 / 2,000 Sokoban).
    pub max_len: usize,
    /// Samples per prompt (paper: 64 with the multinomial sampler).
    pub samples_per_prompt: usize,
    /// Next-token rule.
    pub sampler: Sampler,
    /// Tokens forced right after `bos` (Dualformer: `[plan]` fast, `[create]`
    /// slow, `[]` auto; reference `prefix_seq`).
    pub prefix: Vec<i64>,
    /// Most sequences decoded at once (bounds memory: the KV cache holds
    /// `max_rows x max_len` positions per layer at most). Default 256.
    pub max_rows: usize,
    /// Seed of the sampler.
    pub seed: u64,
    /// Sampler key of `prompts[0]`: prompt `i` draws from the stream of
    /// (seed, `first_prompt_index + i`, sample). Lets a caller split a prompt
    /// set into several `generate` calls and get the same samples. Default 0.
    #[serde(default)]
    pub first_prompt_index: usize,
    /// Step precision (applied inside generation). Default fp32.
    #[serde(default)]
    pub precision: Precision,
}

impl DecodeConfig {
    /// Greedy, one sample per prompt, no prefix, 256 rows, seed 0, fp32.
    pub fn new(bos: i64, eos: i64, max_len: usize) -> Self {
        DecodeConfig {
            bos,
            eos,
            max_len,
            samples_per_prompt: 1,
            sampler: Sampler::Greedy,
            prefix: Vec::new(),
            max_rows: 256,
            seed: 0,
            first_prompt_index: 0,
            precision: Precision::Fp32,
        }
    }

    /// Checks the settings against the model configuration.
    pub fn validate(&self, model: &ModelConfig) -> Result<(), ModelError> {
        let vocab = model.vocab_size();
        let check = |name: &'static str, id: i64| {
            if id < 0 || id as usize >= vocab {
                Err(ModelError::TokenOutOfRange { name, id, vocab })
            } else {
                Ok(())
            }
        };
        check("bos", self.bos)?;
        check("eos", self.eos)?;
        self.prefix.iter().try_for_each(|&t| check("prefix", t))?;
        let bad = |m: String| Err(ModelError::Config(m));
        if self.bos == self.eos {
            return bad(format!("decode: bos and eos are both {}", self.bos));
        }
        if self.max_len < 1 + self.prefix.len() {
            return bad(format!(
                "decode: max_len {} cannot hold bos + {} prefix tokens",
                self.max_len,
                self.prefix.len()
            ));
        }
        if self.max_len > model.max_positions() {
            return Err(ModelError::TooLong {
                name: "decode max_len",
                len: self.max_len,
                max: model.max_positions(),
            });
        }
        if self.samples_per_prompt == 0 || self.max_rows == 0 {
            return bad("decode: samples_per_prompt and max_rows must be >= 1".into());
        }
        if let Sampler::Multinomial { temperature } = self.sampler {
            if !(temperature.is_finite() && temperature > 0.0) {
                return bad(format!(
                    "decode: temperature must be finite and > 0, got {temperature}"
                ));
            }
        }
        Ok(())
    }
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The last token is `eos`.
    Eos,
    /// `max_len` tokens without `eos`.
    MaxLen,
}

/// One decoded sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// The full decoder sequence: `bos`, the forced prefix, the generated
    /// tokens and, if [`StopReason::Eos`], the final `eos`. This equals the
    /// reference rollout truncated after its first `eos`.
    pub tokens: Vec<i64>,
    /// Why decoding stopped.
    pub stop: StopReason,
}

impl Generation {
    /// Whether the sequence ended with `eos`.
    pub fn hit_eos(&self) -> bool {
        self.stop == StopReason::Eos
    }
}

/// Work counters of one [`generate`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeStats {
    /// Decoder steps (batched forward calls).
    pub steps: usize,
    /// Sum over steps of the rows computed (idle slots included).
    pub row_steps: usize,
    /// Tokens chosen by the sampler (excludes bos and forced prefix).
    pub generated_tokens: usize,
    /// Encoder calls (blocks of prompts).
    pub encoder_batches: usize,
    /// Times idle rows were compacted away.
    pub compactions: usize,
    /// The dtype the keys/values were computed and cached in (bf16 under
    /// [`Precision::Bf16Autocast`]); `None` if no step ran.
    pub kv_dtype: Option<KvDtype>,
}

/// The dtype of a KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvDtype {
    /// float32.
    F32,
    /// bfloat16.
    Bf16,
    /// float16.
    F16,
    /// Anything else.
    Other,
}

impl From<Kind> for KvDtype {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Float => KvDtype::F32,
            Kind::BFloat16 => KvDtype::Bf16,
            Kind::Half => KvDtype::F16,
            _ => KvDtype::Other,
        }
    }
}

/// Result of [`generate`]: `generations[prompt][sample]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeOutput {
    /// One entry per prompt, each with `samples_per_prompt` sequences.
    pub generations: Vec<Vec<Generation>>,
    /// Work counters.
    pub stats: DecodeStats,
}

/// Decodes `samples_per_prompt` sequences for every prompt (the model's context, see the
/// module docs; [`Model::frame_prompt`] frames a task prompt).
pub fn generate<P: AsRef<[i64]>>(
    model: &Model,
    prompts: &[P],
    cfg: &DecodeConfig,
) -> Result<DecodeOutput, ModelError> {
    let mcfg = model.config();
    cfg.validate(&mcfg)?;
    let vocab = mcfg.vocab_size();
    let max_positions = mcfg.max_positions();
    for p in prompts {
        let p = p.as_ref();
        if p.is_empty() {
            return Err(ModelError::Config("decode: empty prompt".into()));
        }
        // Decoder-only positions run up to `len(p) - 1 + max_len - 1`.
        let len = match mcfg {
            ModelConfig::EncoderDecoder(_) => p.len(),
            ModelConfig::DecoderOnly(_) => p.len() + cfg.max_len - 1,
        };
        if len >= max_positions {
            return Err(ModelError::TooLong {
                name: "prompt (+ max_len for a decoder-only model)",
                len,
                max: max_positions,
            });
        }
        if let Some(&id) = p.iter().find(|&&t| t < 0 || t as usize >= vocab) {
            return Err(ModelError::TokenOutOfRange {
                name: "prompt",
                id,
                vocab,
            });
        }
    }
    let prompts: Vec<&[i64]> = prompts.iter().map(|p| p.as_ref()).collect();
    with_precision(cfg.precision, model.device(), || {
        tch::no_grad(|| Scheduler::new(model, &prompts, cfg).run())
    })
}

/// One live sequence in a batch row.
struct Row {
    prompt: usize,
    sample: usize,
    /// `bos` then the response so far.
    tokens: Vec<i64>,
    /// Model position of the first step's input: 0 for the encoder–decoder (the decoder
    /// starts with `bos`), `len(context) - 1` for the decoder-only model (it continues from
    /// the last context token).
    base: i64,
    /// The token fed at position `base`: `bos`, or the last context token.
    first: i64,
}

impl Row {
    /// The token fed at this step and its position.
    fn fed(&self) -> (i64, i64) {
        let n = self.tokens.len();
        let token = if n == 1 {
            self.first
        } else {
            self.tokens[n - 1]
        };
        (token, self.base + n as i64 - 1)
    }
}

/// What rows of prompts `start..end` start from.
struct PromptBlock {
    start: usize,
    end: usize,
    state: BlockState,
}

enum BlockState {
    /// Encoder–decoder: cross-attention keys/values.
    Cross(CrossKv),
    /// Decoder-only: keys/values of `bos prompt[..-1]`.
    Prefix(Prefix),
}

struct Scheduler<'a> {
    model: &'a Model,
    prompts: &'a [&'a [i64]],
    cfg: &'a DecodeConfig,
    device: Device,
    /// Longest prompt.
    prompt_len: usize,
    /// Prompts per encoder call.
    block_prompts: usize,
    next_row: usize,
    total_rows: usize,
    slots: Vec<Option<Row>>,
    cache: Option<KvCache>,
    block: Option<PromptBlock>,
    done: Vec<Vec<Option<Generation>>>,
    stats: DecodeStats,
}

impl<'a> Scheduler<'a> {
    fn new(model: &'a Model, prompts: &'a [&'a [i64]], cfg: &'a DecodeConfig) -> Self {
        let samples = cfg.samples_per_prompt;
        let total_rows = prompts.len() * samples;
        Scheduler {
            model,
            prompts,
            cfg,
            device: model.device(),
            prompt_len: prompts.iter().map(|p| p.len()).max().unwrap_or(1),
            block_prompts: cfg
                .max_rows
                .div_ceil(samples)
                .clamp(1, prompts.len().max(1)),
            next_row: 0,
            total_rows,
            slots: (0..cfg.max_rows.min(total_rows)).map(|_| None).collect(),
            cache: None,
            block: None,
            done: prompts.iter().map(|_| vec![None; samples]).collect(),
            stats: DecodeStats::default(),
        }
    }

    fn run(mut self) -> Result<DecodeOutput, ModelError> {
        loop {
            self.admit()?;
            if self.slots.iter().all(Option::is_none) {
                break;
            }
            self.compact();
            self.step()?;
        }
        let generations = self
            .done
            .into_iter()
            .map(|per_prompt| {
                per_prompt
                    .into_iter()
                    .map(|g| {
                        g.ok_or_else(|| {
                            ModelError::Config("decode: internal: row never finished".into())
                        })
                    })
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        Ok(DecodeOutput {
            generations,
            stats: self.stats,
        })
    }

    /// Fills idle slots with queued sequences, encoding prompts as needed.
    fn admit(&mut self) -> Result<(), ModelError> {
        let free: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].is_none())
            .collect();
        let mut free = free.into_iter();
        let (mut slot_ids, mut src_rows) = (Vec::new(), Vec::new());
        while self.next_row < self.total_rows {
            let prompt = self.next_row / self.cfg.samples_per_prompt;
            let sample = self.next_row % self.cfg.samples_per_prompt;
            let p = self.prompts[prompt];
            let row = match self.model {
                Model::EncoderDecoder(_) => Row {
                    prompt,
                    sample,
                    tokens: vec![self.cfg.bos],
                    base: 0,
                    first: self.cfg.bos,
                },
                Model::DecoderOnly(_) => Row {
                    prompt,
                    sample,
                    tokens: vec![self.cfg.bos],
                    base: p.len() as i64 - 1,
                    first: p[p.len() - 1],
                },
            };
            if row.tokens.len() >= self.cfg.max_len {
                // max_len == 1: nothing to decode.
                self.next_row += 1;
                self.done[prompt][sample] = Some(Generation {
                    tokens: row.tokens,
                    stop: StopReason::MaxLen,
                });
                continue;
            }
            let Some(slot) = free.next() else { break };
            if !matches!(&self.block, Some(b) if b.start <= prompt && prompt < b.end) {
                self.flush_admissions(&mut slot_ids, &mut src_rows);
                self.prepare_block(prompt)?;
            }
            let start = self.block.as_ref().map_or(0, |b| b.start);
            self.next_row += 1;
            self.slots[slot] = Some(row);
            slot_ids.push(slot as i64);
            src_rows.push((prompt - start) as i64);
        }
        self.flush_admissions(&mut slot_ids, &mut src_rows);
        Ok(())
    }

    /// Points the cache rows of newly admitted slots at their prompts.
    fn flush_admissions(&mut self, slot_ids: &mut Vec<i64>, src_rows: &mut Vec<i64>) {
        if let (Some(cache), Some(block)) = (self.cache.as_mut(), self.block.as_ref()) {
            if !slot_ids.is_empty() {
                let slots = Tensor::from_slice(slot_ids).to(self.device);
                let rows = Tensor::from_slice(src_rows).to(self.device);
                match &block.state {
                    BlockState::Cross(cross) => cache.replace_rows(&slots, cross, &rows),
                    BlockState::Prefix(prefix) => cache.write_prefix(&slots, prefix, &rows),
                }
            }
        }
        slot_ids.clear();
        src_rows.clear();
    }

    /// Prepares prompts `first..first + block_prompts`: encoder–decoder: encodes them
    /// (padded, padding masked) and projects the cross-attention keys/values; decoder-only:
    /// prefills all but their last token (padded).
    fn prepare_block(&mut self, first: usize) -> Result<(), ModelError> {
        let end = (first + self.block_prompts).min(self.prompts.len());
        let framed: Vec<&[i64]> = self.prompts[first..end]
            .iter()
            .map(|p| match self.model {
                Model::EncoderDecoder(_) => *p,
                Model::DecoderOnly(_) => &p[..p.len() - 1],
            })
            .collect();
        // Encoder inputs are padded to the longest of all prompts, so that the cross-attention
        // rows of every block line up in the cache; a decoder-only block to its own longest
        // (at least one position).
        let longest = match self.model {
            Model::EncoderDecoder(_) => self.prompt_len,
            Model::DecoderOnly(_) => framed.iter().map(|p| p.len()).max().unwrap_or(1).max(1),
        };
        let (n, l) = (framed.len() as i64, longest as i64);
        let mut ids = vec![0i64; (n * l) as usize];
        let mut mask = vec![false; (n * l) as usize];
        for (i, p) in framed.iter().enumerate() {
            let row = i * l as usize;
            ids[row..row + p.len()].copy_from_slice(p);
            mask[row..row + p.len()].iter_mut().for_each(|m| *m = true);
        }
        let ids = Tensor::from_slice(&ids).view([n, l]).to(self.device);
        let rows = self.slots.len();
        let state = match self.model {
            Model::EncoderDecoder(m) => {
                let mask = Tensor::from_slice(&mask).view([n, l]).to(self.device);
                let memory = m.encode_with(&ids, &mask, EncoderAttention::PaddingMasked)?;
                let cross = m.cross_kv(&memory, &mask)?;
                if self.cache.is_none() {
                    // All slots start pointing at row 0; admission overwrites them.
                    let zeros = Tensor::zeros([rows as i64], (Kind::Int64, self.device));
                    self.cache = Some(KvCache::new(
                        cross.select(&zeros),
                        self.cfg.max_len.min(256),
                    ));
                }
                BlockState::Cross(cross)
            }
            Model::DecoderOnly(m) => {
                if self.cache.is_none() {
                    self.cache = Some(KvCache::decoder_only(
                        rows,
                        m.depth(),
                        self.prompt_len + self.cfg.max_len.min(256),
                    ));
                }
                BlockState::Prefix(m.prefill(&ids)?)
            }
        };
        self.block = Some(PromptBlock {
            start: first,
            end,
            state,
        });
        self.stats.encoder_batches += 1;
        Ok(())
    }

    /// Once nothing is queued, drops idle rows when at least 1/8 are idle.
    fn compact(&mut self) {
        let idle = self.slots.iter().filter(|s| s.is_none()).count();
        if self.next_row < self.total_rows || idle == 0 || idle * 8 < self.slots.len() {
            return;
        }
        let keep: Vec<i64> = (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .map(|i| i as i64)
            .collect();
        if let Some(cache) = self.cache.as_mut() {
            cache.select_rows(&Tensor::from_slice(&keep).to(self.device));
        }
        self.slots.retain(Option::is_some);
        self.stats.compactions += 1;
    }

    /// One decoder step for every row; appends a token to each live row.
    fn step(&mut self) -> Result<(), ModelError> {
        let cfg = self.cfg;
        let cache = self
            .cache
            .as_mut()
            .ok_or_else(|| ModelError::Config("decode: internal: no cache".into()))?;
        let fed = |s: &Option<Row>| s.as_ref().map_or((cfg.bos, 0), Row::fed);
        let (tokens, positions): (Vec<i64>, Vec<i64>) = self.slots.iter().map(fed).unzip();
        let logits = self.model.decode_step(cache, &tokens, &positions)?; // [B,V]
        if self.stats.kv_dtype.is_none() {
            self.stats.kv_dtype = cache.dtype().map(KvDtype::from);
        }
        let uniforms: Vec<f64> = self
            .slots
            .iter()
            .map(|s| {
                s.as_ref().map_or(0.5, |r| {
                    uniform(
                        cfg.seed,
                        cfg.first_prompt_index + r.prompt,
                        r.sample,
                        r.tokens.len(),
                    )
                })
            })
            .collect();
        let next = sample(&logits, cfg.sampler, &uniforms)?;
        self.stats.steps += 1;
        self.stats.row_steps += self.slots.len();
        for (slot, &sampled) in self.slots.iter_mut().zip(&next) {
            let Some(row) = slot.as_mut() else { continue };
            let n = row.tokens.len();
            let token = if n <= cfg.prefix.len() {
                cfg.prefix[n - 1]
            } else {
                self.stats.generated_tokens += 1;
                sampled
            };
            row.tokens.push(token);
            let stop = if token == cfg.eos {
                Some(StopReason::Eos)
            } else if row.tokens.len() >= cfg.max_len {
                Some(StopReason::MaxLen)
            } else {
                None
            };
            if let Some(stop) = stop {
                if let Some(row) = slot.take() {
                    self.done[row.prompt][row.sample] = Some(Generation {
                        tokens: row.tokens,
                        stop,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Next token per row of `logits [B,V]`; `uniforms[b]` in (0,1) drives the
/// categorical draw by inverting the CDF (fp64).
fn sample(logits: &Tensor, sampler: Sampler, uniforms: &[f64]) -> Result<Vec<i64>, ModelError> {
    let idx = match sampler {
        Sampler::Greedy => logits.argmax(-1, false),
        Sampler::Multinomial { temperature } => {
            let (b, v) = logits.size2()?;
            let cdf = (logits.to_kind(Kind::Double) / temperature)
                .softmax(-1, Kind::Double)
                .cumsum(-1, Kind::Double); // [B,V]
            let u = Tensor::from_slice(uniforms)
                .to(logits.device())
                .view([b, 1])
                * cdf.narrow(1, v - 1, 1);
            cdf.lt_tensor(&u)
                .sum_dim_intlist(-1, false, Kind::Int64)
                .clamp_max(v - 1)
        }
    };
    Ok(Vec::<i64>::try_from(&idx.to(Device::Cpu))?)
}

/// SplitMix64 finaliser: one output of the generator with state `z`.
fn mix(mut z: u64) -> u64 {
    splitmix64(&mut z)
}

/// Uniform in (0,1) for the token at `position` of (prompt, sample).
fn uniform(seed: u64, prompt: usize, sample: usize, position: usize) -> f64 {
    let h = [prompt as u64, sample as u64, position as u64]
        .into_iter()
        .fold(mix(seed), |h, x| mix(h ^ x));
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_cdf_sampling_matches_probabilities() {
        // logits ln(1), ln(2), ln(3), ln(4) -> p = 0.1, 0.2, 0.3, 0.4; counts of
        // 20,000 hashed uniforms must match within 4 standard errors.
        let logits = Tensor::from_slice(&[1f32, 2., 3., 4.])
            .log()
            .view([1, 4])
            .repeat([20_000, 1]);
        let u: Vec<f64> = (0..20_000).map(|i| uniform(7, 0, i, 3)).collect();
        let draws = sample(&logits, Sampler::Multinomial { temperature: 1.0 }, &u).unwrap();
        for (k, p) in [0.1, 0.2, 0.3, 0.4].into_iter().enumerate() {
            let f = draws.iter().filter(|&&d| d == k as i64).count() as f64 / 20_000.0;
            assert!(
                (f - p).abs() < 4.0 * (p * (1.0 - p) / 20_000.0f64).sqrt(),
                "token {k}: {f} vs {p}"
            );
        }
        // Temperature 0.5 squares the odds: p ∝ 1,4,9,16.
        let draws = sample(&logits, Sampler::Multinomial { temperature: 0.5 }, &u).unwrap();
        let f3 = draws.iter().filter(|&&d| d == 3).count() as f64 / 20_000.0;
        assert!((f3 - 16.0 / 30.0).abs() < 0.015, "{f3}");
        // Greedy takes the first maximum.
        let tie = Tensor::from_slice(&[0f32, 5., 5., 1.]).view([1, 4]);
        assert_eq!(sample(&tie, Sampler::Greedy, &[0.5]).unwrap(), vec![1]);
    }

    #[test]
    fn uniforms_are_in_open_interval_and_keyed() {
        let a = uniform(1, 2, 3, 4);
        assert!(a > 0.0 && a < 1.0);
        assert_eq!(a, uniform(1, 2, 3, 4));
        assert_ne!(a, uniform(2, 2, 3, 4));
        assert_ne!(a, uniform(1, 3, 2, 4));
    }
}
