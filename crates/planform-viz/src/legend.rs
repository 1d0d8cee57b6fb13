//! The plots' curve styles and legend: colours, dash patterns, markers, and a
//! legend drawn beside the chart (never over the curves).

use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters_backend::{BackendCoord, DrawingErrorKind};

use crate::plot::Curve;

/// Run colours: Tableau 10, ten colours told apart also by most colour-blind readers.
pub const PALETTE: [RGBColor; 10] = [
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

/// Dash patterns `(dash, gap)` in pixels for fields after the first (solid).
pub const DASHES: [(i32, i32); 4] = [(9, 5), (2, 4), (16, 5), (5, 3)];

/// A legend sample (a short line, solid or dashed, with an optional marker)
/// or a bare marker on a curve: marker kinds 1 triangle, 2 cross, 3 square,
/// 4 hollow circle, then again.
pub(crate) struct Glyph<C> {
    pub(crate) at: C,
    /// Draw a 24-pixel line starting at `at`: `None` no line, `Some(None)` solid.
    pub(crate) line: Option<Option<(i32, i32)>>,
    pub(crate) marker: usize,
    pub(crate) style: ShapeStyle,
}

impl<'a, C: 'a> PointCollection<'a, C> for &'a Glyph<C> {
    type Point = &'a C;
    type IntoIter = std::iter::Once<&'a C>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<C, DB: DrawingBackend> Drawable<DB> for Glyph<C> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> std::result::Result<(), DrawingErrorKind<DB::ErrorType>> {
        let Some((x, y)) = pos.next() else {
            return Ok(());
        };
        let mut cx = x;
        if let Some(dash) = self.line {
            let (d, g) = dash.unwrap_or((24, 0));
            let mut x0 = x;
            while x0 < x + 24 {
                backend.draw_line((x0, y), ((x0 + d).min(x + 24), y), &self.style)?;
                x0 += d + g;
            }
            cx = x + 12;
        }
        let fill = ShapeStyle {
            filled: true,
            ..self.style
        };
        match self.marker {
            0 => {}
            m => match (m - 1) % 4 {
                0 => backend
                    .fill_polygon(vec![(cx, y - 6), (cx - 5, y + 4), (cx + 5, y + 4)], &fill)?,
                1 => {
                    backend.draw_line((cx - 4, y - 4), (cx + 4, y + 4), &self.style)?;
                    backend.draw_line((cx - 4, y + 4), (cx + 4, y - 4), &self.style)?;
                }
                2 => backend.draw_rect((cx - 4, y - 4), (cx + 4, y + 4), &fill, true)?,
                _ => backend.draw_circle((cx, y), 4, &self.style, false)?,
            },
        }
        Ok(())
    }
}

/// One legend line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    name: String,
    style: ShapeStyle,
    dash: usize,
    marker: usize,
}

/// Legend entries of a panel: with several runs, one per run (its colour and
/// marker, solid) and then one per field (grey, its dash pattern); with one
/// run, one per curve.
pub(crate) fn entries(curves: &[Curve]) -> Vec<Entry> {
    if curves.is_empty() {
        return Vec::new();
    }
    let style = |c: usize| ShapeStyle::from(&PALETTE[c % PALETTE.len()]).stroke_width(2);
    let multi = curves.iter().any(|c| c.run != curves[0].run);
    let mut out: Vec<Entry> = Vec::new();
    if !multi {
        for c in curves {
            out.push(Entry {
                name: c.name.clone(),
                style: style(c.color),
                dash: c.dash,
                marker: c.marker,
            });
        }
        return out;
    }
    for c in curves {
        if !out.iter().any(|e| e.name == c.run) {
            out.push(Entry {
                name: c.run.clone(),
                style: style(c.color),
                dash: 0,
                marker: c.marker,
            });
        }
    }
    let grey = ShapeStyle::from(&RGBColor(90, 90, 90)).stroke_width(2);
    let mut fields: Vec<(&String, usize)> = curves.iter().map(|c| (&c.field, c.dash)).collect();
    fields.sort_by_key(|f| f.1);
    fields.dedup();
    for (f, dash) in fields {
        out.push(Entry {
            name: format!("all runs: {f}"),
            style: grey,
            dash,
            marker: 0,
        });
    }
    out
}

/// Width in pixels the legend needs for `entries` (at most `max`).
pub(crate) fn width(entries: &[Entry], max: u32) -> u32 {
    let chars = entries
        .iter()
        .map(|e| e.name.chars().count())
        .max()
        .unwrap_or(0) as u32;
    (44 + chars * 7).clamp(90, max.max(90))
}

/// Draws `entries` top-down in `area`, shrinking the spacing to fit and
/// ending with `… N more` when even 11-pixel lines do not fit.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    top: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = area.dim_in_pixel();
    let avail = (h as i32 - top - 8).max(12);
    let n = entries.len().max(1) as i32;
    let line = (avail / n).clamp(11, 18);
    let fits = (avail / line) as usize;
    let shown = if entries.len() > fits {
        fits.saturating_sub(1)
    } else {
        entries.len()
    };
    let font_px = (line - 3).clamp(9, 13) as u32;
    let font = ("sans-serif", font_px).into_font().color(&BLACK);
    let height = line * (shown as i32 + i32::from(shown < entries.len())) + 8;
    area.draw(&Rectangle::new(
        [(2, top), (w as i32 - 4, top + height)],
        ShapeStyle::from(&RGBColor(160, 160, 160)),
    ))?;
    for (i, e) in entries.iter().take(shown).enumerate() {
        let y = top + 4 + line * i as i32 + line / 2;
        let dash = (e.dash > 0).then(|| DASHES[(e.dash - 1) % DASHES.len()]);
        area.draw(&Glyph {
            at: (8, y),
            line: Some(dash),
            marker: e.marker,
            style: e.style,
        })?;
        area.draw(&Text::new(
            e.name.clone(),
            (38, y - font_px as i32 / 2 - 1),
            font.clone(),
        ))?;
    }
    if shown < entries.len() {
        let y = top + 4 + line * shown as i32;
        let more = format!("… {} more", entries.len() - shown);
        area.draw(&Text::new(more, (38, y), font.clone()))?;
    }
    Ok(())
}
