//! The bootstrap driver: iteration 0 (evaluate the base model), then per iteration sample →
//! reduce → write dataset → fine-tune → evaluate, saving `state.json` after every phase.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use planform_data::{is_partial_name, Dataset, Example, Split};
use planform_eval::{
    response_room, sample_and_score, EvalConfig, Mode, Retention, SampleConfig, Sampler, TaskInput,
};
use planform_model::checkpoint::{load_model, resolve_checkpoint, LoadedModel};
use planform_trace::rng::Rng;
use planform_trace::tokens::TokenSequence;
use planform_trace::vocab::Vocabulary;
use planform_train::checkpoint::read_state;
use planform_train::config::TraceConfig;
use planform_train::data::{select, TokenExample};
use planform_train::TrainConfig;

use crate::chunk::{chunk_dir, read_chunk, write_chunk, ChunkKey};
use crate::config::{BootstrapConfig, Fallback};
use crate::dataset::{write_improved, Provenance};
use crate::error::{BootstrapError, Result};
use crate::finetune::finetune_config;
use crate::record::{write_outputs, FinetuneSummary, IterationRecord, TestMetrics};
use crate::reduce::{reduce, TrainingStats};
use crate::state::{config_differences, write_atomic, Phase, State, STATE_FILE};

/// Key of the sampler seeds in [`Rng::keyed`]`(&[seed, SAMPLE_KEY, iteration])`.
pub const SAMPLE_KEY: u64 = 1;
/// Key of the fine-tune seeds in [`Rng::keyed`]`(&[seed, FINETUNE_KEY, iteration])`.
pub const FINETUNE_KEY: u64 = 2;
/// The resolved config, written at the start for reference.
pub const CONFIG_FILE: &str = "config.toml";

/// Whether a bootstrap may start fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Continue the bootstrap in the output directory if there is one, else start.
    Auto,
    /// Continue; an error if the output directory has no `state.json`.
    Resume,
}

/// Sampling progress within an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SamplingProgress {
    /// Prompts sampled and reduced (saved chunks included).
    pub prompts_done: usize,
    /// Prompts of the iteration.
    pub prompts_total: usize,
    /// Tokens generated in this session.
    pub generated_tokens: usize,
    /// Seconds of sampling in this session.
    pub elapsed_secs: f64,
}

/// What the callback of [`run`] sees. Returning `Break` stops the bootstrap as a kill
/// would (after a phase: with the phase saved; during sampling: after the chunk is saved;
/// during a fine-tune: without a checkpoint of the current step).
#[derive(Debug)]
pub enum Event<'a> {
    /// A phase begins (`phase` is the phase it will reach).
    PhaseStarted {
        /// Iteration.
        iteration: usize,
        /// Phase being produced.
        phase: Phase,
    },
    /// A phase was reached and saved in `state.json`.
    PhaseDone {
        /// Iteration.
        iteration: usize,
        /// Phase reached.
        phase: Phase,
    },
    /// Sampling progress (between decode calls).
    Sampling {
        /// Iteration.
        iteration: usize,
        /// Counts.
        progress: SamplingProgress,
    },
    /// A sampling chunk was saved.
    ChunkSaved {
        /// Iteration.
        iteration: usize,
        /// Chunk index.
        chunk: usize,
        /// Chunks of the iteration.
        chunks: usize,
    },
    /// A fine-tune optimizer step.
    Training {
        /// Iteration.
        iteration: usize,
        /// planform-train's progress.
        progress: &'a planform_train::Progress,
    },
    /// Evaluation progress (stopping is not possible here; it takes effect after it).
    Evaluating {
        /// Iteration.
        iteration: usize,
        /// planform-eval's progress.
        progress: &'a planform_eval::Progress,
    },
}

/// The callback type of [`run`].
pub type OnEvent<'a> = dyn FnMut(&Event) -> ControlFlow<()> + 'a;

/// The result of [`run`].
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every iteration was evaluated (false: the callback stopped it).
    pub completed: bool,
    /// The state as saved.
    pub state: State,
}

impl Outcome {
    /// Result lines of the evaluated iterations.
    pub fn records(&self) -> Vec<IterationRecord> {
        self.state.records()
    }
}

/// The directory of iteration `i` inside `out`.
pub fn iteration_dir(out: &Path, i: usize) -> PathBuf {
    out.join(format!("iter-{i}"))
}

