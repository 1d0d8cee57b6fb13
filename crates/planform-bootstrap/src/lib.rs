//! planform-bootstrap: Searchformer search-dynamics bootstrapping (paper §4, reference
//! `rollout.py` + `reduce_rollout_to_shortest_trace` + the `…-step-{1,2,3}` fine-tunes),
//! unattended and resumable.
//!
//! [`run`] takes a [`BootstrapConfig`] (TOML-able): a trained search-augmented run (its
//! latest checkpoint is iteration 0), the ORIGINAL dataset, and an output directory. It
//! evaluates the base model on the test split, then for each iteration `i = 1..=N`:
//!
//! 1. **sample** k responses per training prompt from checkpoint `i−1` (planform-eval's
//!    `sample_and_score`, batched across prompts, saved in chunks; the sampler is keyed by
//!    `(seed_i, prompt index, sample)`, so a re-sampled chunk is identical);
//! 2. **reduce** ([`reduce()`]): per prompt keep the correct AND optimal response with the
//!    fewest trace tokens, else the A* sequence ([`Fallback`]); record [`TrainingStats`];
//! 3. **write** `iter-i/data` with planform-data's `DatasetWriter` (same vocabulary, the
//!    original test split copied, provenance in `bootstrap.json`);
//! 4. **fine-tune** `iter-i/run` from checkpoint `i−1` with a fresh schedule (planform-train
//!    `init_from`, which loads the AdamW state as the reference does; see [`finetune`]);
//! 5. **evaluate** on the original test split and rewrite `bootstrap.jsonl` /
//!    `bootstrap.md` ([`IterationRecord`]).
//!
//! `state.json` ([`State`]) is written atomically after every phase. Running again with
//! the same config continues where a kill stopped it and gives the same files; a changed
//! config is refused ([`BootstrapError::ConfigChanged`]).
//!
//! ```text
//! <out>/state.json  config.toml  bootstrap.jsonl  bootstrap.md
//! <out>/iter-0/eval/                     base model: summary.md, summary.json, tasks.jsonl
//! <out>/iter-N/samples/chunk-CCCCC/      saved sampling chunks (targets + outcomes.json)
//! <out>/iter-N/data/                     improved dataset (+ bootstrap.json)
//! <out>/iter-N/run/                      fine-tune run (checkpoints, metrics.jsonl)
//! <out>/iter-N/eval/                     evaluation of the fine-tuned checkpoint
//! ```
//!
//! ## Deviations from the reference
//!
//! * k (samples per training prompt) is a parameter; the reference value is not published.
//! * Ties between equally short optimal responses go to the first sample (the reference's
//!   unstable pandas sort leaves the order unspecified).
//! * The reference strips the last token of the kept response as `eos`; a response that
//!   hit the length limit right after an optimal plan would lose a plan token there. Here
//!   `eos` is stripped only when present.
//! * The reference's first fine-tune step uses the learning rate stored in the loaded
//!   optimizer state (a LambdaLR/`load_state_dict` ordering quirk); here every step follows
//!   the fresh schedule.
//! * Which dataset the reference's step-2/3 rollouts named as the fallback is not public;
//!   the default is the original A* sequence ([`Fallback::OriginalAstar`]).

mod chunk;
pub mod config;
mod dataset;
pub mod error;
pub mod finetune;
pub mod record;
pub mod reduce;
mod run;
pub mod state;

pub use chunk::{ChunkKey, ChunkMeta, OUTCOMES_FILE};
pub use config::{
    BootstrapConfig, EvalSettings, Fallback, FinetuneSettings, ReduceSettings, SampleSettings,
    Warmup, REFERENCE_STEPS, REFERENCE_WARMUP,
};
pub use dataset::{read_provenance, Provenance, PROVENANCE_FILE};
pub use error::{BootstrapError, Result};
pub use finetune::finetune_config;
pub use record::{
    markdown, read_jsonl, FinetuneSummary, IterationRecord, TestMetrics, JSONL_FILE, MARKDOWN_FILE,
};
pub use reduce::{reduce, PromptOutcome, Reduced, TrainingStats};
pub use run::{
    finetune_seed, iteration_dir, run, sample_seed, Event, OnEvent, Outcome, SamplingProgress,
    StartMode, CONFIG_FILE, FINETUNE_KEY, SAMPLE_KEY,
};
pub use state::{IterationState, Phase, State, STATE_FILE};
