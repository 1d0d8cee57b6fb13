//! `planform bench train`: training throughput (forward + backward + AdamW step) of the
//! planform training step on real maze sequences (bucketed and reference-style random
//! batches) or fixed synthetic lengths, next to PyTorch eager on the same batch shapes in the
//! same run (`bench/train_pytorch.py`), plus the padding of whole epochs with and without
//! length bucketing.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use planform_model::{EncoderDecoder, ModelConfig};
use planform_trace::vocab::VocabularySpec;
use planform_trace::Vocabulary;
use planform_train::batch::Batch;
use planform_train::config::{DataConfig, TraceConfig};
use planform_train::data::{Prepared, SequenceBuilder};
use planform_train::loss::next_token_loss;
use planform_train::precision::{prepare, with_autocast};
use planform_train::sampler::{plan_epoch, PaddingStats};
use planform_train::{
    AdamWConfig, Algorithm, BatchConfig, BatchOrder, DeviceChoice, Optimizer, TrainData,
};
use serde::Deserialize;
use serde_json::json;
use tch::nn::VarStore;
use tch::Device;

use super::clock::Machine;
use super::common::{
    device_name, parse_pair, resolve_device, set_threads, sync, ModelShape, PrecisionArg,
};
use super::report::write_atomic;
use super::torch_py::TorchPython;
use super::train_report::{self, Anchor, OrderResult, StackRun, TrainReport};

/// Learning rate of every benchmark step (constant; it does not change the cost).
const LR: f64 = 1e-4;

/// Batch orders to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// Length-bucketed batches (planform's default).
    Bucketed,
    /// Shuffled consecutive batches padded to the longest sequence (the reference).
    Random,
    /// Both.
    Both,
}

/// Arguments of `planform bench train`.
#[derive(Debug, Args)]
pub struct TrainBenchArgs {
    /// Model: tiny, mini, s, m-s, l, xl-2, or DIMxLAYERSxHEADS for both stacks (e.g. 192x3x3).
    #[arg(long, default_value = "tiny")]
    pub model: ModelShape,
    /// Sequences from a dataset directory written by `planform gen` (training split,
    /// search-augmented traces: `bos reasoning plan eos`).
    #[arg(long, conflicts_with_all = ["maze", "fixed"])]
    pub data: Option<PathBuf>,
    /// Sequences from N×N maze tasks generated in memory (reference generator rules,
    /// deterministic A*). The default source: 10.
    #[arg(long, conflicts_with = "fixed")]
    pub maze: Option<u32>,
    /// Fixed synthetic lengths `ENC,DEC` (encoder and decoder tokens of every sequence,
    /// `bos`/`eos` included; random ids, 10×10 maze vocabulary); one batch repeated.
    #[arg(long, value_parser = parse_pair)]
    pub fixed: Option<(usize, usize)>,
    /// Examples to generate (`--maze`) or to read at most (`--data`).
    #[arg(long, default_value_t = 4000)]
    pub examples: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Batch orders to measure (real data only).
    #[arg(long, value_enum, default_value = "both")]
    pub order: OrderArg,
    /// Bucketing pool, in batches (planform default 50).
    #[arg(long, default_value_t = 50)]
    pub pool_batches: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Stop a timed loop after this many seconds (at least one step), for slow machines.
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Precision (bf16 = CUDA autocast).
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: PrecisionArg,
    /// libtorch intra-op threads, also given to PyTorch (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the PyTorch-eager comparison.
    #[arg(long)]
    pub no_pytorch: bool,
    /// Python interpreter with torch (default: python3 with the workspace's `.torch` on
    /// PYTHONPATH when present).
    #[arg(long)]
    pub python: Option<String>,
    /// Seed of weights, token ids and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the markdown report to FILE and the JSON report next to it (`.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Where the sequences come from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Dataset { dir: PathBuf, examples: usize },
    Maze { size: u32, examples: usize },
    Fixed { enc: usize, dec: usize },
}

