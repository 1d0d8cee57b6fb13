//! `bench decode`: KV-cached sampling throughput of [`planform_model::generate`] with many
//! prompts × many samples in one batch, against one prompt at a time (the reference's scheme:
//! the 64 samples of one prompt per rollout) and against a PyTorch-eager re-statement of the
//! reference rollout loop (`bench/decode_pytorch.py`, encoder–decoder with random weights
//! only) in the same run. Either model family.

use std::path::PathBuf;
use std::time::Instant;

use planform_model::{
    generate, DecodeConfig, DeviceChoice, Family, Model, ModelConfig, Precision, Sampler,
};
use planform_trace::vocab::{BOS, EOS};
use serde::Deserialize;
use serde_json::json;

use crate::anchors::Anchors;
use crate::device::{device_name, precision_label, resolve_device, set_threads, sync};
use crate::error::{BenchError, Result};
use crate::machine::Machine;
use crate::python::TorchPython;
use crate::report::decode::{DecodeReport, DecodeRun, RolloutFigure};
use crate::shape::{family_name, BenchModel};
use crate::train::PyTorchComparison;

mod model;

use model::load;
pub use model::{random_model, task_prompts, Loaded};

/// Head scale that makes `eos` unreachable with [`Lengths::Full`] (see there).
pub const EOS_SCALE: f64 = 200.0;

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeWeights {
    /// Random weights of this model (from the seed), over the prompts' vocabulary.
    Random(BenchModel),
    /// Trained weights: a run, checkpoints or checkpoint directory (either family).
    Checkpoint(PathBuf),
}

/// Where the prompts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptSource {
    /// N×N maze tasks generated in memory, the first task of each wall layout (`None`: 10,
    /// or the checkpoint's maze size); random weights use that maze's vocabulary.
    Maze(Option<u32>),
    /// A dataset directory (test split, else training split).
    Dataset(PathBuf),
}

/// How long the sampled sequences are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lengths {
    /// Every row decodes `max_len` tokens: the random output head is scaled by
    /// [`EOS_SCALE`] and its `eos` row zeroed, so the `eos` logit (0) sits far below the
    /// largest logit and is never drawn. Same work for every stack. Random weights only. (A
    /// decoder-only model with tied embeddings scales its input embeddings with the head.)
    Full,
    /// Rows stop at their first sampled `eos` (random weights: about 1 in `vocab` per step).
    Natural,
}

/// What `bench decode` measures. Defaults: random `tiny` encoder–decoder weights, 10×10 maze
/// prompts, 16 prompts × 64 samples, max_len 500, 1024 rows, 2 serial prompts, full lengths
/// with random weights (natural with a checkpoint), CPU, fp32, one thread per core, PyTorch
/// comparison on, seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeBenchConfig {
    /// The weights.
    pub weights: DecodeWeights,
    /// The prompts.
    pub prompt_source: PromptSource,
    /// Prompts decoded together in the batched run.
    pub prompts: usize,
    /// Samples per prompt (paper: 64).
    pub samples: usize,
    /// Maximum decoder length including `bos` (the anchors: 500 for `s`, 1000 for `m-s`).
    pub max_len: usize,
    /// Most rows decoded at once in the batched run.
    pub max_rows: usize,
    /// Prompts decoded one at a time (the reference's scheme), by planform and by the PyTorch
    /// rollout: the first N prompts.
    pub serial_prompts: usize,
    /// Sequence lengths (`None`: full with random weights, natural with a checkpoint).
    pub lengths: Option<Lengths>,
    /// Device.
    pub device: DeviceChoice,
    /// Precision of planform's decoder steps (bf16 autocast needs CUDA). The PyTorch rollout
    /// runs fp32, as the reference.
    pub precision: Precision,
    /// libtorch intra-op threads, also given to PyTorch (0 = one per core).
    pub threads: usize,
    /// The PyTorch rollout.
    pub pytorch: PyTorchComparison,
    /// planform's decoding self-attention: `None` exact, or MagicPIG's LSH sampling (the
    /// PyTorch rollout stays exact).
    pub attention: Option<planform_quant::lsh_attention::LshAttention>,
    /// Integer matmul of a stored 8-bit checkpoint's linears (`--int8-matmul`).
    pub int8_matmul: bool,
    /// Seed of weights, prompts and sampling.
    pub seed: u64,
    /// The command line shown in the report.
    pub command: String,
}