/// Sampler seed of iteration `i` (63 bits, like every seed that goes into a config file:
/// TOML integers are signed 64-bit).
pub fn sample_seed(seed: u64, i: usize) -> u64 {
    Rng::keyed(&[seed, SAMPLE_KEY, i as u64]).next_u64() & SEED_MASK
}

/// Fine-tune (data order) seed of iteration `i` (63 bits, see [`sample_seed`]).
pub fn finetune_seed(seed: u64, i: usize) -> u64 {
    Rng::keyed(&[seed, FINETUNE_KEY, i as u64]).next_u64() & SEED_MASK
}

/// Derived seeds keep the low 63 bits, so they round-trip through TOML.
const SEED_MASK: u64 = i64::MAX as u64;

/// Runs (or continues) the bootstrap of `cfg`; see the crate docs.
pub fn run(cfg: BootstrapConfig, mode: StartMode, on_event: &mut OnEvent) -> Result<Outcome> {
    let mut b = Bootstrap::open(cfg, mode)?;
    let completed = b.drive(on_event)?;
    Ok(Outcome {
        completed,
        state: b.state,
    })
}

struct Bootstrap {
    /// One writer per output directory, held for the whole bootstrap.
    _lock: planform_core::lock::RunLock,
    cfg: BootstrapConfig,
    out: PathBuf,
    state: State,
    original: Dataset,
    vocab: Vocabulary,
    base: TrainConfig,
    prompts: Option<Vec<Example>>,
}

fn out_dir_is_free(out: &Path) -> Result<bool> {
    let entries = match std::fs::read_dir(out) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(BootstrapError::io(out, e)),
    };
    for e in entries {
        let e = e.map_err(|e| BootstrapError::io(out, e))?;
        if !e.file_name().to_string_lossy().starts_with('.') {
            return Ok(false);
        }
    }
    Ok(true)
}

fn remove_partials(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() && is_partial_name(&p) {
            std::fs::remove_dir_all(&p).map_err(|e| BootstrapError::io(&p, e))?;
        }
    }
    Ok(())
}

impl Bootstrap {
    fn open(cfg: BootstrapConfig, mode: StartMode) -> Result<Self> {
        cfg.validate()?;
        let out = cfg.out_dir.clone();
        if !out.join(STATE_FILE).exists() && !out_dir_is_free(&out)? {
            return Err(BootstrapError::NotABootstrapDir(out));
        }
        let lock = planform_core::lock::RunLock::acquire(&out)
            .map_err(planform_train::TrainError::from)?;
        let state = match State::load(&out)? {
            Some(state) => {
                let differences = config_differences(&state.config, &cfg);
                if !differences.is_empty() {
                    return Err(BootstrapError::ConfigChanged {
                        path: out.join(STATE_FILE),
                        differences,
                    });
                }
                state
            }
            None if mode == StartMode::Resume => return Err(BootstrapError::NothingToResume(out)),
            None => {
                if !out_dir_is_free(&out)? {
                    return Err(BootstrapError::NotABootstrapDir(out));
                }
                let base = resolve_checkpoint(&cfg.base_run)?;
                State::new(cfg.clone(), base)
            }
        };
        if let Some(n) = cfg.threads {
            tch::set_num_threads(n as i32);
        }
        let original = Dataset::open(&cfg.data_dir)?;
        let vocab = original.vocabulary().clone();
        let base_state = read_state(&state.base_checkpoint)?;
        if let Some(d) = base_state.vocab.difference(&vocab) {
            return Err(BootstrapError::Mismatch(format!(
                "base checkpoint {} and dataset {} have different vocabularies ({d}; here = \
                 the checkpoint, there = the dataset)",
                state.base_checkpoint.display(),
                cfg.data_dir.display(),
            )));
        }
        if base_state.config.trace == TraceConfig::SolutionOnly {
            return Err(BootstrapError::Mismatch(format!(
                "base run {} trains solution-only sequences; bootstrapping shortens search \
                 traces and needs a search-augmented (or Dualformer) run",
                cfg.base_run.display()
            )));
        }
        let b = Bootstrap {
            _lock: lock,
            out: out.clone(),
            state,
            original,
            vocab,
            base: base_state.config,
            prompts: None,
            cfg,
        };
        // Every override must apply before any work is done.
        b.finetune_config(1)?;
        std::fs::create_dir_all(&out).map_err(|e| BootstrapError::io(&out, e))?;
        if !out.join(STATE_FILE).exists() {
            b.state.save(&out)?;
            write_atomic(&out.join(CONFIG_FILE), b.cfg.to_toml()?.as_bytes())?;
        }
        Ok(b)
    }

