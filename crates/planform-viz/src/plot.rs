//! Training curves from metrics JSONL files.
//!
//! Each line of a metrics file is one JSON object with a numeric `step`.
//! Every other numeric field is a series: names containing `loss` go to the
//! loss panel (`loss`, `test_loss`, `loss_trace`, `loss_plan`, ...), names that
//! look like accuracies (containing `acc`, `correct`, `optimal`, `solved`,
//! `swc` or `success`) go to the accuracy panel; other fields (`lr`,
//! `tokens_per_s`, ...) are ignored. A record with a string field `kind`,
//! `split` or `phase` prefixes its series names with that value
//! (`eval.seq_accuracy`), so train and eval records stay apart. Empty lines are
//! skipped; anything else that is not such an object is an error naming
//! `file:line`.
//!
//! Styles: with several runs, each run has its own colour (10 distinguishable
//! colours, Tableau 10; runs 11 to 20 reuse them with triangle markers, 21 to
//! 30 with crosses, and so on) and each field its own dash pattern (training
//! fields first: `loss` solid, then dashed, dotted, ...); every curve is named
//! `<run>: <field>`. A run is named by the label given to
//! [`plot_labeled`], else by its file: the file stem, or for a
//! `metrics.jsonl` the run directory (`runs/a/metrics.jsonl` and
//! `runs/a/train/metrics.jsonl` are both `a`). A single run colours its
//! fields. The loss panel's log axis follows the tick rule of
//! [`crate::ticks`], so it always carries at least three labelled ticks.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::{write_atomic, write_atomic_with};
use crate::legend::{self, Glyph};
pub use crate::legend::{DASHES, PALETTE};
use crate::ticks::{log_ticks, tick_labels};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// SVG via plotters' SVG backend (text as SVG `<text>`).
    Svg,
    /// PNG via plotters' bitmap backend (text rasterised with a system font).
    Png,
}

/// Plot options.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Image width in pixels. Default 1000.
    pub width: u32,
    /// Image height in pixels. Default 720.
    pub height: u32,
    /// Logarithmic y axis on the loss panel (ticks: [`crate::ticks::log_ticks`]).
    /// Default `true`.
    pub log_loss: bool,
    /// Title above the panels. Default `None`.
    pub title: Option<String>,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 1000,
            height: 720,
            log_loss: true,
            title: None,
        }
    }
}

/// The series of one metrics file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Run {
    /// Legend name (file stem, or the parent folder for `metrics.jsonl`).
    pub name: String,
    /// Series name → `(step, value)` points in file order.
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
}

/// Which panel a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// Loss-like fields.
    Loss,
    /// Accuracy-like fields.
    Accuracy,
}

/// The panel of a field name, or `None` if it is not plotted.
pub fn panel_of(field: &str) -> Option<Panel> {
    let f = field.to_ascii_lowercase();
    if f.contains("loss") {
        Some(Panel::Loss)
    } else if ["acc", "correct", "optimal", "solved", "swc", "success"]
        .iter()
        .any(|k| f.contains(k))
    {
        Some(Panel::Accuracy)
    } else {
        None
    }
}

/// Directory names that say which stage wrote a metrics file, not which run.
const STAGE_DIRS: [&str; 4] = ["train", "eval", "bootstrap", "logs"];

/// The run a metrics file belongs to: its stem, or for `metrics.jsonl` the
/// nearest enclosing directory that is not a stage directory (`train`, ...).
pub fn run_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem != "metrics" {
        return stem;
    }
    let dirs: Vec<String> = path
        .ancestors()
        .skip(1)
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .take(3)
        .collect();
    dirs.iter()
        .find(|d| !STAGE_DIRS.contains(&d.as_str()))
        .or(dirs.first())
        .cloned()
        .unwrap_or(stem)
}

/// Reads one metrics file.
pub fn read_metrics(path: &Path) -> Result<Run> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        error: source,
    })?;
    let mut run = Run {
        name: run_name(path),
        series: BTreeMap::new(),
    };
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: String| Error::Metrics {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let step = obj
            .get("step")
            .ok_or_else(|| bad("missing `step`".into()))?
            .as_f64()
            .filter(|s| s.is_finite())
            .ok_or_else(|| bad("`step` is not a number".into()))?;
        let prefix = ["kind", "split", "phase"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(|v| v.as_str()))
            .map(|s| format!("{s}."))
            .unwrap_or_default();
        for (key, v) in obj {
            if key == "step" {
                continue;
            }
            if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                run.series
                    .entry(format!("{prefix}{key}"))
                    .or_default()
                    .push((step, x));
            }
        }
    }
    Ok(run)
}

/// Reads metrics files and draws the loss and accuracy panels to `out`
/// (written atomically). Runs are overlaid and named by their files (see the
/// module docs for names and styles).
pub fn plot_metrics<P: AsRef<Path>>(
    paths: &[P],
    out: &Path,
    format: PlotFormat,
    opts: &PlotOptions,
) -> Result<()> {
    let labeled: Vec<(String, &Path)> = paths
        .iter()
        .map(|p| (run_name(p.as_ref()), p.as_ref()))
        .collect();
    plot_labeled(&labeled, out, format, opts)
}

