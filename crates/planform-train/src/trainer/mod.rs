//! The training loop: one explicit loop in [`Trainer::run`].
//!
//! Per optimizer step: learning rate from the schedule (LambdaLR convention), the next
//! `batch.accumulation` micro-batches of the data stream, and [`crate::step::train_step`]
//! (the one training step). Then, by the configured cadence: a training record, the
//! held-out loss, a checkpoint, and the progress callback.
//!
//! Around it, the promises of a run directory: one writer (a lock held by the [`Trainer`]),
//! nothing written into a directory that is not a run ([`crate::rundir`]), no checkpoint
//! from non-finite weights, a checkpoint before stopping on SIGINT/SIGTERM
//! ([`crate::interrupt`]), a resume only onto the same model, data and settings (only
//! `optim.total_steps` may grow), and `summary.json` when the loop returns.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use planform_core::lock::{LockError, RunLock};
use planform_model::checkpoint::{
    json_differences, load_weights_for, resolve_checkpoint, VocabInfo, CHECKPOINTS_DIR,
    CHECKPOINT_FORMAT, CHECKPOINT_VERSION, LATEST_FILE, OPTIMIZER_FILE,
};
use planform_model::{Model, ModelConfig};
use planform_optim::{LrSchedule, Optimizer};
use serde_json::Value;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::batch::Batch;
use crate::checkpoint::{
    read_state, save_checkpoint, write_atomic, IntervalState, PlateauState, TrainState,
};
use crate::config::{InitFrom, TrainConfig};
use crate::data::{Prepared, SequenceBuilder, TrainData};
use crate::error::{Result, TrainError};
use crate::interrupt;
use crate::loss::{host_sums, LossMetrics, N_SUMS};
use crate::metrics::{EvalRecord, MetricsLog, MetricsRecord, TrainRecord};
use crate::rundir::{check_run_dir, check_threads, CONFIG_FILE};
use crate::sampler::{plan_epoch, DataCursor};
use crate::step::{forward_loss, train_step};
use crate::summary::{RunReport, SUMMARY_FORMAT};

/// Whether a run starts fresh or continues from its latest checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Start at step 0; an error if the run directory already holds checkpoints.
    Fresh,
    /// Continue from `<out>/checkpoints/latest`; an error if there is none.
    Resume,
    /// Resume if a checkpoint exists, else start fresh.
    Auto,
}

/// What the progress callback sees after every optimizer step.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Optimizer steps completed.
    pub step: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// Current epoch.
    pub epoch: u64,
    /// Learning rate of the step just taken.
    pub lr: f64,
    /// Loss of the newest training record.
    pub loss: Option<f64>,
    /// Loss of the newest evaluation.
    pub eval_loss: Option<f64>,
    /// Real tokens per second of training in this session.
    pub tokens_per_sec: f64,
    /// Estimated seconds to the end of the run.
    pub eta_secs: Option<f64>,
    /// Wall seconds of the run so far (all sessions).
    pub elapsed_secs: f64,
    /// This step wrote a training record.
    pub logged: bool,
    /// This step ran an evaluation.
    pub evaluated: bool,
    /// This step wrote a checkpoint.
    pub checkpointed: bool,
}

/// The outcome of [`Trainer::run`].
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Optimizer steps completed.
    pub step: u64,
    /// Whether `total_steps` was reached (false: the callback stopped the run).
    pub completed: bool,
    /// Newest training record.
    pub last_train: Option<TrainRecord>,
    /// Newest evaluation record.
    pub last_eval: Option<EvalRecord>,
    /// Newest checkpoint directory written in this session.
    pub last_checkpoint: Option<PathBuf>,
    /// Wall seconds of the run (all sessions).
    pub elapsed_secs: f64,
    /// Real tokens trained on (all sessions).
    pub tokens_seen: u64,
    /// The step at which the held-out loss plateaued and the run stopped (`stop.plateau`).
    pub stopped_on_plateau: Option<u64>,
    /// The signal (SIGINT, SIGTERM) that stopped the run after a checkpoint of its last
    /// step (see [`crate::interrupt`]).
    pub interrupted: Option<i32>,
    /// Whether `summary.json` was written (false only for a finished run found on a
    /// read-only file system, which is reported and left untouched).
    pub wrote_summary: bool,
}

