//! Checkpointing, resuming and initialising from another run.

use super::*;

pub(super) struct Interval {
    pub(super) sums: Tensor,
    pub(super) steps: u64,
    pub(super) sequences: u64,
    pub(super) tokens: u64,
    pub(super) padded: u64,
    pub(super) train_secs: f64,
}

impl Interval {
    pub(super) fn new(device: Device) -> Self {
        Interval {
            sums: Tensor::zeros([N_SUMS as i64], (Kind::Double, device)),
            steps: 0,
            sequences: 0,
            tokens: 0,
            padded: 0,
            train_secs: 0.0,
        }
    }

    fn to_state(&self) -> Result<IntervalState> {
        Ok(IntervalState {
            sums: host_sums(&self.sums)?.to_vec(),
            steps: self.steps,
            sequences: self.sequences,
            tokens: self.tokens,
            padded: self.padded,
            train_secs: self.train_secs,
        })
    }

    fn from_state(s: &IntervalState, device: Device) -> Result<Self> {
        let sums = if s.sums.is_empty() {
            vec![0.0; N_SUMS]
        } else {
            s.sums.clone()
        };
        if sums.len() != N_SUMS {
            return Err(TrainError::Data(format!(
                "interval sums have {} entries, expected {N_SUMS}",
                sums.len()
            )));
        }
        Ok(Interval {
            sums: Tensor::f_from_slice(&sums)?.f_to_device(device)?,
            steps: s.steps,
            sequences: s.sequences,
            tokens: s.tokens,
            padded: s.padded,
            train_secs: s.train_secs,
        })
    }
}

pub(super) fn has_checkpoint(out_dir: &Path) -> bool {
    out_dir.join(CHECKPOINTS_DIR).join(LATEST_FILE).exists()
}

/// Parts of the config that must not change when a run is resumed (they determine the
/// model, the data stream or the optimizer trajectory), as one JSON object — less
/// `optim.total_steps`, which may grow to extend a run.
fn identity(cfg: &TrainConfig) -> Value {
    let mut v = serde_json::json!({
        "seed": cfg.seed,
        "model": cfg.model,
        "trace": cfg.trace,
        "data": cfg.data,
        "batch": cfg.batch,
        "optim": cfg.optim,
    });
    if let Some(o) = v.get_mut("data").and_then(Value::as_object_mut) {
        o.remove("eval_examples");
    }
    if let Some(o) = v.get_mut("optim").and_then(Value::as_object_mut) {
        o.remove("total_steps");
    }
    v
}

impl Trainer {
    /// Loads the weights (and optimizer state) of another run's checkpoint.
    pub(super) fn init_from(&mut self, init: &InitFrom) -> Result<()> {
        let dir = resolve_checkpoint(&init.checkpoint)?;
        let state = read_state(&dir)?;
        if state.model != self.model_cfg {
            return Err(TrainError::checkpoint(
                &dir,
                format!(
                    "init_from: the model differs from this run's (checkpoint → this run: {})",
                    model_differences(&state.model, &self.model_cfg)
                ),
            ));
        }
        if state.vocab != VocabInfo::of(&self.data.vocab) {
            return Err(TrainError::checkpoint(
                &dir,
                "init_from: vocabulary differs from this run's dataset",
            ));
        }
        load_weights_for(&dir, &self.vs, &state.model)?;
        if init.optimizer {
            self.opt.load(&dir.join(OPTIMIZER_FILE))?;
            self.opt.set_steps(0);
        }
        Ok(())
    }

    /// Loads the latest checkpoint of `out` into this freshly built trainer.
    pub(super) fn restore(&mut self, out: &Path) -> Result<()> {
        let step = self.restore_state(out)?;
        self.metrics = Some(MetricsLog::open(out, Some(step))?);
        Ok(())
    }

    /// Whether the run has nothing left to do (all steps taken, or stopped on a plateau).
    pub(super) fn is_finished(&self) -> bool {
        self.step >= self.cfg.optim.total_steps || self.plateau.stopped_at.is_some()
    }