/// The sequences of a run.
struct Sequences {
    vocab: usize,
    label: String,
    /// Maze side length, when the sequences are maze tasks.
    maze: Option<u32>,
    /// Real data (batch order matters) or one fixed batch.
    real: bool,
    seqs: Vec<Prepared>,
}

impl Sequences {
    fn load(source: &Source, batch: usize, seed: u64) -> Result<Self> {
        let (data, label) = match source {
            Source::Fixed { enc, dec } => {
                let vocab = Vocabulary::maze(10, 10)?.len();
                if *enc < 2 || *dec < 2 {
                    return Err(anyhow!("--fixed {enc},{dec}: both lengths must be >= 2"));
                }
                return Ok(Sequences {
                    vocab,
                    label: format!("fixed lengths: encoder {enc}, decoder {dec} tokens"),
                    maze: None,
                    real: false,
                    seqs: planform_train::bench::synthetic_batch(vocab, batch, *enc, *dec, seed),
                });
            }
            Source::Maze { size, examples } => {
                let (vocab, train, _) =
                    planform_train::testutil::maze_examples(*size, *examples, 0, seed)
                        .with_context(|| format!("generating {examples} {size}×{size} mazes"))?;
                let data = TrainData::from_examples(vocab, train, Vec::new(), &data_config(None));
                (
                    data,
                    format!("{size}×{size} maze tasks generated in memory"),
                )
            }
            Source::Dataset { dir, examples } => {
                let data = TrainData::load(dir, &data_config(Some(*examples)))
                    .with_context(|| format!("loading dataset {}", dir.display()))?;
                (data, format!("dataset {}", dir.display()))
            }
        };
        let builder = SequenceBuilder::new(&TraceConfig::SearchAugmented, data.domain(), seed)?;
        let seqs = data
            .train
            .iter()
            .map(|r| builder.prepare(r, &data.vocab, 0))
            .collect::<planform_train::Result<Vec<_>>>()?;
        if seqs.is_empty() {
            return Err(anyhow!("{label}: no training sequences"));
        }
        let maze = match data.vocab.spec() {
            VocabularySpec::Maze { width, height } if width == height => Some(width),
            _ => None,
        };
        Ok(Sequences {
            vocab: data.vocab.len(),
            label: format!("{label}, search-augmented traces, {} sequences", seqs.len()),
            maze,
            real: true,
            seqs,
        })
    }

    fn lengths(&self) -> Vec<(usize, usize)> {
        self.seqs
            .iter()
            .map(|s| (s.enc.len(), s.dec.len()))
            .collect()
    }
}

/// All training examples (or the first `train_examples` in the reference's hashed subset
/// order); no held-out examples.
fn data_config(train_examples: Option<usize>) -> DataConfig {
    DataConfig {
        train_examples,
        eval_examples: 0,
        ..DataConfig::default()
    }
}

/// The first `n` batches (indices into the sequences) of the epoch plans for `order`,
/// continuing into the next epochs when one epoch has fewer batches.
fn schedule(lengths: &[(usize, usize)], cfg: &BatchConfig, seed: u64, n: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(n);
    let mut epoch = 0;
    while out.len() < n {
        let plan = plan_epoch(lengths, cfg, seed, epoch);
        if plan.is_empty() {
            break;
        }
        out.extend(plan.into_iter().take(n - out.len()));
        epoch += 1;
    }
    out
}

/// What `bench/train_pytorch.py` prints.
#[derive(Debug, Deserialize)]
struct PyTrain {
    stack: String,
    threads: usize,
    parameters: usize,
    steps: usize,
    real_tokens: u64,
    padded_tokens: u64,
    seconds: f64,
    loss: Option<f64>,
}

