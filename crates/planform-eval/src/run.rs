//! A whole evaluation: checkpoint + dataset → sampled, scored tasks → report.

use std::path::Path;

use planform_data::{Dataset, Example, Split, TSTAR_KEY};
use planform_model::ModelConfig;
use planform_trace::metrics::astar_reference_length;
use planform_trace::rng::Rng;
use planform_trace::vocab::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::config::{sampler_name, EvalConfig};
use crate::error::{EvalError, Result};
use crate::metrics::EvalMetrics;
use crate::report::{
    write_responses, EvalHeader, EvalReport, Timing, RESPONSES_JSONL, SUMMARY_JSON,
};
use crate::sample::{sample_and_score, Progress, SampleConfig};
use crate::score::{Retention, TaskInput, TaskResult};

/// Where the t* values of an evaluation came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum TStarSource {
    /// Every task had the dataset's `astar_mean_reasoning` value.
    Dataset {
        /// A* runs per task recorded in the manifest.
        runs: Option<u32>,
    },
    /// Computed here for `tasks` tasks that lacked it: `runs` nondeterministic A* runs
    /// each, run `r` of task `id` seeded `Rng::stream(Rng::keyed(&[seed, TSTAR_KEY,
    /// id]).next_u64(), r)`.
    Computed {
        /// Tasks computed here.
        tasks: usize,
        /// Runs per task.
        runs: usize,
        /// Seed.
        seed: u64,
    },
}

impl TStarSource {
    /// One-line description for the report.
    pub fn describe(&self, total: usize) -> String {
        match self {
            TStarSource::Dataset { runs: Some(r) } => {
                format!("dataset column astar_mean_reasoning ({r} nondeterministic A* runs)")
            }
            TStarSource::Dataset { runs: None } => "dataset column astar_mean_reasoning".into(),
            TStarSource::Computed { tasks, runs, seed } => format!(
                "computed on the fly for {tasks} of {total} tasks \
                 ({runs} nondeterministic A* runs, seed {seed})"
            ),
        }
    }
}

/// The result of [`evaluate`]: the report and every task's scored responses.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Config header, metrics, timing.
    pub report: EvalReport,
    /// Scored tasks in id order (with response tokens if `save_responses` was set).
    pub results: Vec<TaskResult>,
    /// The vocabulary of the model and dataset.
    pub vocab: Vocabulary,
}

impl Evaluation {
    /// Writes `summary.md`, `summary.json` and `tasks.jsonl` into `out_dir`, and
    /// `responses.jsonl` when the results hold response tokens.
    pub fn write(&self, out_dir: &Path) -> Result<()> {
        self.report.write(out_dir, &self.results)?;
        if self
            .results
            .iter()
            .any(|r| r.samples.iter().any(|s| !s.tokens.is_empty()))
        {
            write_responses(&out_dir.join(RESPONSES_JSONL), &self.results, &self.vocab)?;
        }
        Ok(())
    }
}

/// The most responses per task (`samples`, `-k`) an evaluation draws. The papers use 64.
pub const MAX_SAMPLES: usize = 4096;
/// The most responses an evaluation draws in all (tasks × samples).
pub const MAX_RESPONSES: usize = 10_000_000;

/// Refuses sample counts that cannot work: more than [`MAX_SAMPLES`] per task, or more
/// than [`MAX_RESPONSES`] for `tasks` tasks.
pub fn check_limits(samples: usize, tasks: usize) -> Result<()> {
    if samples > MAX_SAMPLES {
        return Err(EvalError::config(
            "samples",
            format!(
                "{samples} responses per task (-k) is more than the {MAX_SAMPLES} allowed \
                 (the papers use 64)"
            ),
        ));
    }
    if tasks.saturating_mul(samples) > MAX_RESPONSES {
        return Err(EvalError::config(
            "samples",
            format!(
                "{tasks} tasks × {samples} responses is more than the {MAX_RESPONSES} \
                 responses an evaluation may draw; lower --tasks or -k"
            ),
        ));
    }
    Ok(())
}