/// [`plot_metrics`] with a legend label per file (e.g. the recipe run name).
pub fn plot_labeled<S: AsRef<str>, P: AsRef<Path>>(
    inputs: &[(S, P)],
    out: &Path,
    format: PlotFormat,
    opts: &PlotOptions,
) -> Result<()> {
    let mut runs = Vec::with_capacity(inputs.len());
    for (label, p) in inputs {
        let mut run = read_metrics(p.as_ref())?;
        run.name = label.as_ref().to_string();
        runs.push(run);
    }
    // Disambiguate equal run names.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in &mut runs {
        let n = seen.entry(r.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            r.name = format!("{} ({})", r.name, n);
        }
    }
    plot_runs(&runs, out, format, opts)
}

/// One curve: its legend name, points and style.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve<'a> {
    /// `<run>: <field>`.
    pub name: String,
    /// The run's name.
    pub run: String,
    /// The field (series) name.
    pub field: String,
    /// `(step, value)` points.
    pub pts: &'a [(f64, f64)],
    /// Index into [`PALETTE`].
    pub color: usize,
    /// Dash pattern: 0 solid, then [`DASHES`] in turn.
    pub dash: usize,
    /// Marker: 0 none (dots on short curves), then triangle, cross, square, ...
    pub marker: usize,
}

/// The curves of each panel with their styles (see the module docs).
pub fn curves(runs: &[Run]) -> (Vec<Curve<'_>>, Vec<Curve<'_>>) {
    let (mut loss, mut acc) = (Vec::new(), Vec::new());
    for panel in [Panel::Loss, Panel::Accuracy] {
        let in_panel = |k: &String| panel_of(k.rsplit('.').next().unwrap_or(k)) == Some(panel);
        // Fields of this panel over all runs, unprefixed (training) fields first, then
        // by name: the dash pattern (so the training loss is the solid line).
        let mut fields: Vec<&String> = runs
            .iter()
            .flat_map(|r| r.series.keys())
            .filter(|k| in_panel(k))
            .collect();
        fields.sort_by_key(|k| (k.contains('.'), *k));
        fields.dedup();
        let out = if panel == Panel::Loss {
            &mut loss
        } else {
            &mut acc
        };
        for (ri, r) in runs.iter().enumerate() {
            for (k, pts) in r.series.iter().filter(|(k, _)| in_panel(k)) {
                let fi = fields.iter().position(|f| *f == k).unwrap_or(0);
                let (color, dash, marker) = if runs.len() == 1 {
                    (fi % PALETTE.len(), 0, fi / PALETTE.len())
                } else {
                    (ri % PALETTE.len(), fi, ri / PALETTE.len())
                };
                out.push(Curve {
                    name: format!("{}: {k}", r.name),
                    run: r.name.clone(),
                    field: k.clone(),
                    pts,
                    color,
                    dash,
                    marker,
                });
            }
        }
    }
    (loss, acc)
}

/// Draws already loaded runs (see [`plot_metrics`]).
pub fn plot_runs(runs: &[Run], out: &Path, format: PlotFormat, opts: &PlotOptions) -> Result<()> {
    let (mut loss, acc) = curves(runs);
    if opts.log_loss {
        // A series that is never positive is a loss the run does not have (`loss_trace`
        // of a solution-only run is 0 throughout): left out, since a log axis cannot show
        // it. A series with some non-positive values is an error.
        loss.retain(|s| s.pts.iter().any(|p| p.1 > 0.0));
        for s in &mut loss {
            if s.pts.iter().any(|p| p.1 <= 0.0) {
                return Err(Error::NoData(format!(
                    "series `{}` has values <= 0; disable the log scale",
                    s.name
                )));
            }
        }
    }
    if loss.is_empty() && acc.is_empty() {
        return Err(Error::NoData(
            "no loss or accuracy fields in the metrics files".into(),
        ));
    }
    let size = (opts.width.max(200), opts.height.max(200));
    match format {
        PlotFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                draw(&root, &loss, &acc, opts)?;
                root.present().map_err(plot_err)?;
            }
            write_atomic(out, svg.as_bytes())
        }
        // The backend writes the file itself: to a guarded temporary sibling.
        PlotFormat::Png => write_atomic_with(out, |tmp| {
            let root = BitMapBackend::new(tmp, size).into_drawing_area();
            draw(&root, &loss, &acc, opts)?;
            root.present().map_err(plot_err)
        }),
    }
}

