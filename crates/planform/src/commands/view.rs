//! `planform view`: one self-contained HTML file that animates, on the maze or Sokoban
//! board, an A* trace and a second trace side by side, step by step, then the plans.
//!
//! The second trace comes from one of three sources:
//!
//! * `--checkpoint RUN`: the model decodes one response per task (sample 0 of the
//!   `(seed, row, sample)` stream, so it is the response `planform eval --tasks N` draws as
//!   sample 0 for that row with the same N, seed, mode, sampler and maximum length), scored
//!   against A* with planform-eval's scoring; the left side is the dataset's stored A* trace;
//! * `--responses FILE`: responses saved by `planform eval --save-responses`
//!   (`responses.jsonl`), re-scored against the dataset (a disagreement with the file's
//!   own flags is an error: the file belongs to another dataset); left side as above;
//! * neither: no model; the left side is deterministic A*, the right side one
//!   nondeterministic A* run (seeded by `--seed` and the task id).
//!
//! Tasks are the ones `planform eval --tasks N` (and bootstrap's evaluations) score: the N
//! rows of the split first in hashed-id order ([`planform_eval::hashed_examples`]), shown in
//! id order; `--index i,j,k` picks positions within them (from 0). One line per task is
//! printed on stdout; its counts are what the page shows:
//!
//! `task=K row=R id=I astar_trace=T astar_clauses=C astar_plan=P correct= optimal=
//! trace=T clauses=C plan=P scored_trace=T scored_plan=P length=L stop= steps=S`
//!
//! where `trace`/`clauses`/`plan` are the right side as drawn (the viewer's lenient
//! reading of the tokens) and `scored_trace`/`scored_plan` the scorer's strict reading
//! (0 and 0 when the response has no parsable plan, as in `planform eval`).

mod select;

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use planform_data::{Dataset, Example, SearchMode, Split};
use planform_eval::{
    sample_and_score, DeviceChoice, MaxLen, Mode, ModeChoice, Precision, Response, ResponseLine,
    Retention, SampleConfig, SampleResult, Sampler, StopReason, TaskInput,
};
use planform_model::{load_model as load_model_from_checkpoint, ModelError};
use planform_trace::rng::Rng;
use planform_trace::vocab::{Vocabulary, BOS, EOS};
use planform_viz::{render_viewer, Board, Search, ViewerInput, ViewerTask};

use super::eval::ModeArg;
use super::show::SplitArg;
use crate::progress;

/// The token `planform eval --save-responses` writes for an id outside the vocabulary.
const UNKNOWN_TOKEN: &str = "<unk>";

/// Arguments of `planform view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Dataset directory: the tasks, their stored A* traces and the vocabulary.
    #[arg(long)]
    pub data: PathBuf,
    /// Decode one response per task with this model: a run directory (uses
    /// `checkpoints/latest`) or a `checkpoints/step-N` directory.
    #[arg(long, conflicts_with = "responses")]
    pub checkpoint: Option<PathBuf>,
    /// Show responses saved by `planform eval --save-responses` (responses.jsonl).
    #[arg(long)]
    pub responses: Option<PathBuf>,
    /// With --responses: which sample of each task to show.
    #[arg(long, default_value_t = 0, requires = "responses")]
    pub sample: usize,
    /// Dataset split.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// The N tasks `planform eval --tasks N` evaluates: the first N of the split in
    /// hashed-id order, shown in id order (with --responses: those of them that have
    /// responses in the file).
    #[arg(long, default_value_t = 10)]
    pub tasks: usize,
    /// Only these positions (from 0, comma-separated) of the --tasks selection.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub index: Vec<usize>,
    /// Decoding mode (default auto: the model chooses).
    #[arg(long, value_enum, requires = "checkpoint")]
    pub mode: Option<ModeArg>,
    /// Greedy decoding (argmax) instead of sampling.
    #[arg(long, conflicts_with = "temperature", requires = "checkpoint")]
    pub greedy: bool,
    /// Sampling temperature (default 1, as the reference).
    #[arg(long, requires = "checkpoint")]
    pub temperature: Option<f64>,
    /// Maximum decoder length incl. bos/eos (default: as `planform eval`).
    #[arg(long, requires = "checkpoint")]
    pub max_len: Option<usize>,
    /// Seed of the sampler, or of the nondeterministic A* run without a model.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device for the model: auto, cpu, cuda or cuda:N.
    #[arg(long, requires = "checkpoint")]
    pub device: Option<DeviceChoice>,
    /// Page title (default: names the dataset and the source).
    #[arg(long)]
    pub title: Option<String>,
    /// Output HTML file (written atomically).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// Model decoding settings.