/// One planform run over `schedule`: per step, collate (host → device), forward under the
/// precision, per-sequence-normalised loss, backward, AdamW step — the steps of
/// `planform train`'s loop. The first `warmup` batches are not timed.
fn run_planform(
    model_cfg: &ModelConfig,
    device: Device,
    precision: PrecisionArg,
    seqs: &[Prepared],
    schedule: &[Vec<usize>],
    a: &TrainBenchArgs,
    threads: usize,
) -> Result<StackRun> {
    prepare(precision.train(), device)?;
    tch::manual_seed(a.seed as i64);
    let vs = VarStore::new(device);
    let model = EncoderDecoder::new(&vs.root(), model_cfg)?;
    let mut opt = Optimizer::for_var_store(Algorithm::AdamW, AdamWConfig::default(), &vs);
    let mut run = StackRun::new("planform (tch)", model_cfg.trainable_parameters(), threads);
    let mut start = std::time::Instant::now();
    let mut loss = None;
    for (i, idx) in schedule.iter().enumerate() {
        if i == a.warmup {
            sync(device);
            start = std::time::Instant::now();
        }
        let rows: Vec<Prepared> = idx.iter().map(|&j| seqs[j].clone()).collect();
        opt.zero_grad();
        let batch = Batch::collate(&rows, device)?;
        let logits = with_autocast(precision.train(), || {
            model.forward(&batch.enc_ids, &batch.enc_mask, &batch.dec_in)
        })?;
        let out = next_token_loss(&logits, &batch, 1.0 / batch.rows as f64)?;
        out.loss.f_backward()?;
        opt.step(LR)?;
        loss = Some(out.loss);
        if i >= a.warmup {
            run.steps += 1;
            run.real_tokens += batch.real_tokens as u64;
            run.padded_tokens += batch.padded_tokens as u64;
            if a.max_seconds
                .is_some_and(|m| start.elapsed().as_secs_f64() >= m)
            {
                break;
            }
        }
    }
    sync(device);
    run.seconds = start.elapsed().as_secs_f64();
    run.loss = loss.map(|l| l.double_value(&[]));
    Ok(run)
}

fn run_pytorch(
    py: &TorchPython,
    model_cfg: &ModelConfig,
    device: Device,
    a: &TrainBenchArgs,
    threads: usize,
    lengths: &[(usize, usize)],
    schedule: &[Vec<usize>],
) -> Result<StackRun> {
    let adamw = AdamWConfig::default();
    let batches: Vec<Vec<(usize, usize)>> = schedule
        .iter()
        .map(|b| b.iter().map(|&i| lengths[i]).collect())
        .collect();
    let spec = json!({
        "model": model_cfg,
        "device": if device.is_cuda() { "cuda" } else { "cpu" },
        "bf16": a.precision == PrecisionArg::Bf16,
        "threads": threads,
        "seed": a.seed,
        "lr": LR,
        "betas": [adamw.betas.0, adamw.betas.1],
        "eps": adamw.eps,
        "weight_decay": adamw.weight_decay,
        "warmup": a.warmup,
        "max_seconds": a.max_seconds,
        "batches": batches,
    });
    let o: PyTrain = py.run("train_pytorch.py", &spec)?;
    Ok(StackRun {
        stack: o.stack,
        parameters: o.parameters,
        threads: o.threads,
        steps: o.steps,
        real_tokens: o.real_tokens,
        padded_tokens: o.padded_tokens,
        seconds: o.seconds,
        loss: o.loss,
    })
}

