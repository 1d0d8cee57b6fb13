//! `planform demo`: the built-in recipe (`configs/demo.toml`): small mazes, a tiny
//! search-augmented model trained on CPU, evaluated against A* and against the untrained
//! model. Resumable like any recipe.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use planform_recipe::{eval_records, eval_table, Layout, DEMO_QUICK_OVERRIDES, DEMO_RECIPE};

/// Arguments of `planform demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Runs directory.
    #[arg(long, default_value = "runs/demo")]
    pub runs_dir: PathBuf,
    /// A one-minute smoke version (fewer tasks and steps; the numbers mean little).
    #[arg(long)]
    pub quick: bool,
    /// Override a field of the demo recipe, `section.field=value` (repeatable). Training
    /// uses every available core unless `--set train.threads=N` says otherwise (results
    /// are deterministic for a given thread count).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
}

/// Runs `planform demo`.
pub fn run(args: DemoArgs) -> Result<()> {
    let mut sets: Vec<String> = Vec::new();
    if !args
        .sets
        .iter()
        .any(|s| s.trim_start().starts_with("train.threads"))
    {
        sets.push(format!(
            "train.threads={}",
            planform_train::rundir::available_cores()
        ));
    }
    if args.quick {
        sets.extend(DEMO_QUICK_OVERRIDES.iter().map(|(k, v)| format!("{k}={v}")));
    }
    sets.extend(args.sets.iter().cloned());
    let (recipe, overrides) =
        super::recipe::load(Err((DEMO_RECIPE, "built-in demo recipe")), &sets)?;
    eprintln!("planform demo: {}", recipe.description);
    let started = std::time::Instant::now();
    let outcome = super::recipe::execute(&recipe, &args.runs_dir, overrides)?;
    println!("{}", eval_table(&outcome.evals));
    let untrained = outcome.evals.iter().find(|(s, _)| s.name == "untrained");
    let trained = outcome.evals.iter().find(|(s, _)| s.name == "test");
    if let (Some((_, u)), Some((_, t))) = (untrained, trained) {
        println!(
            "What the model learned: solved {:.1}% → {:.1}%, optimal {:.1}% → {:.1}% of {} \
             unseen test mazes (any of k = {} samples), untrained (step 0) → trained \
             (step {}).",
            100.0 * u.metrics.summary.solved,
            100.0 * t.metrics.summary.solved,
            100.0 * u.metrics.summary.optimal,
            100.0 * t.metrics.summary.optimal,
            t.metrics.tasks,
            t.metrics.samples_per_task,
            t.header.step
        );
    }
    let layout = Layout::new(&args.runs_dir);
    if let Ok(records) = eval_records(&layout.train_dir(&recipe.name)) {
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            println!(
                "Held-out loss {:.3} → {:.3}; teacher-forced plan exact match {:.1}% → {:.1}% \
                 (step {} → {}).",
                first.metrics.loss,
                last.metrics.loss,
                100.0 * first.metrics.plan_acc,
                100.0 * last.metrics.plan_acc,
                first.step,
                last.step
            );
        }
    }
    eprintln!(
        "demo finished in {:.1} min; outputs in {}",
        started.elapsed().as_secs_f64() / 60.0,
        layout.run_dir(&recipe.name).display()
    );
    Ok(())
}
