//! `planform bootstrap`: Searchformer search-dynamics bootstrapping. From a trained
//! search-augmented run and its original dataset: sample k responses per training prompt,
//! keep the shortest optimal one (else A*), write the improved dataset, fine-tune from the
//! previous checkpoint, evaluate on the test split; N times. Unattended and resumable: run
//! the same command again (or `--resume -o OUT`) after a kill.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use planform_bootstrap::{
    BootstrapConfig, Event, Fallback, StartMode, State, Warmup, JSONL_FILE, MARKDOWN_FILE,
};
use planform_eval::{DeviceChoice, MaxLen};

use crate::progress;

/// Target of prompts without an optimal response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FallbackArg {
    /// The original A* sequence (default).
    OriginalAstar,
    /// The previous iteration's target.
    PreviousIteration,
}

/// Arguments of `planform bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// TOML bootstrap config (see the planform-bootstrap docs); flags override its fields.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Trained search-augmented run directory; its latest checkpoint is iteration 0.
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// The ORIGINAL dataset (training prompts with A* sequences, test split).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Bootstrapping iterations (reference: 3).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Responses sampled per training prompt, k (default 8; reference: not published).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Training prompts to sample on (default: those the base run trained on).
    #[arg(long)]
    pub train_prompts: Option<usize>,
    /// Sampling temperature on the training prompts (reference: 1).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Maximum decoder length when sampling (default: 1.5 × longest training target, capped).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Sequences decoded at once.
    #[arg(long)]
    pub batch_rows: Option<usize>,
    /// Prompts per saved sampling chunk.
    #[arg(long)]
    pub chunk_prompts: Option<usize>,
    /// Target of prompts without an optimal response.
    #[arg(long, value_enum)]
    pub fallback: Option<FallbackArg>,
    /// Fine-tune steps per iteration (reference: 10,000).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Fine-tune peak learning rate (reference: 7.5e-5).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Fine-tune warm-up steps (default: the reference 2000 of 10,000, scaled to --steps).
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Fine-tune sequences per step (default 8 = reference 1 per GPU × 8).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Start each fine-tune with zero AdamW moments (the reference loads them).
    #[arg(long)]
    pub fresh_optimizer: bool,
    /// Test tasks evaluated after each iteration (the first N of the test split in hashed-id
    /// order, as `planform eval --tasks N`).
    #[arg(long)]
    pub eval_tasks: Option<usize>,
    /// Responses per test task (reference: 64).
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// Sampler seed of the evaluations.
    #[arg(long)]
    pub eval_seed: Option<u64>,
    /// Fine-tune config override `field=value` (repeatable; a `train.` prefix is allowed),
    /// e.g. `--set log.eval_every=500`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
    /// Device: auto, cpu, cuda, cuda:N.
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// Master seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// libtorch CPU threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Continue the bootstrap in --out (error if there is none); without other flags its
    /// stored config is used.
    #[arg(long)]
    pub resume: bool,
    /// Print the resolved config as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl BootstrapArgs {
    /// Resolves the config file, stored state and flags into one validated config.
    pub fn resolve(&self) -> Result<(BootstrapConfig, StartMode)> {
        let mut c = if let Some(path) = &self.config {
            BootstrapConfig::from_file(path)
                .with_context(|| format!("loading config {}", path.display()))?
        } else if let (true, Some(out), None, None) =
            (self.resume, &self.out, &self.base, &self.data)
        {
            State::load(out)
                .with_context(|| format!("reading {}", out.display()))?
                .map(|s| s.config)
                .ok_or_else(|| {
                    anyhow::anyhow!("nothing to resume: {} has no state.json", out.display())
                })?
        } else {
            let (Some(base), Some(data), Some(out)) = (&self.base, &self.data, &self.out) else {
                bail!("without --config, --base, --data and --out are required");
            };
            BootstrapConfig::new(base, data, out)
        };
        if let Some(v) = &self.base {
            c.base_run = v.clone();
        }
        if let Some(v) = &self.data {
            c.data_dir = v.clone();
        }
        if let Some(v) = &self.out {
            c.out_dir = v.clone();
        }
        let s = &mut c.sample;
        s.samples = self.samples.unwrap_or(s.samples);
        s.train_prompts = self.train_prompts.or(s.train_prompts);
        s.temperature = self.temperature.unwrap_or(s.temperature);
        s.max_len = self.max_len.map_or(s.max_len, MaxLen::Fixed);
        s.batch_rows = self.batch_rows.unwrap_or(s.batch_rows);
        s.chunk_prompts = self.chunk_prompts.unwrap_or(s.chunk_prompts);
        if let Some(f) = self.fallback {
            c.reduce.fallback = match f {
                FallbackArg::OriginalAstar => Fallback::OriginalAstar,
                FallbackArg::PreviousIteration => Fallback::PreviousIteration,
            };
        }
        let f = &mut c.finetune;
        f.steps = self.steps.unwrap_or(f.steps);
        f.lr = self.lr.unwrap_or(f.lr);
        f.warmup = self.warmup.map_or(f.warmup, Warmup::Steps);
        f.batch = self.batch.unwrap_or(f.batch);
        if self.fresh_optimizer {
            f.optimizer_state = false;
        }
        for s in &self.sets {
            let s = s.strip_prefix("train.").unwrap_or(s);
            f.set.push(s.to_string());
        }
        let e = &mut c.eval;
        e.tasks = self.eval_tasks.unwrap_or(e.tasks);
        e.samples = self.eval_samples.unwrap_or(e.samples);
        e.seed = self.eval_seed.unwrap_or(e.seed);
        c.iterations = self.iterations.unwrap_or(c.iterations);
        c.device = self.device.unwrap_or(c.device);
        c.seed = self.seed.unwrap_or(c.seed);
        c.threads = self.threads.or(c.threads);
        c.validate().context("invalid bootstrap config")?;
        let mode = if self.resume {
            StartMode::Resume
        } else {
            StartMode::Auto
        };
        Ok((c, mode))
    }
}