#[derive(Debug, Clone)]
struct ModelSource {
    checkpoint: PathBuf,
    mode: Mode,
    sampler: Sampler,
    max_len: MaxLen,
    seed: u64,
    device: DeviceChoice,
}

/// Where the right-hand trace comes from.
#[derive(Debug, Clone)]
enum Source {
    /// One nondeterministic A* run per task; the left side is deterministic A*.
    Nondet,
    /// One response per task decoded by a checkpoint.
    Model(ModelSource),
    /// One saved response per task from a `responses.jsonl` file.
    Responses { path: PathBuf, sample: usize },
}

impl ViewArgs {
    fn source(&self) -> Result<Source> {
        if let Some(path) = &self.responses {
            return Ok(Source::Responses {
                path: path.clone(),
                sample: self.sample,
            });
        }
        let Some(checkpoint) = &self.checkpoint else {
            return Ok(Source::Nondet);
        };
        let sampler = if self.greedy {
            Sampler::Greedy
        } else {
            let t = self.temperature.unwrap_or(1.0);
            if !(t.is_finite() && t > 0.0) {
                bail!("--temperature {t}: must be finite and > 0");
            }
            Sampler::Multinomial { temperature: t }
        };
        let mode = match self.mode.unwrap_or(ModeArg::Auto) {
            ModeArg::Auto => Mode::Auto,
            ModeArg::Fast => Mode::Fast,
            ModeArg::Slow => Mode::Slow,
        };
        if let Some(n) = self.max_len {
            let need = 2 + usize::from(mode != Mode::Auto);
            if n < need {
                bail!("--max-len {n} cannot hold bos, the {mode} prefix and one token");
            }
        }
        Ok(Source::Model(ModelSource {
            checkpoint: checkpoint.clone(),
            mode,
            sampler,
            max_len: self.max_len.map_or(MaxLen::Auto, MaxLen::Fixed),
            seed: self.seed,
            device: self.device.unwrap_or(DeviceChoice::Auto),
        }))
    }
}

/// A selected task: its position in the evaluation selection (eval's row index) and its row.
struct Row {
    pos: usize,
    example: Example,
}

/// The right-hand trace of one task, scored.
struct Right {
    /// The decoder sequence as token strings (`bos` … `eos`).
    tokens: Vec<String>,
    result: SampleResult,
    note: String,
}

