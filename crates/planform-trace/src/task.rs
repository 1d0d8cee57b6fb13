//! Domain-agnostic tasks: the [`Task`] enum, JSON lines and solving.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::astar::SearchMode;
use crate::error::{Error, Result};
use crate::grid::Pos;
use crate::json::PythonFormatter;
use crate::maze::MazeTask;
use crate::maze_gen::{write_prompt as maze_prompt, MazeSolver};
use crate::rng::Rng;
use crate::sokoban::SokobanLevel;
use crate::sokoban_search::{sokoban_prompt, SokobanSolver, SokobanState, DEFAULT_MAX_EXPANSIONS};
use crate::tokens::{StringSequence, TokenSequence};
use crate::trace::Trace;
use crate::vocab::{Vocabulary, VocabularySpec, SOKOBAN_MAX_COST};

/// The two task domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Domain {
    /// Maze navigation.
    Maze,
    /// Sokoban.
    Sokoban,
}

impl Domain {
    /// `"maze"` or `"sokoban"`.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Maze => "maze",
            Domain::Sokoban => "sokoban",
        }
    }
}

/// A task of either domain.
///
/// JSON: a maze object (`width, height, start, goal, walls`) or a Sokoban
/// object (`width, height, worker, boxes, docks, walls`); the domain is
/// recognised by its fields. Unknown extra fields (e.g. `prompt`) are ignored; a
/// key given twice or fields of both domains are errors (see [`object_domain`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Task {
    /// A maze.
    Maze(MazeTask),
    /// A Sokoban level.
    Sokoban(SokobanLevel),
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Task::Maze(m) => m.serialize(s),
            Task::Sokoban(l) => l.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = crate::json::StrictValue::deserialize(d)?.0;
        Task::from_value(v).map_err(serde::de::Error::custom)
    }
}

/// Fields only a maze has.
const MAZE_FIELDS: [&str; 2] = ["start", "goal"];
/// Fields only a Sokoban level has.
const SOKOBAN_FIELDS: [&str; 3] = ["worker", "boxes", "docks"];

/// The domain a task JSON object belongs to, by its fields: `start`/`goal` for a maze,
/// `worker`/`boxes`/`docks` for Sokoban. An object with fields of both domains is an
/// error (it used to be read as a maze, silently dropping the Sokoban part), as is one
/// with neither or a value that is not an object.
pub fn object_domain(v: &serde_json::Value) -> Result<Domain> {
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Json("expected a JSON object".into()))?;
    domain_of_fields(|f| obj.contains_key(f))
}