/// Runs `planform bench train`.
pub fn run(a: TrainBenchArgs) -> Result<()> {
    if a.batch == 0 || a.steps == 0 {
        return Err(anyhow!("--batch and --steps must be >= 1"));
    }
    let source = match (&a.data, a.maze, a.fixed) {
        (Some(dir), _, _) => Source::Dataset {
            dir: dir.clone(),
            examples: a.examples,
        },
        (None, _, Some((enc, dec))) => Source::Fixed { enc, dec },
        (None, size, None) => Source::Maze {
            size: size.unwrap_or(10),
            examples: a.examples,
        },
    };
    let device = resolve_device(a.device, a.precision)?;
    let threads = set_threads(a.threads);
    let mut machine = Machine::now();
    let data = Sequences::load(&source, a.batch, a.seed)?;
    let model_cfg = a.model.config(data.vocab);
    model_cfg.validate()?;
    let lengths = data.lengths();
    let n = a.warmup + a.steps;
    let cfg = |order| BatchConfig {
        sequences: a.batch,
        max_tokens: None,
        accumulation: 1,
        order,
    };
    let bucketed = BatchOrder::Bucketed {
        pool_batches: a.pool_batches.max(1),
    };
    let orders: Vec<(&str, BatchOrder)> = match (data.real, a.order) {
        (false, _) => vec![("fixed batch", BatchOrder::Random)],
        (true, OrderArg::Bucketed) => vec![("bucketed", bucketed)],
        (true, OrderArg::Random) => vec![("random order (reference)", BatchOrder::Random)],
        (true, OrderArg::Both) => vec![
            ("bucketed", bucketed),
            ("random order (reference)", BatchOrder::Random),
        ],
    };
    let epoch_padding = data.real.then(|| {
        let f = |order| {
            PaddingStats::of_plan(&plan_epoch(&lengths, &cfg(order), a.seed, 0), &lengths)
                .fraction()
        };
        (f(BatchOrder::Random), f(bucketed))
    });
    let py = if a.no_pytorch {
        Err("skipped (--no-pytorch)".to_string())
    } else {
        TorchPython::locate(a.python.as_deref(), "train_pytorch.py").map_err(|e| format!("{e:#}"))
    };
    if let Err(why) = &py {
        eprintln!("PyTorch comparison: {why}");
    }
    eprintln!(
        "{} ({} parameters) on {}, {}, {threads} threads; {}; batch {}; {} + {} steps",
        a.model,
        model_cfg.trainable_parameters(),
        device_name(device),
        a.precision.name(),
        data.label,
        a.batch,
        a.warmup,
        a.steps
    );
    let mut results = Vec::new();
    for (label, order) in orders {
        let sched = if data.real {
            schedule(&lengths, &cfg(order), a.seed, n)
        } else {
            vec![(0..data.seqs.len()).collect(); n]
        };
        eprintln!("{label}: planform ...");
        let planform = run_planform(
            &model_cfg,
            device,
            a.precision,
            &data.seqs,
            &sched,
            &a,
            threads,
        )?;
        let (pytorch, pytorch_error) = match &py {
            Ok(py) => {
                eprintln!("{label}: PyTorch eager ...");
                match run_pytorch(py, &model_cfg, device, &a, threads, &lengths, &sched) {
                    Ok(r) => (Some(r), None),
                    Err(e) => {
                        eprintln!("{label}: PyTorch failed: {e:#}");
                        (None, Some(format!("{e:#}")))
                    }
                }
            }
            Err(_) => (None, None),
        };
        results.push(OrderResult {
            order: label.to_string(),
            planform,
            pytorch,
            pytorch_error,
        });
    }
    machine.finish();
    let (enc, dec): (Vec<usize>, Vec<usize>) = lengths.iter().copied().unzip();
    let range = |v: &[usize]| {
        (
            v.iter().copied().min().unwrap_or(0),
            v.iter().copied().max().unwrap_or(0),
        )
    };
    let report = TrainReport {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        device: device_name(device),
        precision: a.precision.name().into(),
        threads,
        model: a.model.to_string(),
        parameters: model_cfg.trainable_parameters(),
        vocab: data.vocab,
        data: data.label.clone(),
        batch: a.batch,
        warmup: a.warmup,
        steps: a.steps,
        enc_len: range(&enc),
        dec_len: range(&dec),
        epoch_padding,
        pytorch: match &py {
            Ok(p) => p.describe(),
            Err(why) => format!("not run: {why}"),
        },
        anchor: Anchor::find(
            a.model,
            &source_kind(&source),
            data.maze,
            device,
            a.precision,
            a.batch,
        ),
        orders: results,
    };
    let markdown = train_report::markdown(&report);
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

/// `fixed` or `real` (anchor matching).
fn source_kind(s: &Source) -> train_report::SourceKind {
    match s {
        Source::Fixed { enc, dec } => train_report::SourceKind::Fixed(*enc, *dec),
        _ => train_report::SourceKind::Real,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_continue_into_the_next_epoch_and_cover_an_epoch_once() {
        let lengths: Vec<(usize, usize)> = (0..10).map(|i| (5 + i, 20 + 3 * i)).collect();
        let cfg = BatchConfig {
            sequences: 4,
            max_tokens: None,
            accumulation: 1,
            order: BatchOrder::Bucketed { pool_batches: 2 },
        };
        // 10 examples in batches of at most 4: 3 batches per epoch (pools of 8 + 2).
        let s = schedule(&lengths, &cfg, 1, 5);
        assert_eq!(s.len(), 5);
        let mut first: Vec<usize> = s[..3].iter().flatten().copied().collect();
        first.sort();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_eq!(&s[..3], plan_epoch(&lengths, &cfg, 1, 0).as_slice());
        assert_eq!(&s[3..], &plan_epoch(&lengths, &cfg, 1, 1)[..2]);
    }

    #[test]
    fn maze_sequences_are_search_augmented_with_bos_and_eos() {
        let d = Sequences::load(
            &Source::Maze {
                size: 10,
                examples: 30,
            },
            4,
            0,
        )
        .unwrap();
        assert_eq!(d.seqs.len(), 30);
        assert_eq!(d.maze, Some(10));
        assert_eq!(d.vocab, Vocabulary::maze(10, 10).unwrap().len());
        for s in &d.seqs {
            assert_eq!((s.enc[0], *s.enc.last().unwrap()), (0, 1));
            assert_eq!((s.dec[0], *s.dec.last().unwrap()), (0, 1));
            // Reference 10×10 lengths: prompt 96–156, decoder 130–860 (bos/eos included).
            assert!((96..=156).contains(&s.enc.len()), "{}", s.enc.len());
            assert!(s.plan_start > 1 && s.dec.len() <= 860, "{}", s.dec.len());
        }
        let f = Sequences::load(&Source::Fixed { enc: 64, dec: 256 }, 16, 0).unwrap();
        assert_eq!(f.lengths(), vec![(64, 256); 16]);
    }

    #[test]
    fn planform_run_counts_only_timed_steps() {
        let d = Sequences::load(
            &Source::Maze {
                size: 10,
                examples: 12,
            },
            4,
            0,
        )
        .unwrap();
        let a = TrainBenchArgs {
            model: "16x1x2".parse().unwrap(),
            data: None,
            maze: Some(10),
            fixed: None,
            examples: 12,
            batch: 4,
            order: OrderArg::Both,
            pool_batches: 2,
            warmup: 1,
            steps: 2,
            max_seconds: None,
            device: DeviceChoice::Cpu,
            precision: PrecisionArg::Fp32,
            threads: 1,
            no_pytorch: true,
            python: None,
            seed: 0,
            out: None,
        };
        let lengths = d.lengths();
        let cfg = BatchConfig {
            sequences: 4,
            max_tokens: None,
            accumulation: 1,
            order: BatchOrder::Random,
        };
        let sched = schedule(&lengths, &cfg, 0, 3);
        let model = a.model.config(d.vocab);
        let r = run_planform(&model, Device::Cpu, a.precision, &d.seqs, &sched, &a, 1).unwrap();
        assert_eq!(r.steps, 2);
        let mut want = PaddingStats::default();
        for b in &sched[1..] {
            want.add(b, &lengths);
        }
        assert_eq!((r.real_tokens, r.padded_tokens), (want.real, want.padded));
        assert!(r.loss.unwrap().is_finite() && r.seconds > 0.0);
    }
}