/// Checks that `out` may receive an evaluation — absent, empty, or an earlier
/// evaluation's output (its `summary.json` is an evaluation report) — and locks it for this
/// process. A file, a dataset, a training run directory or a directory holding other
/// files is refused; nothing in it is touched.
pub fn prepare_out_dir(out: &Path) -> Result<planform_core::lock::RunLock> {
    let refuse = |reason: String| {
        Err(EvalError::config(
            "out_dir",
            format!("{} {reason}; nothing was written", out.display()),
        ))
    };
    match std::fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EvalError::io(out, e)),
        Ok(m) if !m.is_dir() => return refuse("is a file, not a directory".into()),
        Ok(_) => {
            let mut names = Vec::new();
            for e in std::fs::read_dir(out).map_err(|e| EvalError::io(out, e))? {
                let name = e.map_err(|e| EvalError::io(out, e))?.file_name();
                if name != planform_core::lock::LOCK_FILE {
                    names.push(name.to_string_lossy().into_owned());
                }
            }
            names.sort();
            if names.is_empty() {
            } else if out.join("manifest.json").exists() {
                return refuse("is a dataset (it has manifest.json)".into());
            } else if out.join("checkpoints").exists() || out.join("metrics.jsonl").exists() {
                return refuse(format!(
                    "is a training run directory; write the evaluation into a subdirectory \
                     (e.g. {})",
                    out.join("eval").display()
                ));
            } else if !is_eval_summary(&out.join(SUMMARY_JSON)) {
                let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
                return refuse(format!(
                    "holds files planform eval did not write ({}{}); choose a new or empty \
                     directory",
                    shown.join(", "),
                    if names.len() > 3 { ", …" } else { "" }
                ));
            }
        }
    }
    planform_core::lock::RunLock::acquire(out)
        .map_err(|e| EvalError::config("out_dir", e.to_string()))
}

/// Whether `path` is the `summary.json` of an evaluation.
fn is_eval_summary(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["header"]["checkpoint"].is_string() && v["metrics"].is_object())
}

/// The longest response (`bos` … `eos`) a model can hold after prompts of up to
/// `longest_prompt` tokens: its `max_positions`, less `bos prompt` for the decoder-only
/// model (one sequence holds both).
pub fn response_room(model: &ModelConfig, longest_prompt: usize) -> usize {
    match model {
        ModelConfig::EncoderDecoder(c) => c.max_positions,
        ModelConfig::DecoderOnly(c) => c.max_positions.saturating_sub(longest_prompt + 1),
    }
}

/// The first `n` rows of a split in id order (reads only the shards it needs).
pub fn first_examples(
    dataset: &Dataset,
    split: planform_data::Split,
    n: usize,
) -> Result<Vec<Example>> {
    let mut rows = Vec::with_capacity(n.min(1 << 16));
    for batch in dataset.batches(split, n.clamp(1, 8192)) {
        rows.extend(batch?);
        if rows.len() >= n {
            break;
        }
    }
    rows.sort_by_key(|e| e.id);
    rows.truncate(n);
    Ok(rows)
}

/// The evaluation tasks: the `n` rows of a split that come first in the order of
/// [`planform_core::rng::id_hash`] (the order of training's default `hashed` subsets),
/// returned in id order. Ids are assigned in generation order, where a maze's tasks are
/// grouped by wall layout, so the first `n` ids would come from a few layouts only; the
/// reference's ids are Python hashes, whose sorted order is effectively random, so its
/// first `n` spread over the whole split as these do. Reads the whole split, keeping `n`
/// rows in memory.
pub fn hashed_examples(
    dataset: &Dataset,
    split: planform_data::Split,
    n: usize,
) -> Result<Vec<Example>> {
    use std::collections::BinaryHeap;
    let key = |e: &Example| (planform_core::rng::id_hash(e.id), e.id);
    // Max-heap on the key: the root is the worst of the n kept so far.
    let mut heap: BinaryHeap<((u64, u64), usize)> = BinaryHeap::new();
    let mut kept: Vec<Example> = Vec::new();
    if n == 0 {
        return Ok(Vec::new());
    }
    for batch in dataset.batches(split, 8192) {
        for e in batch? {
            let k = key(&e);
            if heap.len() < n {
                heap.push((k, kept.len()));
                kept.push(e);
            } else if heap.peek().is_some_and(|(worst, _)| k < *worst) {
                // Replace the worst kept row in its slot.
                if let Some((_, slot)) = heap.pop() {
                    kept[slot] = e;
                    heap.push((k, slot));
                }
            }
        }
    }
    let mut rows = kept;
    rows.sort_by_key(|e| e.id);
    Ok(rows)
}

