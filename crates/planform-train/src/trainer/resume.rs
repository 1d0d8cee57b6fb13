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
/// model, the data stream or the optimizer trajectory).
fn identity(cfg: &TrainConfig) -> Vec<(&'static str, Value)> {
    let j = |v: &dyn erased::Ser| v.to_json();
    let mut data = j(&cfg.data);
    if let Some(o) = data.as_object_mut() {
        o.remove("eval_examples");
    }
    vec![
        ("seed", Value::from(cfg.seed)),
        ("model", j(&cfg.model)),
        ("trace", j(&cfg.trace)),
        ("data", data),
        ("batch", j(&cfg.batch)),
        ("optim", j(&cfg.optim)),
    ]
}

mod erased {
    /// Object-safe JSON serialisation for the identity comparison.
    pub trait Ser {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

impl Trainer {
    /// Loads the weights (and optimizer state) of another run's checkpoint.
    pub(super) fn init_from(&mut self, init: &InitFrom) -> Result<()> {
        let dir = resolve_checkpoint(&init.checkpoint)?;
        let state = read_state(&dir)?;
        if state.model != self.model_cfg {
            return Err(TrainError::checkpoint(
                &dir,
                "init_from: model config differs from this run's",
            ));
        }
        if state.vocab != VocabInfo::of(&self.data.vocab) {
            return Err(TrainError::checkpoint(
                &dir,
                "init_from: vocabulary differs from this run's dataset",
            ));
        }
        load_weights(&dir, &self.vs)?;
        if init.optimizer {
            self.opt.load(&dir.join(OPTIMIZER_FILE))?;
            self.opt.set_steps(0);
        }
        Ok(())
    }

    /// Loads the latest checkpoint of `out` into this freshly built trainer.
    pub(super) fn restore(&mut self, out: &Path) -> Result<()> {
        let dir = resolve_checkpoint(out)?;
        let state = read_state(&dir)?;
        self.check_resumable(&state, &dir)?;
        load_weights(&dir, &self.vs)?;
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
        self.metrics = Some(MetricsLog::open(out, Some(state.step))?);
        Ok(())
    }

    fn check_resumable(&self, state: &TrainState, dir: &Path) -> Result<()> {
        let bad = |reason: String| Err(TrainError::checkpoint(dir, reason));
        if state.model != self.model_cfg {
            return bad(format!(
                "model config differs from the checkpoint's ({:?} vs {:?})",
                self.model_cfg, state.model
            ));
        }
        if state.vocab != VocabInfo::of(&self.data.vocab) {
            return bad("dataset vocabulary differs from the checkpoint's".into());
        }
        for ((field, now), (_, then)) in
            identity(&self.cfg).into_iter().zip(identity(&state.config))
        {
            if now != then {
                return bad(format!(
                    "config `{field}` differs from the checkpoint's: {now} vs {then}"
                ));
            }
        }
        if state.step > self.cfg.optim.total_steps {
            return bad(format!("checkpoint step {} beyond total_steps", state.step));
        }
        Ok(())
    }

    /// Writes a checkpoint of the current state; returns its directory.
    pub fn checkpoint(&mut self) -> Result<PathBuf> {
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
        };
        save_checkpoint(
            &self.cfg.out_dir,
            state,
            &self.vs,
            &self.opt,
            self.cfg.log.keep_checkpoints,
        )
    }
}
