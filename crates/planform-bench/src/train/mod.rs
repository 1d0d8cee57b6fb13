//! `bench train`: training throughput of the one training step
//! ([`planform_train::train_step`], AdamW from `planform-optim`) on real maze sequences
//! (bucketed and reference-style random batches) or fixed synthetic lengths, for either model
//! family, next to PyTorch eager on the same batch shapes in the same run
//! (`bench/train_pytorch.py`, encoder–decoder only), plus the padding of whole epochs with
//! and without length bucketing.

use std::time::Instant;

use planform_model::{DeviceChoice, Family, Model, ModelConfig, Precision};
use planform_optim::{AdamWConfig, Algorithm, Optimizer};
use planform_train::batch::Batch;
use planform_train::data::Prepared;
use planform_train::sampler::plan_epoch;
use planform_train::{train_step, BatchConfig, BatchOrder, StepStats};
use serde::Deserialize;
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::anchors::{AnchorDevice, Anchors};
use crate::device::{device_name, precision_label, resolve_device, set_threads, sync};
use crate::error::{BenchError, Result};
use crate::machine::Machine;
use crate::python::TorchPython;
use crate::report::train::{OrderResult, StackRun, TrainAnchor, TrainReport};
use crate::shape::{family_name, BenchModel, EncoderDecoderShape};

mod data;

pub use data::{padding_of, schedule, Sequences, TrainSource};

/// Learning rate of every benchmark step (constant; it does not change the cost).
pub const LR: f64 = 1e-4;

/// Batch orders to measure (real data only; fixed lengths have one batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderChoice {
    /// Length-bucketed batches (planform's default).
    Bucketed,
    /// Shuffled consecutive batches padded to the longest sequence (the reference).
    Random,
    /// Both.
    Both,
}

/// Whether and how to run the PyTorch-eager comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyTorchComparison {
    /// Do not run it.
    Skip,
    /// Run it with this interpreter (`None`: `python3` with the workspace's `.torch` on
    /// `PYTHONPATH` when present).
    Run {
        /// Interpreter with torch.
        python: Option<String>,
    },
}

/// What `bench train` measures. Defaults: the `tiny` encoder–decoder on 4,000 generated
/// 10×10 mazes, batch 16, both orders, pool of 50 batches, 3 warm-up + 10 timed steps, CPU,
/// fp32, one thread per core, PyTorch comparison on, seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainBenchConfig {
    /// The model (random weights from `seed`).
    pub model: BenchModel,
    /// The sequences.
    pub source: TrainSource,
    /// Sequences per batch.
    pub batch: usize,
    /// Batch orders to measure.
    pub orders: OrderChoice,
    /// Bucketing pool, in batches.
    pub pool_batches: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
    /// Stop a timed loop after this many seconds (at least one step).
    pub max_seconds: Option<f64>,
    /// Device.
    pub device: DeviceChoice,
    /// Precision (bf16 autocast needs CUDA).
    pub precision: Precision,
    /// libtorch intra-op threads, also given to PyTorch (0 = one per core).
    pub threads: usize,
    /// The PyTorch comparison.
    pub pytorch: PyTorchComparison,
    /// Seed of weights, token ids and batch order.
    pub seed: u64,
    /// The command line shown in the report.
    pub command: String,
}

impl Default for TrainBenchConfig {
    fn default() -> Self {
        TrainBenchConfig {
            model: BenchModel::default(),
            source: TrainSource::Maze {
                size: 10,
                examples: 4000,
            },
            batch: 16,
            orders: OrderChoice::Both,
            pool_batches: 50,
            warmup: 3,
            steps: 10,
            max_seconds: None,
            device: DeviceChoice::Cpu,
            precision: Precision::Fp32,
            threads: 0,
            pytorch: PyTorchComparison::Run { python: None },
            seed: 0,
            command: String::new(),
        }
    }
}

/// How a timed training loop runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopSettings {
    /// Device.
    pub device: Device,
    /// Precision.
    pub precision: Precision,
    /// Seed of the weights (`tch::manual_seed`).
    pub seed: u64,
    /// Intra-op threads (reported).
    pub threads: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Stop the timed part after this many seconds (at least one step).
    pub max_seconds: Option<f64>,
}

/// The loss of a step, as `(Σ per-sequence loss, sequences)`; kept on the device until the
/// end of the loop so that reading it does not synchronise every step.
struct PendingLoss(Tensor, usize);

