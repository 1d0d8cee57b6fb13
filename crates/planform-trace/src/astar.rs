//! A* with execution traces, faithful to the reference `searchformer/astar.py`.
//!
//! The engine works on dense state ids supplied by a [`SearchSpace`] (a maze
//! uses cell indices; Sokoban interns states on the fly). It reproduces the
//! reference loop exactly:
//!
//! 1. push the start node and log `create`;
//! 2. pop the minimum node (Python `heapq` with the reference `__lt__`), mark it
//!    closed and log `close` — **before** the goal test;
//! 3. a popped node with infinite cost means failure; the goal stops the loop;
//! 4. otherwise, for every child (shuffled in nondeterministic mode): if the
//!    state is open with cost ≤ the child's, skip; if it is open with a larger
//!    cost, remove that entry (`list.remove` + `heapify`); if the state is
//!    closed with cost ≤ the child's, skip; otherwise push it and log `create`
//!    (a closed state is re-opened; its closed entry is kept, as in the reference);
//! 5. the plan walks parent pointers from the goal (nodes are objects, so a
//!    plan follows the node that created each node, not the state's latest entry).
//!
//! The comparator is the reference `__lt__`: compare cost `f = g + h`; on a tie
//! the deterministic mode asks [`SearchSpace::tie_less`] (maze: smaller
//! `x + 100000·y`), the nondeterministic mode flips a coin **inside the
//! comparator** (not a consistent order — that is the reference distribution).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::heap;
use crate::rng::Rng;

/// Infinite heuristic value.
pub const INF: u32 = u32::MAX;
const NONE: u32 = u32::MAX;

/// Deterministic or nondeterministic A* (the reference's `deterministic` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SearchMode {
    /// Fixed child order and a domain tie-break on equal cost.
    #[default]
    Deterministic,
    /// Children shuffled and a coin flip in the comparator on equal cost.
    Nondeterministic,
}

/// A trace step kind. (`Plan` steps are kept separately, see [`AStar::plan`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// A node was pushed onto the open list.
    Create,
    /// A node was popped from the open list.
    Close,
}

/// The problem A* searches. State ids must be dense (`0..num_states()`).
pub trait SearchSpace {
    /// Number of state ids known so far (may grow while [`children`](Self::children) runs).
    fn num_states(&self) -> usize;
    /// The start state.
    fn start(&mut self) -> u32;
    /// Heuristic of a state; [`INF`] for infinite.
    fn heuristic(&self, state: u32) -> u32;
    /// Goal test.
    fn is_goal(&self, state: u32) -> bool;
    /// Children of `state` in the reference order, without children whose
    /// heuristic is infinite, appended to `out` (which is empty on entry).
    fn children(&mut self, state: u32, out: &mut Vec<u32>);
    /// Deterministic tie-break: `true` if `a` precedes `b` on equal cost.
    fn tie_less(&self, a: u32, b: u32) -> bool;
}

/// A node object: one push of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// State id.
    pub state: u32,
    /// Cost from start.
    pub g: u32,
    /// Heuristic.
    pub h: u32,
    /// Node index of the parent (`u32::MAX` for the start).
    pub parent: u32,
}

impl Node {
    /// `f = g + h` (saturating at [`INF`]).
    #[inline]
    pub fn f(&self) -> u32 {
        self.g.saturating_add(self.h)
    }
}

/// One logged step: an action on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStep {
    /// `create` or `close`.
    pub action: Action,
    /// Index into [`AStar::nodes`].
    pub node: u32,
}

#[derive(Clone, Copy)]
struct Entry {
    f: u32,
    state: u32,
    node: u32,
}

/// Reusable A* engine. Buffers are kept between runs so repeated searches do
/// not allocate.
#[derive(Default)]
pub struct AStar {
    nodes: Vec<Node>,
    open_of: Vec<u32>,
    closed_of: Vec<u32>,
    heap: Vec<Entry>,
    log: Vec<LogStep>,
    plan: Vec<u32>,
    children: Vec<u32>,
    expansions: usize,
}

