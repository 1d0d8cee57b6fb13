//! Parsing and validating model responses (reference
//! `maze.evaluate_rollout_single` and `sokoban.evaluate_rollout_single`).
//!
//! Parsing rules:
//! 1. a trailing `eos` is stripped (`has_eos` records it);
//! 2. everything from the first `plan` token on is read as `(tok, x, y)`
//!    triplets; the token count must be a multiple of 3 and `x`, `y` must be
//!    coordinate tokens, otherwise the response fails (like the reference's
//!    `ValueError`: plan length 0, trace tokens 0, incorrect);
//! 3. `trace_tokens` = number of tokens before the first `plan`, not counting
//!    a leading `bos` (reference: `index_of_first_plan − 1` on sequences that
//!    start with `bos`; a sequence without a leading `bos` counts every token);
//! 4. `syntax_correct` = every triplet starts with `plan` (not required for
//!    correctness, as in the reference).
//!
//! Maze correctness: first position = start, last = goal, no position on a
//! wall, consecutive positions at Manhattan distance 1. Additionally every
//! position must lie in the grid (the reference does not check bounds; with
//! the reference vocabulary of a square maze no coordinate can leave the grid).
//!
//! Sokoban correctness: consecutive positions at distance 1; each delta is
//! turned into a move and simulated from the level's initial state (the first
//! plan position is not checked and blocked moves are no-ops, as in the
//! reference); correct iff every box ends on a dock. The reference rebuilds the
//! level from the prompt tokens, which is the same level for generated tasks
//! (they never start with a box on a dock).
//!
//! Optimal = correct and plan length (triplets) = the optimal plan length.

use serde::{Deserialize, Serialize};

use crate::grid::Pos;
use crate::maze::MazeTask;
use crate::sokoban::{Direction, SokobanLevel};
use crate::task::Task;
use crate::vocab::{Keyword, TokenKind, Vocabulary, BOS, EOS};

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedResponse {
    /// The response ended with `eos`.
    pub has_eos: bool,
    /// Reasoning tokens before the first `plan` (0 if parsing failed).
    pub trace_tokens: usize,
    /// Plan positions, or `None` if the plan could not be parsed.
    pub plan: Option<Vec<Pos>>,
    /// Every triplet started with `plan`.
    pub syntax_correct: bool,
}

/// Parses a decoder output given as ids.
pub fn parse_response(vocab: &Vocabulary, tokens: &[u32]) -> ParsedResponse {
    let mut t = tokens;
    let has_eos = t.last() == Some(&EOS);
    if has_eos {
        t = &t[..t.len() - 1];
    }
    let fail = ParsedResponse {
        has_eos,
        trace_tokens: 0,
        plan: None,
        syntax_correct: false,
    };
    let plan_kw = vocab.keyword(Keyword::Plan);
    let Some(plan_start) = t.iter().position(|&x| Some(x) == plan_kw) else {
        return fail;
    };
    let offset = usize::from(t.first() == Some(&BOS));
    let body = &t[plan_start..];
    if body.len() % 3 != 0 {
        return fail;
    }
    let mut plan = Vec::with_capacity(body.len() / 3);
    let mut syntax = true;
    for tri in body.chunks_exact(3) {
        let (Some(TokenKind::Num(x)), Some(TokenKind::Num(y))) =
            (vocab.kind(tri[1]), vocab.kind(tri[2]))
        else {
            return fail;
        };
        syntax &= Some(tri[0]) == plan_kw;
        plan.push(Pos::new(x, y));
    }
    ParsedResponse {
        has_eos,
        trace_tokens: plan_start.saturating_sub(offset),
        plan: Some(plan),
        syntax_correct: syntax,
    }
}

/// Parses a response given as strings; strings outside the vocabulary are
/// treated as unknown tokens (a parse failure where a coordinate is expected).
pub fn parse_response_strings<S: AsRef<str>>(vocab: &Vocabulary, tokens: &[S]) -> ParsedResponse {
    let ids: Vec<u32> = tokens
        .iter()
        .map(|s| vocab.id(s.as_ref()).unwrap_or(u32::MAX))
        .collect();
    parse_response(vocab, &ids)
}

/// The score of one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEval {
    /// The response ended with `eos`.
    pub has_eos: bool,
    /// Reasoning tokens before the first `plan` (0 if parsing failed).
    pub trace_tokens: usize,
    /// Number of plan triplets (0 if parsing failed).
    pub plan_length: usize,
    /// Every triplet started with `plan`.
    pub syntax_correct: bool,
    /// The plan solves the task.
    pub correct: bool,
    /// Correct and as long as the optimal plan.
    pub optimal: bool,
    /// Parsed plan positions (empty if parsing failed).
    pub plan: Vec<Pos>,
}

/// Scores a parsed response. `optimal_plan_len` counts plan nodes (triplets).
pub fn evaluate_parsed(
    task: &Task,
    parsed: ParsedResponse,
    optimal_plan_len: usize,
) -> ResponseEval {
    let plan = parsed.plan.unwrap_or_default();
    let correct = !plan.is_empty()
        && match task {
            Task::Maze(m) => maze_plan_correct(m, &plan),
            Task::Sokoban(l) => sokoban_plan_correct(l, &plan),
        };
    ResponseEval {
        has_eos: parsed.has_eos,
        trace_tokens: parsed.trace_tokens,
        plan_length: plan.len(),
        syntax_correct: parsed.syntax_correct,
        correct,
        optimal: correct && plan.len() == optimal_plan_len,
        plan,
    }
}

/// Parses and scores a response given as ids.
pub fn evaluate_response(
    task: &Task,
    vocab: &Vocabulary,
    tokens: &[u32],
    optimal_plan_len: usize,
) -> ResponseEval {
    evaluate_parsed(task, parse_response(vocab, tokens), optimal_plan_len)
}

/// Parses and scores a response given as strings.
pub fn evaluate_response_strings<S: AsRef<str>>(
    task: &Task,
    vocab: &Vocabulary,
    tokens: &[S],
    optimal_plan_len: usize,
) -> ResponseEval {
    evaluate_parsed(
        task,
        parse_response_strings(vocab, tokens),
        optimal_plan_len,
    )
}

/// Maze plan check (see the module docs).
pub fn maze_plan_correct(task: &MazeTask, plan: &[Pos]) -> bool {
    let (Some(&first), Some(&last)) = (plan.first(), plan.last()) else {
        return false;
    };
    first == task.start()
        && last == task.goal()
        && plan
            .iter()
            .all(|p| task.in_bounds(p.x as i64, p.y as i64) && !task.is_wall(*p))
        && plan.windows(2).all(|w| w[0].manhattan(w[1]) == 1)
}

/// Sokoban plan check by simulation (see the module docs).
pub fn sokoban_plan_correct(level: &SokobanLevel, plan: &[Pos]) -> bool {
    let mut moves = Vec::with_capacity(plan.len());
    for w in plan.windows(2) {
        let a = (w[0].x as i64, w[0].y as i64);
        let b = (w[1].x as i64, w[1].y as i64);
        match Direction::between(a, b) {
            Some(d) => moves.push(d),
            None => return false,
        }
    }
    level.apply_moves(&moves).is_complete()
}
