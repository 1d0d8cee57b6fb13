//! Figures over categories, written as SVG and PNG: stacked 100% bars (how a whole splits
//! into parts, e.g. the outcomes of answers after k forced thoughts) and grouped bars
//! (several series side by side per category, e.g. a value by node height). Used by the
//! Coconut latent-search analysis.

use std::path::Path;

use plotters::prelude::*;

use crate::bars::category_label;
use crate::error::{Error, Result};
use crate::io::{write_atomic, write_atomic_with};
use crate::legend::PALETTE;

const SIZE: (u32, u32) = (1000, 560);

/// A categorical figure: its category labels along x, its series (legend names) and one
/// value per category and series (`None`: no data, nothing drawn).
#[derive(Debug, Clone, PartialEq)]
pub struct Categorical {
    /// Title above the plot.
    pub title: String,
    /// The x axis description.
    pub x_desc: String,
    /// The y axis description.
    pub y_desc: String,
    /// Category labels along x.
    pub categories: Vec<String>,
    /// Series: legend name and one value per category.
    pub series: Vec<(String, Vec<Option<f64>>)>,
}

/// How the series of a category are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One bar per category, the series stacked and scaled to 100% of their sum.
    Stacked,
    /// The series side by side, on a value axis from 0.
    Grouped,
}

impl Categorical {
    fn check(&self, stem: &str) -> Result<()> {
        if self.categories.is_empty() || self.series.is_empty() {
            return Err(Error::NoData(format!("{stem}: no categories or no series")));
        }
        if let Some((name, v)) = self
            .series
            .iter()
            .find(|(_, v)| v.len() != self.categories.len())
        {
            return Err(Error::NoData(format!(
                "{stem}: series {name} has {} values for {} categories",
                v.len(),
                self.categories.len()
            )));
        }
        let bad = self
            .series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten())
            .any(|x| !x.is_finite() || *x < 0.0);
        if bad {
            return Err(Error::NoData(format!(
                "{stem}: values must be finite and non-negative"
            )));
        }
        Ok(())
    }
}

/// Writes `<dir>/<stem>.svg` and `<dir>/<stem>.png` (1000 × 560) of `fig` drawn as
/// `layout`; returns the SVG file name. Writes are atomic.
pub fn write_categorical_figure(
    dir: &Path,
    stem: &str,
    fig: &Categorical,
    layout: Layout,
) -> Result<String> {
    fig.check(stem)?;
    let svg_name = format!("{stem}.svg");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(&root, fig, layout)?;
        root.present().map_err(|e| Error::Plot(e.to_string()))?;
    }
    write_atomic(&dir.join(&svg_name), svg.as_bytes())?;
    write_atomic_with(&dir.join(format!("{stem}.png")), |tmp| {
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        draw(&root, fig, layout)?;
        root.present().map_err(|e| Error::Plot(e.to_string()))
    })?;
    Ok(svg_name)
}

