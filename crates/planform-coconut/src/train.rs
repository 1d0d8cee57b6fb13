//! The training loop of one run, resumable at epoch boundaries.
//!
//! ```text
//! for epoch in 0..epochs:
//!     stage = curriculum.stage(epoch)
//!     reset the optimizer (fresh AdamW) at the first epoch of a stage   (reset_optimizer)
//!     for each batch of the epoch's order (keyed by (seed, epoch)):
//!         each example at its drawn stage (uniform_prob), laid out, collated (aligned thoughts)
//!         loss = mean token cross-entropy of the multi-pass forward;  backward;  AdamW step
//!     at the end of a stage: validation accuracy at that stage (stage-by-stage accuracy)
//!     checkpoint: weights, optimizer state, records
//! ```
//!
//! Run directory `<runs>/<name>/s<seed>/`: `checkpoint/` (`model.safetensors`,
//! `optimizer.safetensors`, `state.json`), `metrics.jsonl` (one record per epoch, rewritten
//! from the state), `result.json` (the test evaluation; its presence marks the run done).

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use planform_core::fs::write_atomic;
use planform_core::rng::Rng;
use planform_model::checkpoint::{load_weights, save_weights, MODEL_FILE, OPTIMIZER_FILE};
use planform_model::{seeded, DecoderConfig, DecoderOnly};
use planform_optim::{AdamWConfig, Algorithm, Optimizer};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Device;

use crate::batch::{collate, Align};
use crate::config::{ResetOptimizer, RunConfig};
use crate::data::Dataset;
use crate::error::{CoconutError, Result};
use crate::eval::{evaluate, EvalSummary};
use crate::forward::{latent_forward, lm_loss};
use crate::layout::{draw_stage, eval_prompt, train_sequence, Sequence};
use crate::vocab::{CoconutVocab, VocabKind};

/// `format` of `state.json`.
pub const STATE_FORMAT: &str = "planform-coconut";
/// Checkpoint directory inside a run directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The result file; its presence marks a run done.
pub const RESULT_FILE: &str = "result.json";

const TAG_ORDER: u64 = 0x006f_7264_6572;
const TAG_STAGE: u64 = 0x0073_7461_6765;

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch index.
    pub epoch: usize,
    /// Scheduled stage.
    pub stage: usize,
    /// Whether the optimizer was replaced by a fresh one before this epoch.
    pub optimizer_reset: bool,
    /// Optimizer state bytes when the epoch started (0 after a reset).
    pub optimizer_state_bytes: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Teacher-forced token accuracy.
    pub token_acc: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Wall seconds.
    pub secs: f64,
    /// Validation accuracy at this stage (end of a stage only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<EvalSummary>,
}

/// `state.json` of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`STATE_FORMAT`].
    pub format: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// The run's configuration.
    pub config: RunConfig,
    /// The model.
    pub model: DecoderConfig,
    /// The vocabulary kind.
    pub vocab: VocabKind,
    /// Its tokens (checked on load).
    pub tokens: Vec<String>,
    /// Per-epoch records.
    pub records: Vec<EpochRecord>,
}

/// `result.json` of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Run name.
    pub name: String,
    /// Method.
    pub method: crate::config::Method,
    /// Seed.
    pub seed: u64,
    /// Test evaluation at the final stage.
    pub test: EvalSummary,
    /// Validation accuracy at the end of every stage: `(stage, accuracy)`.
    pub stage_valid: Vec<(usize, f64)>,
    /// Trainable parameters.
    pub parameters: usize,
    /// Training wall seconds (all sessions).
    pub train_secs: f64,
    /// Per-epoch records.
    pub records: Vec<EpochRecord>,
}

/// The run directory of `cfg` under `runs`.
pub fn run_dir(cfg: &RunConfig, runs: &Path) -> PathBuf {
    runs.join(&cfg.name).join(format!("s{}", cfg.seed))
}

fn json_write<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CoconutError::run(path, e.to_string()))?;
    write_atomic(path, text.as_bytes()).map_err(|e| CoconutError::io(path, e))
}

fn json_read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| CoconutError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CoconutError::run(path, e.to_string()))
}

/// A model restored from a checkpoint.
pub struct Loaded {
    /// Its variables.
    pub vs: VarStore,
    /// The model.
    pub model: DecoderOnly,
    /// The vocabulary.
    pub vocab: CoconutVocab,
    /// The checkpoint's state.
    pub state: CheckpointState,
}

/// Loads a checkpoint from a run directory (`<dir>/checkpoint`) or a checkpoint directory.
pub fn load_checkpoint(path: &Path, device: Device) -> Result<Loaded> {
    let dir = if path.join(CHECKPOINT_DIR).is_dir() {
        path.join(CHECKPOINT_DIR)
    } else {
        path.to_path_buf()
    };
    let state: CheckpointState = json_read(&dir.join("state.json"))?;
    if state.format != STATE_FORMAT {
        return Err(CoconutError::run(&dir, "not a planform-coconut checkpoint"));
    }
    let vocab = CoconutVocab::new(state.vocab)?;
    if vocab.tokens() != state.tokens.as_slice() {
        return Err(CoconutError::run(
            &dir,
            "stored tokens differ from the vocabulary",
        ));
    }
    let vs = VarStore::new(device);
    let model = planform_model::zero_filled(|| DecoderOnly::new(&vs.root(), &state.model))?;
    load_weights(&dir, &vs)?;
    Ok(Loaded {
        vs,
        model,
        vocab,
        state,
    })
}