/// A training run in memory: model, optimizer, data stream and logs.
pub struct Trainer {
    cfg: TrainConfig,
    device: Device,
    vs: VarStore,
    model: Model,
    model_cfg: ModelConfig,
    opt: Optimizer,
    schedule: LrSchedule,
    data: TrainData,
    builder: SequenceBuilder,
    step: u64,
    cursor: DataCursor,
    plan: Option<(u64, Vec<Vec<usize>>)>,
    static_lengths: Option<Vec<(usize, usize)>>,
    eval_batches: Option<Vec<Vec<Prepared>>>,
    metrics: Option<MetricsLog>,
    interval: Interval,
    resumed: bool,
    elapsed_before: f64,
    session_start: Instant,
    session_steps: u64,
    session_tokens: u64,
    session_train_secs: f64,
    sequences_seen: u64,
    tokens_seen: u64,
    last_train: Option<TrainRecord>,
    last_eval: Option<EvalRecord>,
    plateau: PlateauState,
    /// The step of the newest checkpoint on disk.
    checkpointed_at: Option<u64>,
    /// One writer per run directory: held as long as the trainer lives.
    /// `None` only for a finished run on a read-only file system, which is reported and
    /// never written to.
    _lock: Option<RunLock>,
}

/// Loads the dataset of `cfg` and runs it to the end (or until `progress` breaks).
pub fn train(
    cfg: TrainConfig,
    start: StartMode,
    progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<RunSummary> {
    let data = TrainData::load(&cfg.data_dir, &cfg.data)?;
    Trainer::new(cfg, data, start)?.run(progress)
}

impl Trainer {
    /// Builds a run from `cfg` on in-memory `data`: fresh (model initialised with
    /// `tch::manual_seed(cfg.seed)`) or resumed from the run directory's latest checkpoint.
    /// Refuses an output path that is not a training run directory
    /// ([`crate::rundir::check_run_dir`]) and one another writer holds; the trainer holds
    /// the run directory's lock until it is dropped.
    pub fn new(cfg: TrainConfig, data: TrainData, start: StartMode) -> Result<Self> {
        cfg.validate()?;
        if let Some(n) = cfg.threads {
            check_threads(n)?;
        }
        let device = cfg.device.resolve()?;
        if data.train.is_empty() {
            return Err(TrainError::Data("no training examples".into()));
        }
        data.check_tokens()?;
        let model_cfg = cfg.model.resolve(data.vocab.len())?;
        let out = cfg.out_dir.clone();
        check_run_dir(&out)?;
        // A run directory on a read-only file system cannot be locked; that is only an
        // error if the run has anything left to write (checked after the restore).
        let (lock, read_only) = match crate::rundir::lock(&out) {
            Ok(lock) => (Some(lock), None),
            Err(TrainError::Busy(LockError::Io { error, .. }))
                if error.kind() == std::io::ErrorKind::ReadOnlyFilesystem
                    && start != StartMode::Fresh
                    && has_checkpoint(&out) =>
            {
                (None, Some(error))
            }
            Err(e) => return Err(e),
        };
        if let Some(n) = cfg.threads {
            tch::set_num_threads(n as i32);
        }
        let resume = match (start, has_checkpoint(&out)) {
            (StartMode::Fresh, true) => return Err(TrainError::RunExists(out)),
            (StartMode::Resume, false) => return Err(TrainError::NoCheckpoint(out)),
            (StartMode::Fresh, false) | (StartMode::Auto, false) => false,
            (StartMode::Resume, true) | (StartMode::Auto, true) => true,
        };
        let vs = VarStore::new(device);
        let model = Model::new_seeded(&vs.root(), &model_cfg, cfg.seed as i64)
            .map_err(|e| TrainError::invalid("model", e.to_string()))?;
        let opt = Optimizer::for_var_store(cfg.optim.algorithm, cfg.optim.adamw(), &vs);
        let builder = SequenceBuilder::new(&cfg.trace, data.domain(), cfg.seed)?;
        let schedule = cfg.optim.schedule();

        let mut t = Trainer {
            metrics: None,
            interval: Interval::new(device),
            cfg,
            device,
            vs,
            model,
            model_cfg,
            opt,
            schedule,
            data,
            builder,
            step: 0,
            cursor: DataCursor::default(),
            plan: None,
            static_lengths: None,
            eval_batches: None,
            resumed: resume,
            elapsed_before: 0.0,
            session_start: Instant::now(),
            session_steps: 0,
            session_tokens: 0,
            session_train_secs: 0.0,
            sequences_seen: 0,
            tokens_seen: 0,
            last_train: None,
            last_eval: None,
            plateau: PlateauState::default(),
            checkpointed_at: None,
            _lock: lock,
        };
        if let Some(error) = read_only {
            // Restore without writing anything; only a finished run may go on.
            t.restore_state(&out)?;
            if !t.is_finished() {
                return Err(TrainError::Busy(LockError::Io { dir: out, error }));
            }
            return Ok(t);
        }
        if resume {
            t.restore(&out)?;
        } else if let Some(init) = t.cfg.init_from.clone() {
            t.init_from(&init)?;
        }
        // The config in force (on a resume, possibly with more total steps).
        let toml = t.cfg.to_toml()?;
        write_atomic(&out.join(CONFIG_FILE), toml.as_bytes())?;
        if !resume {
            t.metrics = Some(MetricsLog::open(&out, None)?);
        }
        Ok(t)
    }

    /// The run's configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Optimizer steps completed.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The variables of the model.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// The resolved model configuration.
    pub fn model_config(&self) -> &ModelConfig {
        &self.model_cfg
    }

    /// The device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The data being trained on.
    pub fn data(&self) -> &TrainData {
        &self.data
    }

    /// `(encoder, decoder)` lengths of every training example in `epoch`.
    pub fn epoch_lengths(&mut self, epoch: u64) -> Result<Vec<(usize, usize)>> {
        if let Some(l) = &self.static_lengths {
            return Ok(l.clone());
        }
        let lengths = self
            .data
            .train
            .iter()
            .map(|r| self.builder.lengths(r, &self.data.vocab, epoch))
            .collect::<Result<Vec<_>>>()?;
        if !self.builder.varies_by_epoch() {
            self.static_lengths = Some(lengths.clone());
        }
        Ok(lengths)
    }

    /// The micro-batches (example indices) of `epoch`, computed once per epoch.
    fn epoch_plan(&mut self, epoch: u64) -> Result<&Vec<Vec<usize>>> {
        if self.plan.as_ref().map(|p| p.0) != Some(epoch) {
            let lengths = self.epoch_lengths(epoch)?;
            self.plan = Some((
                epoch,
                plan_epoch(&lengths, &self.cfg.batch, self.cfg.seed, epoch),
            ));
        }
        self.plan
            .as_ref()
            .map(|p| &p.1)
            .ok_or_else(|| TrainError::Data("no plan".into()))
    }

    fn next_batch(&mut self) -> Result<(u64, Vec<usize>)> {
        loop {
            let epoch = self.cursor.epoch;
            let cursor_batch = self.cursor.batch;
            let batches = self.epoch_plan(epoch)?;
            if let Some(b) = batches.get(cursor_batch) {
                let b = b.clone();
                self.cursor.batch += 1;
                return Ok((epoch, b));
            }
            if batches.is_empty() {
                return Err(TrainError::Data("an epoch has no batches".into()));
            }
            self.cursor = DataCursor {
                epoch: epoch + 1,
                batch: 0,
            };
        }
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.session_start.elapsed().as_secs_f64()
    }

    /// Runs optimizer steps until `total_steps` or until `progress` returns `Break`
    /// (which stops at once, without a checkpoint — like a kill). A SIGINT/SIGTERM
    /// ([`crate::interrupt`]) stops it after the current step *with* a checkpoint. Writes
    /// `summary.json` when it returns without an error.
    pub fn run(
        &mut self,
        progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<RunSummary> {
        let _running = interrupt::Running::start();
        let total = self.cfg.optim.total_steps;
        let mut last_checkpoint = None;
        let mut interrupted = None;
        self.check_memory()?;
        if self.step == 0 && !self.resumed && self.cfg.log.eval_at_start {
            self.evaluate_and_log()?;
        }
        let mut completed = self.step >= total || self.plateau.stopped_at.is_some();
        while self.step < total && self.plateau.stopped_at.is_none() {
            if let Some(signal) = interrupt::requested() {
                if self.checkpointed_at != Some(self.step) {
                    last_checkpoint = Some(self.checkpoint()?);
                }
                interrupted = Some(signal);
                break;
            }
            let t0 = Instant::now();
            let lr = self.schedule.lr_at(self.cfg.optim.lr, self.step);
            let micro = (0..self.cfg.batch.accumulation)
                .map(|_| self.next_batch())
                .collect::<Result<Vec<_>>>()?;
            let family = self.model.family();
            let batches = micro
                .iter()
                .map(|(epoch, idx)| {
                    let seqs = idx
                        .iter()
                        .map(|&i| {
                            self.builder
                                .prepare(&self.data.train[i], &self.data.vocab, *epoch)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Batch::collate(&seqs, family, self.device)
                })
                .collect::<Result<Vec<_>>>()?;
            let stats = train_step(&self.model, &mut self.opt, &batches, lr, self.cfg.precision)?;
            for sums in &stats.sums {
                let _ = self.interval.sums.f_add_(sums)?;
            }
            let (rows, real) = (stats.rows as u64, stats.real_tokens as u64);
            self.interval.sequences += rows;
            self.interval.tokens += real;
            self.interval.padded += stats.padded_tokens as u64;
            self.session_tokens += real;
            self.sequences_seen += rows;
            self.tokens_seen += real;
            self.step += 1;
            self.interval.steps += 1;
            let secs = t0.elapsed().as_secs_f64();
            self.interval.train_secs += secs;
            self.session_train_secs += secs;
            self.session_steps += 1;

            let step = self.step;
            let last = step == total;
            let logged = step % self.cfg.log.log_every == 0 || last;
            if logged {
                self.log_train(lr)?;
            }
            let evaluated = step % self.cfg.log.eval_every == 0 || last;
            if evaluated {
                self.evaluate_and_log()?;
                self.update_plateau();
            }
            let stopped = self.plateau.stopped_at.is_some();
            let checkpointed = step % self.cfg.log.checkpoint_every == 0 || last || stopped;
            if checkpointed {
                last_checkpoint = Some(self.checkpoint()?);
            }
            completed = last || stopped;
            let p = self.progress(lr, logged, evaluated, checkpointed);
            if progress(&p).is_break() {
                break;
            }
        }
        let summary = RunSummary {
            step: self.step,
            completed,
            last_train: self.last_train.clone(),
            last_eval: self.last_eval.clone(),
            last_checkpoint,
            elapsed_secs: self.elapsed(),
            tokens_seen: self.tokens_seen,
            stopped_on_plateau: self.plateau.stopped_at,
            interrupted,
            wrote_summary: self._lock.is_some(),
        };
        if summary.wrote_summary {
            self.report(&summary)?.write(&self.cfg.out_dir)?;
        }
        Ok(summary)
    }

    /// The `summary.json` of a run that returned `summary`.
    fn report(&self, summary: &RunSummary) -> Result<RunReport> {
        let out = &self.cfg.out_dir;
        let rel = |p: &PathBuf| p.strip_prefix(out).map_or(p.clone(), Path::to_path_buf);
        let newest = match &summary.last_checkpoint {
            Some(p) => Some(rel(p)),
            None => resolve_checkpoint(out).ok().map(|p| rel(&p)),
        };
        RunReport {
            format: SUMMARY_FORMAT.to_string(),
            steps: summary.step,
            total_steps: self.cfg.optim.total_steps,
            completed: summary.completed,
            stopped_on_plateau: summary.stopped_on_plateau,
            interrupted_by: summary.interrupted.map(interrupt::signal_name),
            wall_secs: summary.elapsed_secs,
            tokens_seen: summary.tokens_seen,
            tokens_per_wall_sec: summary.tokens_seen as f64 / summary.elapsed_secs.max(1e-9),
            last_tokens_per_sec: summary.last_train.as_ref().map(|r| r.tokens_per_sec),
            final_train_loss: summary.last_train.as_ref().map(|r| r.metrics.loss),
            final_eval_loss: summary.last_eval.as_ref().map(|r| r.metrics.loss),
            best_eval_loss: None,
            best_eval_step: None,
            best_checkpoint: None,
            last_checkpoint: newest,
            optimizer: Some(self.opt.stats()),
        }
        .with_best_from(out)
    }

    /// After an evaluation: tracks the best held-out loss and stops the run when
    /// `stop.plateau` says it has plateaued.
    fn update_plateau(&mut self) {
        let (Some(p), Some(e)) = (self.cfg.stop.plateau, self.last_eval.as_ref()) else {
            return;
        };
        let loss = e.metrics.loss;
        match self.plateau.best {
            Some(best) if loss >= best * (1.0 - p.min_delta) => self.plateau.since_best += 1,
            _ => {
                self.plateau.best = Some(loss);
                self.plateau.since_best = 0;
            }
        }
        if self.plateau.since_best >= p.patience {
            self.plateau.stopped_at = Some(self.step);
        }
    }

    fn forward_loss(&self, batch: &Batch, weight: f64) -> Result<crate::loss::LossOutput> {
        forward_loss(&self.model, batch, weight, self.cfg.precision)
    }

    fn progress(&self, lr: f64, logged: bool, evaluated: bool, checkpointed: bool) -> Progress {
        let per_step = if self.session_steps > 0 {
            self.session_train_secs / self.session_steps as f64
        } else {
            0.0
        };
        let total = self.cfg.optim.total_steps;
        Progress {
            step: self.step,
            total_steps: total,
            epoch: self.cursor.epoch,
            lr,
            loss: self.last_train.as_ref().map(|r| r.metrics.loss),
            eval_loss: self.last_eval.as_ref().map(|r| r.metrics.loss),
            tokens_per_sec: if self.session_train_secs > 0.0 {
                self.session_tokens as f64 / self.session_train_secs
            } else {
                0.0
            },
            eta_secs: (self.session_steps > 0)
                .then(|| per_step * total.saturating_sub(self.step) as f64),
            elapsed_secs: self.elapsed(),
            logged,
            evaluated,
            checkpointed,
        }
    }

    fn log_train(&mut self, lr: f64) -> Result<()> {
        let sums = host_sums(&self.interval.sums)?;
        let metrics = LossMetrics::from_sums(&sums);
        if !metrics.loss.is_finite() {
            return Err(TrainError::NonFiniteLoss {
                what: "training",
                step: self.step,
                loss: metrics.loss,
                lr: self.cfg.optim.lr,
            });
        }
        let iv = &self.interval;
        let rec = TrainRecord {
            step: self.step,
            epoch: self.cursor.epoch,
            lr,
            metrics,
            steps: iv.steps,
            sequences: iv.sequences,
            tokens: iv.tokens,
            tokens_per_sec: if iv.train_secs > 0.0 {
                iv.tokens as f64 / iv.train_secs
            } else {
                0.0
            },
            padding: if iv.padded > 0 {
                1.0 - iv.tokens as f64 / iv.padded as f64
            } else {
                0.0
            },
            elapsed_secs: self.elapsed(),
        };
        self.write_record(&MetricsRecord::Train(rec.clone()))?;
        self.last_train = Some(rec);
        self.interval = Interval::new(self.device);
        Ok(())
    }

    fn write_record(&mut self, rec: &MetricsRecord) -> Result<()> {
        match &mut self.metrics {
            Some(m) => m.write(rec),
            None => Err(TrainError::Data("metrics log not open".into())),
        }
    }
}

mod eval;
mod limits;
mod resume;

use resume::{has_checkpoint, Interval};

#[cfg(test)]
mod tests;
