//! planform-recipe: one TOML file = one published method, run end to end, and the report
//! that sets planform's numbers beside the papers'.
//!
//! - [`Recipe`] (the format, documented in [`recipe`]): `[data]` (a planform-data
//!   generator config plus a dataset name), `[train]` (a planform-train config without
//!   paths), one or more `[[eval]]` (planform-eval settings), optional `[bootstrap]`.
//!   [`Recipe::with_overrides`] applies `--set section.field=value` overrides ([`overrides`]).
//! - [`run_recipe`] runs the stages under a runs directory ([`Layout`]), skipping what is
//!   already done ([`runner`] documents the rules) and recording each invocation.
//! - [`report`]: [`ReportConfig`] names which runs form which paper claim;
//!   [`build_report`] reads the runs, computes each claim's verdict from the numbers and
//!   writes `README.md` with SVG figures.
//! - [`sweep`]: a grid of recipe runs ([`sweep::Sweep`]), resumable, aggregated across seeds
//!   with verdicts for stated claims (`planform sweep`).
//! - [`DEMO_RECIPE`]: the built-in recipe of `planform demo`.

pub mod bootstrap;
pub mod error;
pub mod overrides;
pub mod recipe;
pub mod report;
pub mod runner;
pub mod sweep;

pub use bootstrap::BootstrapSpec;
pub use error::{RecipeError, Result};
pub use overrides::parse_overrides;
pub use recipe::{
    list_recipes, looks_like_recipe, valid_name, AstarSpec, CheckpointChoice, DataSpec, DomainSpec,
    EvalSpec, FilterSpec, Listed, MaxLenSpec, Recipe, SamplerSpec, TrainSpec,
};
pub use report::{build_report, ReportConfig};
pub use runner::{
    eval_records, eval_table, read_json, run_recipe, write_atomic, EvalMarker, Invocation, Layout,
    Observer, Quiet, RunOptions, RunOutcome, StageAction, StageRecord, EVAL_MARKER,
    INVOCATIONS_FILE, RECIPE_FILE,
};

/// The built-in demo recipe (`configs/demo.toml`, embedded at build time).
pub const DEMO_RECIPE: &str = include_str!("../../../configs/demo.toml");
/// Its quick (about one minute) variant as overrides of [`DEMO_RECIPE`].
pub const DEMO_QUICK_OVERRIDES: &[(&str, &str)] = &[
    ("name", "demo-quick"),
    ("data.name", "demo-quick"),
    ("data.num_tasks", "2000"),
    ("train.optim.total_steps", "150"),
    ("train.optim.warmup_steps", "20"),
    ("train.log.eval_every", "50"),
    ("train.log.checkpoint_every", "150"),
    ("eval.tasks", "20"),
];
