//! `planform coconut`: ProsQA generation and statistics, Coconut training (one arm of
//! Table 1 per config), evaluation of any file in the public ProsQA format, the Table-1
//! study and the latent-search analysis.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use clap::{Args, Subcommand};
use planform_coconut::analysis::analyse;
use planform_coconut::config::Slot;
use planform_coconut::data::{prosqa_items, read_prosqa};
use planform_coconut::eval::evaluate;
use planform_coconut::layout::eval_prompt;
use planform_coconut::study::{run_study, summarize_archived, StudyConfig};
use planform_coconut::train::{load_checkpoint, train_run};
use planform_coconut::RunConfig;
use planform_model::DeviceChoice;
use planform_trace::prosqa::{generate_records, stats, write_records, ProsqaGenConfig};

/// Arguments of `planform coconut`.
#[derive(Debug, Args)]
pub struct CoconutArgs {
    #[command(subcommand)]
    command: CoconutCommand,
}

#[derive(Debug, Subcommand)]
enum CoconutCommand {
    /// Generate ProsQA records as a JSON file in the public format.
    Gen(GenArgs),
    /// Print a ProsQA file's statistics beside the paper's Table 2.
    Inspect {
        /// A JSON file in the public ProsQA format.
        file: PathBuf,
    },
    /// Train one arm (a run config, e.g. configs/coconut/prosqa-coconut.toml); resumable.
    Train(TrainArgs),
    /// Answer every question of a ProsQA file with a checkpoint (greedy, batched).
    Eval(EvalArgs),
    /// Run a study (arms × seeds, resumable) and print its table with verdicts.
    Study(StudyArgs),
    /// The latent-search analysis of a Coconut checkpoint on a ProsQA file.
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Args)]
struct GenArgs {
    /// Output JSON file.
    #[arg(long, short)]
    out: PathBuf,
    /// Records.
    #[arg(long, default_value_t = 500)]
    count: usize,
    /// Dataset seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Index of the first record (a later slice of the same dataset).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Nodes built per graph (paper scale 28, CPU scale 14).
    #[arg(long, default_value_t = 28)]
    nodes: u32,
    /// Shortest accepted path.
    #[arg(long, default_value_t = 3)]
    min_steps: u32,
    /// Longest accepted path.
    #[arg(long, default_value_t = 6)]
    max_steps: u32,
    /// Threads (the output does not depend on it).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

#[derive(Debug, Args)]
struct TrainArgs {
    /// The run config (TOML).
    config: PathBuf,
    /// Runs directory (data under `<runs>/data`, the run under `<runs>/<name>/s<seed>`).
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Override the config's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the total epochs (e.g. a short pilot).
    #[arg(long)]
    epochs: Option<usize>,
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// A run directory or its `checkpoint` directory.
    checkpoint: PathBuf,
    /// Questions in the public ProsQA format.
    file: PathBuf,
    /// Stage whose prompt layout to use (default: the run's final stage).
    #[arg(long)]
    stage: Option<usize>,
    /// Only the first N questions.
    #[arg(long)]
    limit: Option<usize>,
    /// Questions decoded together.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Most language tokens per answer (reference: 128).
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Print each question's output.
    #[arg(long)]
    show: bool,
    /// libtorch threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

#[derive(Debug, Args)]
struct StudyArgs {
    /// The study file (e.g. configs/coconut/prosqa-table1.toml).
    file: PathBuf,
    /// Runs directory.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Only these seeds (default: the study's).
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Only the arms whose run name is listed.
    #[arg(long, value_delimiter = ',')]
    arms: Option<Vec<String>>,
    /// Also write the summary here (e.g. `docs/studies/prosqa-table1`) and archive every
    /// finished run in `<DIR>/points/` (configuration + result): an archived run whose
    /// configuration is unchanged counts as done, also in a fresh clone without `runs/`.
    #[arg(long)]
    report_to: Option<PathBuf>,
    /// Train nothing: summarize the runs archived under --report-to (a partial study's
    /// summary; runs not archived yet are left out).
    #[arg(long, requires = "report_to")]
    summarize: bool,
}

#[derive(Debug, Args)]
struct AnalyzeArgs {
    /// A run directory or checkpoint (Coconut for forced thoughts and the probe; any arm
    /// for k = 0).
    checkpoint: PathBuf,
    /// Questions in the public ProsQA format.
    file: PathBuf,
    /// Only the first N questions.
    #[arg(long, default_value_t = 500)]
    limit: usize,
    /// Forced thought counts (default: 0-6 for a model with continuous thoughts, else 0).
    #[arg(long, value_delimiter = ',')]
    ks: Option<Vec<usize>>,
    /// Thought counts of the frontier probe (default: 1,2 for a model with continuous
    /// thoughts, else none).
    #[arg(long, value_delimiter = ',')]
    probe: Option<Vec<usize>>,
    /// Questions decoded together.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Most language tokens per answer after the forced thoughts (reference: 128).
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Device: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
    /// Also write the report (Markdown) here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `planform coconut`.
pub fn run(args: CoconutArgs) -> Result<()> {
    match args.command {
        CoconutCommand::Gen(a) => gen(a),
        CoconutCommand::Inspect { file } => {
            let recs = read_prosqa(&file)?;
            print!(
                "{}",
                stats(&recs).with_context(|| format!("{}", file.display()))?
            );
            Ok(())
        }
        CoconutCommand::Train(a) => train(a),
        CoconutCommand::Eval(a) => eval(a),
        CoconutCommand::Study(a) => study(a),
        CoconutCommand::Analyze(a) => analyze(a),
    }
}

fn gen(a: GenArgs) -> Result<()> {
    let cfg = ProsqaGenConfig {
        nodes: a.nodes,
        min_steps: a.min_steps,
        max_steps: a.max_steps,
        ..ProsqaGenConfig::default()
    };
    let recs = generate_records(cfg, a.seed, a.first, a.count, a.threads)?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&a.out, write_records(&recs))
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!("wrote {} records to {}", recs.len(), a.out.display());
    Ok(())
}

fn train(a: TrainArgs) -> Result<()> {
    let mut cfg = RunConfig::load(&a.config)?;
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(e) = a.epochs {
        cfg.curriculum.epochs = e;
    }
    cfg.validate()?;
    let r = train_run(&cfg, &a.runs_dir, &mut |line| {
        eprintln!("{line}");
        ControlFlow::Continue(())
    })?
    .context("the run stopped early")?;
    println!(
        "{} ({}), seed {}: test accuracy {:.3}, optimal {:.3}, tokens {:.1} (thoughts {:.1}), {} questions; stages {:?}",
        r.name,
        r.method.label(),
        r.seed,
        r.test.accuracy,
        r.test.optimal,
        r.test.tokens,
        r.test.thoughts,
        r.test.questions,
        r.stage_valid
    );
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    ensure!(
        a.batch > 0 && a.max_new_tokens > 0,
        "--batch and --max-new-tokens must be >= 1"
    );
    tch::set_num_threads(a.threads.max(1) as i32);
    let l = load_checkpoint(&a.checkpoint, a.device.resolve()?)?;
    let mut recs = read_prosqa(&a.file)?;
    if let Some(n) = a.limit {
        recs.truncate(n);
    }
    let items = prosqa_items(&l.vocab, recs, &a.file.display().to_string())?;
    let cfg = &l.state.config;
    let stage = a
        .stage
        .unwrap_or_else(|| cfg.curriculum.stage(cfg.curriculum.epochs - 1));
    let prompts: Vec<_> = items
        .iter()
        .map(|it| eval_prompt(&it.example, stage, &cfg.curriculum, &l.vocab))
        .collect();
    let t0 = std::time::Instant::now();
    let (sum, scored) = evaluate(
        &l.model,
        &l.vocab,
        &items,
        &prompts,
        a.max_new_tokens,
        a.batch,
    )?;
    if a.show {
        for (i, s) in scored.iter().enumerate() {
            println!(
                "[{i}] {} | {}",
                if s.correct { "ok " } else { "BAD" },
                s.output.replace('\n', " / ")
            );
        }
    }
    println!(
        "{}: {} questions, {} ({}), stage {stage}: accuracy {:.4}, generated tokens {:.2} (thoughts {:.2} + language {:.2}), {:.1}s",
        a.file.display(),
        sum.questions,
        cfg.name,
        cfg.curriculum.method.label(),
        sum.accuracy,
        sum.tokens,
        sum.thoughts,
        sum.language_tokens,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn study(a: StudyArgs) -> Result<()> {
    let (mut cfg, mut arms) = StudyConfig::load(&a.file)?;
    if let Some(s) = a.seeds {
        cfg.seeds = s;
    }
    if let Some(names) = a.arms {
        arms.retain(|r| names.contains(&r.name));
        ensure!(!arms.is_empty(), "no arm of the study is named {names:?}");
    }
    let summary = match (a.summarize, a.report_to.as_deref()) {
        (true, Some(dir)) => {
            let (summary, have, all) = summarize_archived(&cfg, &arms, &a.runs_dir, dir)?;
            eprintln!(
                "{}: {have} of {all} runs archived in {}; summary written there",
                cfg.name,
                dir.display()
            );
            summary
        }
        _ => run_study(&cfg, &arms, &a.runs_dir, a.report_to.as_deref(), &|line| {
            eprintln!("{line}")
        })?,
    };
    print!(
        "{}",
        summary.markdown(cfg.paper.as_deref() == Some("prosqa"))
    );
    Ok(())
}

fn analyze(a: AnalyzeArgs) -> Result<()> {
    ensure!(
        a.batch > 0 && a.max_new_tokens > 0,
        "--batch and --max-new-tokens must be >= 1"
    );
    let l = load_checkpoint(&a.checkpoint, a.device.resolve()?)?;
    let mut recs = read_prosqa(&a.file)?;
    recs.truncate(a.limit);
    let items = prosqa_items(&l.vocab, recs, &a.file.display().to_string())?;
    let c = l.state.config.curriculum.c;
    let method = l.state.config.curriculum.method;
    let continuous = method.slot() == Slot::Continuous;
    let ks = a.ks.unwrap_or_else(|| {
        if continuous {
            (0..=6).collect()
        } else {
            vec![0]
        }
    });
    let probe = a
        .probe
        .unwrap_or_else(|| if continuous { vec![1, 2] } else { vec![] });
    let report = analyse(
        &l.model,
        &l.vocab,
        &items,
        method,
        c,
        &ks,
        &probe,
        a.max_new_tokens,
        a.batch,
    )?;
    let mut text = format!(
        "# Latent-search analysis: {} ({} questions of {})\n\nk counts replaced steps, each forced as c = {c} continuous thought(s).\n\n{report}",
        l.state.config.name,
        items.len(),
        a.file.display()
    );
    print!("{text}");
    if let Some(out) = a.out {
        // Figures beside the report: <stem>-outcomes and <stem>-frontier (SVG and PNG).
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = out.file_stem().map_or_else(
            || "analysis".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let figures = report.write_figures(&dir, &stem)?;
        text.push('\n');
        for f in &figures {
            text.push_str(&format!("![{f}]({f})\n\n"));
        }
        planform_core::fs::write_atomic(&out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        for f in figures {
            eprintln!("wrote {}", dir.join(f).display());
        }
    }
    Ok(())
}
