//! Generation config: plain typed structs with documented defaults.

use planform_trace::astar::SearchMode;
use planform_trace::grid::MAX_SIDE;
use planform_trace::maze_gen::{Capacity, MazeGenConfig};
use planform_trace::sokoban_gen::SokobanGenConfig;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Which planning domain, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Domain {
    /// Grid maze without boundary walls; one wall layout yields up to `attempts_per_layout`
    /// unique (start, goal) tasks (reference `--num-attempts-per-maze`, default 100).
    Maze {
        /// Grid width (paper: 10, 20, 30).
        width: u32,
        /// Grid height.
        height: u32,
        /// Start/goal attempts per wall layout (reference default 100).
        attempts_per_layout: u32,
    },
    /// Sokoban with a wall border; one level per layout index.
    Sokoban {
        /// Grid width including the border (paper: 7).
        width: u32,
        /// Grid height including the border (paper: 7).
        height: u32,
        /// Interior wall cells (paper: 2).
        walls: u32,
        /// Boxes, and as many docks (paper: 2).
        boxes: u32,
    },
}

impl Domain {
    /// Maze `width × height` with the reference's 100 attempts per layout.
    pub fn maze(width: u32, height: u32) -> Self {
        Domain::Maze {
            width,
            height,
            attempts_per_layout: 100,
        }
    }

    /// The paper's Sokoban setting: 7×7, 2 interior walls, 2 boxes.
    pub fn sokoban_paper() -> Self {
        Domain::Sokoban {
            width: 7,
            height: 7,
            walls: 2,
            boxes: 2,
        }
    }

    /// Short name, e.g. `maze-10x10` or `sokoban-7x7-w2-b2`.
    pub fn name(&self) -> String {
        match *self {
            Domain::Maze { width, height, .. } => format!("maze-{width}x{height}"),
            Domain::Sokoban {
                width,
                height,
                walls,
                boxes,
            } => format!("sokoban-{width}x{height}-w{walls}-b{boxes}"),
        }
    }
}

/// Inclusive length filters applied to generated tasks (`None` = no bound).
///
/// They act on top of the generator's own rules (e.g. the reference maze rule
/// `plan nodes >= max(width, height)`, which the trace generator applies itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LengthFilters {
    /// Minimum plan length in nodes.
    pub min_plan_length: Option<u32>,
    /// Maximum plan length in nodes.
    pub max_plan_length: Option<u32>,
    /// Minimum reasoning length in tokens.
    pub min_reasoning_length: Option<u32>,
    /// Maximum reasoning length in tokens. The reference Sokoban runs keep
    /// `0 <= len < 10000`, i.e. `Some(9999)`.
    pub max_reasoning_length: Option<u32>,
}

impl LengthFilters {
    /// The reference filters for a domain: none for mazes, reasoning `< 10000` tokens for
    /// Sokoban (`max_reasoning_len=10000` in the reference training configs).
    pub fn reference(domain: &Domain) -> Self {
        match domain {
            Domain::Maze { .. } => Self::default(),
            Domain::Sokoban { .. } => Self {
                max_reasoning_length: Some(9_999),
                ..Self::default()
            },
        }
    }

    /// Whether a task with these lengths passes.
    pub fn accepts(&self, plan_length: u32, reasoning_length: u32) -> bool {
        self.min_plan_length.is_none_or(|m| plan_length >= m)
            && self.max_plan_length.is_none_or(|m| plan_length <= m)
            && self
                .min_reasoning_length
                .is_none_or(|m| reasoning_length >= m)
            && self
                .max_reasoning_length
                .is_none_or(|m| reasoning_length <= m)
    }
}

/// t* (mean A* reasoning length over nondeterministic runs) for each test task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TStarConfig {
    /// Nondeterministic A* runs per test task (reference: 64).
    pub runs: u32,
}

impl Default for TStarConfig {
    fn default() -> Self {
        Self { runs: 64 }
    }
}

fn default_row_group_rows() -> u64 {
    crate::writer::ROW_GROUP_ROWS as u64
}

/// Largest t* run count per task (reference: 64).
pub const MAX_TSTAR_RUNS: u32 = 10_000;

/// Where the tasks of a dataset came from when they were not generated: a file of task
/// JSON lines (`planform gen --from FILE`). Stored in the manifest's `config.source`; a
/// manifest with a source has format version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSource {
    /// The file as it was named (`-` for standard input).
    pub file: String,
    /// Lower-case hex sha256 of the file's bytes.
    pub sha256: String,
    /// Task (non-blank) lines in the file = rows in the dataset.
    pub tasks: u64,
}