fn plot_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Plot(e.to_string())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    loss: &[Curve],
    acc: &[Curve],
    opts: &PlotOptions,
) -> Result<()> {
    root.fill(&WHITE).map_err(plot_err)?;
    let area = match &opts.title {
        Some(t) => root.titled(t, ("sans-serif", 22)).map_err(plot_err)?,
        None => root.clone(),
    };
    let panels: Vec<DrawingArea<DB, Shift>> = match (loss.is_empty(), acc.is_empty()) {
        (false, false) => area.split_evenly((2, 1)),
        _ => vec![area],
    };
    // One legend width for both panels, so their x axes line up.
    let (w, _) = root.dim_in_pixel();
    let lw = legend::width(&legend::entries(loss), w * 2 / 5)
        .max(legend::width(&legend::entries(acc), w * 2 / 5));
    let mut it = panels.iter();
    if !loss.is_empty() {
        let a = it.next().ok_or_else(|| Error::Plot("no panel".into()))?;
        let x = x_range(loss);
        let (lo, hi) = y_extent(loss);
        if opts.log_loss {
            let (lo, hi) = (lo / 1.2, hi * 1.2);
            let ticks = log_ticks(lo, hi);
            let labels = tick_labels(&ticks);
            let label = |v: &f64| {
                ticks
                    .iter()
                    .position(|t| (t - v).abs() <= 1e-9 * t.abs())
                    .map_or_else(|| fmt_num(*v), |i| labels[i].clone())
            };
            let y = (lo..hi).log_scale().with_key_points(ticks.clone());
            panel(a, lw, "loss (log scale)", x, y, &label, loss)?;
        } else {
            let pad = ((hi - lo) * 0.05).max(1e-6);
            let y = (lo - pad).max(0.0f64.min(lo))..hi + pad;
            panel(a, lw, "loss", x, y, &|v: &f64| fmt_num(*v), loss)?;
        }
    }
    if !acc.is_empty() {
        let a = it.next().ok_or_else(|| Error::Plot("no panel".into()))?;
        let (lo, hi) = y_extent(acc);
        let y = if lo >= 0.0 && hi <= 1.0 {
            0.0..1.02
        } else {
            let pad = ((hi - lo) * 0.05).max(1e-6);
            lo - pad..hi + pad
        };
        panel(
            a,
            lw,
            "accuracy",
            x_range(acc),
            y,
            &|v: &f64| fmt_num(*v),
            acc,
        )?;
    }
    Ok(())
}

fn x_range(series: &[Curve]) -> Range<f64> {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.pts.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    if lo >= hi {
        lo - 1.0..hi + 1.0
    } else {
        lo..hi
    }
}

fn y_extent(series: &[Curve]) -> (f64, f64) {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.pts.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if lo >= hi {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    } else {
        (lo, hi)
    }
}

fn panel<DB, Y>(
    whole: &DrawingArea<DB, Shift>,
    lw: u32,
    title: &str,
    x: Range<f64>,
    y: Y,
    y_label: &dyn Fn(&f64) -> String,
    series: &[Curve],
) -> Result<()>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    // The legend sits to the right of the chart, never over the curves.
    let (w, _) = whole.dim_in_pixel();
    let (area, legend_area) = whole.split_horizontally(w.saturating_sub(lw));
    let legend_area = &legend_area;
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(title)
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(y_label)
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(plot_err)?;
    for c in series {
        let color = PALETTE[c.color % PALETTE.len()];
        let style = ShapeStyle::from(&color).stroke_width(2);
        let pts = c.pts.iter().copied();
        let drawn = if c.dash == 0 {
            chart.draw_series(LineSeries::new(pts, style))
        } else {
            let (d, g) = DASHES[(c.dash - 1) % DASHES.len()];
            chart.draw_series(DashedLineSeries::new(pts, d, g, style))
        }
        .map_err(plot_err)?;
        let _ = drawn;
        let marker = c.marker;
        if c.marker > 0 {
            // About a dozen markers along the curve, whatever its length.
            let every = (c.pts.len() / 12).max(1);
            chart
                .draw_series(c.pts.iter().step_by(every).map(|&at| Glyph {
                    at,
                    line: None,
                    marker,
                    style,
                }))
                .map_err(plot_err)?;
        } else if c.pts.len() <= 40 {
            chart
                .draw_series(c.pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_err)?;
        }
    }
    legend::draw(legend_area, &legend::entries(series), 30).map_err(plot_err)
}

/// Axis label: at most 4 significant digits, no trailing zeros (`2000`, `0.5`, `1.2e-5`).
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_labels() {
        assert_eq!(fmt_num(2000.0), "2000");
        assert_eq!(fmt_num(0.6000000000001), "0.6");
        assert_eq!(fmt_num(0.05), "0.05");
        assert_eq!(fmt_num(1234.5678), "1235");
        assert_eq!(fmt_num(4.56789), "4.568");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.00001234), "1.23e-5");
        assert_eq!(fmt_num(-0.25), "-0.25");
    }

    #[test]
    fn panels() {
        assert_eq!(panel_of("test_loss"), Some(Panel::Loss));
        assert_eq!(panel_of("seq_accuracy"), Some(Panel::Accuracy));
        assert_eq!(panel_of("optimal_rate"), Some(Panel::Accuracy));
        assert_eq!(panel_of("lr"), None);
        assert_eq!(panel_of("tokens_per_s"), None);
    }
}
