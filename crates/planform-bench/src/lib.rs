//! planform-bench: planform's benchmarks as a library. The `planform bench` commands parse
//! their flags into the configs here, call the `run_*` functions and print or write the
//! typed reports they return.
//!
//! - [`gen`]: trace-generation throughput ([`run_gen`]) on one thread and on all cores,
//!   against the Python reference re-statement `bench/reference_gen.py` in the same run, plus
//!   `planform_data::generate` end to end.
//! - [`train`]: training throughput ([`run_train`]) of the one training step,
//!   [`planform_train::train_step`] on [`planform_train::batch::Batch::collate`]d batches with
//!   AdamW — the step `planform train` runs — for either model family, against PyTorch eager
//!   on the same batch shapes (`bench/train_pytorch.py`).
//! - [`decode`]: batched KV-cached sampling throughput ([`run_decode`]) of
//!   [`planform_model::generate`] against one prompt at a time and a PyTorch re-statement of
//!   the reference rollout (`bench/decode_pytorch.py`).
//! - [`memory`]: peak memory of training steps per optimizer (AdamW, 8-bit AdamW, GaLore,
//!   8-bit GaLore, per-layer, Q-GaLore) ([`run_memory`]), each configuration in a fresh child
//!   process, with the exact optimizer-state bytes and the predicted requirement.
//! - [`cuda_check`]: CUDA against CPU on the same weights for both families
//!   ([`run_cuda_check`]): forward, cached decoding, generate, one training step.
//! - [`report`]: the results, their markdown tables and writing them to disk.
//! - [`anchors`]: the figures to beat, from `anchors.toml` (embedded at build time).
//! - [`shape`]: the model measured ([`BenchModel`]: family and shape); [`synthetic`]: fixed-
//!   length random sequences; [`machine`]: clocks and the machine description; [`device`]:
//!   device, threads and timing boundaries; [`python`]: running the Python sides.
//!
//! No benchmark has forward, loss, backward or optimizer code of its own: training goes
//! through `planform_train::train_step`, decoding through `planform_model::generate`.

pub mod anchors;
pub mod cuda_check;
pub mod decode;
pub mod device;
pub mod error;
pub mod gen;
pub mod machine;
pub mod memory;
pub mod python;
pub mod report;
pub mod shape;
pub mod synthetic;
pub mod train;

pub use anchors::Anchors;
pub use cuda_check::{run_cuda_check, Check, CudaCheckConfig, CudaReport};
pub use decode::{run_decode, DecodeBenchConfig, DecodeWeights, Lengths, PromptSource};
pub use error::{BenchError, Result};
pub use gen::{run_gen, Case, GenBenchConfig, PythonReference};
pub use memory::{
    run_memory, run_memory_child, MemoryBenchConfig, MemoryCase, MemoryOptimizer, MemoryReport,
    WeightDtype,
};
pub use report::decode::DecodeReport;
pub use report::gen::GenReport;
pub use report::train::TrainReport;
pub use report::{write_atomic, write_report};
pub use shape::{BenchModel, DecoderShape, EncoderDecoderShape};
pub use synthetic::synthetic_sequences;
pub use train::{run_train, OrderChoice, PyTorchComparison, TrainBenchConfig, TrainSource};