impl Default for DecodeBenchConfig {
    fn default() -> Self {
        DecodeBenchConfig {
            weights: DecodeWeights::Random(BenchModel::default()),
            prompt_source: PromptSource::Maze(None),
            prompts: 16,
            samples: 64,
            max_len: 500,
            max_rows: 1024,
            serial_prompts: 2,
            lengths: None,
            device: DeviceChoice::Cpu,
            precision: Precision::Fp32,
            threads: 0,
            pytorch: PyTorchComparison::Run { python: None },
            attention: None,
            int8_matmul: false,
            seed: 0,
            command: String::new(),
        }
    }
}

fn decode_config(cfg: &DecodeBenchConfig, max_rows: usize, first_prompt: usize) -> DecodeConfig {
    let mut c = DecodeConfig::new(BOS as i64, EOS as i64, cfg.max_len);
    c.samples_per_prompt = cfg.samples;
    c.sampler = Sampler::Multinomial { temperature: 1.0 };
    c.max_rows = max_rows;
    c.seed = cfg.seed;
    c.first_prompt_index = first_prompt;
    c.precision = cfg.precision;
    c
}

/// planform's [`generate`] on `prompts` (the model's contexts, [`Model::frame_prompt`]): all
/// in one call (`batched`, at most `max_rows` rows), or one call per prompt with `samples`
/// rows (the reference's scheme).
pub fn measure_generate(
    model: &Model,
    cfg: &DecodeBenchConfig,
    prompts: &[Vec<i64>],
    batched: bool,
) -> Result<DecodeRun> {
    let device = model.device();
    let rows = if batched {
        cfg.max_rows.min(prompts.len() * cfg.samples)
    } else {
        cfg.samples
    };
    let mut run = DecodeRun::new(
        if batched {
            "planform, all prompts batched"
        } else {
            "planform, one prompt at a time"
        },
        prompts.len(),
        cfg.samples,
        rows,
    );
    sync(device);
    let start = Instant::now();
    let calls: Vec<(usize, &[Vec<i64>])> = if batched {
        vec![(0, prompts)]
    } else {
        (0..prompts.len()).map(|i| (i, &prompts[i..=i])).collect()
    };
    for (first, p) in calls {
        let out = generate(model, p, &decode_config(cfg, rows, first))?;
        run.generated_tokens += out.stats.generated_tokens as u64;
        run.steps += out.stats.steps as u64;
        run.row_steps += out.stats.row_steps as u64;
    }
    sync(device);
    run.seconds = start.elapsed().as_secs_f64();
    Ok(run)
}

/// What `bench/decode_pytorch.py` prints.
#[derive(Debug, Deserialize)]
struct PyDecode {
    stack: String,
    generated_tokens: u64,
    steps: u64,
    row_steps: u64,
    seconds: f64,
}

/// The PyTorch reference-style rollout (`bench/decode_pytorch.py`) on `prompts` (`bos p
/// eos`), one prompt at a time, with its own random weights of the same encoder–decoder
/// shape.
pub fn measure_pytorch(
    py: &TorchPython,
    m: &Loaded,
    cfg: &DecodeBenchConfig,
    threads: usize,
    prompts: &[Vec<i64>],
    full: bool,
) -> Result<DecodeRun> {
    let ModelConfig::EncoderDecoder(model) = &m.config else {
        return Err(BenchError::Config(
            "the PyTorch rollout has the encoder-decoder only".into(),
        ));
    };
    let spec = json!({
        "model": model,
        "device": if m.model.device().is_cuda() { "cuda" } else { "cpu" },
        "threads": threads,
        "seed": cfg.seed,
        "samples": cfg.samples,
        "max_len": cfg.max_len,
        "bos": BOS,
        "eos": EOS,
        "lengths": if full { "full" } else { "natural" },
        "eos_scale": EOS_SCALE,
        "prompts": prompts,
    });
    let o: PyDecode = py.run("decode_pytorch.py", &spec)?;
    let mut run = DecodeRun::new(&o.stack, prompts.len(), cfg.samples, cfg.samples);
    run.generated_tokens = o.generated_tokens;
    run.steps = o.steps;
    run.row_steps = o.row_steps;
    run.seconds = o.seconds;
    Ok(run)
}