/// The rectangles of category `i`: `(series, x0, x1, y0, y1)`.
fn rects(fig: &Categorical, layout: Layout, i: usize) -> Vec<(usize, f64, f64, f64, f64)> {
    let x = i as f64;
    let values: Vec<(usize, f64)> = fig
        .series
        .iter()
        .enumerate()
        .filter_map(|(s, (_, v))| v[i].map(|y| (s, y)))
        .collect();
    match layout {
        Layout::Stacked => {
            let total: f64 = values.iter().map(|(_, y)| y).sum();
            let mut at = 0.0;
            values
                .into_iter()
                .filter(|_| total > 0.0)
                .map(|(s, y)| {
                    let h = 100.0 * y / total;
                    at += h;
                    (s, x - 0.35, x + 0.35, at - h, at)
                })
                .collect()
        }
        Layout::Grouped => {
            let n = fig.series.len() as f64;
            let w = 0.8 / n;
            values
                .into_iter()
                .map(|(s, y)| {
                    let x0 = x - 0.4 + s as f64 * w;
                    (s, x0, x0 + w * 0.9, 0.0, y)
                })
                .collect()
        }
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    fig: &Categorical,
    layout: Layout,
) -> Result<()> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| Error::Plot(x.to_string());
    root.fill(&WHITE).map_err(e)?;
    let n = fig.categories.len();
    let all: Vec<_> = (0..n).flat_map(|i| rects(fig, layout, i)).collect();
    let top = match layout {
        Layout::Stacked => 100.0,
        Layout::Grouped => {
            let hi = all.iter().map(|r| r.4).fold(0.0, f64::max);
            if hi > 0.0 {
                hi * 1.15
            } else {
                1.0
            }
        }
    };
    // The legend sits to the right of the plot.
    let (plot, legend) = root.split_horizontally(SIZE.0 as i32 - 230);
    let mut chart = ChartBuilder::on(&plot)
        .caption(&fig.title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0.0..top)
        .map_err(e)?;
    let labels = &fig.categories;
    // One decimal more than the tick step (about a tenth of the axis) needs.
    let decimals = ((-(top / 8.0).log10()).ceil() + 1.0).clamp(0.0, 6.0) as usize;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.max(1))
        .x_label_formatter(&|x| category_label(labels, *x))
        .y_labels(8)
        .y_label_formatter(&|y| format!("{y:.decimals$}"))
        .x_desc(&fig.x_desc)
        .y_desc(&fig.y_desc)
        .draw()
        .map_err(e)?;
    chart
        .draw_series(all.iter().map(|&(s, x0, x1, y0, y1)| {
            Rectangle::new(
                [(x0, y0), (x1, y1)],
                PALETTE[s % PALETTE.len()].mix(0.85).filled(),
            )
        }))
        .map_err(e)?;
    for (s, (name, _)) in fig.series.iter().enumerate() {
        let y = 40 + 26 * s as i32;
        let color = PALETTE[s % PALETTE.len()].mix(0.85);
        legend
            .draw(&Rectangle::new([(8, y), (24, y + 16)], color.filled()))
            .map_err(e)?;
        legend
            .draw(&Text::new(
                name.clone(),
                (32, y + 1),
                ("sans-serif", 15).into_font(),
            ))
            .map_err(e)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig() -> Categorical {
        Categorical {
            title: "outcomes".into(),
            x_desc: "k".into(),
            y_desc: "% of questions".into(),
            categories: vec!["0".into(), "1".into(), "2".into()],
            series: vec![
                ("correct path".into(), vec![Some(3.0), Some(1.0), Some(0.0)]),
                ("hallucination".into(), vec![Some(1.0), Some(1.0), None]),
            ],
        }
    }

    /// Stacked bars fill 100% of each category's sum in series order; grouped bars sit
    /// side by side from 0; a category whose values are all zero or missing draws nothing.
    #[test]
    fn stacked_bars_split_the_whole_and_grouped_bars_sit_side_by_side() {
        let f = fig();
        let s0 = rects(&f, Layout::Stacked, 0);
        assert_eq!(s0.len(), 2);
        assert!((s0[0].3 - 0.0).abs() < 1e-12 && (s0[0].4 - 75.0).abs() < 1e-12);
        assert!((s0[1].3 - 75.0).abs() < 1e-12 && (s0[1].4 - 100.0).abs() < 1e-12);
        let s2 = rects(&f, Layout::Stacked, 2);
        assert!(s2.is_empty(), "{s2:?}");
        let g1 = rects(&f, Layout::Grouped, 1);
        assert_eq!(g1.len(), 2);
        assert!(g1[0].2 <= g1[1].1, "bars overlap: {g1:?}");
        assert!(g1.iter().all(|r| r.3 == 0.0 && r.4 == 1.0));
    }

    /// Both files are written and the SVG names every series; mismatched lengths and
    /// negative values are errors, not pictures.
    #[test]
    fn writes_svg_and_png_and_refuses_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        for layout in [Layout::Stacked, Layout::Grouped] {
            let name = write_categorical_figure(tmp.path(), "f", &fig(), layout).unwrap();
            let svg = std::fs::read_to_string(tmp.path().join(&name)).unwrap();
            assert!(svg.contains("correct path") && svg.contains("hallucination"));
            assert!(tmp.path().join("f.png").metadata().unwrap().len() > 1000);
        }
        let mut bad = fig();
        bad.series[1].1.pop();
        assert!(write_categorical_figure(tmp.path(), "g", &bad, Layout::Grouped).is_err());
        let mut neg = fig();
        neg.series[0].1[0] = Some(-1.0);
        assert!(write_categorical_figure(tmp.path(), "h", &neg, Layout::Stacked).is_err());
        assert!(!tmp.path().join("g.svg").exists());
    }
}