impl AStar {
    /// A fresh engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs A* on `space`. `rng` is only used in nondeterministic mode.
    /// `max_expansions` bounds the number of `close` steps
    /// ([`Error::SearchBudget`] when exceeded; `usize::MAX` for no limit).
    pub fn run<S: SearchSpace>(
        &mut self,
        space: &mut S,
        mode: SearchMode,
        rng: &mut Rng,
        max_expansions: usize,
    ) -> Result<()> {
        self.nodes.clear();
        self.heap.clear();
        self.log.clear();
        self.plan.clear();
        self.open_of.clear();
        self.closed_of.clear();
        self.expansions = 0;
        let det = mode == SearchMode::Deterministic;

        let start = space.start();
        self.grow(space.num_states());
        let h0 = space.heuristic(start);
        self.nodes.push(Node {
            state: start,
            g: 0,
            h: h0,
            parent: NONE,
        });
        {
            let mut lt = |a: &Entry, b: &Entry| less(a, b, det, space, rng);
            heap::push(
                &mut self.heap,
                Entry {
                    f: h0,
                    state: start,
                    node: 0,
                },
                &mut lt,
            );
        }
        self.open_of[start as usize] = 0;
        self.log.push(LogStep {
            action: Action::Create,
            node: 0,
        });

        let mut goal_node = NONE;
        loop {
            let popped = {
                let mut lt = |a: &Entry, b: &Entry| less(a, b, det, space, rng);
                heap::pop(&mut self.heap, &mut lt)
            };
            let Some(cur) = popped else { break };
            let cur_node = self.nodes[cur.node as usize];
            self.open_of[cur.state as usize] = NONE;
            self.closed_of[cur.state as usize] = cur.node;
            self.log.push(LogStep {
                action: Action::Close,
                node: cur.node,
            });
            self.expansions += 1;
            if cur.f == INF {
                return Err(Error::Unsolvable {
                    expansions: self.expansions,
                });
            }
            if space.is_goal(cur.state) {
                goal_node = cur.node;
                break;
            }
            if self.expansions >= max_expansions {
                return Err(Error::SearchBudget { max_expansions });
            }

            let mut children = std::mem::take(&mut self.children);
            children.clear();
            space.children(cur.state, &mut children);
            self.grow(space.num_states());
            if !det {
                rng.shuffle(&mut children);
            }
            let g = cur_node.g + 1;
            for &child in &children {
                let h = space.heuristic(child);
                let f = g.saturating_add(h);
                let open = self.open_of[child as usize];
                if open != NONE {
                    if self.nodes[open as usize].f() <= f {
                        continue;
                    }
                    // `open_heap.remove(child); heapify(open_heap)`
                    if let Some(i) = self.heap.iter().position(|e| e.state == child) {
                        self.heap.remove(i);
                    }
                    let mut lt = |a: &Entry, b: &Entry| less(a, b, det, space, rng);
                    heap::heapify(&mut self.heap, &mut lt);
                    self.open_of[child as usize] = NONE;
                }
                let closed = self.closed_of[child as usize];
                if closed != NONE && self.nodes[closed as usize].f() <= f {
                    continue;
                }
                let node = self.nodes.len() as u32;
                self.nodes.push(Node {
                    state: child,
                    g,
                    h,
                    parent: cur.node,
                });
                let mut lt = |a: &Entry, b: &Entry| less(a, b, det, space, rng);
                heap::push(
                    &mut self.heap,
                    Entry {
                        f,
                        state: child,
                        node,
                    },
                    &mut lt,
                );
                self.open_of[child as usize] = node;
                self.log.push(LogStep {
                    action: Action::Create,
                    node,
                });
            }
            self.children = children;
        }
        if goal_node == NONE {
            return Err(Error::Unsolvable {
                expansions: self.expansions,
            });
        }
        let mut n = goal_node;
        while n != NONE {
            self.plan.push(n);
            n = self.nodes[n as usize].parent;
        }
        self.plan.reverse();
        Ok(())
    }

    fn grow(&mut self, n: usize) {
        if self.open_of.len() < n {
            self.open_of.resize(n, NONE);
            self.closed_of.resize(n, NONE);
        }
    }

    /// The execution trace of the last successful run (`create`/`close` steps).
    pub fn log(&self) -> &[LogStep] {
        &self.log
    }

    /// All node objects of the last run.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A node by index.
    #[inline]
    pub fn node(&self, idx: u32) -> &Node {
        &self.nodes[idx as usize]
    }

    /// Node indices of the plan, start to goal inclusive.
    pub fn plan(&self) -> &[u32] {
        &self.plan
    }

    /// Number of `close` steps of the last run.
    pub fn expansions(&self) -> usize {
        self.expansions
    }
}

#[inline(always)]
fn less<S: SearchSpace>(a: &Entry, b: &Entry, det: bool, space: &S, rng: &mut Rng) -> bool {
    if a.f != b.f {
        a.f < b.f
    } else if det {
        space.tie_less(a.state, b.state)
    } else {
        rng.coin()
    }
}
