//! `planform train`: train an encoder–decoder on a dataset's traces. A TOML config (see
//! `configs/`) or flags give the run; `--set field.path=value` overrides any field with the
//! config's own typing rules; `--resume` continues a killed run from its latest checkpoint
//! (and `--steps N` on a finished run extends it). SIGINT/SIGTERM write a checkpoint first.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use planform_core::overrides::Override;
use planform_model::ModelSize;
use planform_train::{interrupt, ModelSpec, Progress, StartMode, TrainConfig};

use crate::progress;

/// `optim.total_steps` of a run made from flags alone (no config sets it): a run a CPU
/// finishes in minutes. Configs default to the reference's 400,000.
pub const CLI_DEFAULT_STEPS: u64 = 3000;

/// Decoder sequence variant (what the model learns to produce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceArg {
    /// `bos plan eos`.
    SolutionOnly,
    /// `bos trace plan eos` (Searchformer).
    SearchAugmented,
    /// Randomly shortened traces (Dualformer); probabilities via `--set trace.…` or config.
    Dualformer,
}

impl TraceArg {
    fn toml(self) -> &'static str {
        match self {
            TraceArg::SolutionOnly => "solution-only",
            TraceArg::SearchAugmented => "search-augmented",
            TraceArg::Dualformer => "dualformer",
        }
    }
}