/// Runs `planform view`.
pub fn run(args: ViewArgs) -> Result<()> {
    let source = args.source()?;
    let data = &args.data;
    let dataset =
        Dataset::open(data).with_context(|| format!("opening dataset {}", data.display()))?;
    let split = Split::from(args.split);
    let vocab = dataset.vocabulary().clone();
    let domain = dataset.config().domain.name();

    let (rows, responses) = match &source {
        Source::Responses { path, sample } => {
            let all = select::read_split(&dataset, split)?;
            let lines = select::read_responses(path, &all, split, data)?;
            let rows = select::select_with_responses(&dataset, split, &lines, &args, path)?;
            let picked = rows
                .iter()
                .map(|r| select::pick_sample(&lines, r, *sample, path))
                .collect::<Result<Vec<_>>>()?;
            (rows, Some(picked))
        }
        _ => (select::select(&dataset, split, &args)?, None),
    };
    if rows.is_empty() {
        bail!("dataset {}: split `{split}` has no tasks", data.display());
    }

    let mut label = String::new();
    let rights: Vec<Right> = match &source {
        Source::Nondet => {
            label = format!("A* nondeterministic (seed {})", args.seed);
            rows.iter()
                .map(|r| nondet_right(r, &vocab, args.seed))
                .collect::<Result<_>>()?
        }
        Source::Responses { path, sample } => {
            label = format!("response (sample {sample})");
            let file = path.display().to_string();
            rows.iter()
                .zip(responses.unwrap_or_default())
                .map(|(r, (line_no, line))| {
                    saved_right(r, &vocab, line_no, &line, &file)
                        .with_context(|| format!("{file}:{line_no}: task id {}", r.example.id))
                })
                .collect::<Result<_>>()?
        }
        Source::Model(m) => model_rights(&dataset, split, &rows, &vocab, m, &mut label)?,
    };

    let mut tasks = Vec::with_capacity(rows.len());
    let mut summary = String::new();
    for (row, right) in rows.iter().zip(&rights) {
        let task = tasks.len();
        let ex = &row.example;
        let parsed = ex
            .parse_task()
            .with_context(|| format!("dataset {}: row id {}", data.display(), ex.id))?;
        let board = Board::from(&parsed);
        let reference = match source {
            Source::Nondet => {
                let (toks, _) = parsed
                    .solve_tokens(&vocab, SearchMode::Deterministic, &mut Rng::new(0))
                    .with_context(|| format!("task id {}: deterministic A*", ex.id))?;
                parse_ids(&vocab, toks.reasoning.iter().chain(&toks.plan))
            }
            _ => parse_ids(&vocab, ex.reasoning.iter().chain(&ex.plan)),
        };
        let model = Search::parse(&right.tokens);
        let r = &right.result;
        let steps = frames(&reference).max(frames(&model));
        let sokoban = matches!(board, Board::Sokoban(_));
        // The counts the page shows (its lenient reading), then the scorer's.
        let _ = writeln!(
            summary,
            "task={task} row={} id={} astar_trace={} astar_clauses={} astar_plan={} correct={} \
             optimal={} trace={} clauses={} plan={} scored_trace={} scored_plan={} length={} \
             stop={} steps={steps}",
            row.pos,
            ex.id,
            reference.reasoning_tokens(sokoban),
            reference.clauses.len(),
            reference.plan.len(),
            r.eval.correct,
            r.eval.optimal,
            model.reasoning_tokens(sokoban),
            model.clauses.len(),
            model.plan.len(),
            r.eval.trace_tokens,
            r.eval.plan_length,
            r.length,
            stop_name(r.stop),
        );
        let mut vt = ViewerTask::new(format!("row {} (id {})", row.pos, ex.id), board, reference);
        vt.model = Some(model);
        vt.model_label = label.clone();
        vt.correct = Some(r.eval.correct);
        vt.optimal = Some(r.eval.optimal);
        vt.note = Some(right.note.clone());
        tasks.push(vt);
    }

    let title = args.title.clone().unwrap_or_else(|| {
        let what = match &source {
            Source::Nondet => "deterministic vs nondeterministic A*".to_string(),
            Source::Model(m) => format!("A* vs {label} of {}", m.checkpoint.display()),
            Source::Responses { path, .. } => format!("A* vs {}", path.display()),
        };
        format!(
            "planform view: {} ({domain}, {split} split): {what}",
            data.display()
        )
    });
    let page = render_viewer(&ViewerInput { title, tasks });
    planform_viz::io::write_atomic(&args.out, page.as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))?;
    print!("{summary}");
    eprintln!(
        "wrote {} ({} tasks; open it in a browser, or add #autoplay-end / #task=K&step=S)",
        args.out.display(),
        rows.len()
    );
    Ok(())
}

