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

    /// Overrides one field, `dotted.path` inside the section (`sample.samples`); on error
    /// the section is unchanged.
    pub fn set(&mut self, path: &str, value: &str) -> Result<()> {
        let keys: Vec<&str> = path.split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(RecipeError::invalid(
                format!("bootstrap.{path}"),
                "empty key",
            ));
        }
        let (last, parents) = keys.split_last().expect("split never yields nothing");
        let mut next = self.clone();
        let mut table = &mut next.0;
        for k in parents {
            let entry = table
                .entry(k.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry.as_table_mut().ok_or_else(|| {
                RecipeError::invalid(format!("bootstrap.{path}"), format!("`{k}` is not a table"))
            })?;
        }
        match crate::overrides::parse_value(value) {
            Some(v) => {
                table.insert(last.to_string(), v);
            }
            None => {
                table.remove(*last);
            }
        }
        next.validate()?;
        *self = next;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> BootstrapSpec {
        BootstrapSpec(toml::from_str(text).unwrap())
    }

    #[test]
    fn nested_overrides_and_validation() {
        let mut b = spec("iterations = 2\n[sample]\nsamples = 4\n");
        b.set("sample.samples", "3").unwrap();
        b.set("finetune.steps", "50").unwrap();
        let cfg = b
            .config(Path::new("b"), Path::new("d"), Path::new("o"), None)
            .unwrap();
        assert_eq!(cfg.iterations, 2);
        assert_eq!(cfg.sample.samples, 3);
        assert_eq!(cfg.finetune.steps, 50);
        assert_eq!(cfg.base_run, Path::new("b"));
        // `none` goes back to the default.
        b.set("finetune.steps", "none").unwrap();
        assert_eq!(
            b.config(Path::new("b"), Path::new("d"), Path::new("o"), None)
                .unwrap()
                .finetune
                .steps,
            planform_bootstrap::REFERENCE_STEPS
        );
        // Unknown keys, bad values and runner-owned paths are refused; the spec is unchanged.
        let before = b.clone();
        assert!(b.set("sample.nope", "1").is_err());
        assert!(b.set("iterations", "\"x\"").is_err());
        assert!(b.set("iterations.x", "1").is_err());
        assert!(spec("out_dir = \"x\"").validate().is_err());
        assert_eq!(b, before);
    }
}
