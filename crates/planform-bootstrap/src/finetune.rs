//! The fine-tune of an iteration as a planform-train config (reference
//! `config/sweep/sokoban-7722-m-trace-plan-100k-step-*.json` with `start_checkpoint`).
//!
//! Starts from the base run's config (model, trace variant, data filters, subset order,
//! optimizer shape, precision, logging cadence) and changes:
//!
//! - `data_dir` = the iteration's improved dataset, `data.train_examples` = all of it
//!   (it holds exactly the sampled prompts; the reference trains on its 100k rows);
//! - `out_dir` = `iter-N/run`;
//! - `init_from` = the previous iteration's checkpoint, with or without its AdamW state
//!   (`finetune.optimizer_state`; the reference loads it). The step counter and the
//!   schedule start at 0: a fresh warm-up + cosine over `finetune.steps`;
//! - `optim.lr`, `optim.total_steps`, `optim.warmup_steps`, `batch.sequences`
//!   (with `batch.accumulation = 1`);
//! - `seed` = `keyed(seed, 2, N)` (data order), `device`, `threads`;
//! - then the `finetune.set` overrides.

use std::path::{Path, PathBuf};

use planform_train::config::InitFrom;
use planform_train::TrainConfig;

use crate::config::BootstrapConfig;
use crate::error::{BootstrapError, Result};

/// Builds the fine-tune config of `iteration` (≥ 1).
pub fn finetune_config(
    cfg: &BootstrapConfig,
    base: &TrainConfig,
    iteration: usize,
    data_dir: PathBuf,
    out_dir: PathBuf,
    init: &Path,
    seed: u64,
) -> Result<TrainConfig> {
    let f = &cfg.finetune;
    let mut t = base.clone();
    t.data_dir = data_dir;
    t.out_dir = out_dir;
    t.seed = seed;
    t.device = cfg.device;
    t.threads = cfg.threads;
    t.init_from = Some(InitFrom {
        checkpoint: init.to_path_buf(),
        optimizer: f.optimizer_state,
    });
    t.data.train_examples = None;
    t.optim.lr = f.lr;
    t.optim.total_steps = f.steps;
    t.optim.warmup_steps = f.warmup.resolve(f.steps);
    t.batch.sequences = f.batch;
    t.batch.accumulation = 1;
    t.with_overrides(&f.overrides()?)
        .map_err(|e| BootstrapError::config("finetune", format!("iteration {iteration}: {e}")))
}
