//! The `[bootstrap]` section: a planform-bootstrap [`BootstrapConfig`] without its paths.
//!
//! The recipe supplies `base_run` (`<runs>/<name>/train`), `data_dir` (the recipe's dataset)
//! and `out_dir` (`<runs>/<name>/bootstrap`); `device` and `threads` default to the recipe's
//! `train.device` / `train.threads`. Every other key is planform-bootstrap's, with its
//! documented defaults:
//!
//! ```toml
//! [bootstrap]
//! iterations = 3
//! [bootstrap.sample]
//! samples = 4            # k responses per training prompt
//! train_prompts = 2000
//! [bootstrap.finetune]
//! steps = 300
//! lr = 5e-4
//! batch = 32
//! [bootstrap.eval]
//! tasks = 100
//! samples = 4
//! ```

use std::ops::ControlFlow;
use std::path::Path;

use planform_bootstrap::{BootstrapConfig, Event, StartMode};
use planform_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::error::{RecipeError, Result};
use crate::runner::Observer;

/// Keys the recipe fills in itself.
const PATH_KEYS: [&str; 3] = ["base_run", "data_dir", "out_dir"];

/// The `[bootstrap]` section, kept as its TOML table and checked against
/// [`BootstrapConfig`] (unknown keys and bad values are errors at load time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BootstrapSpec(toml::Table);

impl BootstrapSpec {
    /// Checks the section (with placeholder paths).
    pub fn validate(&self) -> Result<()> {
        for key in PATH_KEYS {
            if self.0.contains_key(key) {
                return Err(RecipeError::invalid(
                    format!("bootstrap.{key}"),
                    "is set by the recipe runner; remove it",
                ));
            }
        }
        self.config(Path::new("base"), Path::new("data"), Path::new("out"), None)
            .map(|_| ())
    }

    /// The full planform-bootstrap config for these paths; `train` supplies the default
    /// device and threads.
    pub fn config(
        &self,
        base_run: &Path,
        data_dir: &Path,
        out_dir: &Path,
        train: Option<&TrainConfig>,
    ) -> Result<BootstrapConfig> {
        let mut table = self.0.clone();
        for (key, path) in PATH_KEYS.iter().zip([base_run, data_dir, out_dir]) {
            table.insert(
                key.to_string(),
                toml::Value::String(path.to_string_lossy().into_owned()),
            );
        }
        if let Some(t) = train {
            if !table.contains_key("device") {
                let device = toml::Value::try_from(t.device)
                    .map_err(|e| RecipeError::invalid("bootstrap.device", e.to_string()))?;
                table.insert("device".into(), device);
            }
            if let (false, Some(n)) = (table.contains_key("threads"), t.threads) {
                table.insert("threads".into(), toml::Value::Integer(n as i64));
            }
        }
        let text = toml::to_string(&table)
            .map_err(|e| RecipeError::invalid("bootstrap", e.to_string()))?;
        BootstrapConfig::from_toml_str(&text, "[bootstrap]")
            .map_err(|e| RecipeError::invalid("bootstrap", e.to_string()))
    }
}

/// Runs the bootstrap stage (resuming from its `state.json`); returns a one-line summary.
pub fn run(
    spec: &BootstrapSpec,
    base_run: &Path,
    data_dir: &Path,
    out: &Path,
    train: &TrainConfig,
    obs: &mut dyn Observer,
) -> Result<String> {
    let cfg = spec.config(base_run, data_dir, out, Some(train))?;
    let iterations = cfg.iterations;
    let outcome = planform_bootstrap::run(cfg, StartMode::Auto, &mut |e| {
        match e {
            Event::PhaseStarted { iteration, phase } => {
                obs.stage_started(
                    "bootstrap",
                    &format!("iteration {iteration}: {}", verb(*phase)),
                );
            }
            Event::Training { progress, .. } => {
                return obs.train_progress(progress);
            }
            Event::Evaluating { progress, .. } => obs.eval_progress(progress),
            _ => {}
        }
        ControlFlow::Continue(())
    })?;
    if !outcome.completed {
        return Err(RecipeError::Stopped(out.display().to_string()));
    }
    let records = outcome.records();
    let line = match (records.first(), records.last()) {
        (Some(first), Some(last)) => format!(
            "{iterations} iteration(s): optimal {:.1}% → {:.1}%, optimal trace / A* {} → {}, {}",
            100.0 * first.test.optimal,
            100.0 * last.test.optimal,
            ratio(first.test.relative_length),
            ratio(last.test.relative_length),
            out.display()
        ),
        _ => format!("{iterations} iteration(s) in {}", out.display()),
    };
    Ok(line)
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{:.1}%", 100.0 * r))
}

/// What a phase does, for progress lines.
fn verb(phase: planform_bootstrap::Phase) -> &'static str {
    use planform_bootstrap::Phase;
    match phase {
        Phase::Started => "starting",
        Phase::Sampled => "sampling responses on the training prompts",
        Phase::Reduced => "keeping the shortest optimal response per prompt",
        Phase::DatasetWritten => "writing the improved dataset",
        Phase::FineTuned => "fine-tuning from the previous checkpoint",
        Phase::Evaluated => "evaluating on the test split",
    }
}
