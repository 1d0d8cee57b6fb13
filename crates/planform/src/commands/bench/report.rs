//! Results of `planform bench gen` and their markdown / JSON form.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::clock::Machine;

/// One measurement: counts and clocks.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rate {
    /// Threads (1 for the single-thread and the Python runs).
    pub threads: usize,
    /// Tasks produced (after all filters).
    pub tasks: u64,
    /// Tokens of those tasks: prompt + reasoning + plan, no `bos`/`eos`.
    pub tokens: u64,
    /// Layout indices (mazes) or levels (Sokoban) processed.
    pub items: u64,
    /// Wall seconds.
    pub wall_s: f64,
    /// CPU seconds (thread CPU for one Rust thread, process CPU otherwise).
    pub cpu_s: f64,
}

impl Rate {
    /// Per-core rate of `count`: per CPU-second for one thread, per wall-second and
    /// thread for a multi-thread run.
    fn per_core(&self, count: u64) -> f64 {
        if self.threads == 1 {
            count as f64 / self.cpu_s
        } else {
            count as f64 / self.wall_s / self.threads as f64
        }
    }

    /// Tasks per second per core (see [`Rate::per_core`]).
    pub fn tasks_per_core(&self) -> f64 {
        self.per_core(self.tasks)
    }

    /// Tokens per second per core.
    pub fn tokens_per_core(&self) -> f64 {
        self.per_core(self.tokens)
    }

    /// Tasks per wall-second (all threads together).
    pub fn tasks_wall(&self) -> f64 {
        self.tasks as f64 / self.wall_s
    }

    /// Mean tokens per task.
    pub fn tokens_per_task(&self) -> f64 {
        self.tokens as f64 / self.tasks.max(1) as f64
    }
}

/// Reference figures from an earlier measurement (per core, one Python process).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Anchor {
    /// Tasks per second.
    pub tasks: f64,
    /// Tokens per second.
    pub tokens: f64,
}

/// All measurements of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Label, e.g. `maze 10×10 det`.
    pub case: String,
    /// Earlier reference figures, where recorded.
    pub anchor: Option<Anchor>,
    /// Rust, one thread (CPU-time budget).
    pub rust_one_thread: Rate,
    /// Rust, all threads (wall-time budget).
    pub rust_all_cores: Rate,
    /// The Python reference re-statement in this run (`None` if skipped or failed).
    pub python: Option<Rate>,
}

/// `planform_data::generate` end to end.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParquetResult {
    /// Tasks stored.
    pub tasks: u64,
    /// Worker threads.
    pub threads: usize,
    /// Wall seconds of `generate`.
    pub wall_s: f64,
    /// Process CPU seconds of `generate`.
    pub cpu_s: f64,
    /// Bytes of the dataset directory (shards + manifest).
    pub bytes: u64,
    /// Tokens stored (prompt + reasoning + plan, no `bos`/`eos`).
    pub tokens: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line.
    pub command: String,
    /// Machine, date, load.
    pub machine: Machine,
    /// Threads of the all-core runs.
    pub threads: usize,
    /// Budget of each Rust run.
    pub rust_seconds: f64,
    /// CPU budget of each Python run (Sokoban: 3×).
    pub python_seconds: f64,
    /// The reference interpreter and script (`None` if skipped).
    pub reference: Option<String>,
    /// Per-case results.
    pub cases: Vec<CaseResult>,
    /// End-to-end Parquet generation (`None` if skipped).
    pub parquet: Option<ParquetResult>,
}

/// `1234567.8` → `1,234,568`; values under 100 keep one decimal.
pub(super) fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x < 100.0 {
        return format!("{x:.1}");
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `a / b` as `×123`, or `–`.
pub(super) fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() => format!("×{}", num(a / b)),
        _ => "–".into(),
    }
}

/// `a / b` as `×1.23` (two decimals under 10, else as [`ratio`]), or `–`.
pub(super) fn factor(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 && a.is_finite() && a / b < 10.0 => format!("×{:.2}", a / b),
        _ => ratio(a, b),
    }
}

/// A count with thousands separators.
pub(super) fn int(x: u64) -> String {
    if x < 100 {
        x.to_string()
    } else {
        num(x as f64)
    }
}

pub(super) fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), num)
}