    /// [`Self::restore`] without opening the metrics log: reads and checks the latest
    /// checkpoint, writes nothing; returns its step.
    pub(super) fn restore_state(&mut self, out: &Path) -> Result<u64> {
        let dir = resolve_checkpoint(out)?;
        let state = read_state(&dir)?;
        self.check_resumable(&state, &dir)?;
        load_weights_for(&dir, &self.vs, &state.model)?;
        self.opt.load(&dir.join(OPTIMIZER_FILE))?;
        if self.opt.steps() != state.step {
            return Err(TrainError::checkpoint(
                &dir,
                format!(
                    "optimizer has {} steps, state.json says {}",
                    self.opt.steps(),
                    state.step
                ),
            ));
        }
        self.interval = Interval::from_state(&state.interval, self.device)
            .map_err(|e| TrainError::checkpoint(&dir, e.to_string()))?;
        self.step = state.step;
        self.cursor = state.cursor;
        self.elapsed_before = state.elapsed_secs;
        self.sequences_seen = state.sequences_seen;
        self.tokens_seen = state.tokens_seen;
        self.last_train = state.last_train;
        self.last_eval = state.last_eval;
        self.plateau = state.plateau;
        self.check_cursor(&dir)?;
        self.checkpointed_at = Some(state.step);
        Ok(state.step)
    }

    /// Refuses to resume `state` with another model, vocabulary, dataset or settings; the
    /// error names every differing key (`checkpoint → now`). Only `optim.total_steps` may
    /// change, and only grow: the run is extended and the schedule follows the new total.
    fn check_resumable(&self, state: &TrainState, dir: &Path) -> Result<()> {
        let bad = |reason: String| Err(TrainError::checkpoint(dir, reason));
        if state.model != self.model_cfg {
            return bad(format!(
                "the model differs from the checkpoint's (checkpoint → now: {})",
                model_differences(&state.model, &self.model_cfg)
            ));
        }
        if state.vocab != VocabInfo::of(&self.data.vocab) {
            return bad("the dataset's vocabulary differs from the checkpoint's".into());
        }
        let diff = json_differences(&identity(&state.config), &identity(&self.cfg));
        if !diff.is_empty() {
            return bad(format!(
                "the settings differ from the checkpoint's (checkpoint → now: {}); resume \
                 with the run's own config ({}/{CONFIG_FILE}) — only `optim.total_steps` may \
                 change, to extend the run",
                diff.join("; "),
                self.cfg.out_dir.display()
            ));
        }
        let (then, now) = (state.config.optim.total_steps, self.cfg.optim.total_steps);
        if now < then {
            return bad(format!(
                "optim.total_steps: {then} → {now}: a run can be extended, not shortened"
            ));
        }
        if state.step > then {
            return bad(format!(
                "checkpoint step {} is beyond its own optim.total_steps ({then})",
                state.step
            ));
        }
        if let (Some(then), Some(now)) = (&state.dataset, &self.data.source) {
            if let Some(why) = now.mismatch(then, &self.cfg.data_dir) {
                return bad(why);
            }
        }
        Ok(())
    }

    /// Writes a checkpoint of the current state; returns its directory. Refuses (writing
    /// nothing) when a weight is not finite.
    pub fn checkpoint(&mut self) -> Result<PathBuf> {
        self.check_weights_finite()?;
        let state = TrainState {
            format: CHECKPOINT_FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            step: self.step,
            config: self.cfg.clone(),
            model: self.model_cfg.clone(),
            vocab: VocabInfo::of(&self.data.vocab),
            cursor: self.cursor,
            elapsed_secs: self.elapsed(),
            sequences_seen: self.sequences_seen,
            tokens_seen: self.tokens_seen,
            interval: self.interval.to_state()?,
            last_train: self.last_train.clone(),
            last_eval: self.last_eval.clone(),
            files: Default::default(),
            plateau: self.plateau.clone(),
            dataset: self.data.source.clone(),
        };
        let dir = save_checkpoint(
            &self.cfg.out_dir,
            state,
            &self.vs,
            &self.opt,
            self.cfg.log.keep_checkpoints,
        )?;
        self.checkpointed_at = Some(self.step);
        Ok(dir)
    }
}

/// `key: checkpoint → now` for every differing key of two model configs.
fn model_differences(then: &ModelConfig, now: &ModelConfig) -> String {
    let j = |m: &ModelConfig| serde_json::to_value(m).unwrap_or(Value::Null);
    json_differences(&j(then), &j(now)).join("; ")
}
