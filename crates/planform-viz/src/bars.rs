//! Bar figures of results across seeds: one bar per group (its mean), the standard-error bar,
//! and each seed's value as a dot, written as SVG and PNG. Used by sweep and study summaries.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::{write_atomic, write_atomic_with};

const BAR: RGBColor = RGBColor(31, 119, 180);
const DOT: RGBColor = RGBColor(214, 39, 40);

/// One group: its label under the bar, mean and standard error across seeds, and the seeds'
/// values.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Mean across seeds.
    pub mean: f64,
    /// Standard error across seeds (0 for one seed).
    pub se: f64,
    /// Each seed's value.
    pub values: Vec<f64>,
}

/// The value axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// Rates in [0, 1], drawn as percentages from 0; `unit` names the whole (e.g. "test
    /// tasks").
    Percent {
        /// What 100% is of.
        unit: String,
    },
    /// Plain values; the axis spans the data with a margin (from 0 when `from_zero`).
    Value {
        /// The axis name.
        name: String,
        /// Start the bars at 0.
        from_zero: bool,
    },
}

/// Writes `<dir>/<stem>.svg` and `<dir>/<stem>.png` (1000 × 560) of `bars` under `title`;
/// returns the SVG file name. Writes are atomic.
pub fn write_bar_figure(
    dir: &Path,
    stem: &str,
    title: &str,
    bars: &[Bar],
    axis: &Axis,
) -> Result<String> {
    if bars.is_empty() {
        return Err(Error::NoData(format!("{stem}: no groups")));
    }
    let svg_name = format!("{stem}.svg");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 560)).into_drawing_area();
        draw(&root, title, bars, axis)?;
        root.present().map_err(|e| Error::Plot(e.to_string()))?;
    }
    write_atomic(&dir.join(&svg_name), svg.as_bytes())?;
    write_atomic_with(&dir.join(format!("{stem}.png")), |tmp| {
        let root = BitMapBackend::new(tmp, (1000, 560)).into_drawing_area();
        draw(&root, title, bars, axis)?;
        root.present().map_err(|e| Error::Plot(e.to_string()))
    })?;
    Ok(svg_name)
}

/// The label of the category at integer position `x` (bars sit at 0, 1, …); empty between.
pub(crate) fn category_label(labels: &[String], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    bars: &[Bar],
    axis: &Axis,
) -> Result<()> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| Error::Plot(x.to_string());
    root.fill(&WHITE).map_err(e)?;
    let (scale, from_zero) = match axis {
        Axis::Percent { .. } => (100.0, true),
        Axis::Value { from_zero, .. } => (1.0, *from_zero),
    };
    let points = |b: &Bar| {
        b.values
            .clone()
            .into_iter()
            .chain([b.mean - b.se, b.mean + b.se])
    };
    let hi = bars.iter().flat_map(points).fold(f64::MIN, f64::max) * scale;
    let lo = bars.iter().flat_map(points).fold(f64::MAX, f64::min) * scale;
    let (y0, y1) = match axis {
        Axis::Percent { .. } => (0.0, (hi * 1.1).max(1.0)),
        Axis::Value { .. } => {
            let pad = ((hi - lo) * 0.25).max(hi.abs() * 0.02).max(1e-6);
            let y0 = if from_zero { 0.0 } else { (lo - pad).max(0.0) };
            (y0, hi + pad)
        }
    };
    let n = bars.len();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0..y1)
        .map_err(e)?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let desc = match axis {
        Axis::Percent { unit } => format!("% of {unit} (bar: mean ± s.e.; dots: seeds)"),
        Axis::Value { name, .. } => format!("{name} (bar: mean ± s.e.; dots: seeds)"),
    };
    let percent = matches!(axis, Axis::Percent { .. });
    // Percentages and spans of 10 or more need no decimals (token counts); small spans
    // (losses) keep three.
    let decimals = match y1 - y0 {
        _ if percent => 0,
        d if d >= 10.0 => 0,
        d if d >= 1.0 => 1,
        _ => 3,
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&|x| category_label(&labels, *x))
        .y_labels(8)
        .y_label_formatter(&|y| format!("{y:.decimals$}"))
        .y_desc(desc)
        .draw()
        .map_err(e)?;
    let base = if percent || from_zero { 0.0 } else { y0 };
    for (i, b) in bars.iter().enumerate() {
        let x = i as f64;
        let (m, s) = (b.mean * scale, b.se * scale);
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
        let k = b.values.len().max(1) as f64;
        chart
            .draw_series(b.values.iter().enumerate().map(|(j, v)| {
                let dx = (j as f64 - (k - 1.0) / 2.0) * 0.07;
                Circle::new((x + dx, v * scale), 4, DOT.filled())
            }))
            .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both files are written, the SVG names every label and draws one dot per seed; no
    /// groups is an error, not an empty picture.
    #[test]
    fn writes_svg_and_png_with_a_dot_per_seed() {
        let tmp = tempfile::tempdir().unwrap();
        let bars = vec![
            Bar {
                label: "cot".into(),
                mean: 0.55,
                se: 0.02,
                values: vec![0.52, 0.55, 0.58],
            },
            Bar {
                label: "coconut".into(),
                mean: 0.7,
                se: 0.0,
                values: vec![0.7],
            },
        ];
        let axis = Axis::Percent {
            unit: "test questions".into(),
        };
        let name = write_bar_figure(tmp.path(), "fig-accuracy", "t", &bars, &axis).unwrap();
        assert_eq!(name, "fig-accuracy.svg");
        let svg = std::fs::read_to_string(tmp.path().join(&name)).unwrap();
        assert!(
            svg.contains("\ncot\n") && svg.contains("\ncoconut\n"),
            "{svg}"
        );
        assert!(svg.contains("% of test questions"));
        assert_eq!(svg.matches("<circle").count(), 4);
        let png = std::fs::read(tmp.path().join("fig-accuracy.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(matches!(
            write_bar_figure(tmp.path(), "x", "t", &[], &axis),
            Err(Error::NoData(_))
        ));
    }
}