/// Arguments of `planform train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// TOML run config: every field and default is documented in
    /// `crates/planform-train/src/config/` (`cargo doc -p planform-train`, `TrainConfig`);
    /// examples in `configs/` (the `[train]` tables of the recipes).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Dataset directory (overrides `data_dir`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run directory (overrides `out_dir`).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Model: an encoder–decoder size (tiny, mini, s, m-s, l, xl-2) or a decoder-only
    /// preset as `decoder-only:NAME` (tiny, mini, deep-thin, mobilellm-125m, …).
    #[arg(long)]
    pub model: Option<String>,
    /// Trace variant (overrides `trace.kind`).
    #[arg(long, value_enum)]
    pub trace: Option<TraceArg>,
    /// Optimizer steps (overrides `optim.total_steps`). Default when no config sets it:
    /// 3,000 (a CPU-sized run; the papers train 400,000 and more). On a finished run, a
    /// larger value extends it.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Peak learning rate (overrides `optim.lr`).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Warm-up steps (overrides `optim.warmup_steps`). Default: min(2000, steps / 10).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Sequences per micro-batch (overrides `batch.sequences`).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed (overrides `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Device: auto, cpu, cuda, cuda:N (overrides `device`).
    #[arg(long)]
    pub device: Option<String>,
    /// Fine-tune: start from another run's latest checkpoint (a run, `checkpoints` or
    /// `step-N` directory) with its weights and AdamW state; the schedule starts at step 0
    /// (sets `init_from.checkpoint`).
    #[arg(long, value_name = "RUN")]
    pub init_from: Option<PathBuf>,
    /// With --init-from: load the weights only, starting AdamW from zero moments
    /// (`init_from.optimizer = false`).
    #[arg(long, requires = "init_from")]
    pub init_from_weights_only: bool,
    /// Any other field, as `dotted.path=value` (repeatable), e.g. `--set batch.accumulation=4`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
    /// Continue the run in `out_dir` from its latest checkpoint (error if there is none).
    /// Without --config, the run's own config is used; flags change it (only `--steps`
    /// may differ from the checkpoint's settings).
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Start from step 0 (error if the run directory already has checkpoints).
    #[arg(long)]
    pub fresh: bool,
    /// Print the resolved config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl TrainArgs {
    /// The typed flags and `--set`s as overrides of one kind, so that the one override
    /// path applies them together (a flag and a `--set` for the same field must agree).
    fn overrides(&self) -> Result<Vec<Override>> {
        let mut out = Vec::new();
        let mut flag = |k: &str, v: Option<String>| -> Result<()> {
            if let Some(v) = v {
                out.push(Override::new(k, &v).map_err(|e| anyhow::anyhow!("{e}"))?);
            }
            Ok(())
        };
        flag(
            "data_dir",
            self.data.as_ref().map(|p| toml_str(&p.to_string_lossy())),
        )?;
        flag(
            "out_dir",
            self.out.as_ref().map(|p| toml_str(&p.to_string_lossy())),
        )?;
        if let Some(m) = &self.model {
            match m.strip_prefix("decoder-only:") {
                Some(preset) => flag("model.decoder-only.preset", Some(toml_str(preset)))?,
                None => flag("model.size", Some(toml_str(m)))?,
            }
        }
        flag("trace.kind", self.trace.map(|t| t.toml().to_string()))?;
        flag("optim.warmup_steps", self.warmup.map(|v| v.to_string()))?;
        flag("optim.total_steps", self.steps.map(|v| v.to_string()))?;
        flag("optim.lr", self.lr.map(|v| format!("{v:e}")))?;
        flag("batch.sequences", self.batch.map(|v| v.to_string()))?;
        flag("seed", self.seed.map(|v| v.to_string()))?;
        flag("device", self.device.as_deref().map(toml_str))?;
        flag(
            "init_from.checkpoint",
            self.init_from
                .as_ref()
                .map(|p| toml_str(&p.to_string_lossy())),
        )?;
        if self.init_from_weights_only {
            flag("init_from.optimizer", Some("false".into()))?;
        }
        for s in &self.sets {
            out.push(Override::parse(s).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        Ok(out)
    }

    /// Resolves the config file and flags into one validated [`TrainConfig`]: the config
    /// file; else, to continue a run (`--resume`, or an `-o` that holds checkpoints), the
    /// run's own config; else built-in defaults with [`CLI_DEFAULT_STEPS`] steps.
    pub fn resolve(&self) -> Result<(TrainConfig, StartMode)> {
        let base = match (&self.config, &self.out) {
            (Some(path), _) => {
                let mut c = TrainConfig::from_file(path)
                    .with_context(|| format!("loading config {}", path.display()))?;
                if !TrainConfig::file_sets(path, &["optim", "total_steps"])? {
                    c.optim.total_steps = CLI_DEFAULT_STEPS;
                }
                c
            }
            (None, Some(out)) if !self.fresh && has_checkpoint(out) => {
                planform_train::config_of_run(out)
                    .with_context(|| format!("reading the config of run {}", out.display()))?
            }
            _ => {
                if self.data.is_none() || self.out.is_none() {
                    bail!("without --config, --data and --out are required");
                }
                let mut c = TrainConfig::new("", "", ModelSpec::Size(ModelSize::Tiny));
                c.optim.total_steps = CLI_DEFAULT_STEPS;
                c
            }
        };
        let cfg = base
            .with_overrides(&self.overrides()?)
            .context("invalid training config")?;
        let start = if self.resume {
            StartMode::Resume
        } else if self.fresh {
            StartMode::Fresh
        } else {
            StartMode::Auto
        };
        Ok((cfg, start))
    }
}

/// Whether `out` holds a checkpoint to continue from.
fn has_checkpoint(out: &Path) -> bool {
    planform_model::checkpoint::resolve_checkpoint(out).is_ok()
}

/// A TOML basic string (paths may hold characters that are not bare TOML).
fn toml_str(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// Runs `planform train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let (cfg, start) = args.resolve()?;
    if args.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(());
    }
    let out = cfg.out_dir.clone();
    let summary =
        train_with_bar(cfg, start).with_context(|| format!("training run {}", out.display()))?;
    if let Some(signal) = summary.interrupted {
        return Err(crate::Interrupted {
            signal,
            message: format!(
                "training interrupted by {} at step {}{}; resume with: planform train -o {} \
                 --resume",
                interrupt::signal_name(signal),
                summary.step,
                summary
                    .last_checkpoint
                    .as_ref()
                    .map(|p| format!(" (checkpoint {})", p.display()))
                    .unwrap_or_default(),
                crate::commands::recipe::quote(&out.to_string_lossy())
            ),
        }
        .into());
    }
    println!(
        "{} at step {} ({:.0}s, {} tokens){}",
        if summary.completed {
            "finished"
        } else {
            "stopped"
        },
        summary.step,
        summary.elapsed_secs,
        summary.tokens_seen,
        summary
            .last_checkpoint
            .map(|p| format!("; checkpoint {}", p.display()))
            .unwrap_or_default()
    );
    if let Some(e) = summary.last_eval {
        println!("last held-out loss {:.4}", e.metrics.loss);
    }
    if summary.wrote_summary {
        eprintln!(
            "wrote {}/summary.json; TensorBoard: tensorboard --logdir {}/tb",
            out.display(),
            out.display()
        );
    } else {
        eprintln!(
            "{} is on a read-only file system; the finished run was read, nothing written",
            out.display()
        );
    }
    Ok(())
}

/// Trains with a progress bar (a terminal) or progress lines (a pipe or log file) showing
/// step, losses, tokens/s and ETA.
pub fn train_with_bar(
    cfg: TrainConfig,
    start: StartMode,
) -> planform_train::Result<planform_train::RunSummary> {
    let mut reporter = progress::Reporter::new("train", cfg.optim.total_steps, "step");
    let mut last = None;
    let mut on_step = |p: &Progress| {
        progress::train_update(&mut reporter, p);
        last = Some(progress::train_message(p));
        ControlFlow::Continue(())
    };
    let result = planform_train::train(cfg, start, &mut on_step);
    reporter.finish(last.as_deref().unwrap_or(""));
    result
}
