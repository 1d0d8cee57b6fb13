//! Figures of a sweep summary: one bar per group with its standard-error bar and the
//! per-seed values as dots, for the held-out loss and each evaluation's optimal rate
//! (SVG and PNG).

use std::path::Path;

use plotters::prelude::*;

use super::aggregate::SweepSummary;
use crate::error::{RecipeError, Result};

const BAR: RGBColor = RGBColor(31, 119, 180);
const DOT: RGBColor = RGBColor(214, 39, 40);

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
        let rows: Vec<(String, f64, f64, Vec<f64>)> = s
            .groups
            .iter()
            .filter_map(|g| {
                g.metrics.get(&key).map(|m| {
                    let label = g
                        .labels
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join("/");
                    (label, m.mean, m.se, m.values.iter().map(|v| v.1).collect())
                })
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let pct = key.ends_with(".optimal");
        let scale = if pct { 100.0 } else { 1.0 };
        let title = if pct {
            format!("{}: {key} (% of test tasks)", s.name)
        } else {
            format!("{}: {key}", s.name)
        };
        let stem = format!("fig-{}", key.replace('.', "-"));
        let err = |path: &Path, e: String| RecipeError::Figure {
            path: path.to_path_buf(),
            message: e,
        };
        let svg_path = dir.join(format!("{stem}.svg"));
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1000, 560)).into_drawing_area();
            draw(&root, &title, &rows, scale).map_err(|e| err(&svg_path, e))?;
            root.present().map_err(|e| err(&svg_path, e.to_string()))?;
        }
        crate::runner::write_atomic(&svg_path, svg.as_bytes())?;
        let png_path = dir.join(format!("{stem}.png"));
        {
            let root = BitMapBackend::new(&png_path, (1000, 560)).into_drawing_area();
            draw(&root, &title, &rows, scale).map_err(|e| err(&png_path, e))?;
            root.present().map_err(|e| err(&png_path, e.to_string()))?;
        }
        out.push(format!("{stem}.svg"));
    }
    Ok(out)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    rows: &[(String, f64, f64, Vec<f64>)],
    scale: f64,
) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let n = rows.len();
    let hi = rows
        .iter()
        .flat_map(|r| r.3.iter().copied().chain([r.1 + r.2]))
        .fold(f64::MIN, f64::max)
        * scale;
    let lo = rows
        .iter()
        .flat_map(|r| r.3.iter().copied().chain([r.1 - r.2]))
        .fold(f64::MAX, f64::min)
        * scale;
    // Bars start at 0 for rates; for losses the axis spans the data (with a margin).
    let (y0, y1) = if scale == 100.0 {
        (0.0, (hi * 1.1).max(1.0))
    } else {
        let pad = ((hi - lo) * 0.25).max(hi.abs() * 0.02).max(1e-6);
        ((lo - pad).max(0.0), hi + pad)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0..y1)
        .map_err(e)?;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_labels(8)
        // Percentages need no decimals; losses and other values keep three.
        .y_label_formatter(&|y| {
            if scale == 100.0 {
                format!("{y:.0}")
            } else {
                format!("{y:.3}")
            }
        })
        .y_desc(if scale == 100.0 {
            "% of test tasks (bar: mean ± s.e.; dots: seeds)"
        } else {
            "value (bar: mean ± s.e.; dots: seeds)"
        })
        .draw()
        .map_err(e)?;
    for (i, (_, mean, se, values)) in rows.iter().enumerate() {
        let x = i as f64;
        let (m, s) = (mean * scale, se * scale);
        let base = if scale == 100.0 { 0.0 } else { y0 };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x - 0.3, base), (x + 0.3, m)],
                BAR.mix(0.55).filled(),
            )))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, m - s), (x, m + s)],
                BLACK.stroke_width(2),
            )))
            .map_err(e)?;
        for cap in [m - s, m + s] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x - 0.08, cap), (x + 0.08, cap)],
                    BLACK.stroke_width(2),
                )))
                .map_err(e)?;
        }
        let k = values.len().max(1) as f64;
        chart
            .draw_series(values.iter().enumerate().map(|(j, v)| {
                let dx = (j as f64 - (k - 1.0) / 2.0) * 0.07;
                Circle::new((x + dx, v * scale), 4, DOT.filled())
            }))
            .map_err(e)?;
    }
    Ok(())
}