/// Everything `generate` needs. Defaults (`GenerateConfig::new`): test fraction 0.1,
/// seed 0, reference filters, no t*, 100,000 rows per shard, row groups of 4,096 rows,
/// no overwrite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateConfig {
    /// Domain and size.
    pub domain: Domain,
    /// A* mode of the stored traces (Sokoban is always nondeterministic in the reference).
    pub astar: SearchMode,
    /// Total tasks (train + test).
    pub num_tasks: u64,
    /// Fraction of `num_tasks` that goes to test: train gets `floor(num_tasks·(1−f))`
    /// tasks (reference: the first 90%), test the rest.
    pub test_fraction: f64,
    /// Master seed; layout `i` draws from `Rng::stream(seed, i)`.
    pub seed: u64,
    /// Length filters.
    pub filters: LengthFilters,
    /// Compute t* for test tasks (`None` = not computed; column is null).
    pub tstar: Option<TStarConfig>,
    /// Rows per Parquet shard (default 100,000).
    pub shard_rows: u64,
    /// Most rows per Parquet row group (default 4,096; a row group is also cut at
    /// 8M tokens). Row groups are the unit of parallel encoding and of streaming reads.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: u64,
    /// Replace an existing dataset at the output path (default false). Not stored.
    #[serde(skip)]
    pub overwrite: bool,
    /// `None` for generated datasets (not written to the manifest then); the task file
    /// for datasets built from given tasks ([`crate::generate_from_tasks`]). For those,
    /// `domain` names the grid size, `walls`/`boxes` are the largest counts among the
    /// levels, `attempts_per_layout` is 1 and each task is its own layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TaskSource>,
}

impl GenerateConfig {
    /// Whether `self` and `other` describe the same rows: equal in every field but
    /// `row_group_rows`, which only changes where the rows are cut into Parquet row groups
    /// (so a dataset written with another row-group size, such as the 4,096 of datasets made
    /// before stop 24, is still the dataset a recipe asks for).
    pub fn same_rows(&self, other: &GenerateConfig) -> bool {
        let mut a = self.clone();
        a.row_group_rows = other.row_group_rows;
        a == *other
    }

    /// Defaults for a domain: deterministic A* for mazes, nondeterministic for Sokoban.
    pub fn new(domain: Domain, num_tasks: u64) -> Self {
        let astar = match domain {
            Domain::Maze { .. } => SearchMode::Deterministic,
            Domain::Sokoban { .. } => SearchMode::Nondeterministic,
        };
        Self {
            domain,
            astar,
            num_tasks,
            test_fraction: 0.1,
            seed: 0,
            filters: LengthFilters::reference(&domain),
            tstar: None,
            shard_rows: 100_000,
            row_group_rows: default_row_group_rows(),
            overwrite: false,
            source: None,
        }
    }

    /// `(train, test)` task targets.
    pub fn split_targets(&self) -> (u64, u64) {
        let exact = self.num_tasks as f64 * (1.0 - self.test_fraction);
        // The epsilon absorbs binary rounding (e.g. 1000 × 0.9).
        let train = ((exact + 1e-6).floor() as u64).min(self.num_tasks);
        (train, self.num_tasks - train)
    }

