//! planform-train: training the Searchformer encoder–decoder on A* traces.
//!
//! - [`TrainConfig`] (TOML, typed and validated) describes a run; [`train`] loads the
//!   dataset and runs [`Trainer::run`], the one training loop.
//! - [`optim`]: AdamW written out per parameter ([`ParamRule`]) for future GaLore rules;
//!   [`LrSchedule`]: the reference's warm-up + cosine.
//! - [`loss`]: the reference `NextTokenPredictionLoss` (per-sequence normalised).
//! - [`sampler`]: length-bucketed, seeded epoch plans; [`data`]: example selection and
//!   Dualformer dropping keyed by `(seed, example id, epoch)`.
//! - [`checkpoint`]: atomic checkpoints, exact resume, [`load_model_from_checkpoint`].
//! - [`metrics`]: `metrics.jsonl` records.

pub mod batch;
pub mod bench;

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod precision;
pub mod sampler;
pub mod schedule;
pub mod tensor_io;
pub mod testutil;
pub mod trainer;

pub use checkpoint::{
    config_of_run, load_model_from_checkpoint, LoadedModel, TrainState, VocabInfo,
};
pub use config::{
    BatchConfig, BatchOrder, DataConfig, DeviceChoice, LogConfig, ModelSpec, OptimConfig,
    Precision, TraceConfig, TrainConfig,
};
pub use data::TrainData;
pub use error::{Result, TrainError};
pub use loss::LossMetrics;
pub use metrics::{EvalRecord, Record, TrainRecord};
pub use optim::{AdamWConfig, Algorithm, Optimizer, ParamRule};
pub use schedule::LrSchedule;
pub use trainer::{train, Progress, RunSummary, StartMode, Trainer};