/// Viewer frames of one side: clauses, then plan cells.
fn frames(s: &Search) -> usize {
    s.clauses.len() + s.plan.len()
}

/// `eos` or `max-len`.
fn stop_name(s: StopReason) -> &'static str {
    match s {
        StopReason::Eos => "eos",
        StopReason::MaxLen => "max-len",
    }
}

/// Parses token ids as a viewer search (ids outside the vocabulary become `<unk>`,
/// which the lenient parser reports as an issue).
fn parse_ids<'a>(vocab: &Vocabulary, ids: impl Iterator<Item = &'a u32>) -> Search {
    let toks: Vec<&str> = ids
        .map(|&t| vocab.token(t).unwrap_or(UNKNOWN_TOKEN))
        .collect();
    Search::parse(&toks)
}

/// Scores one decoder sequence against a row with planform-eval's scoring.
fn score(row: &Row, vocab: &Vocabulary, ids: Vec<u32>) -> Result<SampleResult> {
    let input = TaskInput::from_example(&row.example)
        .with_context(|| format!("task id {}", row.example.id))?;
    let mut result = planform_eval::score_task(
        &input,
        vocab,
        vec![Response::from_tokens(ids)],
        Retention::All,
    );
    result.samples.pop().context("scoring returned no response")
}

/// `bos` + ids + `eos`.
fn framed(ids: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut v = vec![BOS];
    v.extend(ids);
    v.push(EOS);
    v
}

fn strings(vocab: &Vocabulary, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&t| vocab.token(t).unwrap_or(UNKNOWN_TOKEN).to_string())
        .collect()
}

/// One nondeterministic A* run, seeded by `(seed, task id)`.
fn nondet_right(row: &Row, vocab: &Vocabulary, seed: u64) -> Result<Right> {
    let id = row.example.id;
    let task = row
        .example
        .parse_task()
        .with_context(|| format!("task id {id}"))?;
    let mut rng = Rng::keyed(&[seed, id]);
    let (toks, _) = task
        .solve_tokens(vocab, SearchMode::Nondeterministic, &mut rng)
        .with_context(|| format!("task id {id}: nondeterministic A*"))?;
    let ids = framed(toks.reasoning.iter().chain(&toks.plan).copied());
    Ok(Right {
        tokens: strings(vocab, &ids),
        result: score(row, vocab, ids)?,
        note: format!(
            "left: deterministic A*; right: nondeterministic A* (seed {seed}, task id {id})"
        ),
    })
}

/// A saved response, re-scored; its flags must agree with the file's.
fn saved_right(
    row: &Row,
    vocab: &Vocabulary,
    line_no: usize,
    line: &ResponseLine,
    file: &str,
) -> Result<Right> {
    let ids = line
        .tokens
        .split_whitespace()
        .map(|t| match vocab.id(t) {
            Some(id) => Ok(id),
            None if t == UNKNOWN_TOKEN => Ok(u32::MAX),
            None => bail!(
                "token {t:?} is not in the dataset's vocabulary \
                 (responses of another dataset?)"
            ),
        })
        .collect::<Result<Vec<u32>>>()?;
    let result = score(row, vocab, ids.clone())?;
    let (c, o) = (result.eval.correct, result.eval.optimal);
    if (c, o) != (line.correct, line.optimal) {
        bail!(
            "the file says correct={} optimal={}, but scoring against the dataset gives \
             correct={c} optimal={o} (responses of another dataset?)",
            line.correct,
            line.optimal
        );
    }
    Ok(Right {
        tokens: strings(vocab, &ids),
        note: format!(
            "left: the dataset's A* trace; right: {file} line {line_no}, sample {}, {}",
            line.sample,
            describe(&result)
        ),
        result,
    })
}

/// How a response chose and ended, in words.
fn describe(r: &SampleResult) -> String {
    let choice = match r.mode {
        ModeChoice::Fast => "fast (plan first)",
        ModeChoice::Slow => "slow (trace first)",
        ModeChoice::Other => "neither trace nor plan first",
    };
    let stop = match r.stop {
        StopReason::Eos => "ended with eos",
        StopReason::MaxLen => "cut at the length limit",
    };
    format!("{choice}, {} tokens, {stop}", r.length)
}

