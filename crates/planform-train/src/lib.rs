//! planform-train: training a planform model (either family) on A* traces.
//!
//! - [`TrainConfig`] (TOML, typed and validated) describes a run; [`train`] loads the
//!   dataset and runs [`Trainer::run`], the one training loop.
//! - [`step::train_step`]: the one training step (forward, loss, backward, optimizer step),
//!   used by the loop and by every benchmark.
//! - [`loss`]: the reference `NextTokenPredictionLoss` (per-sequence normalised, on the
//!   response tokens).
//! - [`batch`]: collating sequences into the [`planform_model::ModelInput`] of a family.
//! - [`sampler`]: length-bucketed or random, seeded epoch plans; [`data`]: example selection
//!   and Dualformer dropping keyed by `(seed, example id, epoch)`.
//! - [`checkpoint`]: atomic checkpoints and exact resume (on top of
//!   `planform_model::checkpoint`).
//! - [`metrics`]: `metrics.jsonl` records, mirrored as TensorBoard scalars
//!   ([`tensorboard`]); [`summary`]: the end-of-run `summary.json`.
//! - [`rundir`]: what a run directory may be (never a dataset or someone else's files) and
//!   its lock (one writer per run); [`interrupt`]: SIGINT/SIGTERM → checkpoint, then stop.
//!
//! Optimizers and schedules live in `planform-optim`; models, precision and devices in
//! `planform-model`.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod interrupt;
pub mod loss;
pub mod metrics;
pub mod rundir;
pub mod sampler;
pub mod step;
pub mod summary;
pub mod tensorboard;
pub mod testutil;
pub mod trainer;

pub use checkpoint::{config_of_run, TrainState};
pub use config::{
    BatchConfig, BatchOrder, DataConfig, LogConfig, ModelSpec, OptimConfig, TraceConfig,
    TrainConfig,
};
pub use data::{DataSource, TokenExample, TrainData};
pub use error::{Result, TrainError};
pub use loss::LossMetrics;
pub use metrics::{EvalRecord, MetricsRecord, TrainRecord};
pub use planform_model::checkpoint::{load_model, LoadedModel, VocabInfo};
pub use planform_model::{DeviceChoice, Precision};
pub use planform_optim::{AdamWConfig, Algorithm, LrSchedule, Optimizer};
pub use step::{train_step, StepStats};
pub use summary::RunReport;
pub use trainer::{train, Progress, RunSummary, StartMode, Trainer};