/// Fills in missing t* values (in parallel); returns how many were computed.
pub fn fill_tstar(
    tasks: &mut [TaskInput],
    vocab: &Vocabulary,
    runs: usize,
    seed: u64,
) -> Result<usize> {
    let missing: Vec<&mut TaskInput> = tasks.iter_mut().filter(|t| t.tstar.is_none()).collect();
    let count = missing.len();
    if count == 0 {
        return Ok(0);
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count);
    let per = count.div_ceil(threads);
    let mut groups: Vec<Vec<&mut TaskInput>> = Vec::new();
    let mut it = missing.into_iter().peekable();
    while it.peek().is_some() {
        groups.push(it.by_ref().take(per).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                s.spawn(move || -> Result<()> {
                    for t in group {
                        let key = Rng::keyed(&[seed, TSTAR_KEY, t.id]).next_u64();
                        t.tstar = Some(astar_reference_length(&t.task, vocab, runs, key)?);
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| EvalError::Responses("t* worker panicked".into()))?
        })
    })?;
    Ok(count)
}

/// The teacher-forced loss of the loaded model on the first `n` test examples of the
/// hashed subset, built with the trace variant the model was trained on.
fn heldout_loss(
    loaded: &planform_model::LoadedModel,
    dataset: &Dataset,
    n: usize,
) -> Result<crate::report::HeldoutLoss> {
    let bad = |e: String| EvalError::config("heldout_loss", e);
    let test = dataset
        .read_split(Split::Test)
        .map_err(|e| bad(e.to_string()))?;
    let cfg = planform_train::DataConfig {
        eval_examples: n,
        ..Default::default()
    };
    let data = planform_train::TrainData::from_examples(
        dataset.vocabulary().clone(),
        Vec::new(),
        test,
        &cfg,
    );
    let seqs =
        planform_train::data::sequences_as_trained(&loaded.train_config, &data.test, &data.vocab)
            .map_err(|e| bad(e.to_string()))?;
    let loss = planform_quant::learn::heldout_loss(&loaded.model, &seqs)
        .map_err(|e| bad(e.to_string()))?;
    Ok(crate::report::HeldoutLoss {
        sequences: seqs.len(),
        loss,
    })
}

/// Replaces a loaded model by its simulated quantized version.
fn quantize(
    loaded: &mut planform_model::LoadedModel,
    spec: &planform_quant::QuantSpec,
) -> Result<()> {
    let vs = tch::nn::VarStore::new(loaded.model.device());
    let q = spec
        .apply(&loaded.model, &vs)
        .map_err(|e| EvalError::config("quant", e.to_string()))?;
    loaded.config = q.config();
    loaded.model = q;
    loaded.vs = vs;
    Ok(())
}

