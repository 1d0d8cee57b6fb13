//! `planform predict`: a trained checkpoint (either model family) on tasks given as JSON
//! lines in the `planform solve` format; one JSON record per task with each response's trace
//! and plan, whether the plan is valid and optimal (against A*), and why decoding stopped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use planform_core::fs::{parent_dir, temp_sibling};
use planform_eval::{
    DeviceChoice, LineError, MaxLen, PredictConfig, PredictTask, Predictor, Sampler, CHUNK_BATCHES,
};

use super::eval::ModeArg;

/// Next-token rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// The most likely token (deterministic; k must be 1).
    Greedy,
    /// Sample from the softmax at `--temperature` (the reference's rule at temperature 1).
    Temperature,
}

/// Arguments of `planform predict`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Output: one JSON line per input task line, in order: `line`, `task`, `domain`, \
`optimal_plan_length` and `astar_trace_tokens` (deterministic A* on the task), `max_len`, \
`sampler`, `mode`, `solved`/`optimal` (any response), `n_valid`, `n_optimal`, and \
`samples`: per response `sample`, `stop` (eos | max-len), `mode` (fast | slow | other: the \
first token the model chose), `valid`, `optimal`, `plan_length`, `trace_tokens`, `trace` \
and `plan` (token strings) and `trace_text`/`plan_text` (readable). A line that does not \
parse, does not fit the checkpoint (another domain or grid size) or that A* cannot solve \
gets an error record `{\"line\": N, \"error\": \"...\"}` and the run continues; at the end \
the failed lines are named on stderr and the exit status is 1. Blank lines are skipped \
(but counted in line numbers). The task on line L samples from stream L - 1 of --seed; the \
same input, seed and thread count give the same output, whatever --batch-rows.")]
pub struct PredictArgs {
    /// Run directory (uses `checkpoints/latest`) or a `checkpoints/step-N` directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// JSON-lines file of tasks in the `planform solve` format (maze: `width`, `height`,
    /// `start`, `goal`, `walls`; Sokoban: `width`, `height`, `worker`, `boxes`, `docks`,
    /// `walls`); `-` or nothing reads stdin.
    pub input: Option<PathBuf>,
    /// Output file (written atomically when complete); default stdout.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Decoding mode: fast forces `plan` after `bos`, slow forces `create`, auto lets the
    /// model choose.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: ModeArg,
    /// Responses per task, k (k > 1 needs `--sampler temperature`).
    #[arg(long, short = 'k', default_value_t = 1)]
    pub samples: usize,
    /// Next-token rule.
    #[arg(long, value_enum, default_value = "greedy")]
    pub sampler: SamplerArg,
    /// Temperature of `--sampler temperature`.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sampler seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Maximum response length incl. bos/eos (default: 1.5 × the task's A* sequence, capped
    /// at the reference 10,000 maze / 11,000 Sokoban and the model's context).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    #[command(flatten)]
    pub int8: super::eval::Int8Flag,
    /// Sequences decoded at once (bounds memory).
    #[arg(long, default_value_t = 256)]
    pub batch_rows: usize,
}

impl PredictArgs {
    /// The decoding settings.
    pub fn resolve(&self) -> Result<PredictConfig> {
        let mode = match self.mode {
            ModeArg::Auto => planform_eval::Mode::Auto,
            ModeArg::Fast => planform_eval::Mode::Fast,
            ModeArg::Slow => planform_eval::Mode::Slow,
        };
        let c = PredictConfig {
            samples: self.samples,
            mode,
            sampler: match self.sampler {
                SamplerArg::Greedy => Sampler::Greedy,
                SamplerArg::Temperature => Sampler::Multinomial {
                    temperature: self.temperature,
                },
            },
            max_len: self.max_len.map_or(MaxLen::Auto, MaxLen::Fixed),
            batch_rows: self.batch_rows,
            seed: self.seed,
            precision: planform_eval::Precision::Fp32,
        };
        c.validate().context("invalid predict settings")?;
        Ok(c)
    }
}

/// One input line, prepared or failed.
enum Pending {
    Task(PredictTask),
    Failed(usize, String),
}

