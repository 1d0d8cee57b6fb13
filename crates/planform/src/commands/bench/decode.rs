//! `planform bench decode`: KV-cached sampling throughput of `planform_model::generate` with
//! many prompts × many samples in one batch, against one prompt at a time (the reference's
//! scheme: the 64 samples of one prompt per rollout) and against a PyTorch-eager re-statement
//! of the reference rollout loop (`bench/decode_pytorch.py`) in the same run.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use planform_data::{Dataset, Split};
use planform_model::{generate, DecodeConfig, EncoderDecoder, ModelConfig, Sampler};
use planform_trace::vocab::VocabularySpec;
use planform_trace::{MazeGenConfig, MazeGenerator, Rng, SearchMode, Vocabulary};
use planform_train::DeviceChoice;
use serde::Deserialize;
use serde_json::json;
use tch::nn::VarStore;
use tch::Device;

use super::clock::Machine;
use super::common::{device_name, resolve_device, set_threads, sync, ModelShape, PrecisionArg};
use super::decode_report::{self, DecodeReport, DecodeRun};
use super::report::write_atomic;
use super::torch_py::TorchPython;

/// Head scale that makes `eos` unreachable in [`LengthsArg::Full`] (see there).
const EOS_SCALE: f64 = 200.0;
/// Name of the decoder's output projection in the var store (reference `state_dict` name).
const HEAD: &str = "decoder.output.1.weight";

/// How long the sampled sequences are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LengthsArg {
    /// Every row decodes `max_len` tokens: the random output head is scaled by 200 and its
    /// `eos` row zeroed, so the `eos` logit (0) sits hundreds below the largest logit and is
    /// never drawn. Same work for every stack. Random weights only.
    Full,
    /// Rows stop at their first sampled `eos` (random weights: about 1 in `vocab` per step).
    Natural,
}

