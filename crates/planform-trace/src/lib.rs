//! planform-trace
pub mod astar;
pub mod dropping;
pub mod error;
pub mod grid;
mod heap;
pub mod maze;
pub mod maze_gen;
pub mod rng;
pub mod task;
pub mod tokens;
pub mod trace;
pub mod vocab;
pub mod sokoban;
pub mod sokoban_search;
pub mod sokoban_gen;
pub mod eval;
pub mod metrics;
