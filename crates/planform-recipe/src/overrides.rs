//! [`Recipe::with_overrides`]: `--set section.field=value` through planform-core's one
//! override path (all overrides applied to the recipe's TOML table, then parsed and
//! validated once; `kind` keys switch enum variants; conflicts are errors).
//!
//! Recipe-specific paths:
//! - `train.FIELD…` is a field of the training config (`train.model.size=m-s`,
//!   `train.model.decoder-only.layers=8`); `train.data_dir` and `train.out_dir` are refused
//!   (the runner sets them).
//! - `eval.FIELD…` sets the field in every `[[eval]]`; `eval.NAME.FIELD…` only in the eval
//!   named `NAME`.
//! - `bootstrap.FIELD…` is a field of the `[bootstrap]` section.
//! - Anything else (`name`, `description`, `data.…`) is a field of the recipe table.

use planform_core::overrides::{self, Override};
#[cfg(test)]
use std::path::Path;

use crate::error::{RecipeError, Result};
use crate::recipe::Recipe;

/// Members of externally tagged enums inside a recipe.
const EXCLUSIVE: &[&[&str]] = &[&[
    "train.model.size",
    "train.model.custom",
    "train.model.decoder-only",
]];

/// Parses `FIELD=VALUE` strings (as given to `--set`).
pub fn parse_overrides<S: AsRef<str>>(assignments: &[S]) -> Result<Vec<Override>> {
    assignments
        .iter()
        .map(|s| {
            Override::parse(s.as_ref()).map_err(|e| RecipeError::Parse {
                origin: format!("--set {:?}", e.origin),
                message: e.message,
            })
        })
        .collect()
}

impl Recipe {
    /// This recipe with `overrides` applied (see the module docs), parsed and validated once.
    /// On error the recipe is unchanged.
    pub fn with_overrides(&self, overrides: &[Override]) -> Result<Recipe> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let origin = overrides::describe(overrides);
        let parse_err = |message: String| RecipeError::Parse {
            origin: origin.clone(),
            message,
        };
        let names: Vec<String> = self.evals.iter().map(|e| e.name.clone()).collect();
        let mut expanded = Vec::new();
        for o in overrides {
            match o.path.first().map(String::as_str) {
                Some("train")
                    if matches!(
                        o.path.get(1).map(String::as_str),
                        Some("data_dir" | "out_dir")
                    ) =>
                {
                    return Err(RecipeError::invalid(
                        o.field(),
                        "is filled by the recipe runner",
                    ))
                }
                Some("eval") => {
                    let named = o.path.len() > 2 && names.contains(&o.path[1]);
                    let rest = if named { &o.path[2..] } else { &o.path[1..] };
                    if rest.is_empty() {
                        return Err(RecipeError::invalid(o.field(), "name a field of [[eval]]"));
                    }
                    for n in &names {
                        if !named || *n == o.path[1] {
                            let mut path = vec!["eval".to_string(), n.clone()];
                            path.extend(rest.iter().cloned());
                            expanded.push(Override { path, ..o.clone() });
                        }
                    }
                }
                _ => expanded.push(o.clone()),
            }
        }
        let mut root = toml::Table::try_from(self).map_err(|e| parse_err(e.to_string()))?;
        // [[eval]] as a table keyed by name while the overrides apply, then back in order.
        let evals = root
            .remove("eval")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let by_name: toml::Table = names.iter().cloned().zip(evals).collect();
        root.insert("eval".into(), toml::Value::Table(by_name));
        overrides::apply(&mut root, &expanded, EXCLUSIVE).map_err(|e| parse_err(e.to_string()))?;
        let mut by_name = match root.remove("eval") {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(parse_err("`eval` is not a table of evaluations".into())),
        };
        let evals: Vec<toml::Value> = names.iter().filter_map(|n| by_name.remove(n)).collect();
        if let Some(extra) = by_name.keys().next() {
            return Err(parse_err(format!(
                "eval.{extra}: no evaluation of that name (evaluations: {})",
                names.join(", ")
            )));
        }
        root.insert("eval".into(), toml::Value::Array(evals));
        let text = toml::to_string(&root).map_err(|e| parse_err(e.to_string()))?;
        Recipe::from_toml_str(&text, &origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEARCHFORMER: &str = include_str!("../../../configs/cpu/maze5-searchformer.toml");

    fn with(r: &Recipe, sets: &[&str]) -> Result<Recipe> {
        r.with_overrides(&parse_overrides(sets)?)
    }

    #[test]
    fn every_section_through_one_path_in_any_order() {
        let r = Recipe::from_toml_str(SEARCHFORMER, "shipped").unwrap();
        let a = with(
            &r,
            &[
                "train.optim.lr=3e-4",
                "train.model.decoder-only.layers=3",
                "bootstrap.sample.samples=3",
                "bootstrap.finetune.steps=50",
                "eval.samples=2",
                "data.num_tasks=500",
                "train.trace.kind=solution-only",
            ],
        )
        .unwrap();
        let b = with(
            &r,
            &[
                "train.trace.kind=solution-only",
                "data.num_tasks=500",
                "eval.samples=2",
                "bootstrap.finetune.steps=50",
                "bootstrap.sample.samples=3",
                "train.model.decoder-only.layers=3",
                "train.optim.lr=3e-4",
            ],
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.train.config().optim.lr, 3e-4);
        assert!(matches!(
            a.train.config().model,
            planform_train::ModelSpec::DecoderOnly(_)
        ));
        let bc = a
            .bootstrap
            .as_ref()
            .unwrap()
            .config(Path::new("b"), Path::new("d"), Path::new("o"), None)
            .unwrap();
        assert_eq!((bc.sample.samples, bc.finetune.steps), (3, 50));
        assert!(a.evals.iter().all(|e| e.samples == 2));
        assert_eq!(a.data.num_tasks, 500);
    }

    #[test]
    fn bad_overrides_are_refused_before_anything_runs() {
        let r = Recipe::from_toml_str(SEARCHFORMER, "shipped").unwrap();
        for bad in [
            "bootstrap.sample.nope=1",
            "bootstrap.iterations=\"x\"",
            "train.out_dir=x",
            "eval.nosuch.samples=2",
            "train.optim.lrr=1",
        ] {
            assert!(with(&r, &[bad]).is_err(), "{bad}");
        }
        // A fine-tune override that cannot apply is an error at load time, not after the
        // base run has trained.
        let e = with(&r, &["bootstrap.finetune.set=[\"optim.nope=1\"]"]).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        // Conflicting values for one field.
        assert!(with(&r, &["train.seed=1", "train.seed=2"]).is_err());
    }

    #[test]
    fn seeds_round_trip_through_the_fine_tune_configs() {
        // The largest seed a config can hold; the derived fine-tune seeds stay in range.
        let r = Recipe::from_toml_str(SEARCHFORMER, "shipped").unwrap();
        let r = with(
            &r,
            &[
                "bootstrap.seed=9223372036854775807",
                "train.seed=9223372036854775807",
            ],
        )
        .unwrap();
        let again = Recipe::from_toml_str(&r.to_toml().unwrap(), "round trip").unwrap();
        assert_eq!(again, r);
        for i in 1..50 {
            let s = planform_bootstrap::finetune_seed(u64::MAX, i);
            assert!(s <= i64::MAX as u64);
        }
    }
}