/// Runs `planform predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    let config = args.resolve()?;
    let (name, reader): (String, Box<dyn BufRead>) = match &args.input {
        None => ("<stdin>".into(), Box::new(io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".into(), Box::new(io::stdin().lock())),
        Some(p) => {
            let f = File::open(p).with_context(|| format!("opening task file {}", p.display()))?;
            (p.display().to_string(), Box::new(BufReader::new(f)))
        }
    };
    let device = args.device.resolve().context("--device")?;
    let mut stored = planform_quant::store::load_model(&args.checkpoint, device)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint.display()))?;
    if args.int8.int8_matmul {
        stored.enable_int8_matmul().context("--int8-matmul")?;
    }
    let loaded = stored.model;
    let vocab = loaded
        .vocab
        .vocabulary()
        .map_err(|e| anyhow::anyhow!("checkpoint {}: vocabulary: {e}", loaded.dir.display()))?;
    let predictor = Predictor::new(&loaded.model, &vocab, config)
        .with_context(|| format!("checkpoint {}", loaded.dir.display()))?;

    let mut sink = Sink::open(args.out.as_deref())?;
    // Decode in blocks of about CHUNK_BATCHES × batch_rows sequences, writing each block's
    // lines (error records in their place) before reading on.
    let block = (CHUNK_BATCHES * args.batch_rows)
        .div_ceil(args.samples)
        .max(1);
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {human_pos} tasks ({per_sec}) {msg}",
    ) {
        pb.set_style(style);
    }
    let mut pending: Vec<Pending> = Vec::new();
    let (mut failed, mut lines, mut tasks, mut solved, mut optimal) = (Vec::new(), 0, 0, 0, 0);
    let mut flush = |pending: &mut Vec<Pending>, sink: &mut Sink| -> Result<()> {
        let ready: Vec<PredictTask> = pending
            .iter()
            .filter_map(|p| match p {
                Pending::Task(t) => Some(t.clone()),
                Pending::Failed(..) => None,
            })
            .collect();
        let done = tasks;
        let predictions = predictor
            .predict(&ready, &mut |p| {
                pb.set_position((done + p.tasks_done) as u64);
                pb.set_message(format!("{:.0} tok/s", p.tokens_per_sec()));
            })
            .with_context(|| format!("decoding tasks of {name}"))?;
        let mut predictions = predictions.into_iter();
        for p in pending.drain(..) {
            let text = match p {
                Pending::Failed(line, error) => error_record(line, error)?,
                Pending::Task(t) => {
                    let pred = predictions
                        .next()
                        .filter(|p| p.key == t.key)
                        .context("predictions out of order")?;
                    let record = pred.record(t.key + 1, predictor.config(), &vocab);
                    tasks += 1;
                    solved += usize::from(record.solved);
                    optimal += usize::from(record.optimal);
                    serde_json::to_string(&record).context("serialising a record")?
                }
            };
            sink.line(&text)?;
        }
        Ok(())
    };
    // Lines as bytes: a line that is not UTF-8 is one failed line, not the end of input.
    for (i, line) in reader.split(b'\n').enumerate() {
        let lineno = i + 1;
        let mut line = line.with_context(|| format!("{name}:{lineno}: reading input"))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let prepared = match String::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => predictor.prepare(&text, i).map_err(|e| e.to_string()),
            Err(e) => Err(format!("the line is not UTF-8 text ({})", e.utf8_error())),
        };
        lines += 1;
        match prepared {
            Ok(t) => pending.push(Pending::Task(t)),
            Err(e) => {
                failed.push(lineno);
                pending.push(Pending::Failed(lineno, e));
            }
        }
        if pending
            .iter()
            .filter(|p| matches!(p, Pending::Task(_)))
            .count()
            >= block
        {
            flush(&mut pending, &mut sink)?;
        }
    }
    flush(&mut pending, &mut sink)?;
    pb.finish_and_clear();
    sink.commit()?;
    eprintln!(
        "{name}: {tasks} tasks × {} samples: {solved} solved, {optimal} optimal \
         (checkpoint {}, step {})",
        args.samples,
        loaded.dir.display(),
        loaded.step
    );
    if !failed.is_empty() {
        return Err(super::solve::failed_lines(&name, &failed, lines));
    }
    Ok(())
}

/// The output line for a failed input line: `{"line":N,"error":"..."}`.
fn error_record(line: usize, error: String) -> Result<String> {
    serde_json::to_string(&LineError { line, error }).context("serialising an error record")
}

/// Where the lines go: stdout, or a temporary sibling of the output file renamed over it
/// when complete (so that an interrupted run leaves no partial file under that name).
enum Sink {
    Stdout(BufWriter<io::Stdout>),
    File(FileSink),
}

/// An output file being written: the temporary sibling until [`Sink::commit`].
struct FileSink {
    /// `None` once committed.
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
}

impl Sink {
    fn open(path: Option<&Path>) -> Result<Sink> {
        Ok(match path {
            None => Sink::Stdout(BufWriter::new(io::stdout())),
            Some(path) => {
                let tmp = temp_sibling(path);
                let f = File::create(&tmp).with_context(|| {
                    format!(
                        "creating the output file {} (in {})",
                        path.display(),
                        parent_dir(path).display()
                    )
                })?;
                Sink::File(FileSink {
                    out: Some(BufWriter::new(f)),
                    tmp,
                    path: path.to_path_buf(),
                })
            }
        })
    }

    fn line(&mut self, text: &str) -> Result<()> {
        match self {
            Sink::Stdout(w) => writeln!(w, "{text}").context("writing to stdout"),
            Sink::File(FileSink {
                out: Some(out),
                path,
                ..
            }) => writeln!(out, "{text}").with_context(|| format!("writing {}", path.display())),
            Sink::File(FileSink { path, .. }) => bail!("{} was already closed", path.display()),
        }
    }

    fn commit(&mut self) -> Result<()> {
        match self {
            Sink::Stdout(w) => w.flush().context("writing to stdout"),
            Sink::File(f) => {
                let Some(out) = f.out.take() else {
                    return Ok(());
                };
                let done = (|| -> io::Result<()> {
                    let file = out.into_inner().map_err(|e| e.into_error())?;
                    file.sync_all()?;
                    std::fs::rename(&f.tmp, &f.path)
                })();
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&f.tmp);
                    return Err(e).with_context(|| format!("writing {}", f.path.display()));
                }
                Ok(())
            }
        }
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // An error before `commit` leaves no temporary file behind.
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
