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

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::{write_atomic, write_atomic_with};

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
    /// Logarithmic y axis on the loss panel. Default `true`.
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

fn run_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem == "metrics" {
        if let Some(dir) = path.parent().and_then(|p| p.file_name()) {
            return dir.to_string_lossy().into_owned();
        }
    }
    stem
}

/// Reads one metrics file.
pub fn read_metrics(path: &Path) -> Result<Run> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
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
/// (written atomically). Runs are overlaid, one colour per (run, field).
pub fn plot_metrics<P: AsRef<Path>>(
    paths: &[P],
    out: &Path,
    format: PlotFormat,
    opts: &PlotOptions,
) -> Result<()> {
    let mut runs = Vec::with_capacity(paths.len());
    for p in paths {
        runs.push(read_metrics(p.as_ref())?);
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

type Series<'a> = (String, &'a [(f64, f64)]);

/// Draws already loaded runs (see [`plot_metrics`]).
pub fn plot_runs(runs: &[Run], out: &Path, format: PlotFormat, opts: &PlotOptions) -> Result<()> {
    let mut loss: Vec<Series> = Vec::new();
    let mut acc: Vec<Series> = Vec::new();
    for r in runs {
        for (k, pts) in &r.series {
            let field = k.rsplit('.').next().unwrap_or(k);
            let name = if runs.len() > 1 {
                format!("{} {k}", r.name)
            } else {
                k.clone()
            };
            match panel_of(field) {
                Some(Panel::Loss) => loss.push((name, pts)),
                Some(Panel::Accuracy) => acc.push((name, pts)),
                None => {}
            }
        }
    }
    if opts.log_loss {
        // A series that is never positive is a loss the run does not have (`loss_trace`
        // of a solution-only run is 0 throughout): left out, since a log axis cannot show
        // it. A series with some non-positive values is an error.
        loss.retain(|s| s.1.iter().any(|p| p.1 > 0.0));
        for s in &mut loss {
            if s.1.iter().any(|p| p.1 <= 0.0) {
                return Err(Error::NoData(format!(
                    "series `{}` has values <= 0; disable the log scale",
                    s.0
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

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    loss: &[Series],
    acc: &[Series],
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
    let mut it = panels.iter();
    if !loss.is_empty() {
        let a = it.next().ok_or_else(|| Error::Plot("no panel".into()))?;
        let x = x_range(loss);
        let (lo, hi) = y_extent(loss);
        if opts.log_loss {
            panel(a, "loss", x, (lo / 1.2..hi * 1.2).log_scale(), loss)?;
        } else {
            let pad = ((hi - lo) * 0.05).max(1e-6);
            panel(a, "loss", x, (lo - pad).max(0.0f64.min(lo))..hi + pad, loss)?;
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
        panel(a, "accuracy", x_range(acc), y, acc)?;
    }
    Ok(())
}

fn x_range(series: &[Series]) -> Range<f64> {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.1.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    if lo >= hi {
        lo - 1.0..hi + 1.0
    } else {
        lo..hi
    }
}

fn y_extent(series: &[Series]) -> (f64, f64) {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.1.iter())
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
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x: Range<f64>,
    y: Y,
    series: &[Series],
) -> Result<()>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
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
        .y_label_formatter(&|v| fmt_num(*v))
        .max_light_lines(2)
        .light_line_style(RGBColor(238, 238, 238))
        .draw()
        .map_err(plot_err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let style = ShapeStyle::from(&color).stroke_width(2);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), style))
            .map_err(plot_err)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if pts.len() <= 40 {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(plot_err)?;
    Ok(())
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
