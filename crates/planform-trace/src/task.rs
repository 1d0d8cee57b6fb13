//! Domain-agnostic task handling.

use serde::{Deserialize, Serialize};

/// The two task domains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Domain {
    /// Maze navigation.
    Maze,
    /// Sokoban.
    Sokoban,
}
