//! Figures of a sweep summary: one bar per group with its standard-error bar and the
//! per-seed values as dots, for the held-out loss and each evaluation's optimal rate
//! (SVG and PNG, drawn by `planform_viz::bars`).

use std::path::Path;

use planform_viz::bars::{write_bar_figure, Axis, Bar};

use super::aggregate::SweepSummary;
use crate::error::{RecipeError, Result};

/// Metrics drawn: the final held-out loss and every `<eval>.optimal` present.
fn drawn_metrics(s: &SweepSummary) -> Vec<String> {
    let mut keys = vec!["final_eval_loss".to_string()];
    if let Some(g) = s.groups.iter().find(|g| !g.metrics.is_empty()) {
        keys.extend(
            g.metrics
                .keys()
                .filter(|k| k.ends_with(".optimal"))
                .cloned(),
        );
    }
    keys
}

/// Writes `fig-<metric>.svg` and `.png` for each drawn metric into `dir`; returns the SVG
/// file names.
pub fn write_figures(s: &SweepSummary, dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for key in drawn_metrics(s) {
        let bars: Vec<Bar> = s
            .groups
            .iter()
            .filter_map(|g| {
                g.metrics.get(&key).map(|m| Bar {
                    label: g
                        .labels
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join("/"),
                    mean: m.mean,
                    se: m.se,
                    values: m.values.iter().map(|v| v.1).collect(),
                })
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        let (title, axis) = if key.ends_with(".optimal") {
            let unit = "test tasks".to_string();
            (
                format!("{}: {key} (% of {unit})", s.name),
                Axis::Percent { unit },
            )
        } else {
            let axis = Axis::Value {
                name: "value".into(),
                from_zero: false,
            };
            (format!("{}: {key}", s.name), axis)
        };
        let stem = format!("fig-{}", key.replace('.', "-"));
        let name = write_bar_figure(dir, &stem, &title, &bars, &axis).map_err(|e| {
            RecipeError::Figure {
                path: dir.join(format!("{stem}.svg")),
                message: e.to_string(),
            }
        })?;
        out.push(name);
    }
    Ok(out)
}