/// Runs `bench decode`; `progress` receives one line per stage.
pub fn run_decode(cfg: &DecodeBenchConfig, progress: &mut dyn FnMut(&str)) -> Result<DecodeReport> {
    if cfg.prompts == 0 || cfg.samples == 0 || cfg.max_len < 2 || cfg.max_rows == 0 {
        return Err(BenchError::Config(
            "--prompts, --samples and --max-rows must be >= 1 and --max-len >= 2".into(),
        ));
    }
    let anchors = Anchors::embedded()?;
    let device = resolve_device(cfg.device, cfg.precision)?;
    let threads = set_threads(cfg.threads);
    let mut machine = Machine::now();
    let random = matches!(cfg.weights, DecodeWeights::Random(_));
    let lengths = match (cfg.lengths, random) {
        (Some(Lengths::Full), false) => {
            return Err(BenchError::Config(
                "--lengths full needs random weights (it rescales the output head)".into(),
            ))
        }
        (Some(l), _) => l,
        (None, false) => Lengths::Natural,
        (None, true) => Lengths::Full,
    };
    let full = lengths == Lengths::Full;
    let mut m = load(cfg, device, full)?;
    let lsh = cfg.attention.map(|a| {
        let stats = std::sync::Arc::new(planform_quant::lsh_attention::LshStats::default());
        m.model.set_decode_kernel(Some(a.kernel(stats.clone())));
        (a, stats)
    });
    let family = m.model.family();
    let (tasks, prompt_source) = task_prompts(&cfg.prompt_source, &m.vocab, cfg.prompts, cfg.seed)?;
    let all_prompts: Vec<Vec<i64>> = tasks
        .iter()
        .map(|p| {
            let p: Vec<i64> = p.iter().map(|&t| t as i64).collect();
            m.model.frame_prompt(&p, BOS as i64, EOS as i64)
        })
        .collect();
    let serial = &all_prompts[..cfg.serial_prompts.min(all_prompts.len())];
    let py = match (&cfg.pytorch, random, family) {
        (PyTorchComparison::Skip, _, _) => Err("skipped (--no-pytorch)".to_string()),
        (_, false, _) => Err("skipped (trained weights; the script uses random ones)".into()),
        (_, _, Family::DecoderOnly) => {
            Err("skipped (the PyTorch rollout has the encoder-decoder only)".into())
        }
        (PyTorchComparison::Run { python }, true, Family::EncoderDecoder) => {
            TorchPython::locate(python.as_deref(), "decode_pytorch.py").map_err(|e| e.to_string())
        }
    };
    if let Err(why) = &py {
        progress(&format!("PyTorch rollout: {why}"));
    }
    let (model_name, size) = match &cfg.weights {
        DecodeWeights::Checkpoint(_) => ("checkpoint".to_string(), None),
        DecodeWeights::Random(b) => (b.to_string(), b.size()),
    };
    progress(&format!(
        "{} {model_name} ({} parameters) on {}, {}, {threads} threads; {} prompts × {} \
         samples, max_len {}",
        family_name(family),
        m.config.trainable_parameters(),
        device_name(device),
        precision_label(cfg.precision),
        cfg.prompts,
        cfg.samples,
        cfg.max_len
    ));
    // Warm-up (allocator, kernels, CUDA context): a short untimed decode.
    let mut warm = decode_config(cfg, 2, 0);
    warm.samples_per_prompt = 2;
    warm.max_len = cfg.max_len.min(8);
    generate(&m.model, &all_prompts[..1], &warm)?;

    let mut runs = Vec::new();
    progress(&format!(
        "planform, {} prompts batched ...",
        all_prompts.len()
    ));
    runs.push(measure_generate(&m.model, cfg, &all_prompts, true)?);
    if !serial.is_empty() {
        progress(&format!(
            "planform, {} prompts one at a time ...",
            serial.len()
        ));
        runs.push(measure_generate(&m.model, cfg, serial, false)?);
    }
    let mut pytorch_error = None;
    if let (Ok(py), false) = (&py, serial.is_empty()) {
        progress(&format!(
            "PyTorch reference-style rollout, {} prompts ...",
            serial.len()
        ));
        match measure_pytorch(py, &m, cfg, threads, serial, full) {
            Ok(r) => runs.push(r),
            Err(e) => {
                progress(&format!("PyTorch rollout failed: {e}"));
                pytorch_error = Some(e.to_string());
            }
        }
    }
    machine.finish();
    let anchor = size
        .filter(|_| device.is_cuda())
        .and_then(|s| anchors.rollout(s))
        .map(|a| RolloutFigure {
            tokens_per_s: a.tokens_per_s,
            steps: a.steps,
            goal_factor: a.goal_factor,
        });
    Ok(DecodeReport {
        command: cfg.command.clone(),
        machine,
        device: device_name(device),
        precision: precision_label(cfg.precision).into(),
        threads,
        family: family_name(family).into(),
        model: model_name,
        parameters: m.config.trainable_parameters(),
        vocab: m.config.vocab_size(),
        weights: m.weights.clone(),
        prompts: prompt_source,
        prompt_len: (
            all_prompts.iter().map(Vec::len).min().unwrap_or(0),
            all_prompts.iter().map(Vec::len).max().unwrap_or(0),
        ),
        max_len: cfg.max_len,
        lengths: if full { "full" } else { "natural" }.into(),
        attention: match &lsh {
            None => "exact".into(),
            Some((a, stats)) => {
                let (offloaded, read) = stats.totals();
                format!(
                    "`{a}` (MagicPIG LSH sampling; {:.2}% of {offloaded} offloaded keys read)",
                    100.0 * read as f64 / offloaded.max(1) as f64
                )
            }
        },
        pytorch: match &py {
            Ok(p) => p.describe(),
            Err(why) => format!("not run: {why}"),
        },
        pytorch_error,
        anchor,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_trace::Vocabulary;
    use tch::Device;

    fn cfg(max_len: usize) -> DecodeBenchConfig {
        DecodeBenchConfig {
            prompts: 3,
            samples: 4,
            max_len,
            max_rows: 64,
            threads: 1,
            pytorch: PyTorchComparison::Skip,
            seed: 3,
            ..DecodeBenchConfig::default()
        }
    }

    fn framed(m: &Model, tasks: &[Vec<u32>]) -> Vec<Vec<i64>> {
        tasks
            .iter()
            .map(|p| {
                let p: Vec<i64> = p.iter().map(|&t| t as i64).collect();
                m.frame_prompt(&p, 0, 1)
            })
            .collect()
    }

    #[test]
    fn full_lengths_never_sample_eos_and_count_every_token() {
        let vocab = Vocabulary::maze(10, 10).unwrap();
        let (tasks, _) = task_prompts(&PromptSource::Maze(None), &vocab, 3, 3).unwrap();
        for family in [Family::EncoderDecoder, Family::DecoderOnly] {
            let c = cfg(40);
            let model = BenchModel::parse(family, "16x1x2").unwrap();
            let m = random_model(model, vocab.clone(), Device::Cpu, 3, true).unwrap();
            let p = framed(&m.model, &tasks);
            let batched = measure_generate(&m.model, &c, &p, true).unwrap();
            // Every row runs to max_len: 3 prompts × 4 samples × 39 sampled tokens.
            assert_eq!(batched.generated_tokens, 3 * 4 * 39, "{family:?}");
            let serial = measure_generate(&m.model, &c, &p[..2], false).unwrap();
            assert_eq!(serial.generated_tokens, 2 * 4 * 39);
            assert_eq!(serial.rows, 4);
        }
        // Natural lengths with random weights: eos does occur (p ≈ 1/118 per step; the
        // chance that none of 12 rows × 400 steps draws it is negligible).
        let c = cfg(400);
        let model = BenchModel::parse(Family::EncoderDecoder, "16x1x2").unwrap();
        let m = random_model(model, vocab.clone(), Device::Cpu, 3, false).unwrap();
        let natural = measure_generate(&m.model, &c, &framed(&m.model, &tasks), true).unwrap();
        assert!(natural.generated_tokens < 3 * 4 * 399);
    }

    #[test]
    fn trained_weights_refuse_full_lengths() {
        let c = DecodeBenchConfig {
            weights: DecodeWeights::Checkpoint("/nonexistent".into()),
            lengths: Some(Lengths::Full),
            ..cfg(10)
        };
        let e = run_decode(&c, &mut |_| {}).unwrap_err().to_string();
        assert!(e.contains("random weights"), "{e}");
    }
}
