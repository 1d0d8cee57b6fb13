//! Materialised A* execution traces (for display, inspection and tests).

use serde::{Deserialize, Serialize};

use crate::astar::Action;

/// One `create` or `close` step with the node's state and costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep<S> {
    /// `create` (pushed) or `close` (popped).
    pub action: Action,
    /// The node's state (maze: a cell; Sokoban: worker and boxes).
    pub state: S,
    /// Cost from start.
    pub g: u32,
    /// Heuristic.
    pub h: u32,
}

/// A full A* run: steps in execution order and the plan from start to goal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace<S> {
    /// `create`/`close` steps.
    pub steps: Vec<TraceStep<S>>,
    /// Plan states, start to goal inclusive.
    pub plan: Vec<S>,
}

impl<S> Trace<S> {
    /// States in the order they were closed (expanded), e.g. to shade cells.
    pub fn close_order(&self) -> impl Iterator<Item = &S> {
        self.steps
            .iter()
            .filter(|s| s.action == Action::Close)
            .map(|s| &s.state)
    }

    /// Number of plan nodes (start and goal included).
    pub fn plan_len(&self) -> usize {
        self.plan.len()
    }
}