    fn checkpoint_path(&self, i: usize) -> Result<PathBuf> {
        let rel = self.state.iterations[i].checkpoint.clone().ok_or_else(|| {
            BootstrapError::Mismatch(format!("iteration {i} has no checkpoint yet"))
        })?;
        Ok(if i == 0 { rel } else { self.out.join(rel) })
    }

    fn finetune_config(&self, i: usize) -> Result<TrainConfig> {
        let dir = iteration_dir(&self.out, i);
        let init = if i == 1 {
            self.state.base_checkpoint.clone()
        } else {
            self.checkpoint_path(i - 1)
                .unwrap_or_else(|_| iteration_dir(&self.out, i - 1).join("run"))
        };
        finetune_config(
            &self.cfg,
            &self.base,
            i,
            dir.join("data"),
            dir.join("run"),
            &init,
            finetune_seed(self.cfg.seed, i),
        )
    }

    /// The training prompts in selection order: the base run's filters and subset order,
    /// then the first `sample.train_prompts` (default: the base run's `train_examples`).
    fn prompts(&mut self) -> Result<&[Example]> {
        if self.prompts.is_none() {
            let rows = self.original.read_split(Split::Train)?;
            let lengths: Vec<u32> = rows.iter().map(|e| e.reasoning.len() as u32).collect();
            let records = rows
                .iter()
                .map(|e| TokenExample {
                    id: e.id,
                    tokens: TokenSequence {
                        prompt: Vec::new(),
                        reasoning: Vec::new(),
                        plan: Vec::new(),
                    },
                })
                .collect();
            let n = self
                .cfg
                .sample
                .train_prompts
                .or(self.base.data.train_examples);
            let order = select(records, &lengths, &self.base.data, n);
            let mut by_id: HashMap<u64, Example> = rows.into_iter().map(|e| (e.id, e)).collect();
            let prompts: Vec<Example> = order.iter().filter_map(|r| by_id.remove(&r.id)).collect();
            if prompts.is_empty() {
                return Err(BootstrapError::Mismatch(format!(
                    "{}: no training prompts left after the base run's length filters",
                    self.cfg.data_dir.display()
                )));
            }
            self.prompts = Some(prompts);
        }
        Ok(self.prompts.as_deref().unwrap_or(&[]))
    }

    /// The previous iteration's rows by id when the fallback is the previous target.
    fn fallback_rows(&self, i: usize) -> Result<Option<HashMap<u64, Example>>> {
        if self.cfg.reduce.fallback == Fallback::OriginalAstar || i < 2 {
            return Ok(None);
        }
        let prev = Dataset::open(iteration_dir(&self.out, i - 1).join("data"))?;
        let rows = prev.read_split(Split::Train)?;
        Ok(Some(rows.into_iter().map(|e| (e.id, e)).collect()))
    }

    fn set_phase(&mut self, i: usize, phase: Phase, secs: f64) -> Result<()> {
        let it = &mut self.state.iterations[i];
        it.phase = phase;
        it.seconds.insert(phase.name().to_string(), secs);
        self.state.save(&self.out)
    }

