//! SVG figures of the report: grouped bars / lines (plotters) for each claim's numbers and
//! training curves (planform-viz) of each claim's runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::claims::{ClaimResult, Figure};
use super::runs::RunData;
use super::Claim;
use crate::error::{RecipeError, Result};

/// The training plots' ten colours, so a figure and its curves agree.
use planform_viz::plot::PALETTE;

/// Writes the claim's figures as `<id>-<n>.svg` and its training curves as
/// `<id>-training.svg` (when the runs have metrics); returns the paths written.
pub fn claim_figures(
    id: &str,
    claim: &Claim,
    result: &ClaimResult,
    runs: &BTreeMap<String, RunData>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (i, fig) in result.figures.iter().enumerate() {
        let has_values = fig.series.iter().any(|s| s.1.iter().any(Option::is_some));
        if !has_values {
            continue;
        }
        let path = out_dir.join(format!("{id}-{}.svg", i + 1));
        draw_figure(fig, &path)?;
        out.push(path);
    }
    // Each curve is named by its run (the files are all `<run>/train/metrics.jsonl`).
    let metrics: Vec<(String, PathBuf)> = claim
        .runs()
        .iter()
        .filter_map(|n| {
            runs.get(n)
                .and_then(|r| r.metrics.clone())
                .map(|m| (n.clone(), m))
        })
        .collect();
    if !metrics.is_empty() {
        let path = out_dir.join(format!("{id}-training.svg"));
        let opts = planform_viz::PlotOptions {
            title: Some(format!("{}: training curves", result.label)),
            ..Default::default()
        };
        planform_viz::plot_labeled(&metrics, &path, planform_viz::PlotFormat::Svg, &opts).map_err(
            |e| RecipeError::Figure {
                path: path.clone(),
                message: e.to_string(),
            },
        )?;
        out.push(path);
    }
    Ok(out)
}

/// Copies a sweep's `fig-*.svg` into `out_dir` as `<id>-fig-….svg`; returns the copies.
pub fn copy_sweep_figures(id: &str, sweep_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(sweep_dir) else {
        return Ok(out);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fig-") && n.ends_with(".svg"))
        .collect();
    names.sort();
    for n in names {
        let src = sweep_dir.join(&n);
        let bytes = std::fs::read(&src).map_err(RecipeError::io(&src))?;
        let dst = out_dir.join(format!("{id}-{n}"));
        crate::runner::write_atomic(&dst, &bytes)?;
        out.push(dst);
    }
    Ok(out)
}

fn draw_figure(fig: &Figure, path: &Path) -> Result<()> {
    let err = |e: String| RecipeError::Figure {
        path: path.to_path_buf(),
        message: e,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        draw(&root, fig).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    crate::runner::write_atomic(path, svg.as_bytes())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    fig: &Figure,
) -> std::result::Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let n = fig.categories.len().max(1);
    let y_max = fig
        .series
        .iter()
        .flat_map(|s| s.1.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let y_top = if y_max <= 100.0 && fig.y_label.contains('%') {
        105.0
    } else {
        (y_max * 1.15).max(1.0)
    };
    let mut chart = ChartBuilder::on(root)
        .caption(&fig.title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..y_top)
        .map_err(e)?;
    let cats = fig.categories.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                cats.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(fig.y_label.as_str())
        .draw()
        .map_err(e)?;
    let k = fig.series.len().max(1) as f64;
    let width = 0.8 / k;
    for (si, (name, values)) in fig.series.iter().enumerate() {
        let color = PALETTE[si % PALETTE.len()];
        if fig.lines {
            let pts: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
                .collect();
            let style = ShapeStyle::from(&color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(pts.clone(), style))
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(e)?;
        } else {
            let bars: Vec<Rectangle<(f64, f64)>> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|v| {
                        let x0 = i as f64 - 0.4 + si as f64 * width;
                        Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], color.filled())
                    })
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(e)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
            let labels: Vec<Text<(f64, f64), String>> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    v.map(|v| {
                        let x = i as f64 - 0.4 + (si as f64 + 0.1) * width;
                        Text::new(
                            format!("{v:.0}"),
                            (x, v + y_top * 0.01),
                            ("sans-serif", 11).into_font(),
                        )
                    })
                })
                .collect();
            chart.draw_series(labels).map_err(e)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)?;
    Ok(())
}