/// The domain of an object by which of the domain-specific fields it `has`.
pub(crate) fn domain_of_fields(has: impl Fn(&str) -> bool) -> Result<Domain> {
    let present = |fields: &[&'static str]| -> Vec<&'static str> {
        fields.iter().copied().filter(|f| has(f)).collect()
    };
    let (maze, sokoban) = (present(&MAZE_FIELDS), present(&SOKOBAN_FIELDS));
    match (maze.is_empty(), sokoban.is_empty()) {
        (false, true) => Ok(Domain::Maze),
        (true, false) => Ok(Domain::Sokoban),
        (false, false) => Err(Error::Json(format!(
            "object has maze fields ({}) and Sokoban fields ({}); a task is one or the other",
            maze.join(", "),
            sokoban.join(", ")
        ))),
        (true, true) => Err(Error::Json(
            "object is neither a maze (no `start` field) nor a Sokoban level (no `worker` field)"
                .into(),
        )),
    }
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    task: &'a Task,
    #[serde(flatten)]
    tokens: Option<&'a StringSequence>,
}

impl Task {
    /// The domain.
    pub fn domain(&self) -> Domain {
        match self {
            Task::Maze(_) => Domain::Maze,
            Task::Sokoban(_) => Domain::Sokoban,
        }
    }

    /// Grid `(width, height)`.
    pub fn size(&self) -> (u32, u32) {
        match self {
            Task::Maze(m) => (m.width(), m.height()),
            Task::Sokoban(l) => (l.width(), l.height()),
        }
    }

    /// Parses one JSON line (a golden-format maze or a Sokoban object). A key given
    /// twice is an error (plain `serde_json` would keep the last value).
    pub fn from_json(line: &str) -> Result<Self> {
        let raw = crate::json::RawTask::parse(line)?;
        match raw.domain()? {
            Domain::Maze => raw.into_maze().map(Task::Maze),
            Domain::Sokoban => raw.into_sokoban().map(Task::Sokoban),
        }
    }

    /// Parses a JSON value (already parsed, so duplicate keys cannot be seen here; use
    /// [`Task::from_json`] for text).
    pub fn from_value(v: serde_json::Value) -> Result<Self> {
        match object_domain(&v)? {
            Domain::Maze => serde_json::from_value(v)
                .map(Task::Maze)
                .map_err(|e| Error::Json(e.to_string())),
            Domain::Sokoban => serde_json::from_value(v)
                .map(Task::Sokoban)
                .map_err(|e| Error::Json(e.to_string())),
        }
    }

    /// The task as one JSON line in the golden-file style (Python `json.dumps`
    /// spacing), optionally followed by `prompt`, `reasoning` and `plan`.
    pub fn to_json_line(&self, tokens: Option<&StringSequence>) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
        // Serialising plain structs of integers and strings cannot fail.
        let line = Line { task: self, tokens };
        if line.serialize(&mut ser).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// The reference vocabulary for this task (Sokoban: 40,000 cost tokens).
    pub fn vocabulary(&self) -> Result<Vocabulary> {
        Vocabulary::new(self.vocabulary_spec())
    }

    /// What [`Task::vocabulary`] builds (cheap; compare before rebuilding).
    pub fn vocabulary_spec(&self) -> VocabularySpec {
        match self {
            Task::Maze(m) => VocabularySpec::Maze {
                width: m.width(),
                height: m.height(),
            },
            Task::Sokoban(l) => VocabularySpec::Sokoban {
                width: l.width(),
                height: l.height(),
                max_cost: SOKOBAN_MAX_COST,
            },
        }
    }

    /// Prompt tokens.
    pub fn prompt(&self, vocab: &Vocabulary) -> Result<Vec<u32>> {
        match self {
            Task::Maze(m) => {
                let mut out = Vec::new();
                if vocab.domain() != Domain::Maze {
                    return Err(Error::WrongDomain {
                        expected: "maze",
                        got: "sokoban",
                    });
                }
                maze_prompt(vocab, m.start(), m.goal(), m.walls(), &mut out)?;
                Ok(out)
            }
            Task::Sokoban(l) => sokoban_prompt(l, vocab),
        }
    }

    /// Runs A* and tokenizes; returns the tokens and the number of plan
    /// nodes. Sokoban uses [`DEFAULT_MAX_EXPANSIONS`].
    pub fn solve_tokens(
        &self,
        vocab: &Vocabulary,
        mode: SearchMode,
        rng: &mut Rng,
    ) -> Result<(TokenSequence, usize)> {
        match self {
            Task::Maze(m) => MazeSolver::new().solve_tokens(m, vocab, mode, rng),
            Task::Sokoban(l) => {
                SokobanSolver::new().solve_tokens(l, vocab, mode, rng, DEFAULT_MAX_EXPANSIONS)
            }
        }
    }
}

/// A materialised A* trace of either domain (see [`Task::solve`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskTrace {
    /// Maze trace; states are cells.
    Maze(Trace<Pos>),
    /// Sokoban trace; states are worker and boxes.
    Sokoban(Trace<SokobanState>),
}

impl TaskTrace {
    /// Worker/agent cells in close (expansion) order, e.g. to shade a grid.
    pub fn close_order_cells(&self) -> Vec<Pos> {
        match self {
            TaskTrace::Maze(t) => t.close_order().copied().collect(),
            TaskTrace::Sokoban(t) => t.close_order().map(|s| s.worker).collect(),
        }
    }

    /// Plan cells (Sokoban: worker positions), start to goal.
    pub fn plan_cells(&self) -> Vec<Pos> {
        match self {
            TaskTrace::Maze(t) => t.plan.clone(),
            TaskTrace::Sokoban(t) => t.plan.iter().map(|s| s.worker).collect(),
        }
    }
}

impl Task {
    /// Runs A* and returns the full trace (Sokoban uses [`DEFAULT_MAX_EXPANSIONS`]).
    pub fn solve(&self, mode: SearchMode, rng: &mut Rng) -> Result<TaskTrace> {
        match self {
            Task::Maze(m) => m.solve(mode, rng).map(TaskTrace::Maze),
            Task::Sokoban(l) => SokobanSolver::new()
                .solve(l, mode, rng, DEFAULT_MAX_EXPANSIONS)
                .map(TaskTrace::Sokoban),
        }
    }
}

impl From<MazeTask> for Task {
    fn from(m: MazeTask) -> Self {
        Task::Maze(m)
    }
}

impl From<SokobanLevel> for Task {
    fn from(l: SokobanLevel) -> Self {
        Task::Sokoban(l)
    }
}