/// The progress of the current activity (a bar, or lines without a terminal), recreated
/// when the activity changes.
struct Bars {
    bar: Option<(&'static str, usize, progress::Reporter)>,
}

impl Bars {
    fn get(
        &mut self,
        kind: &'static str,
        iteration: usize,
        total: u64,
        unit: &str,
    ) -> &mut progress::Reporter {
        if !matches!(&self.bar, Some((k, i, _)) if *k == kind && *i == iteration) {
            self.clear();
        }
        let label = format!("iter {iteration} {kind}");
        let (_, _, r) = self.bar.get_or_insert_with(|| {
            (
                kind,
                iteration,
                progress::Reporter::new(&label, total, unit),
            )
        });
        r
    }

    fn clear(&mut self) {
        if let Some((_, _, r)) = self.bar.take() {
            r.finish("");
        }
    }
}

/// Runs `planform bootstrap`.
pub fn run(args: BootstrapArgs) -> Result<()> {
    let (cfg, mode) = args.resolve()?;
    if args.print_config {
        print!("{}", cfg.to_toml()?);
        return Ok(());
    }
    let out = cfg.out_dir.clone();
    let mut bars = Bars { bar: None };
    let outcome = planform_bootstrap::run(cfg, mode, &mut |e| {
        match e {
            Event::PhaseStarted { iteration, phase } => {
                bars.clear();
                eprintln!("iteration {iteration}: {} …", phase_verb(*phase));
            }
            Event::PhaseDone { .. } => bars.clear(),
            Event::Sampling {
                iteration,
                progress: p,
            } => {
                let r = bars.get("sample", *iteration, p.prompts_total as u64, "prompt");
                let msg = format!(
                    "{:.0} tok/s",
                    p.generated_tokens as f64 / p.elapsed_secs.max(1e-9)
                );
                r.update(p.prompts_done as u64, &msg, None, false);
            }
            Event::ChunkSaved { .. } => {}
            Event::Training {
                iteration,
                progress: p,
            } => {
                let r = bars.get("fine-tune", *iteration, p.total_steps, "step");
                progress::train_update(r, p);
            }
            Event::Evaluating {
                iteration,
                progress: p,
            } => {
                let r = bars.get("eval", *iteration, p.tasks_total as u64, "task");
                progress::eval_update(r, p);
            }
        }
        ControlFlow::Continue(())
    })
    .with_context(|| format!("bootstrapping into {}", out.display()))?;
    bars.clear();
    if let Some(signal) = planform_train::interrupt::requested() {
        return Err(crate::Interrupted {
            signal,
            message: format!(
                "bootstrap interrupted by {} (the fine-tune saved a checkpoint); run the same \
                 command again, or `planform bootstrap --resume -o {}`, to continue",
                planform_train::interrupt::signal_name(signal),
                super::recipe::quote(&out.to_string_lossy())
            ),
        }
        .into());
    }
    println!("{}", planform_bootstrap::markdown(&outcome.records()));
    eprintln!(
        "wrote {} and {} in {}",
        JSONL_FILE,
        MARKDOWN_FILE,
        out.display()
    );
    Ok(())
}

fn phase_verb(p: planform_bootstrap::Phase) -> &'static str {
    use planform_bootstrap::Phase;
    match p {
        Phase::Started => "starting",
        Phase::Sampled => "sampling responses on the training prompts",
        Phase::Reduced => "reducing to the shortest optimal responses",
        Phase::DatasetWritten => "writing the improved dataset",
        Phase::FineTuned => "fine-tuning",
        Phase::Evaluated => "evaluating on the test split",
    }
}
