//! `planform show`: a task and its A* trace in the terminal, and optionally as an SVG (walls,
//! cells shaded in the order A* closed them, the plan drawn).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use planform_data::{Dataset, Split};
use planform_trace::rng::Rng;
use planform_trace::task::Task;
use planform_viz::{
    render_board, render_listing, render_svg, Board, Search, SvgOptions, TextOptions,
};

use super::gen::AstarArg;

/// Arguments of `planform show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A task as one JSON line (golden-file fields), a file holding such lines, or `-` for
    /// stdin. Omit it when reading from a dataset with `--data`.
    pub task: Option<String>,
    /// Which line of the input (or row of the dataset split) to show, from 0.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Read the task from this dataset directory instead.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Dataset split for `--data`.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// A* mode used to solve the task.
    #[arg(long, value_enum, default_value = "det")]
    pub astar: AstarArg,
    /// Seed for nondeterministic A*.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the picture as SVG here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print at most this many trace clauses (the middle is elided).
    #[arg(long, default_value_t = 40)]
    pub clauses: usize,
    /// Colour output (default: when stdout is a terminal).
    #[arg(long)]
    pub color: Option<bool>,
}

/// Dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    /// Training split.
    Train,
    /// Test split.
    Test,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Self {
        match s {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        }
    }
}

/// Loads the task to show from the arguments.
fn load_task(args: &ShowArgs) -> Result<(String, Task)> {
    if let Some(dir) = &args.data {
        if args.task.is_some() {
            bail!("give either a task or --data, not both");
        }
        let ds =
            Dataset::open(dir).with_context(|| format!("opening dataset {}", dir.display()))?;
        let rows = ds
            .read_split(args.split.into())
            .with_context(|| format!("reading dataset {}", dir.display()))?;
        let ex = rows.get(args.index).with_context(|| {
            format!(
                "{}: split has {} rows, no row {}",
                dir.display(),
                rows.len(),
                args.index
            )
        })?;
        let task = ex
            .parse_task()
            .with_context(|| format!("{}: row {}", dir.display(), args.index))?;
        return Ok((
            format!("{} row {} (id {})", dir.display(), args.index, ex.id),
            task,
        ));
    }
    let Some(spec) = &args.task else {
        bail!(
            "no task given: pass a JSON line, a file of JSON lines, `-` for stdin, or --data DIR"
        );
    };
    let (name, text) = if spec == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading stdin")?;
        ("<stdin>".to_string(), s)
    } else if spec.trim_start().starts_with('{') {
        ("<argument>".to_string(), spec.clone())
    } else {
        let text = std::fs::read_to_string(spec).with_context(|| format!("reading {spec}"))?;
        (spec.clone(), text)
    };
    let line = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .nth(args.index)
        .with_context(|| format!("{name}: no task line {}", args.index))?;
    let task = Task::from_json(line).with_context(|| format!("{name}: line {}", args.index + 1))?;
    Ok((name, task))
}

/// Runs `planform show`.
pub fn run(args: ShowArgs) -> Result<()> {
    let (name, task) = load_task(&args)?;
    let mut rng = Rng::new(args.seed);
    let trace = task
        .solve(args.astar.into(), &mut rng)
        .with_context(|| format!("{name}: solving the task"))?;
    let board = Board::from(&task);
    let search = Search::from_task_trace(&trace, &board);
    let opts = TextOptions {
        color: args
            .color
            .unwrap_or_else(|| std::io::stdout().is_terminal()),
        max_clauses: Some(args.clauses),
    };
    let (w, h) = task.size();
    println!("{name}: {} {w}x{h}", task.domain().name());
    println!("{}", render_board(&board, Some(&search), &opts));
    println!("{}", render_listing(&board, &search, &opts));
    if let Some(path) = &args.svg {
        let svg = render_svg(
            &board,
            Some(&search),
            &SvgOptions {
                title: Some(format!("{} {w}x{h}: A* trace", task.domain().name())),
                ..SvgOptions::default()
            },
        );
        // planform-core's write: its io::Error is the only carrier of the OS message, so
        // the printed chain names it once (planform-viz's wrapper repeats it).
        planform_core::fs::write_atomic(path, svg.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
