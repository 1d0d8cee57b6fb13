//! `planform sweep`: run a grid of recipe points (a study) unattended and resumably, then
//! aggregate across seeds with verdicts for the sweep's claims.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::Args;
use planform_recipe::sweep::{
    archive, run_sweep, summarize, write_summary, Launcher, PointJob, Sweep, SweepProgress,
};
use planform_recipe::{parse_overrides, Recipe, RecipeError};

/// Arguments of `planform sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The sweep TOML file (see `configs/studies/`).
    pub file: PathBuf,
    /// Runs directory: the sweep's points and datasets go to `<runs>/<sweep name>/`.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Points run at once (each a `planform recipe run` process; overrides `parallel`).
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Override a field of every point's recipe, `section.field=value` (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
    /// Only aggregate the points that are done (run nothing).
    #[arg(long)]
    pub summarize: bool,
    /// Also write the summary (markdown, JSON, figures) into this directory, e.g.
    /// `docs/studies/x`, and archive every finished point's result with its recipe in
    /// `<DIR>/points/`: a point archived there counts as done in a fresh clone (its result is
    /// restored into the runs directory) unless its recipe changed since.
    #[arg(long)]
    pub report_to: Option<PathBuf>,
    /// List the points and whether each is done, then exit.
    #[arg(long)]
    pub list: bool,
}

/// Runs each point as a child `planform recipe run` process, its output in
/// `<runs>/<sweep>/logs/<point>.log`. The child dies with the sweep (PR_SET_PDEATHSIG).
struct ProcessLauncher {
    exe: PathBuf,
}

impl Launcher for ProcessLauncher {
    fn launch(&self, job: &PointJob) -> planform_recipe::Result<()> {
        let logs = job.runs_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(RecipeError::io(&logs))?;
        let log_path = logs.join(format!("{}.log", job.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(RecipeError::io(&log_path))?;
        let err_log = log.try_clone().map_err(RecipeError::io(&log_path))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("recipe")
            .arg("run")
            .arg(&job.recipe_file)
            .arg("--runs-dir")
            .arg(&job.runs_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
        }
        let status = cmd.status().map_err(RecipeError::io(&self.exe))?;
        if status.success() {
            Ok(())
        } else {
            Err(RecipeError::invalid(
                format!("point {}", job.name),
                format!(
                    "`planform recipe run` exited with {status}; see {}",
                    log_path.display()
                ),
            ))
        }
    }
}

fn hms(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
}

/// Runs `planform sweep`.
pub fn run(args: SweepArgs) -> Result<()> {
    let mut sweep = Sweep::from_file(&args.file)
        .with_context(|| format!("loading sweep {}", args.file.display()))?;
    if let Some(p) = args.parallel {
        sweep.parallel = p;
        sweep.validate()?;
    }
    let base = Recipe::from_file(&sweep.recipe)
        .with_context(|| format!("loading the base recipe {}", sweep.recipe.display()))?;
    let extra = parse_overrides(&args.sets)?;
    let jobs = sweep
        .plan(&base, &args.runs_dir, &extra)
        .context("resolving the sweep's points")?;
    if let Some(dir) = &args.report_to {
        let r = archive::restore(&jobs, dir)
            .with_context(|| format!("restoring archived points from {}", dir.display()))?;
        // Points finished by a run without the archive, or before it existed.
        archive::store_done(&jobs, dir)?;
        if r.restored > 0 || !r.stale.is_empty() {
            eprintln!(
                "[sweep {}] {} point(s) restored from {}{}",
                sweep.name,
                r.restored,
                dir.join(archive::ARCHIVE_DIR).display(),
                if r.stale.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} archived with a different recipe (run again): {}",
                        r.stale.len(),
                        r.stale.join(", ")
                    )
                }
            );
        }
    }
    if args.list {
        for j in &jobs {
            println!("{}\t{}", if j.is_done() { "done" } else { "todo" }, j.name);
        }
        return Ok(());
    }
    let out_dir = args.runs_dir.join(&sweep.name);
    let command = crate::commands::recipe::command_line();
    let (summary, failed) = if args.summarize {
        (summarize(&sweep, &jobs)?, Vec::new())
    } else {
        let launcher = ProcessLauncher {
            exe: std::env::current_exe().context("locating the planform binary")?,
        };
        let progress = |p: &SweepProgress| {
            let eta = p
                .eta_secs
                .map(|s| format!(", ETA {}", hms(s)))
                .unwrap_or_default();
            eprintln!(
                "[sweep {}] {}/{} done, {} running, {} failed{eta} | {}",
                sweep.name, p.done, p.total, p.running, p.failed, p.event
            );
        };
        run_sweep(
            &sweep,
            &jobs,
            &launcher,
            &progress,
            args.report_to.as_deref(),
        )?
    };
    write_summary(&sweep, &summary, &out_dir, &command)?;
    if let Some(dir) = &args.report_to {
        write_summary(&sweep, &summary, dir, &command)?;
    }
    eprintln!(
        "[sweep {}] {} of {} points done; summary in {}",
        sweep.name,
        summary.points_done,
        summary.points_planned,
        out_dir.join(planform_recipe::sweep::SUMMARY_MD).display()
    );
    for c in &summary.claims {
        println!("{}: {}", c.claim.name, c.verdict.word());
    }
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|f| f.0.as_str()).collect();
        bail!(
            "{} point(s) failed: {} (first error: {}); run the sweep again to retry them",
            failed.len(),
            names.join(", "),
            failed[0].1
        );
    }
    Ok(())
}