/// Runs an evaluation: loads the checkpoint and `cfg.tasks` rows of the split ([`hashed_examples`]),
/// checks that their vocabularies agree, fills in t*, samples `cfg.samples` responses per
/// task and scores them. `progress` sees every finished chunk of tasks.
pub fn evaluate(cfg: &EvalConfig, progress: &mut dyn FnMut(&Progress)) -> Result<Evaluation> {
    cfg.validate()?;
    check_limits(cfg.samples, 1)?;
    if !cfg.checkpoint.exists() {
        return Err(EvalError::MissingCheckpoint(cfg.checkpoint.clone()));
    }
    let device = cfg.device.resolve()?;
    let dataset = Dataset::open(&cfg.dataset)?;
    let vocab = dataset.vocabulary().clone();
    let mut stored =
        planform_quant::store::load_model(&cfg.checkpoint, device).map_err(|e| match e {
            planform_quant::QuantError::Model(e) => EvalError::from(e),
            e => EvalError::config("checkpoint", e.to_string()),
        })?;
    if cfg.int8_matmul {
        stored
            .enable_int8_matmul()
            .map_err(|e| EvalError::config("int8_matmul", e.to_string()))?;
    }
    let planform_quant::store::Loaded {
        model: mut loaded,
        quant: stored_quant,
    } = stored;
    if let Some(spec) = &cfg.quant {
        if stored_quant.is_some() {
            return Err(EvalError::config(
                "quant",
                "the checkpoint is already quantized (written by `planform quantize`); \
                 evaluate it without --quant",
            ));
        }
        quantize(&mut loaded, spec)?;
    }
    let quant = cfg.quant.or(stored_quant.map(|q| q.spec));
    let lsh = cfg.attention.map(|a| {
        let stats = std::sync::Arc::new(planform_quant::lsh_attention::LshStats::default());
        loaded
            .model
            .set_decode_kernel(Some(a.kernel(stats.clone())));
        (a, stats)
    });
    let mismatch = |reason: String| EvalError::VocabMismatch {
        checkpoint: loaded.dir.clone(),
        dataset: cfg.dataset.clone(),
        reason,
    };
    if loaded.config.vocab_size() != vocab.len() {
        return Err(mismatch(format!(
            "the model has {} tokens, the dataset vocabulary {}",
            loaded.config.vocab_size(),
            vocab.len()
        )));
    }
    if let Some(d) = loaded.vocab.difference(&vocab) {
        return Err(mismatch(format!(
            "the model's vocabulary differs from the dataset's ({d}; here = the model, \
             there = the dataset)"
        )));
    }

    let examples = hashed_examples(&dataset, cfg.split, cfg.tasks)?;
    if examples.is_empty() {
        return Err(EvalError::EmptySplit {
            dataset: cfg.dataset.clone(),
            split: cfg.split.to_string(),
        });
    }
    check_limits(cfg.samples, examples.len())?;
    let mut tasks = examples
        .iter()
        .map(TaskInput::from_example)
        .collect::<Result<Vec<_>>>()?;
    let computed = fill_tstar(&mut tasks, &vocab, cfg.tstar_runs, cfg.seed)?;
    let tstar = if computed == 0 {
        TStarSource::Dataset {
            runs: dataset.manifest().astar_mean_runs,
        }
    } else {
        TStarSource::Computed {
            tasks: computed,
            runs: cfg.tstar_runs,
            seed: cfg.seed,
        }
    };

    // The longest decoder target: the manifest's statistic, but never shorter than the
    // selected tasks' own A* sequences (so a wrong statistic cannot cut responses short).
    let own = examples
        .iter()
        .map(|e| e.reasoning.len() + e.plan.len() + 2)
        .max()
        .unwrap_or(0);
    let longest = (dataset.manifest().split(cfg.split).lengths.decoder.max as usize).max(own);
    let max_len = cfg.max_len.resolve(
        longest,
        &dataset.config().domain,
        response_room(
            &loaded.config,
            tasks.iter().map(|t| t.prompt.len()).max().unwrap_or(0),
        ),
    );
    let scfg = SampleConfig {
        samples: cfg.samples,
        mode: cfg.mode,
        sampler: cfg.sampler,
        max_len,
        batch_rows: cfg.batch_rows,
        seed: cfg.seed,
        first_index: 0,
        precision: cfg.precision,
        retention: if cfg.save_responses {
            Retention::All
        } else {
            Retention::None
        },
    };
    let sampled = sample_and_score(&loaded.model, &vocab, &tasks, &scfg, progress)?;
    let metrics = EvalMetrics::compute(&sampled.results);
    let header = EvalHeader {
        checkpoint: loaded.dir.clone(),
        step: loaded.step,
        dataset: cfg.dataset.clone(),
        domain: dataset.config().domain.name(),
        split: cfg.split.to_string(),
        tasks: tasks.len(),
        samples: cfg.samples,
        mode: cfg.mode,
        sampler: sampler_name(&cfg.sampler),
        max_len,
        max_len_rule: cfg.max_len,
        longest_target: longest,
        batch_rows: cfg.batch_rows,
        seed: cfg.seed,
        device: format!("{device:?}"),
        tstar_description: tstar.describe(tasks.len()),
        tstar,
        quant,
        int8_matmul: cfg.int8_matmul,
        attention: lsh.map(|(a, stats)| {
            let (offloaded_keys, read_keys) = stats.totals();
            crate::report::LshReport {
                setting: a.to_string(),
                offloaded_keys,
                read_keys,
            }
        }),
    };
    let timing = Timing {
        seconds: sampled.seconds,
        generated_tokens: sampled.generated_tokens,
        tokens_per_sec: sampled.generated_tokens as f64 / sampled.seconds.max(1e-9),
    };
    let heldout = match cfg.heldout_loss {
        Some(n) => Some(heldout_loss(&loaded, &dataset, n)?),
        None => None,
    };
    Ok(Evaluation {
        report: EvalReport {
            header,
            metrics,
            timing,
            heldout,
        },
        results: sampled.results,
        vocab,
    })
}

