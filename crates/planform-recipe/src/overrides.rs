//! [`Recipe::set`]: `--set section.field=value` overrides with the config's own typing.
//!
//! Rules:
//! - The value is read as a TOML value (`3e-4`, `16`, `true`, `"x"`, `[1, 2]`,
//!   `{ kind = "greedy" }`); text that is not valid TOML is taken as a string (`m-s`,
//!   `cuda:1`). `none` removes an optional field (back to its default).
//! - `train.FIELD…` is [`planform_train::TrainConfig::set`] on the training config (its
//!   rules, e.g. `train.model.size=m-s`, `train.trace.kind=solution-only`); `data_dir` and
//!   `out_dir` are refused (the runner sets them).
//! - `eval.FIELD…` sets the field in every `[[eval]]`; `eval.NAME.FIELD…` only in the eval
//!   named `NAME`.
//! - `bootstrap.FIELD…` is the bootstrap config's own `set`.
//! - Anything else (`name`, `description`, `data.…`) is set in the recipe table.
//! - Setting a `kind` key replaces the whole table it is in (switching an enum variant,
//!   e.g. `eval.sampler.kind=greedy`, `data.domain.kind=sokoban`).
//!
//! The result is parsed and validated like a file; on error the recipe is unchanged.

use crate::error::{RecipeError, Result};
use crate::recipe::Recipe;

/// A `--set` value as TOML (`None` for `none`).
pub fn parse_value(value: &str) -> Option<toml::Value> {
    if value == "none" {
        return None;
    }
    Some(
        toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string())),
    )
}

/// Splits `FIELD=VALUE` (both trimmed).
pub fn split_assignment(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(RecipeError::Parse {
            origin: format!("--set {s:?}"),
            message: "expected FIELD=VALUE".into(),
        }),
    }
}

/// Sets `keys` (non-empty) in `table` to `value` (`None` removes), creating tables on the
/// way; a final `kind` key first clears the table that holds it.
fn set_in_table(
    table: &mut toml::Table,
    keys: &[&str],
    value: Option<toml::Value>,
    field: &str,
) -> Result<()> {
    let (last, parents) = keys
        .split_last()
        .ok_or_else(|| RecipeError::invalid(field, "empty field path"))?;
    let mut t = table;
    for (i, key) in parents.iter().enumerate() {
        let entry = t
            .entry((*key).to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry.as_table_mut().ok_or_else(|| {
            RecipeError::invalid(field, format!("`{}` is not a table", keys[..=i].join(".")))
        })?;
    }
    if *last == "kind" && !parents.is_empty() {
        t.clear();
    }
    match value {
        Some(v) => {
            t.insert((*last).to_string(), v);
        }
        None => {
            t.remove(*last);
        }
    }
    Ok(())
}

impl Recipe {
    /// Overrides one field given by its dotted path (see the module docs).
    pub fn set(&mut self, path: &str, value: &str) -> Result<()> {
        let origin = format!("override {path}={value}");
        let keys: Vec<&str> = path.split('.').collect();
        if keys.iter().any(|k| k.trim().is_empty()) {
            return Err(RecipeError::invalid(path, "empty key in the field path"));
        }
        let wrap = |e: RecipeError| RecipeError::Parse {
            origin: origin.clone(),
            message: e.to_string(),
        };
        let mut next = self.clone();
        match keys[0] {
            "train" if keys.len() > 1 => {
                next.train.set(&keys[1..].join("."), value).map_err(wrap)?;
                next.validate().map_err(wrap)?;
            }
            "bootstrap" if keys.len() > 1 => {
                let b = next.bootstrap.as_mut().ok_or_else(|| {
                    RecipeError::invalid(path, "this recipe has no [bootstrap] section")
                })?;
                b.set(&keys[1..].join("."), value).map_err(wrap)?;
                next.validate().map_err(wrap)?;
            }
            first => {
                let parsed = parse_value(value);
                let mut root = toml::Table::try_from(&*self).map_err(|e| RecipeError::Parse {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?;
                if first == "eval" {
                    let named = keys.len() > 2 && self.eval(keys[1]).is_some();
                    let field_keys = if named { &keys[2..] } else { &keys[1..] };
                    if field_keys.is_empty() {
                        return Err(RecipeError::invalid(path, "name a field of [[eval]]"));
                    }
                    let evals = root
                        .get_mut("eval")
                        .and_then(|v| v.as_array_mut())
                        .ok_or_else(|| RecipeError::invalid(path, "no [[eval]] sections"))?;
                    for (e, spec) in evals.iter_mut().zip(&self.evals) {
                        if named && spec.name != keys[1] {
                            continue;
                        }
                        let t = e
                            .as_table_mut()
                            .ok_or_else(|| RecipeError::invalid(path, "[[eval]] is not a table"))?;
                        set_in_table(t, field_keys, parsed.clone(), path)?;
                    }
                } else {
                    set_in_table(&mut root, &keys, parsed, path)?;
                }
                let text = toml::to_string(&root).map_err(|e| RecipeError::Parse {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?;
                next = Recipe::from_toml_str(&text, &origin)?;
            }
        }
        *self = next;
        Ok(())
    }

    /// Applies `FIELD=VALUE` overrides in order.
    pub fn apply(&mut self, overrides: &[(String, String)]) -> Result<()> {
        for (k, v) in overrides {
            self.set(k, v)?;
        }
        Ok(())
    }
}
