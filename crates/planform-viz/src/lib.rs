//! planform-viz: pictures of planform tasks, traces and training runs.
//!
//! * [`text`]: terminal rendering of a maze / Sokoban board with a search
//!   (`planform show`), and a compact clause listing;
//! * [`svg`]: deterministic hand-written SVG of a board with cells shaded by
//!   A* close order and the plan as a polyline (invalid model steps in red);
//! * [`plot`]: training curves from metrics JSONL files (SVG or PNG);
//! * [`viewer`]: one self-contained HTML file animating A* and model traces
//!   side by side;
//! * [`escape`]: the one HTML and Markdown escaper (also used by the recipe
//!   report);
//! * [`browser`]: headless Chromium (DOM dumps, screenshots) for tests;
//! * [`bars`] and [`categorical`]: bar figures of results (across seeds; stacked and
//!   grouped over categories).
//!
//! Inputs are a [`Board`] (a maze task or a Sokoban level) and a [`Search`]
//! (trace clauses + plan), built from typed A* traces or parsed leniently from
//! a model's token strings.

pub mod bars;
pub mod board;
pub mod browser;
pub mod categorical;
pub mod check;
pub mod color;
pub mod error;
pub mod escape;
pub mod io;
mod legend;
pub mod plot;
pub mod search;
pub mod svg;
pub mod text;
pub mod ticks;
pub mod viewer;

pub use board::{Board, Cell};
pub use check::{check_plan, move_string, PlanCheck, StepStatus};
pub use error::{Error, Result};
pub use planform_trace::sokoban::SokobanLevel;
pub use plot::{plot_labeled, plot_metrics, PlotFormat, PlotOptions};
pub use search::{Clause, ParseIssue, RawTokens, Search};
pub use svg::{render_svg, SvgOptions};
pub use text::{render_board, render_listing, TextOptions};
pub use viewer::{render_viewer, ViewerInput, ViewerTask};
