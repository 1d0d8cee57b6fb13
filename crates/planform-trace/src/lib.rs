//! # planform-trace
//!
//! The trace engine of planform: maze and Sokoban tasks, A* with execution
//! traces that reproduce the reference implementation
//! (`facebookresearch/searchformer`) token for token, the reference
//! vocabularies and token formats, Dualformer trace dropping, and the plan
//! parsing, validation and metrics used for scoring. Pure Rust (serde,
//! serde_json, thiserror); no tensors.
//!
//! ## Map of the crate
//!
//! | module | main items |
//! |---|---|
//! | [`rng`] | [`Rng`]: xoshiro256**, `new`, `stream(seed, index)`, `keyed`, `below`, `coin`, `f64`, `shuffle`, `choose_k`, `range_inclusive` — stable across versions |
//! | [`grid`] | [`Pos`] (`[x, y]` in JSON), [`MAX_SIDE`](grid::MAX_SIDE) = 100 |
//! | [`maze`] | [`MazeTask`]: validated task, golden JSON, `solve` → [`Trace`] |
//! | [`maze_gen`] | [`MazeGenerator`] / [`MazeGenConfig`]: one wall layout → [`MazeLayout`] of [`MazeSample`]s; [`MazeSolver`] (A* + tokens) |
//! | [`sokoban`] | [`SokobanLevel`]: validated level, ASCII and JSON, moves, heuristic |
//! | [`sokoban_search`] | [`SokobanSolver`], [`SokobanState`](sokoban_search::SokobanState), [`DEFAULT_MAX_EXPANSIONS`](sokoban_search::DEFAULT_MAX_EXPANSIONS) |
//! | [`sokoban_gen`] | [`SokobanGenerator`] / [`SokobanGenConfig`] → [`SokobanSample`] |
//! | [`astar`] | generic [`AStar`](astar::AStar) engine over a [`SearchSpace`](astar::SearchSpace), [`SearchMode`] |
//! | [`task`] | [`Task`] (either domain; JSON lines), [`Domain`], [`TaskTrace`] |
//! | [`vocab`] | [`Vocabulary`] (reference order, `bos = PAD = 0`, `eos = 1`), [`VocabularySpec`](vocab::VocabularySpec), [`Keyword`](vocab::Keyword), [`TokenKind`](vocab::TokenKind) |
//! | [`tokens`] | [`TokenSequence`] (ids), [`StringSequence`], [`TraceVariant`], encoder/decoder sequences |
//! | [`dropping`] | [`DroppingConfig`], [`DropLevel`], [`Level3`], [`Resample`] |
//! | [`eval`] | [`parse_response`](eval::parse_response), [`evaluate_response`](eval::evaluate_response) → [`ResponseEval`](eval::ResponseEval) |
//! | [`metrics`] | [`TaskScore`](metrics::TaskScore), [`Summary`](metrics::Summary) (solved, optimal, SWC, ILR), [`astar_reference_length`](metrics::astar_reference_length) (t*) |
//! | [`prosqa`] | [`ProsqaRecord`](prosqa::ProsqaRecord) (the public ProsQA JSON), [`ProsqaGenerator`](prosqa::ProsqaGenerator), [`stats`](prosqa::stats) (Table 2) |
//! | [`error`] | [`Error`], [`Result`] |
//!
//! ## Typical use
//!
//! ```
//! use planform_trace::{MazeGenConfig, MazeGenerator, Rng, SearchMode, Task, TraceVariant, Vocabulary};
//! use planform_trace::eval::evaluate_response;
//!
//! // Dataset: one wall layout per independent stream (thread-count independent).
//! let vocab = Vocabulary::maze(10, 10)?;
//! let mut gen = MazeGenerator::new(MazeGenConfig::reference(10, 10, SearchMode::Deterministic))?;
//! let layout = gen.generate_layout(&vocab, &mut Rng::stream(42, 0))?;
//! for sample in &layout.tasks {
//!     // Training: encoder input and decoder target.
//!     let enc = sample.tokens.encoder_input();
//!     let target = sample.tokens.decoder_target(&TraceVariant::SearchAugmented, &vocab, &mut Rng::new(0))?;
//!     assert_eq!(enc[0], planform_trace::vocab::BOS);
//!     // Evaluation: score a response (here the target itself).
//!     let task = Task::Maze(sample.task.clone());
//!     let ev = evaluate_response(&task, &vocab, &target.tokens, sample.optimal_plan_len);
//!     assert!(ev.correct && ev.optimal);
//! }
//! # Ok::<(), planform_trace::Error>(())
//! ```
//!
//! ## Conventions
//!
//! * Plan lengths count plan **nodes** (start and goal included), like the
//!   reference's `len(plan)` and the number of `plan x y` triplets.
//! * Token sequences never contain `bos`/`eos`; model sequences add them
//!   ([`TokenSequence::encoder_input`](tokens::TokenSequence::encoder_input),
//!   [`TokenSequence::decoder_target`](tokens::TokenSequence::decoder_target)).
//! * Everything random takes an [`Rng`]; the same seed gives the same bytes.
//!   Nondeterministic A* matches the reference's *distribution* (children
//!   shuffled, coin flip in the heap comparator, exact `heapq` sift order),
//!   not Python's random stream.
//!
//! ## Deviations from the reference (all documented at the item)
//!
//! * Sokoban deterministic tie-break: lexicographic `(worker, sorted boxes)`
//!   cell indices instead of Python's randomised string hash
//!   ([`sokoban_search`]).
//! * Maze plan validation also rejects out-of-bounds positions ([`eval`]);
//!   Sokoban validation simulates from the task's level rather than the prompt.
//! * The maze generator skips A* for repeated or disconnected start/goal pairs
//!   (same output distribution) ([`maze_gen`]).
//! * Sokoban generation caps A* at `max_reasoning_tokens / 6` expansions when
//!   the token filter is on (levels past the cap would be filtered anyway).

pub mod astar;
pub mod dropping;
pub mod error;
pub mod eval;
pub mod grid;
mod heap;
mod json;
pub mod maze;
pub mod maze_gen;
pub mod metrics;
pub mod prosqa;
/// The one seeded generator (defined in `planform-core`, re-exported for the generators).
pub use planform_core::rng;
pub mod sokoban;
pub mod sokoban_gen;
pub mod sokoban_search;
pub mod task;
pub mod tokens;
pub mod trace;
pub mod vocab;

pub use astar::SearchMode;
pub use dropping::{DropLevel, DroppingConfig, Level3, Resample};
pub use error::{Error, Result};
pub use grid::Pos;
pub use maze::MazeTask;
pub use maze_gen::{MazeGenConfig, MazeGenerator, MazeLayout, MazeSample, MazeSolver};
pub use rng::Rng;
pub use sokoban::SokobanLevel;
pub use sokoban_gen::{SokobanGenConfig, SokobanGenerator, SokobanSample};
pub use sokoban_search::SokobanSolver;
pub use task::{Domain, Task, TaskTrace};
pub use tokens::{StringSequence, TokenSequence, TraceVariant};
pub use trace::{Trace, TraceStep};
pub use vocab::Vocabulary;
