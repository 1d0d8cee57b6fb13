//! `planform recipe`: run a recipe (one TOML = one published method: data → train → evals
//! → bootstrap, resumable) or list the recipes in `configs/`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use planform_recipe::{
    eval_table, list_recipes, parse_overrides, run_recipe, Observer, Recipe, RunOptions,
    RunOutcome, StageAction, StageRecord,
};

use crate::progress;

/// Arguments of `planform recipe`.
#[derive(Debug, Args)]
pub struct RecipeArgs {
    #[command(subcommand)]
    pub command: RecipeCommand,
}

/// Subcommands of `planform recipe`.
#[derive(Debug, Subcommand)]
pub enum RecipeCommand {
    /// Run a recipe end to end; a re-run skips finished stages and resumes training.
    Run(RunArgs),
    /// List the recipes in a directory (default `configs/`) with their descriptions.
    List(ListArgs),
}

/// Arguments of `planform recipe run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The recipe TOML file (see `configs/`).
    pub file: PathBuf,
    /// Runs directory: datasets in `<runs>/data/<name>`, runs in `<runs>/<recipe name>`.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Override a field, `section.field=value` (repeatable), e.g.
    /// `--set train.optim.total_steps=5 --set data.num_tasks=200 --set eval.tasks=3`;
    /// `eval.NAME.field=…` for one eval only.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
    /// Print the resolved recipe (overrides applied) as TOML and exit.
    #[arg(long)]
    pub print: bool,
}

/// Arguments of `planform recipe list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Directory searched recursively for recipe files.
    #[arg(default_value = "configs")]
    pub dir: PathBuf,
}

/// Shell-quotes one argument when needed.
pub fn quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// This process's command line with the program shown as `planform`.
pub fn command_line() -> String {
    let mut parts = vec!["planform".to_string()];
    parts.extend(std::env::args().skip(1).map(|a| quote(&a)));
    parts.join(" ")
}

/// Progress (bars on a terminal, lines otherwise) and stage lines on stderr.
#[derive(Default)]
pub struct BarObserver {
    stage: String,
    /// Stages this one runs inside (an evaluation at step 0 runs inside training), so that
    /// progress after it is labelled with the outer stage again.
    outer: Vec<String>,
    bar: Option<progress::Reporter>,
}

impl BarObserver {
    fn bar(&mut self, total: u64, unit: &str) -> &mut progress::Reporter {
        let label = if self.stage.is_empty() {
            "recipe"
        } else {
            &self.stage
        };
        let label = label.to_string();
        self.bar
            .get_or_insert_with(|| progress::Reporter::new(&label, total, unit))
    }

    fn end_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish("");
        }
    }
}

impl Observer for BarObserver {
    fn stage_started(&mut self, stage: &str, detail: &str) {
        self.end_bar();
        self.outer
            .push(std::mem::replace(&mut self.stage, stage.to_string()));
        eprintln!("[{stage}] {detail}");
    }
    fn stage_finished(&mut self, r: &StageRecord) {
        self.end_bar();
        // A skipped stage finishes without having started.
        if r.stage == self.stage {
            self.stage = self.outer.pop().unwrap_or_default();
        }
        let what = match r.action {
            StageAction::Ran => "done",
            StageAction::Skipped => "skipped",
        };
        eprintln!("[{}] {what}: {} ({:.1} s)", r.stage, r.detail, r.secs);
    }
    fn gen_progress(&mut self, done: u64, total: u64) {
        let b = self.bar(total, "task");
        b.set_length(total);
        b.update(done, "", None, false);
    }
    fn train_progress(&mut self, p: &planform_train::Progress) -> ControlFlow<()> {
        progress::train_update(self.bar(p.total_steps, "step"), p);
        ControlFlow::Continue(())
    }
    fn eval_progress(&mut self, p: &planform_eval::Progress) {
        progress::eval_update(self.bar(p.tasks_total as u64, "task"), p);
    }
}

