//! The `[bootstrap]` section (provisional until planform-bootstrap lands): kept as a TOML
//! table; running it is an error.

use std::path::Path;

use planform_train::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::error::{RecipeError, Result};
use crate::runner::Observer;

/// The `[bootstrap]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BootstrapSpec(toml::Table);

impl BootstrapSpec {
    /// Checks the section.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// Overrides one field.
    pub fn set(&mut self, path: &str, value: &str) -> Result<()> {
        let v = crate::overrides::parse_value(value);
        match v {
            Some(v) => {
                self.0.insert(path.to_string(), v);
            }
            None => {
                self.0.remove(path);
            }
        }
        Ok(())
    }
}

/// Runs the bootstrap stage.
pub fn run(
    _spec: &BootstrapSpec,
    _base_run: &Path,
    _data_dir: &Path,
    _out: &Path,
    _train: &TrainConfig,
    _obs: &mut dyn Observer,
) -> Result<String> {
    Err(RecipeError::invalid(
        "bootstrap",
        "planform-bootstrap is not integrated yet",
    ))
}