impl PendingLoss {
    fn of(stats: &StepStats) -> Result<Self> {
        let total = stats
            .sums
            .iter()
            .map(|s| s.f_get(0))
            .collect::<std::result::Result<Vec<Tensor>, _>>()?;
        Ok(PendingLoss(
            Tensor::f_stack(&total, 0)?.f_sum(tch::Kind::Double)?,
            stats.rows,
        ))
    }

    fn value(&self) -> f64 {
        self.0.double_value(&[]) / self.1 as f64
    }
}

/// planform's training loop over `schedule` (batches of indices into `seqs`): per step,
/// [`Batch::collate`] (host → device) and [`planform_train::train_step`] with AdamW at
/// [`LR`], exactly as `planform train` steps. Weights from `tch::manual_seed(seed)`. The
/// first `warmup` batches are not timed.
pub fn measure_planform(
    model_cfg: &ModelConfig,
    seqs: &[Prepared],
    schedule: &[Vec<usize>],
    s: &LoopSettings,
) -> Result<StackRun> {
    let vs = VarStore::new(s.device);
    let model = Model::new_seeded(&vs.root(), model_cfg, s.seed as i64)?;
    let family = model.family();
    let mut opt = Optimizer::for_var_store(Algorithm::AdamW, AdamWConfig::default(), &vs);
    let mut run = StackRun::new(
        "planform (tch)",
        model_cfg.trainable_parameters(),
        s.threads,
    );
    let mut start = Instant::now();
    let (mut first, mut last) = (None, None);
    for (i, idx) in schedule.iter().enumerate() {
        if i == s.warmup {
            sync(s.device);
            start = Instant::now();
        }
        let rows: Vec<Prepared> = idx.iter().map(|&j| seqs[j].clone()).collect();
        let batch = Batch::collate(&rows, family, s.device)?;
        let stats = train_step(
            &model,
            &mut opt,
            std::slice::from_ref(&batch),
            LR,
            s.precision,
        )?;
        let loss = PendingLoss::of(&stats)?;
        if i == 0 {
            first = Some(PendingLoss(loss.0.shallow_clone(), loss.1));
        }
        last = Some(loss);
        if i >= s.warmup {
            run.steps += 1;
            run.real_tokens += stats.real_tokens as u64;
            run.padded_tokens += stats.padded_tokens as u64;
            if s.max_seconds
                .is_some_and(|m| start.elapsed().as_secs_f64() >= m)
            {
                break;
            }
        }
    }
    sync(s.device);
    run.seconds = start.elapsed().as_secs_f64();
    run.loss = last.map(|l| l.value());
    run.first_loss = first.map(|l| l.value());
    Ok(run)
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

/// PyTorch eager (`bench/train_pytorch.py`) on the batch shapes of `schedule`: random ids of
/// the same lengths, the same model shape, AdamW settings and thread count. Encoder–decoder
/// only.
pub fn measure_pytorch(
    py: &TorchPython,
    model_cfg: &ModelConfig,
    lengths: &[(usize, usize)],
    schedule: &[Vec<usize>],
    s: &LoopSettings,
) -> Result<StackRun> {
    let ModelConfig::EncoderDecoder(model) = model_cfg else {
        return Err(BenchError::Config(
            "the PyTorch training script has the encoder-decoder only".into(),
        ));
    };
    let adamw = AdamWConfig::default();
    let batches: Vec<Vec<(usize, usize)>> = schedule
        .iter()
        .map(|b| b.iter().map(|&i| lengths[i]).collect())
        .collect();
    let spec = json!({
        "model": model,
        "device": if s.device.is_cuda() { "cuda" } else { "cpu" },
        "bf16": s.precision == Precision::Bf16Autocast,
        "threads": s.threads,
        "seed": s.seed,
        "lr": LR,
        "betas": [adamw.betas.0, adamw.betas.1],
        "eps": adamw.eps,
        "weight_decay": adamw.weight_decay,
        "warmup": s.warmup,
        "max_seconds": s.max_seconds,
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
        first_loss: None,
    })
}

/// The recorded figure for a run, if any (`anchors.toml`).
fn find_anchor(
    anchors: &Anchors,
    cfg: &TrainBenchConfig,
    maze: Option<u32>,
    device: Device,
) -> Option<TrainAnchor> {
    let fixed = matches!(cfg.source, TrainSource::Fixed { .. });
    match cfg.model {
        BenchModel::EncoderDecoder(EncoderDecoderShape::Size(size))
            if !fixed && device.is_cuda() =>
        {
            let a = anchors.train_reference(size, maze?, cfg.batch, cfg.precision)?;
            Some(TrainAnchor::GpuReference {
                what: a.what.clone(),
                real_tokens_per_s: a.real_tokens_per_s,
                padding: a.padding,
                goal_factor: a.goal_factor,
            })
        }
        BenchModel::EncoderDecoder(EncoderDecoderShape::Stacks(shape)) if fixed => {
            let d = if device.is_cuda() {
                AnchorDevice::Cuda
            } else {
                AnchorDevice::Cpu
            };
            let a = anchors.train_stacks(d, shape, cfg.batch)?;
            Some(TrainAnchor::Stacks {
                what: a.what.clone(),
                pytorch: a.pytorch_tokens_per_s,
                tch: a.tch_tokens_per_s,
            })
        }
        _ => None,
    }
}

/// Runs `bench train`; `progress` receives one line per stage.
pub fn run_train(cfg: &TrainBenchConfig, progress: &mut dyn FnMut(&str)) -> Result<TrainReport> {
    if cfg.batch == 0 || cfg.steps == 0 {
        return Err(BenchError::Config(
            "--batch and --steps must be >= 1".into(),
        ));
    }
    let anchors = Anchors::embedded()?;
    let device = resolve_device(cfg.device, cfg.precision)?;
    let threads = set_threads(cfg.threads);
    let mut machine = Machine::now();
    let data = Sequences::load(&cfg.source, cfg.batch, cfg.seed)?;
    let model_cfg = cfg.model.config(data.vocab)?;
    let family = model_cfg.family();
    let lengths = data.lengths();
    let n = cfg.warmup + cfg.steps;
    let batch_cfg = |order| BatchConfig {
        sequences: cfg.batch,
        max_tokens: None,
        accumulation: 1,
        order,
    };
    let bucketed = BatchOrder::Bucketed {
        pool_batches: cfg.pool_batches.max(1),
    };
    let orders: Vec<(&str, BatchOrder)> = match (data.real, cfg.orders) {
        (false, _) => vec![("fixed batch", BatchOrder::Random)],
        (true, OrderChoice::Bucketed) => vec![("bucketed", bucketed)],
        (true, OrderChoice::Random) => vec![("random order (reference)", BatchOrder::Random)],
        (true, OrderChoice::Both) => vec![
            ("bucketed", bucketed),
            ("random order (reference)", BatchOrder::Random),
        ],
    };
    let epoch_padding = data.real.then(|| {
        let f = |order| {
            padding_of(
                &plan_epoch(&lengths, &batch_cfg(order), cfg.seed, 0),
                &lengths,
                family,
            )
            .fraction()
        };
        (f(BatchOrder::Random), f(bucketed))
    });
    let py = match (&cfg.pytorch, family) {
        (PyTorchComparison::Skip, _) => Err("skipped (--no-pytorch)".to_string()),
        (PyTorchComparison::Run { .. }, Family::DecoderOnly) => {
            Err("skipped (the PyTorch script has the encoder-decoder only)".to_string())
        }
        (PyTorchComparison::Run { python }, Family::EncoderDecoder) => {
            TorchPython::locate(python.as_deref(), "train_pytorch.py").map_err(|e| e.to_string())
        }
    };
    if let Err(why) = &py {
        progress(&format!("PyTorch comparison: {why}"));
    }
    progress(&format!(
        "{} {} ({} parameters) on {}, {}, {threads} threads; {}; batch {}; {} + {} steps",
        family_name(family),
        cfg.model,
        model_cfg.trainable_parameters(),
        device_name(device),
        precision_label(cfg.precision),
        data.label,
        cfg.batch,
        cfg.warmup,
        cfg.steps
    ));
    let settings = LoopSettings {
        device,
        precision: cfg.precision,
        seed: cfg.seed,
        threads,
        warmup: cfg.warmup,
        max_seconds: cfg.max_seconds,
    };
    let mut results = Vec::new();
    for (label, order) in orders {
        let sched = if data.real {
            schedule(&lengths, &batch_cfg(order), cfg.seed, n)
        } else {
            vec![(0..data.seqs.len()).collect(); n]
        };
        progress(&format!("{label}: planform ..."));
        let planform = measure_planform(&model_cfg, &data.seqs, &sched, &settings)?;
        let (pytorch, pytorch_error) = match &py {
            Ok(py) => {
                progress(&format!("{label}: PyTorch eager ..."));
                match measure_pytorch(py, &model_cfg, &lengths, &sched, &settings) {
                    Ok(r) => (Some(r), None),
                    Err(e) => {
                        progress(&format!("{label}: PyTorch failed: {e}"));
                        (None, Some(e.to_string()))
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
    Ok(TrainReport {
        command: cfg.command.clone(),
        machine,
        device: device_name(device),
        precision: precision_label(cfg.precision).into(),
        threads,
        family: family_name(family).into(),
        model: cfg.model.to_string(),
        parameters: model_cfg.trainable_parameters(),
        vocab: data.vocab,
        data: data.label.clone(),
        batch: cfg.batch,
        warmup: cfg.warmup,
        steps: cfg.steps,
        enc_len: range(&enc),
        dec_len: range(&dec),
        epoch_padding,
        pytorch: match &py {
            Ok(p) => p.describe(),
            Err(why) => format!("not run: {why}"),
        },
        anchor: find_anchor(&anchors, cfg, data.maze, device),
        orders: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::ModelSize;
    use planform_train::sampler::PaddingStats;

    #[test]
    fn planform_runs_count_only_timed_steps_for_both_families() {
        let source = TrainSource::Maze {
            size: 10,
            examples: 12,
        };
        let d = Sequences::load(&source, 4, 0).unwrap();
        let lengths = d.lengths();
        let cfg = BatchConfig {
            sequences: 4,
            max_tokens: None,
            accumulation: 1,
            order: BatchOrder::Random,
        };
        let sched = schedule(&lengths, &cfg, 0, 3);
        let settings = LoopSettings {
            device: Device::Cpu,
            precision: Precision::Fp32,
            seed: 0,
            threads: 1,
            warmup: 1,
            max_seconds: None,
        };
        for (family, model) in [
            (Family::EncoderDecoder, "16x1x2"),
            (Family::DecoderOnly, "16x1x2"),
        ] {
            let m = BenchModel::parse(family, model)
                .unwrap()
                .config(d.vocab)
                .unwrap();
            let r = measure_planform(&m, &d.seqs, &sched, &settings).unwrap();
            assert_eq!(r.steps, 2);
            let want = padding_of(&sched[1..], &lengths, family);
            assert_eq!((r.real_tokens, r.padded_tokens), (want.real, want.padded));
            assert!(r.loss.unwrap().is_finite() && r.seconds > 0.0);
            assert!(r.first_loss.unwrap() > 0.0);
        }
        // The encoder–decoder padding is the sampler's.
        let ed = padding_of(&sched, &lengths, Family::EncoderDecoder);
        assert_eq!(ed, PaddingStats::of_plan(&sched, &lengths));
    }

    #[test]
    fn anchors_match_their_configurations_only() {
        let a = Anchors::embedded().unwrap();
        let s = BenchModel::EncoderDecoder(EncoderDecoderShape::Size(ModelSize::S));
        let gpu = TrainBenchConfig {
            model: s,
            batch: 64,
            ..TrainBenchConfig::default()
        };
        let cuda = Device::Cuda(0);
        assert!(matches!(
            find_anchor(&a, &gpu, Some(10), cuda),
            Some(TrainAnchor::GpuReference { real_tokens_per_s, .. }) if real_tokens_per_s == 495_000.0
        ));
        assert!(find_anchor(&a, &gpu, Some(10), Device::Cpu).is_none());
        assert!(find_anchor(&a, &gpu, Some(20), cuda).is_none());
        let cpu = TrainBenchConfig {
            model: BenchModel::parse(Family::EncoderDecoder, "192x3x3").unwrap(),
            source: TrainSource::Fixed { enc: 64, dec: 256 },
            ..TrainBenchConfig::default()
        };
        assert!(matches!(
            find_anchor(&a, &cpu, None, Device::Cpu),
            Some(TrainAnchor::Stacks { tch, .. }) if tch == 8_800.0
        ));
        let dec_only = TrainBenchConfig {
            model: BenchModel::parse(Family::DecoderOnly, "192x3x3").unwrap(),
            ..cpu.clone()
        };
        assert!(find_anchor(&a, &dec_only, None, Device::Cpu).is_none());
    }
}