/// Loads the checkpoint, checks it against the dataset and decodes one response per row.
/// Rows at consecutive positions are decoded in one batch; row `pos` draws from the
/// sampler stream of `(seed, pos, 0)`, as sample 0 of `planform eval`.
fn model_rights(
    dataset: &Dataset,
    split: Split,
    rows: &[Row],
    vocab: &Vocabulary,
    m: &ModelSource,
    label: &mut String,
) -> Result<Vec<Right>> {
    let ck = &m.checkpoint;
    let missing = || {
        anyhow::anyhow!(
            "no checkpoint at {} (expected a run directory with checkpoints/latest, \
             or a checkpoints/step-N directory)",
            ck.display()
        )
    };
    if !ck.exists() {
        return Err(missing());
    }
    let device = m.device.resolve().context("--device")?;
    let loaded = match load_model_from_checkpoint(ck, device) {
        Ok(l) => l,
        Err(ModelError::NoCheckpoint(_)) => return Err(missing()),
        Err(e) => return Err(e).with_context(|| format!("loading checkpoint {}", ck.display())),
    };
    let ds = dataset.dir().display();
    if loaded.config.vocab_size() != vocab.len() {
        bail!(
            "checkpoint {} does not fit dataset {ds}: the model has {} tokens, the dataset {}",
            loaded.dir.display(),
            loaded.config.vocab_size(),
            vocab.len()
        );
    }
    if let Some(d) = loaded.vocab.difference(vocab) {
        bail!(
            "checkpoint {} does not fit dataset {ds}: {d} (here = the model, there = the dataset)",
            loaded.dir.display()
        );
    }
    *label = format!("model step {}", loaded.step);
    let longest = dataset.manifest().split(split).lengths.decoder.max as usize;
    let max_len = m.max_len.resolve(
        longest,
        &dataset.config().domain,
        planform_eval::response_room(
            &loaded.config,
            dataset.manifest().split(split).lengths.prompt.max as usize,
        ),
    );
    let sampler = planform_eval::sampler_name(&m.sampler);
    let mut cfg = SampleConfig::new(max_len);
    cfg.samples = 1;
    cfg.mode = m.mode;
    cfg.sampler = m.sampler;
    cfg.seed = m.seed;
    cfg.precision = Precision::Fp32;
    cfg.retention = Retention::All;

    let inputs = rows
        .iter()
        .map(|r| {
            TaskInput::from_example(&r.example)
                .with_context(|| format!("dataset {ds}: task id {}", r.example.id))
        })
        .collect::<Result<Vec<_>>>()?;
    let pb = progress::bar(rows.len() as u64, "tasks");
    let mut out = Vec::with_capacity(rows.len());
    let mut start = 0;
    while start < rows.len() {
        let mut end = start + 1;
        while end < rows.len() && rows[end].pos == rows[end - 1].pos + 1 {
            end += 1;
        }
        cfg.first_index = rows[start].pos;
        let done = start;
        let sampled = sample_and_score(&loaded.model, vocab, &inputs[start..end], &cfg, &mut |p| {
            pb.set_position((done + p.tasks_done) as u64)
        })
        .with_context(|| format!("decoding with checkpoint {}", loaded.dir.display()))?;
        for res in sampled.results {
            let s = res
                .samples
                .into_iter()
                .next()
                .context("decoding returned no response")?;
            out.push(Right {
                tokens: strings(vocab, &s.tokens),
                note: format!(
                    "left: the dataset's A* trace; right: {label}, {} mode, {sampler}, \
                     seed {}: {}",
                    m.mode,
                    cfg.seed,
                    describe(&s)
                ),
                result: s,
            });
        }
        start = end;
    }
    pb.finish_and_clear();
    Ok(out)
}