/// Arguments of `planform bench decode`.
#[derive(Debug, Args)]
pub struct DecodeBenchArgs {
    /// Model with random weights: tiny, mini, s, m-s, l, xl-2, or DIMxLAYERSxHEADS.
    #[arg(long, default_value = "tiny")]
    pub model: ModelShape,
    /// Trained weights instead: a run, checkpoints or checkpoint directory (`--model` is
    /// then ignored; the PyTorch comparison, which needs random weights, is skipped).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Prompts from N×N maze tasks generated in memory (default 10, or the checkpoint's maze
    /// size); the vocabulary of random weights is that maze's.
    #[arg(long, conflicts_with = "data")]
    pub maze: Option<u32>,
    /// Prompts from a dataset directory (test split, else training split) instead.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Prompts decoded together in the batched run.
    #[arg(long, default_value_t = 16)]
    pub prompts: usize,
    /// Samples per prompt (paper: 64).
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// Maximum decoder length including `bos` (the anchors: 500 for `s`, 1000 for `m-s`).
    #[arg(long, default_value_t = 500)]
    pub max_len: usize,
    /// Most rows decoded at once in the batched run.
    #[arg(long, default_value_t = 1024)]
    pub max_rows: usize,
    /// Prompts decoded one at a time (the reference's scheme), by planform and by the
    /// PyTorch rollout: the first N prompts.
    #[arg(long, default_value_t = 2)]
    pub serial_prompts: usize,
    /// Sequence lengths (default: full with random weights, natural with a checkpoint).
    #[arg(long, value_enum)]
    pub lengths: Option<LengthsArg>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Precision of planform's decoder steps (bf16 = CUDA autocast). The PyTorch rollout
    /// runs fp32, as the reference.
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: PrecisionArg,
    /// libtorch intra-op threads, also given to PyTorch (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the PyTorch reference-style rollout.
    #[arg(long)]
    pub no_pytorch: bool,
    /// Python interpreter with torch (default: python3 with the workspace's `.torch`).
    #[arg(long)]
    pub python: Option<String>,
    /// Seed of weights, prompts and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the markdown report to FILE and the JSON report next to it (`.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A model ready to decode, with where its weights came from.
struct Loaded {
    _vs: VarStore,
    model: EncoderDecoder,
    config: ModelConfig,
    vocab: Vocabulary,
    weights: String,
}

fn maze_size(vocab: &Vocabulary) -> Option<u32> {
    match vocab.spec() {
        VocabularySpec::Maze { width, height } if width == height => Some(width),
        _ => None,
    }
}

/// Random weights for `shape` over `vocab`, with `eos` made unreachable when `full`.
fn random_model(
    shape: ModelShape,
    vocab: Vocabulary,
    device: Device,
    seed: u64,
    full: bool,
) -> Result<Loaded> {
    let config = shape.config(vocab.len());
    tch::manual_seed(seed as i64);
    let vs = VarStore::new(device);
    let model = EncoderDecoder::new(&vs.root(), &config)?;
    if full {
        suppress_eos(&vs, planform_trace::vocab::EOS as i64)?;
    }
    Ok(Loaded {
        _vs: vs,
        model,
        config,
        vocab,
        weights: format!(
            "random (seed {seed}){}",
            if full {
                ", output head ×200 with a zero eos row"
            } else {
                ""
            }
        ),
    })
}

/// Scales the output head by [`EOS_SCALE`] and zeroes its `eos` row.
fn suppress_eos(vs: &VarStore, eos: i64) -> Result<()> {
    let mut w = vs
        .variables()
        .remove(HEAD)
        .ok_or_else(|| anyhow!("the model has no variable {HEAD}"))?;
    tch::no_grad(|| -> Result<()> {
        let _ = w.f_mul_scalar_(EOS_SCALE)?;
        let _ = w.f_get(eos)?.f_zero_()?;
        Ok(())
    })
}

/// `bos prompt eos` of the first `n` tasks.
fn prompts(a: &DecodeBenchArgs, vocab: &Vocabulary, n: usize) -> Result<(Vec<Vec<i64>>, String)> {
    let wrap = |p: &[u32]| {
        let mut v = vec![planform_trace::vocab::BOS as i64];
        v.extend(p.iter().map(|&t| t as i64));
        v.push(planform_trace::vocab::EOS as i64);
        v
    };
    if let Some(dir) = &a.data {
        let ds = Dataset::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        if ds.vocabulary().tokens() != vocab.tokens() {
            return Err(anyhow!(
                "{}: its vocabulary differs from the model's",
                dir.display()
            ));
        }
        let mut rows = ds.read_split(Split::Test)?;
        if rows.len() < n {
            rows = ds.read_split(Split::Train)?;
        }
        if rows.len() < n {
            return Err(anyhow!("{} holds fewer than {n} tasks", dir.display()));
        }
        let p = rows.iter().take(n).map(|e| wrap(&e.prompt)).collect();
        return Ok((p, format!("dataset {}", dir.display())));
    }
    let size =
        maze_size(vocab).ok_or_else(|| anyhow!("not a square-maze vocabulary: pass --data"))?;
    // The first task of each of the first `n` wall layouts that have one (tasks of one layout
    // share its walls, hence its prompt length).
    let mut gen = MazeGenerator::new(MazeGenConfig::reference(
        size,
        size,
        SearchMode::Deterministic,
    ))?;
    let mut p = Vec::with_capacity(n);
    let mut layout = 0u64;
    while p.len() < n {
        if layout > 100 * n as u64 + 1000 {
            return Err(anyhow!(
                "the {size}×{size} maze generator yields too few tasks"
            ));
        }
        let tasks = gen
            .generate_layout(vocab, &mut Rng::stream(a.seed, layout))?
            .tasks;
        if let Some(t) = tasks.first() {
            p.push(wrap(&t.tokens.prompt));
        }
        layout += 1;
    }
    Ok((
        p,
        format!("{size}×{size} mazes generated in memory (first task of each wall layout)"),
    ))
}

fn decode_config(a: &DecodeBenchArgs, max_rows: usize, first_prompt: usize) -> DecodeConfig {
    let mut c = DecodeConfig::new(
        planform_trace::vocab::BOS as i64,
        planform_trace::vocab::EOS as i64,
        a.max_len,
    );
    c.samples_per_prompt = a.samples;
    c.sampler = Sampler::Multinomial { temperature: 1.0 };
    c.max_rows = max_rows;
    c.seed = a.seed;
    c.first_prompt_index = first_prompt;
    c.precision = a.precision.decode();
    c
}

/// planform's `generate`: all `prompts` in one call (`batched`), or one call per prompt with
/// `samples` rows (the reference's scheme).
fn run_planform(
    m: &Loaded,
    a: &DecodeBenchArgs,
    prompts: &[Vec<i64>],
    batched: bool,
) -> Result<DecodeRun> {
    let device = m.model.device();
    let rows = if batched {
        a.max_rows.min(prompts.len() * a.samples)
    } else {
        a.samples
    };
    let mut run = DecodeRun::new(
        if batched {
            "planform, all prompts batched"
        } else {
            "planform, one prompt at a time"
        },
        prompts.len(),
        a.samples,
        rows,
    );
    sync(device);
    let start = std::time::Instant::now();
    let calls: Vec<(usize, &[Vec<i64>])> = if batched {
        vec![(0, prompts)]
    } else {
        (0..prompts.len()).map(|i| (i, &prompts[i..=i])).collect()
    };
    for (first, p) in calls {
        let out = generate(&m.model, p, &decode_config(a, rows, first))?;
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

fn run_pytorch(
    py: &TorchPython,
    m: &Loaded,
    a: &DecodeBenchArgs,
    threads: usize,
    prompts: &[Vec<i64>],
    full: bool,
) -> Result<DecodeRun> {
    let spec = json!({
        "model": m.config,
        "device": if m.model.device().is_cuda() { "cuda" } else { "cpu" },
        "threads": threads,
        "seed": a.seed,
        "samples": a.samples,
        "max_len": a.max_len,
        "bos": planform_trace::vocab::BOS,
        "eos": planform_trace::vocab::EOS,
        "lengths": if full { "full" } else { "natural" },
        "eos_scale": EOS_SCALE,
        "prompts": prompts,
    });
    let o: PyDecode = py.run("decode_pytorch.py", &spec)?;
    let mut run = DecodeRun::new(&o.stack, prompts.len(), a.samples, a.samples);
    run.generated_tokens = o.generated_tokens;
    run.steps = o.steps;
    run.row_steps = o.row_steps;
    run.seconds = o.seconds;
    Ok(run)
}

/// Runs `planform bench decode`.
pub fn run(a: DecodeBenchArgs) -> Result<()> {
    if a.prompts == 0 || a.samples == 0 || a.max_len < 2 || a.max_rows == 0 {
        return Err(anyhow!(
            "--prompts, --samples and --max-rows must be >= 1 and --max-len >= 2"
        ));
    }
    let device = resolve_device(a.device, a.precision)?;
    if a.precision == PrecisionArg::Bf16 {
        planform_train::precision::prepare(a.precision.train(), device)?;
    }
    let threads = set_threads(a.threads);
    let mut machine = Machine::now();
    let lengths = match (a.lengths, &a.checkpoint) {
        (Some(LengthsArg::Full), Some(_)) => {
            return Err(anyhow!(
                "--lengths full needs random weights (it rescales the output head)"
            ))
        }
        (Some(l), _) => l,
        (None, Some(_)) => LengthsArg::Natural,
        (None, None) => LengthsArg::Full,
    };
    let full = lengths == LengthsArg::Full;
    let m = match &a.checkpoint {
        Some(path) => {
            let l = planform_train::load_model_from_checkpoint(path, device)
                .with_context(|| format!("loading {}", path.display()))?;
            let vocab = l
                .vocab
                .vocabulary()
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            Loaded {
                weights: format!("trained: {} (step {})", l.dir.display(), l.step),
                _vs: l.vs,
                model: l.model,
                config: l.config,
                vocab,
            }
        }
        None => {
            let vocab = match &a.data {
                Some(dir) => Dataset::open(dir)
                    .with_context(|| format!("opening {}", dir.display()))?
                    .vocabulary()
                    .clone(),
                None => Vocabulary::maze(a.maze.unwrap_or(10), a.maze.unwrap_or(10))?,
            };
            random_model(a.model, vocab, device, a.seed, full)?
        }
    };
    if let (Some(size), Some(_)) = (a.maze, &a.checkpoint) {
        if maze_size(&m.vocab) != Some(size) {
            return Err(anyhow!(
                "--maze {size} does not match the checkpoint's vocabulary"
            ));
        }
    }
    let (all_prompts, prompt_source) = prompts(&a, &m.vocab, a.prompts)?;
    let serial = &all_prompts[..a.serial_prompts.min(all_prompts.len())];
    let py = match (a.no_pytorch, &a.checkpoint) {
        (true, _) => Err("skipped (--no-pytorch)".to_string()),
        (false, Some(_)) => Err("skipped (trained weights; the script uses random ones)".into()),
        (false, None) => TorchPython::locate(a.python.as_deref(), "decode_pytorch.py")
            .map_err(|e| format!("{e:#}")),
    };
    if let Err(why) = &py {
        eprintln!("PyTorch rollout: {why}");
    }
    let model_name = match &a.checkpoint {
        Some(_) => "checkpoint".to_string(),
        None => a.model.to_string(),
    };
    eprintln!(
        "{model_name} ({} parameters) on {}, {}, {threads} threads; {} prompts × {} samples, \
         max_len {}",
        m.config.trainable_parameters(),
        device_name(device),
        a.precision.name(),
        a.prompts,
        a.samples,
        a.max_len
    );
    // Warm-up (allocator, kernels, CUDA context): a short untimed decode.
    let mut warm = decode_config(&a, 2, 0);
    warm.samples_per_prompt = 2;
    warm.max_len = a.max_len.min(8);
    generate(&m.model, &all_prompts[..1], &warm)?;

    let mut runs = Vec::new();
    eprintln!("planform, {} prompts batched ...", all_prompts.len());
    runs.push(run_planform(&m, &a, &all_prompts, true)?);
    if !serial.is_empty() {
        eprintln!("planform, {} prompts one at a time ...", serial.len());
        runs.push(run_planform(&m, &a, serial, false)?);
    }
    let mut pytorch_error = None;
    if let (Ok(py), false) = (&py, serial.is_empty()) {
        eprintln!(
            "PyTorch reference-style rollout, {} prompts ...",
            serial.len()
        );
        match run_pytorch(py, &m, &a, threads, serial, full) {
            Ok(r) => runs.push(r),
            Err(e) => {
                eprintln!("PyTorch rollout failed: {e:#}");
                pytorch_error = Some(format!("{e:#}"));
            }
        }
    }
    machine.finish();
    let report = DecodeReport {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        device: device_name(device),
        precision: a.precision.name().into(),
        threads,
        model: model_name,
        size: a.checkpoint.is_none().then(|| a.model.size()).flatten(),
        parameters: m.config.trainable_parameters(),
        vocab: m.config.vocab_size,
        weights: m.weights.clone(),
        prompts: prompt_source,
        prompt_len: (
            all_prompts.iter().map(Vec::len).min().unwrap_or(0),
            all_prompts.iter().map(Vec::len).max().unwrap_or(0),
        ),
        max_len: a.max_len,
        lengths: if full { "full" } else { "natural" }.into(),
        pytorch: match &py {
            Ok(p) => p.describe(),
            Err(why) => format!("not run: {why}"),
        },
        pytorch_error,
        runs,
    };
    let markdown = decode_report::markdown(&report);
    println!("{markdown}");
    if let Some(path) = &a.out {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        write_atomic(path, markdown.as_bytes())?;
        write_atomic(&path.with_extension("json"), json.as_bytes())?;
        eprintln!(
            "wrote {} and {}",
            path.display(),
            path.with_extension("json").display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(max_len: usize) -> DecodeBenchArgs {
        DecodeBenchArgs {
            model: "16x1x2".parse().unwrap(),
            checkpoint: None,
            maze: Some(10),
            data: None,
            prompts: 3,
            samples: 4,
            max_len,
            max_rows: 64,
            serial_prompts: 2,
            lengths: None,
            device: DeviceChoice::Cpu,
            precision: PrecisionArg::Fp32,
            threads: 1,
            no_pytorch: true,
            python: None,
            seed: 3,
            out: None,
        }
    }

    #[test]
    fn full_lengths_never_sample_eos_and_count_every_token() {
        let a = args(40);
        let vocab = Vocabulary::maze(10, 10).unwrap();
        let m = random_model(a.model, vocab.clone(), Device::Cpu, 3, true).unwrap();
        let (p, _) = prompts(&a, &vocab, 3).unwrap();
        let batched = run_planform(&m, &a, &p, true).unwrap();
        // Every row runs to max_len: 3 prompts × 4 samples × 39 sampled tokens.
        assert_eq!(batched.generated_tokens, 3 * 4 * 39);
        let serial = run_planform(&m, &a, &p[..2], false).unwrap();
        assert_eq!(serial.generated_tokens, 2 * 4 * 39);
        assert_eq!(serial.rows, 4);
        // Natural lengths with random weights: eos does occur (p ≈ 1/118 per step; the
        // chance that none of 12 rows × 400 steps draws it is negligible).
        let a = args(400);
        let m = random_model(a.model, vocab.clone(), Device::Cpu, 3, false).unwrap();
        let natural = run_planform(&m, &a, &p, true).unwrap();
        assert!(natural.generated_tokens < 3 * 4 * 399);
    }

    #[test]
    fn maze_prompts_are_wrapped_in_bos_and_eos() {
        let a = args(10);
        let vocab = Vocabulary::maze(10, 10).unwrap();
        let (p, label) = prompts(&a, &vocab, 3).unwrap();
        assert!(label.contains("10×10"));
        assert_eq!(p.len(), 3);
        for q in &p {
            assert_eq!((q[0], *q.last().unwrap()), (0, 1));
            assert!((96..=156).contains(&q.len()), "{}", q.len());
        }
    }
}
