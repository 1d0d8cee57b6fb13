//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in this crate. Errors name the offending input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// Grid dimensions outside `1..=MAX_SIDE` per side, or fewer cells than the
    /// task needs.
    #[error("grid size {width}x{height} is not allowed: {reason}")]
    GridSize {
        /// Requested width.
        width: i64,
        /// Requested height.
        height: i64,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// A position lies outside the grid.
    #[error("{what} ({x}, {y}) lies outside the {width}x{height} grid")]
    OutOfBounds {
        /// Which object (`start`, `goal`, `wall`, `box`, ...).
        what: &'static str,
        /// x coordinate as given.
        x: i64,
        /// y coordinate as given.
        y: i64,
        /// Grid width.
        width: u32,
        /// Grid height.
        height: u32,
    },
    /// Two objects that may not share a cell do.
    #[error("{what} at ({x}, {y}) overlaps a {other}")]
    Overlap {
        /// The object being placed.
        what: &'static str,
        /// The object already there.
        other: &'static str,
        /// x coordinate.
        x: u32,
        /// y coordinate.
        y: u32,
    },
    /// The same object is listed twice.
    #[error("duplicate {what} at ({x}, {y})")]
    Duplicate {
        /// Which object.
        what: &'static str,
        /// x coordinate.
        x: u32,
        /// y coordinate.
        y: u32,
    },
    /// A maze whose start equals its goal.
    #[error("start and goal are the same cell ({x}, {y})")]
    StartIsGoal {
        /// x coordinate.
        x: u32,
        /// y coordinate.
        y: u32,
    },
    /// Malformed JSON or a JSON value of the wrong shape.
    #[error("invalid task JSON: {0}")]
    Json(String),
    /// Malformed Sokoban ASCII level.
    #[error("invalid Sokoban level text: {0}")]
    Level(String),
    /// A* emptied its open list (or met an infinite heuristic) without reaching the goal.
    #[error("A* cannot solve the task (expanded {expansions} nodes)")]
    Unsolvable {
        /// Number of `close` steps logged before giving up.
        expansions: usize,
    },
    /// A Sokoban level with more boxes than docks: it can never be completed, so it is
    /// malformed rather than merely unsolvable.
    #[error(
        "malformed Sokoban level: more boxes ({boxes}) than docks ({docks}); every box needs \
         a dock, so it can never be solved"
    )]
    BoxesWithoutDocks {
        /// Number of boxes.
        boxes: usize,
        /// Number of docks.
        docks: usize,
    },
    /// A* hit its node budget.
    #[error("A* exceeded its budget of {max_expansions} expansions")]
    SearchBudget {
        /// The configured budget.
        max_expansions: usize,
    },
    /// A token string that is not in the vocabulary.
    #[error("token {0:?} is not in the vocabulary")]
    UnknownToken(String),
    /// A token id that is not in the vocabulary.
    #[error("token id {id} is outside the vocabulary of size {size}")]
    UnknownTokenId {
        /// The id.
        id: u32,
        /// Vocabulary size.
        size: usize,
    },
    /// A value (coordinate or cost) with no token in the vocabulary, e.g. a
    /// Sokoban cost ≥ 40,000.
    #[error("{what} value {value} has no token in the vocabulary")]
    NotInVocabulary {
        /// `number` or `cost`.
        what: &'static str,
        /// The value.
        value: u64,
    },
    /// A token sequence does not have the expected structure.
    #[error("malformed token sequence: {0}")]
    Malformed(String),
    /// A configuration value is invalid.
    #[error("invalid configuration `{field}`: {reason}")]
    Config {
        /// Field name.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A task was given to a function for the other domain.
    #[error("expected a {expected} task or vocabulary, got {got}")]
    WrongDomain {
        /// Expected domain.
        expected: &'static str,
        /// Actual domain.
        got: &'static str,
    },
    /// The generator could not produce an accepted task.
    #[error("generator gave up after {tries} tries: {reason}")]
    GenerationFailed {
        /// Number of tries.
        tries: usize,
        /// Last rejection reason.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;