/// Loads `file` (or the built-in text) and applies `--set` overrides.
pub fn load(
    text_or_file: Result<&Path, (&str, &str)>,
    sets: &[String],
) -> Result<(Recipe, Vec<(String, String)>)> {
    let recipe = match text_or_file {
        Ok(path) => {
            Recipe::from_file(path).with_context(|| format!("loading recipe {}", path.display()))?
        }
        Err((text, origin)) => Recipe::from_toml_str(text, origin)?,
    };
    let parsed = parse_overrides(sets)?;
    let recipe = recipe
        .with_overrides(&parsed)
        .context("applying --set overrides")?;
    let recorded = parsed
        .iter()
        .map(|o| {
            let (k, v) = o.origin.split_once('=').unwrap_or((&o.origin, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Ok((recipe, recorded))
}

/// Runs a loaded recipe with progress bars; prints where the outputs are.
pub fn execute(
    recipe: &Recipe,
    runs_dir: &Path,
    overrides: Vec<(String, String)>,
) -> Result<RunOutcome> {
    let opts = RunOptions {
        runs_dir: runs_dir.to_path_buf(),
        overrides,
        command: Some(command_line()),
    };
    let mut obs = BarObserver::default();
    let outcome = run_recipe(recipe, &opts, &mut obs);
    obs.end_bar();
    if let Some(signal) = planform_train::interrupt::requested() {
        return Err(crate::Interrupted {
            signal,
            message: format!(
                "recipe {} interrupted by {} (training saved a checkpoint); run the same \
                 command again to continue",
                recipe.name,
                planform_train::interrupt::signal_name(signal)
            ),
        }
        .into());
    }
    outcome.with_context(|| format!("running recipe {}", recipe.name))
}

/// Runs `planform recipe`.
pub fn run(args: RecipeArgs) -> Result<()> {
    match args.command {
        RecipeCommand::Run(a) => {
            let (recipe, overrides) = load(Ok(&a.file), &a.sets)?;
            if a.print {
                print!("{}", recipe.to_toml()?);
                return Ok(());
            }
            let outcome = execute(&recipe, &a.runs_dir, overrides)?;
            println!("{}", eval_table(&outcome.evals));
            eprintln!(
                "outputs in {}",
                planform_recipe::Layout::new(&a.runs_dir)
                    .run_dir(&recipe.name)
                    .display()
            );
            Ok(())
        }
        RecipeCommand::List(a) => {
            if !a.dir.is_dir() {
                let what = if a.dir.exists() {
                    "is not a directory"
                } else {
                    "not found"
                };
                anyhow::bail!(
                    "recipe directory {} {what} (the recipes are in the repository's configs/: \
                     run this from the repository root, or give the directory: \
                     planform recipe list PATH/TO/configs)",
                    a.dir.display()
                );
            }
            // The error's own message names the file and the OS error (its source chain
            // would repeat the latter).
            let listed = list_recipes(&a.dir)
                .map_err(|e| anyhow::anyhow!("listing recipes in {}: {e}", a.dir.display()))?;
            let width = listed
                .iter()
                .map(|l| l.path.display().to_string().len())
                .max()
                .unwrap_or(0);
            for l in listed {
                let path = l.path.display().to_string();
                match l.recipe {
                    Ok(r) => println!("{path:width$}  {}", r.description),
                    Err(e) => println!("{path:width$}  (invalid: {e})"),
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(stage: &str, action: StageAction) -> StageRecord {
        StageRecord {
            stage: stage.into(),
            action,
            detail: String::new(),
            secs: 0.0,
        }
    }

    /// Progress after a stage nested in another (the step-0 evaluation inside training) is
    /// labelled with the outer stage again; a skipped stage (finished, never started) leaves
    /// the label alone.
    #[test]
    fn nested_stages_restore_the_outer_label() {
        let mut o = BarObserver::default();
        o.stage_started("train", "");
        o.stage_started("eval-untrained", "");
        assert_eq!(o.stage, "eval-untrained");
        o.stage_finished(&finished("eval-untrained", StageAction::Ran));
        assert_eq!(o.stage, "train");
        o.stage_finished(&finished("eval-old", StageAction::Skipped));
        assert_eq!(o.stage, "train");
        o.stage_finished(&finished("train", StageAction::Ran));
        assert_eq!(o.stage, "");
    }
}