/// The markdown report.
pub fn markdown(r: &Report) -> String {
    let m = &r.machine;
    let n = r.threads;
    let mut s = String::new();
    let load = |l: Option<f64>| l.map_or_else(|| "?".into(), |l| format!("{l:.2}"));
    let _ = writeln!(
        s,
        "Machine: {} ({} cores), {}; 1-min load average {} at start, {} at end.",
        m.cpu_model,
        m.cores,
        m.date,
        load(m.load_start),
        load(m.load_end)
    );
    let _ = writeln!(s, "Command: `{}`", r.command);
    let _ = writeln!(
        s,
        "Reference: {}.\n",
        r.reference.as_deref().unwrap_or("skipped")
    );
    let _ = writeln!(
        s,
        "Per-core rates: Rust 1 thread and Python = count / CPU seconds of that thread or \
         process ({} s Rust, {} s Python, Sokoban Python 3×); Rust {n} threads, per core = \
         count / wall seconds ({} s) / {n}; per CPU-s = count / CPU seconds of all threads; \
         scaling = {n}-thread wall rate ÷ 1-thread rate. Tokens = prompt + reasoning + plan, \
         without bos/eos.\n",
        r.rust_seconds, r.python_seconds, r.rust_seconds
    );

    let _ = writeln!(s, "Tasks per second per core:\n");
    let _ = writeln!(
        s,
        "| case | Rust 1 thread | Rust {n} threads, per core | Rust {n} threads, per CPU-s | \
         scaling | Python ref. (this run) | Rust ÷ Python, 1 thread | Rust ÷ Python, {n} threads | \
         anchor | Rust 1 thread ÷ anchor |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &r.cases {
        let (one, all) = (&c.rust_one_thread, &c.rust_all_cores);
        let py = c.python.map(|p| p.tasks_per_core());
        let anchor = c.anchor.map(|a| a.tasks);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2}× | {} | {} | {} | {} | {} |",
            c.case,
            num(one.tasks_per_core()),
            num(all.tasks_per_core()),
            num(all.tasks as f64 / all.cpu_s),
            all.tasks_wall() / one.tasks_per_core(),
            opt(py),
            ratio(one.tasks_per_core(), py),
            ratio(all.tasks_per_core(), py),
            opt(anchor),
            ratio(one.tasks_per_core(), anchor),
        );
    }

    let _ = writeln!(s, "\nTokens per second per core:\n");
    let _ = writeln!(
        s,
        "| case | tokens/task Rust | tokens/task Python | Rust 1 thread | Rust {n} threads (per core) | \
         Python ref. (this run) | Rust ÷ Python, 1 thread | anchor | Rust 1 thread ÷ anchor |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &r.cases {
        let (one, all) = (&c.rust_one_thread, &c.rust_all_cores);
        let py = c.python.map(|p| p.tokens_per_core());
        let anchor = c.anchor.map(|a| a.tokens);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.case,
            num(one.tokens_per_task()),
            opt(c.python.map(|p| p.tokens_per_task())),
            num(one.tokens_per_core()),
            num(all.tokens_per_core()),
            opt(py),
            ratio(one.tokens_per_core(), py),
            opt(anchor),
            ratio(one.tokens_per_core(), anchor),
        );
    }

    let _ = writeln!(
        s,
        "\nRaw counts (tasks / layouts or levels / CPU s / wall s; Sokoban levels count every \
         draw, including rejected ones, for Python only):\n"
    );
    let _ = writeln!(
        s,
        "| case | Rust 1 thread | Rust {n} threads | Python ref. |\n|---|---|---|---|"
    );
    let raw = |r: &Rate| {
        format!(
            "{} / {} / {:.2} / {:.2}",
            r.tasks, r.items, r.cpu_s, r.wall_s
        )
    };
    for c in &r.cases {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            c.case,
            raw(&c.rust_one_thread),
            raw(&c.rust_all_cores),
            c.python.as_ref().map_or_else(|| "–".into(), raw)
        );
    }

    if let Some(p) = &r.parquet {
        let per_task = p.bytes as f64 / p.tasks.max(1) as f64;
        let _ = writeln!(
            s,
            "\n`planform_data::generate` end to end (maze 10×10 det, {} tasks, {} threads, Parquet \
             + zstd, manifest): {} tasks/s wall ({} per thread; {} tasks per CPU-second), {} \
             tokens/s wall. On disk: {} bytes = {:.1} bytes/task ({:.3} bytes/token), i.e. \
             {:.0} MB per million tasks.",
            p.tasks,
            p.threads,
            num(p.tasks as f64 / p.wall_s),
            num(p.tasks as f64 / p.wall_s / p.threads as f64),
            num(p.tasks as f64 / p.cpu_s),
            num(p.tokens as f64 / p.wall_s),
            num(p.bytes as f64),
            per_task,
            p.bytes as f64 / p.tokens.max(1) as f64,
            per_task, // bytes/task × 1e6 tasks / 1e6 bytes per MB
        );
    }
    s
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = planform_core::fs::parent_dir(path);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    planform_core::fs::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_ratios_formatted() {
        assert_eq!(num(1_234_567.4), "1,234,567");
        assert_eq!(num(100.0), "100");
        assert_eq!(num(999_999.6), "1,000,000");
        assert_eq!(num(15.04), "15.0");
        assert_eq!(ratio(3_000.0, Some(10.0)), "×300");
        assert_eq!(ratio(1.0, None), "–");
        assert_eq!(ratio(1.0, Some(0.0)), "–");
        assert_eq!(factor(1.234, Some(1.0)), "×1.23");
        assert_eq!(factor(300.0, Some(1.0)), "×300");
        assert_eq!(int(59), "59");
        assert_eq!(int(12_345), "12,345");
    }

    #[test]
    fn per_core_rates_use_cpu_for_one_thread_and_wall_for_many() {
        let one = Rate {
            threads: 1,
            tasks: 100,
            tokens: 4_000,
            items: 2,
            wall_s: 4.0,
            cpu_s: 2.0,
        };
        assert_eq!(one.tasks_per_core(), 50.0);
        assert_eq!(one.tokens_per_task(), 40.0);
        let many = Rate {
            threads: 4,
            cpu_s: 30.0,
            ..one
        };
        assert_eq!(many.tasks_per_core(), 100.0 / 4.0 / 4.0);
        assert_eq!(many.tasks_wall(), 25.0);
    }
}