/// Prompts of `items` at `stage`.
pub fn prompts_at(
    cfg: &RunConfig,
    vocab: &CoconutVocab,
    items: &[crate::data::Item],
    stage: usize,
) -> Vec<Sequence> {
    items
        .iter()
        .map(|it| eval_prompt(&it.example, stage, &cfg.curriculum, vocab))
        .collect()
}

fn fresh_optimizer(cfg: &RunConfig, vs: &VarStore) -> Optimizer {
    let adamw = AdamWConfig {
        betas: cfg.optim.betas,
        eps: 1e-8,
        weight_decay: cfg.optim.weight_decay,
    };
    Optimizer::for_var_store(Algorithm::AdamW, adamw, vs)
}

/// Trains (or resumes) the run of `cfg` under `runs` and evaluates it on the test split.
/// A finished run (its `result.json` exists) is returned as it is. `progress` gets one
/// line per epoch, after its checkpoint is written; `Break` stops the run there (`None`).
pub fn train_run(
    cfg: &RunConfig,
    runs: &Path,
    progress: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Option<RunResult>> {
    cfg.validate()?;
    let dir = run_dir(cfg, runs);
    if dir.join(RESULT_FILE).is_file() {
        // A finished run is reused only if it was made with this very configuration (a
        // `--epochs 2` pilot is not the full run).
        let state: CheckpointState = json_read(&dir.join(CHECKPOINT_DIR).join("state.json"))?;
        if state.config != *cfg {
            return Err(CoconutError::run(
                &dir,
                "a finished run with another configuration is here (a pilot?); use another \
                 runs directory or delete it",
            ));
        }
        return json_read(&dir.join(RESULT_FILE)).map(Some);
    }
    tch::set_num_threads(cfg.threads as i32);
    let data = Dataset::load(&cfg.data, &runs.join("data"))?;
    train_on(cfg, &data, &dir, progress)
}

/// [`train_run`] on loaded data, writing into `dir`.
pub fn train_on(
    cfg: &RunConfig,
    data: &Dataset,
    dir: &Path,
    progress: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Option<RunResult>> {
    std::fs::create_dir_all(dir).map_err(|e| CoconutError::io(dir, e))?;
    let device = Device::Cpu;
    let vocab = &data.vocab;
    let model_cfg = cfg.model.resolve(vocab.len())?;
    let ckpt = dir.join(CHECKPOINT_DIR);
    let (vs, model, mut records) = if ckpt.join("state.json").is_file() {
        let l = load_checkpoint(&ckpt, device)?;
        if l.state.config != *cfg {
            return Err(CoconutError::run(
                &ckpt,
                "the checkpoint was made with another configuration",
            ));
        }
        (l.vs, l.model, l.state.records)
    } else {
        let mut vs = VarStore::new(device);
        let model = seeded(cfg.seed as i64, || DecoderOnly::new(&vs.root(), &model_cfg))?;
        if let Some(from) = &cfg.init_from {
            let l = load_checkpoint(from, device).map_err(|e| {
                CoconutError::run(
                    from,
                    format!(
                        "init_from: no run to start from here ({e}); the path is relative to \
                         the working directory"
                    ),
                )
            })?;
            if l.vocab.tokens() != vocab.tokens() {
                return Err(CoconutError::run(
                    from,
                    "init_from: its vocabulary differs from this run's data",
                ));
            }
            if l.model.config() != &model_cfg {
                return Err(CoconutError::run(
                    from,
                    format!(
                        "init_from: its model shape differs from this run's ({:?} vs {:?})",
                        l.model.config(),
                        model_cfg
                    ),
                ));
            }
            vs.copy(&l.vs)?;
        }
        (vs, model, Vec::new())
    };
    let mut opt = fresh_optimizer(cfg, &vs);
    if !records.is_empty() && ckpt.join(OPTIMIZER_FILE).is_file() {
        opt.load(&ckpt.join(OPTIMIZER_FILE))?;
    }
    let cur = &cfg.curriculum;
    let n = data.train.len();
    for epoch in records.len()..cur.epochs {
        let t0 = Instant::now();
        let stage = cur.stage(epoch);
        let reset = match cfg.optim.reset_optimizer {
            ResetOptimizer::Stage => epoch == 0 || cur.stage(epoch - 1) != stage,
            ResetOptimizer::Epoch => true,
            ResetOptimizer::Never => false,
        };
        if reset {
            opt = fresh_optimizer(cfg, &vs);
        }
        let state_bytes = opt.state_bytes();
        let mut order: Vec<usize> = (0..n).collect();
        Rng::keyed(&[cfg.seed, TAG_ORDER, epoch as u64]).shuffle(&mut order);
        let (mut loss_sum, mut batches, mut tokens, mut correct) = (0.0, 0usize, 0i64, 0i64);
        for chunk in order.chunks(cfg.optim.batch_size) {
            let seqs = chunk
                .iter()
                .map(|&i| {
                    let ex = data.train_example(i, epoch)?;
                    let mut rng = Rng::keyed(&[cfg.seed, TAG_STAGE, epoch as u64, i as u64]);
                    let s = draw_stage(cur, stage, ex.steps.len(), &mut rng);
                    Ok(train_sequence(&ex, s, cur, vocab))
                })
                .collect::<Result<Vec<_>>>()?;
            let batch = collate(&seqs, vocab.pad, Align::FirstLatent, device);
            let fwd = latent_forward(&model, &batch)?;
            let out = lm_loss(&model.head(&fwd.hidden), &batch.labels)?;
            opt.zero_grad();
            out.loss.f_backward()?;
            opt.step(cfg.optim.lr)?;
            loss_sum += out.loss.double_value(&[]);
            batches += 1;
            tokens += out.tokens;
            correct += out.correct;
        }
        let stage_end = epoch + 1 == cur.epochs || cur.stage(epoch + 1) != stage;
        let valid = if stage_end && cfg.eval.stage_questions > 0 && !data.valid.is_empty() {
            let k = cfg.eval.stage_questions.min(data.valid.len());
            let items = &data.valid[..k];
            let prompts = prompts_at(cfg, vocab, items, stage);
            let e = &cfg.eval;
            Some(
                evaluate(
                    &model,
                    vocab,
                    items,
                    &prompts,
                    e.max_new_tokens,
                    e.batch_size,
                )?
                .0,
            )
        } else {
            None
        };
        let rec = EpochRecord {
            epoch,
            stage,
            optimizer_reset: reset,
            optimizer_state_bytes: state_bytes,
            loss: loss_sum / batches.max(1) as f64,
            token_acc: correct as f64 / tokens.max(1) as f64,
            steps: batches,
            secs: t0.elapsed().as_secs_f64(),
            valid,
        };
        let line = format!(
            "{} s{} epoch {}/{} stage {} loss {:.4} token-acc {:.3}{} ({:.0}s)",
            cfg.name,
            cfg.seed,
            epoch + 1,
            cur.epochs,
            stage,
            rec.loss,
            rec.token_acc,
            rec.valid
                .as_ref()
                .map_or(String::new(), |v| format!(" valid-acc {:.3}", v.accuracy)),
            rec.secs
        );
        records.push(rec);
        save_checkpoint(dir, cfg, &model_cfg, vocab, &vs, &opt, &records)?;
        if progress(&line).is_break() {
            return Ok(None);
        }
    }
    // Test at the final stage.
    let final_stage = cur.stage(cur.epochs - 1);
    let prompts = prompts_at(cfg, vocab, &data.test, final_stage);
    let e = &cfg.eval;
    let (test, _) = evaluate(
        &model,
        vocab,
        &data.test,
        &prompts,
        e.max_new_tokens,
        e.batch_size,
    )?;
    let result = RunResult {
        name: cfg.name.clone(),
        method: cur.method,
        seed: cfg.seed,
        test,
        stage_valid: records
            .iter()
            .filter_map(|r| r.valid.as_ref().map(|v| (r.stage, v.accuracy)))
            .collect(),
        parameters: model_cfg.trainable_parameters(),
        train_secs: records.iter().map(|r| r.secs).sum(),
        records,
    };
    json_write(&dir.join(RESULT_FILE), &result)?;
    Ok(Some(result))
}

fn save_checkpoint(
    dir: &Path,
    cfg: &RunConfig,
    model_cfg: &DecoderConfig,
    vocab: &CoconutVocab,
    vs: &VarStore,
    opt: &Optimizer,
    records: &[EpochRecord],
) -> Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| CoconutError::io(&tmp, e))?;
    save_weights(vs, &tmp.join(MODEL_FILE))?;
    opt.save(&tmp.join(OPTIMIZER_FILE))?;
    let state = CheckpointState {
        format: STATE_FORMAT.into(),
        epochs_done: records.len(),
        config: cfg.clone(),
        model: model_cfg.clone(),
        vocab: vocab.kind(),
        tokens: vocab.tokens().to_vec(),
        records: records.to_vec(),
    };
    json_write(&tmp.join("state.json"), &state)?;
    let dst = dir.join(CHECKPOINT_DIR);
    let old = dir.join("checkpoint.old");
    let _ = std::fs::remove_dir_all(&old);
    if dst.is_dir() {
        std::fs::rename(&dst, &old).map_err(|e| CoconutError::io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| CoconutError::io(&tmp, e))?;
    let _ = std::fs::remove_dir_all(&old);
    let lines: Vec<String> = records
        .iter()
        .filter_map(|r| serde_json::to_string(r).ok())
        .collect();
    let path = dir.join("metrics.jsonl");
    write_atomic(&path, (lines.join("\n") + "\n").as_bytes())
        .map_err(|e| CoconutError::io(&path, e))
}