    fn drive(&mut self, on_event: &mut OnEvent) -> Result<bool> {
        while let Some(i) = self.state.next_iteration() {
            let Some(next) = self.state.iterations[i].phase.next() else {
                break;
            };
            let _ = on_event(&Event::PhaseStarted {
                iteration: i,
                phase: next,
            });
            let t0 = Instant::now();
            let flow = match next {
                Phase::Sampled => self.sample(i, on_event)?,
                Phase::Reduced => self.reduce(i)?,
                Phase::DatasetWritten => self.write_dataset(i)?,
                Phase::FineTuned => self.finetune(i, on_event)?,
                Phase::Evaluated => self.evaluate(i, on_event)?,
                Phase::Started => ControlFlow::Continue(()),
            };
            if flow.is_break() {
                return Ok(false);
            }
            self.set_phase(i, next, t0.elapsed().as_secs_f64())?;
            if next == Phase::Evaluated {
                write_outputs(&self.out, &self.state.records())?;
            }
            if on_event(&Event::PhaseDone {
                iteration: i,
                phase: next,
            })
            .is_break()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn chunk_plan(&mut self, i: usize) -> Result<(Vec<ChunkKey>, Vec<Vec<u64>>)> {
        let seed = sample_seed(self.cfg.seed, i);
        let per = self.cfg.sample.chunk_prompts;
        let ids: Vec<u64> = self.prompts()?.iter().map(|e| e.id).collect();
        Ok(ids
            .chunks(per)
            .enumerate()
            .map(|(c, block)| {
                (
                    ChunkKey {
                        iteration: i,
                        chunk: c,
                        first_index: c * per,
                        seed,
                    },
                    block.to_vec(),
                )
            })
            .unzip())
    }

    fn sample_max_len(&self, model: &LoadedModel) -> usize {
        let lengths = &self.original.manifest().train.lengths;
        self.cfg.sample.max_len.resolve(
            lengths.decoder.max as usize,
            &self.original.config().domain,
            response_room(&model.config, lengths.prompt.max as usize),
        )
    }

    fn sample(&mut self, i: usize, on_event: &mut OnEvent) -> Result<ControlFlow<()>> {
        let samples = iteration_dir(&self.out, i).join("samples");
        std::fs::create_dir_all(&samples).map_err(|e| BootstrapError::io(&samples, e))?;
        remove_partials(&samples)?;
        let (keys, ids) = self.chunk_plan(i)?;
        let fallback = self.fallback_rows(i)?;
        let total = self.prompts()?.len();
        let device = self.cfg.device.resolve()?;
        let checkpoint = self.checkpoint_path(i - 1)?;
        let mut model: Option<LoadedModel> = None;
        let start = Instant::now();
        let mut generated = 0usize;
        for (key, block_ids) in keys.iter().zip(&ids) {
            let dir = chunk_dir(&samples, key.chunk);
            if dir.is_dir() {
                continue;
            }
            if model.is_none() {
                model = Some(load_model(&checkpoint, device)?);
            }
            let Some(m) = model.as_ref() else { continue };
            let scfg = SampleConfig {
                samples: self.cfg.sample.samples,
                mode: Mode::Auto,
                sampler: Sampler::Multinomial {
                    temperature: self.cfg.sample.temperature,
                },
                max_len: self.sample_max_len(m),
                batch_rows: self.cfg.sample.batch_rows,
                seed: key.seed,
                first_index: key.first_index,
                precision: self.cfg.sample.precision,
                retention: Retention::ShortestOptimal,
            };
            let range = key.first_index..key.first_index + block_ids.len();
            let block: Vec<Example> = self.prompts()?[range].to_vec();
            let tasks = block
                .iter()
                .map(TaskInput::from_example)
                .collect::<planform_eval::Result<Vec<_>>>()?;
            let sampled = sample_and_score(&m.model, &self.vocab, &tasks, &scfg, &mut |p| {
                let _ = on_event(&Event::Sampling {
                    iteration: i,
                    progress: SamplingProgress {
                        prompts_done: key.first_index + p.tasks_done,
                        prompts_total: total,
                        generated_tokens: generated + p.generated_tokens,
                        elapsed_secs: start.elapsed().as_secs_f64(),
                    },
                });
            })?;
            generated += sampled.generated_tokens;
            let reduced = sampled
                .results
                .iter()
                .zip(&block)
                .map(|(r, e)| {
                    let fb = match &fallback {
                        None => e.reasoning.len(),
                        Some(rows) => rows
                            .get(&e.id)
                            .map_or(e.reasoning.len(), |p| p.reasoning.len()),
                    };
                    reduce(r, &self.vocab, fb)
                })
                .collect::<Result<Vec<_>>>()?;
            write_chunk(
                &dir,
                self.original.config(),
                &self.vocab,
                *key,
                &block,
                &reduced,
            )?;
            if on_event(&Event::ChunkSaved {
                iteration: i,
                chunk: key.chunk,
                chunks: keys.len(),
            })
            .is_break()
            {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn load_chunks(&mut self, i: usize) -> Result<Vec<crate::chunk::Chunk>> {
        let samples = iteration_dir(&self.out, i).join("samples");
        let (keys, ids) = self.chunk_plan(i)?;
        keys.iter()
            .zip(&ids)
            .map(|(k, block)| read_chunk(&chunk_dir(&samples, k.chunk), *k, block))
            .collect()
    }

    fn reduce(&mut self, i: usize) -> Result<ControlFlow<()>> {
        let chunks = self.load_chunks(i)?;
        let outcomes: Vec<_> = chunks
            .iter()
            .flat_map(|c| c.meta.outcomes.iter().copied())
            .collect();
        self.state.iterations[i].train = Some(TrainingStats::of(&outcomes));
        Ok(ControlFlow::Continue(()))
    }

    fn write_dataset(&mut self, i: usize) -> Result<ControlFlow<()>> {
        let dir = iteration_dir(&self.out, i);
        remove_partials(&dir)?;
        let chunks = self.load_chunks(i)?;
        let targets: HashMap<u64, (Vec<u32>, Vec<u32>)> =
            chunks.into_iter().flat_map(|c| c.targets).collect();
        let fallback = self.fallback_rows(i)?;
        let train = self.state.iterations[i].train.ok_or_else(|| {
            BootstrapError::Mismatch(format!("iteration {i} has no training statistics"))
        })?;
        let checkpoint = self.checkpoint_path(i - 1)?;
        let max_len = {
            let m = read_state(&resolve_checkpoint(&checkpoint)?)?;
            let lengths = &self.original.manifest().train.lengths;
            self.cfg.sample.max_len.resolve(
                lengths.decoder.max as usize,
                &self.original.config().domain,
                response_room(&m.model, lengths.prompt.max as usize),
            )
        };
        let provenance = Provenance {
            format: "planform-bootstrap-dataset".into(),
            iteration: i,
            source_dataset: self.cfg.data_dir.clone(),
            sampled_from: checkpoint,
            samples_per_prompt: self.cfg.sample.samples,
            temperature: self.cfg.sample.temperature,
            sample_seed: sample_seed(self.cfg.seed, i),
            max_len,
            fallback: self.cfg.reduce.fallback,
            train,
        };
        let prompts = self.prompts()?.to_vec();
        write_improved(
            &dir.join("data"),
            &self.original,
            &prompts,
            &targets,
            fallback.as_ref(),
            &provenance,
        )?;
        Ok(ControlFlow::Continue(()))
    }

    fn finetune(&mut self, i: usize, on_event: &mut OnEvent) -> Result<ControlFlow<()>> {
        let tcfg = self.finetune_config(i)?;
        let run_dir = tcfg.out_dir.clone();
        let summary = planform_train::train(
            tcfg,
            planform_train::StartMode::Auto,
            &mut |p: &planform_train::Progress| {
                on_event(&Event::Training {
                    iteration: i,
                    progress: p,
                })
            },
        )?;
        if !summary.completed {
            return Ok(ControlFlow::Break(()));
        }
        let dir = resolve_checkpoint(&run_dir)?;
        let rel = dir
            .strip_prefix(&self.out)
            .map_or(dir.clone(), Path::to_path_buf);
        self.state.iterations[i].checkpoint = Some(rel);
        Ok(ControlFlow::Continue(()))
    }

    fn evaluate(&mut self, i: usize, on_event: &mut OnEvent) -> Result<ControlFlow<()>> {
        let checkpoint = self.checkpoint_path(i)?;
        let e = &self.cfg.eval;
        let mut ec = EvalConfig::new(&checkpoint, &self.cfg.data_dir);
        ec.split = Split::Test;
        ec.tasks = e.tasks;
        ec.samples = e.samples;
        ec.sampler = Sampler::Multinomial {
            temperature: e.temperature,
        };
        ec.max_len = e.max_len;
        ec.batch_rows = e.batch_rows;
        ec.seed = e.seed;
        ec.device = self.cfg.device;
        ec.tstar_runs = e.tstar_runs;
        let eval_dir = iteration_dir(&self.out, i).join("eval");
        let ev = planform_eval::evaluate_to(&ec, &eval_dir, &mut |p| {
            let _ = on_event(&Event::Evaluating {
                iteration: i,
                progress: p,
            });
        })?;
        let ck_state = read_state(&checkpoint)?;
        let finetune = (i > 0).then(|| FinetuneSummary {
            steps: ck_state.config.optim.total_steps,
            lr: ck_state.config.optim.lr,
            warmup_steps: ck_state.config.optim.warmup_steps,
            batch: ck_state.config.batch.sequences,
            train_loss: ck_state.last_train.as_ref().map(|r| r.metrics.loss),
            test_loss: ck_state.last_eval.as_ref().map(|r| r.metrics.loss),
            tokens_seen: ck_state.tokens_seen,
        });
        let it = &self.state.iterations[i];
        let record = IterationRecord {
            iteration: i,
            checkpoint: it
                .checkpoint
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            step: ck_state.step,
            test: TestMetrics::of(&ev.report.metrics),
            train: it.train,
            finetune,
        };
        self.state.iterations[i].record = Some(record);
        Ok(ControlFlow::Continue(()))
    }
}