    /// Check the config, naming the bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(DataError::InvalidConfig(m));
        if self.num_tasks == 0 {
            return bad("num_tasks must be > 0".into());
        }
        if !(0.0..=1.0).contains(&self.test_fraction) {
            return bad(format!(
                "test_fraction {} is not in [0, 1]",
                self.test_fraction
            ));
        }
        if self.shard_rows == 0 {
            return bad("shard_rows must be > 0".into());
        }
        if self.row_group_rows == 0 {
            return bad("row_group_rows must be > 0".into());
        }
        if let Some(t) = self.tstar {
            if !(1..=MAX_TSTAR_RUNS).contains(&t.runs) {
                return bad(format!(
                    "tstar.runs must be in 1..={MAX_TSTAR_RUNS} (reference: 64), got {}",
                    t.runs
                ));
            }
        }
        let max = MAX_SIDE;
        if self.source.is_some() {
            // Sizes come from the tasks; the vocabulary decides what it can spell. (No
            // count check: `planform bootstrap` writes subsets under the same config.)
            return crate::layouts::vocabulary(&self.domain).map(|_| ());
        }
        match self.domain {
            Domain::Maze {
                width,
                height,
                attempts_per_layout,
            } => {
                if !(2..=max).contains(&width) || !(2..=max).contains(&height) {
                    return bad(format!(
                        "maze size {width}x{height}: width and height must be in 2..={max}"
                    ));
                }
                if attempts_per_layout == 0 {
                    return bad("attempts_per_layout must be > 0".into());
                }
            }
            Domain::Sokoban {
                width,
                height,
                boxes,
                ..
            } => {
                if !(5..=max).contains(&width) || !(5..=max).contains(&height) {
                    return bad(format!(
                        "sokoban size {width}x{height}: width and height (border included) \
                         must be in 5..={max}"
                    ));
                }
                if boxes == 0 {
                    return bad("sokoban needs at least one box".into());
                }
            }
        }
        Ok(())
    }

    /// The trace generator's config for this domain (generated datasets).
    pub(crate) fn maze_gen_config(&self) -> Option<MazeGenConfig> {
        match self.domain {
            Domain::Maze {
                width,
                height,
                attempts_per_layout,
            } => Some(MazeGenConfig {
                attempts: attempts_per_layout,
                ..MazeGenConfig::reference(width, height, self.astar)
            }),
            Domain::Sokoban { .. } => None,
        }
    }

    /// The Sokoban generator's config for this domain (generated datasets).
    pub(crate) fn sokoban_gen_config(&self) -> Option<SokobanGenConfig> {
        match self.domain {
            Domain::Sokoban {
                width,
                height,
                walls,
                boxes,
            } => Some(SokobanGenConfig {
                width,
                height,
                interior_walls: walls,
                boxes,
                mode: self.astar,
                // The trace generator re-draws a level whose reasoning is too long
                // (and caps the search accordingly); its bound is exclusive.
                max_reasoning_tokens: self.filters.max_reasoning_length.map(|m| m as usize + 1),
                ..SokobanGenConfig::default()
            }),
            Domain::Maze { .. } => None,
        }
    }

    /// Checks that generation can finish: refuses up front what no amount of searching
    /// could produce (more tasks than the domain has distinct layouts × tasks per layout,
    /// two splits from a domain with a single layout, a reasoning limit below the
    /// shortest possible maze trace) instead of searching forever. Called by
    /// [`crate::generate`]; a no-op for datasets built from a task file.
    pub fn check_feasible(&self) -> Result<()> {
        if self.source.is_some() {
            return Ok(());
        }
        let name = self.domain.name();
        let bad = |m: String| Err(DataError::InvalidConfig(format!("{name}: {m}")));
        let cap: Capacity = match (self.maze_gen_config(), self.sokoban_gen_config()) {
            (Some(m), _) => {
                m.validate()
                    .map_err(|e| DataError::InvalidConfig(e.to_string()))?;
                if let Some(limit) = self.filters.max_reasoning_length {
                    // Every plan node is created and closed: 2 clauses of 5 tokens.
                    let shortest = 10 * m.min_plan_nodes() as u64;
                    if u64::from(limit) < shortest {
                        return bad(format!(
                            "no task can pass the reasoning limit of {limit} tokens: a kept \
                             maze task has a plan of at least {} nodes, so its trace has at \
                             least {shortest} tokens",
                            m.min_plan_nodes()
                        ));
                    }
                }
                m.capacity()
            }
            (None, Some(s)) => {
                s.validate()
                    .map_err(|e| DataError::InvalidConfig(e.to_string()))?;
                s.capacity()
            }
            (None, None) => return Ok(()),
        };
        let (train, test) = self.split_targets();
        let splits = u64::from(train > 0) + u64::from(test > 0);
        if cap.layouts < splits as f64 {
            return bad(format!(
                "every layout this configuration can draw is the same ({} distinct), but the \
                 train and test splits need different layouts (a layout never spans both); \
                 use --test-fraction 0 or 1, or a larger grid",
                cap.layouts
            ));
        }
        if self.num_tasks as f64 > cap.tasks {
            return bad(format!(
                "{} tasks were asked for, but this configuration can produce at most {} \
                 ({} distinct layouts, at most {} tasks each)",
                self.num_tasks, cap.tasks, cap.layouts, cap.tasks_per_layout
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_group_size_does_not_change_which_rows_a_config_describes() {
        let a = GenerateConfig::new(Domain::maze(5, 5), 100);
        let mut b = a.clone();
        b.row_group_rows = 4096;
        assert_ne!(a, b);
        assert!(a.same_rows(&b) && b.same_rows(&a));
        let mut c = b.clone();
        c.num_tasks = 101;
        assert!(!a.same_rows(&c));
        let mut d = a.clone();
        d.shard_rows = 7;
        assert!(
            !a.same_rows(&d),
            "the shard size stays part of the identity"
        );
    }

    #[test]
    fn split_targets_match_reference_rule() {
        // Reference: a layout is train while stored < 9 * n // 10.
        for n in [1u64, 9, 10, 11, 999, 1000, 1005, 1_100_000] {
            let c = GenerateConfig::new(Domain::maze(10, 10), n);
            assert_eq!(c.split_targets().0, 9 * n / 10, "n={n}");
        }
        let mut c = GenerateConfig::new(Domain::maze(10, 10), 100);
        c.test_fraction = 0.0;
        assert_eq!(c.split_targets(), (100, 0));
        c.test_fraction = 1.0;
        assert_eq!(c.split_targets(), (0, 100));
    }

    #[test]
    fn filters() {
        let f = LengthFilters::reference(&Domain::sokoban_paper());
        assert!(f.accepts(5, 9_999));
        assert!(!f.accepts(5, 10_000));
        assert!(LengthFilters::default().accepts(0, u32::MAX));
    }
}