/// [`evaluate`], then [`Evaluation::write`] into `out_dir` (checked and locked first, see
/// [`prepare_out_dir`]).
pub fn evaluate_to(
    cfg: &EvalConfig,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Evaluation> {
    let _lock = prepare_out_dir(out_dir)?;
    let eval = evaluate(cfg, progress)?;
    eval.write(out_dir)?;
    Ok(eval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_directories_are_checked_and_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        let refused = |out: &Path| match prepare_out_dir(out) {
            Err(EvalError::Config { field, reason }) => {
                assert_eq!(field, "out_dir");
                reason
            }
            Err(e) => panic!("expected a config error, got {e}"),
            Ok(_) => panic!("{} was accepted", out.display()),
        };
        // Absent: created and locked; a second writer is refused while the first holds it.
        let out = p.join("eval");
        let lock = prepare_out_dir(&out).unwrap();
        let r = refused(&out);
        assert!(r.contains("is in use by pid"), "{r}");
        drop(lock);
        // An earlier evaluation's directory is accepted again.
        let summary = serde_json::json!({"header": {"checkpoint": "runs/x"}, "metrics": {}});
        std::fs::write(out.join(SUMMARY_JSON), summary.to_string()).unwrap();
        std::fs::write(out.join("tasks.jsonl"), "").unwrap();
        drop(prepare_out_dir(&out).unwrap());
        // A summary.json that is not an evaluation's (a training run's) is not.
        let other = p.join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(
            other.join(SUMMARY_JSON),
            "{\"format\": \"planform-train-summary\"}",
        )
        .unwrap();
        assert!(refused(&other).contains("did not write (summary.json)"));
        let run = p.join("run");
        std::fs::create_dir_all(run.join("checkpoints")).unwrap();
        assert!(refused(&run).contains("training run directory"));
        let ds = p.join("ds");
        std::fs::create_dir(&ds).unwrap();
        std::fs::write(ds.join("manifest.json"), "{}").unwrap();
        assert!(refused(&ds).contains("is a dataset"));
        let file = p.join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(refused(&file).contains("is a file"));
        for d in [&other, &run, &ds] {
            assert!(
                !d.join(planform_core::lock::LOCK_FILE).exists(),
                "nothing written"
            );
        }
    }

    #[test]
    fn sample_counts_that_cannot_work_are_refused() {
        check_limits(64, 100).unwrap();
        check_limits(MAX_SAMPLES, 1).unwrap();
        let e = check_limits(100_000_000, 1).unwrap_err().to_string();
        assert!(e.contains("-k") && e.contains("the papers use 64"), "{e}");
        let e = check_limits(4096, 10_000).unwrap_err().to_string();
        assert!(e.contains("10000 tasks × 4096"), "{e}");
    }
}
