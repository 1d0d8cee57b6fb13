//! Sokoban level generator (reference `generate_level` / `SokobanTrace.generate`
//! and the dataset filters).
//!
//! Level sampling, in order (each step a uniform choice, like the reference's
//! shuffle-and-take-first):
//! 1. all border cells are walls;
//! 2. `interior_walls` walls among the remaining cells;
//! 3. `boxes` boxes among the non-wall cells with `x ∈ 2..w−2`, `y ∈ 2..h−2`
//!    (fewer if fewer such cells are free — the reference behaves the same);
//! 4. the worker among the remaining free cells;
//! 5. `boxes` docks among the remaining free cells.
//!
//! A level is accepted when A* solves it, every cost has a token
//! (`< max_cost`, reference 40,000) and, if set, the reasoning has fewer than
//! `max_reasoning_tokens` tokens (reference training filter: 10,000).
//! Rejected levels are re-drawn from the same generator, so one call returns
//! exactly one level and the result depends only on the `Rng` passed in.

use serde::{Deserialize, Serialize};

use crate::astar::SearchMode;
use crate::error::{Error, Result};
use crate::grid::{check_size, Pos};
use crate::maze_gen::{binomial, Capacity};
use crate::rng::Rng;
use crate::sokoban::SokobanLevel;
use crate::sokoban_search::{SokobanSolver, DEFAULT_MAX_EXPANSIONS};
use crate::tokens::TokenSequence;
use crate::vocab::{Vocabulary, SOKOBAN_MAX_COST};

/// Sokoban generator configuration. Defaults are the paper setting: 7×7,
/// 2 interior walls, 2 boxes, nondeterministic A*, reasoning < 10,000 tokens,
/// costs < 40,000, 1,000,000 expansions, 10,000 tries per level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SokobanGenConfig {
    /// Width including the border (≥ 5).
    pub width: u32,
    /// Height including the border (≥ 5).
    pub height: u32,
    /// Interior wall cells.
    pub interior_walls: u32,
    /// Boxes (and docks).
    pub boxes: u32,
    /// A* mode (the reference always uses nondeterministic A* for Sokoban).
    pub mode: SearchMode,
    /// Keep only traces whose reasoning has fewer tokens than this.
    pub max_reasoning_tokens: Option<usize>,
    /// Number of cost tokens; traces with a cost ≥ this are rejected.
    pub max_cost: u32,
    /// A* node budget per level (levels over budget are rejected).
    pub max_expansions: usize,
    /// Levels drawn per call before giving up with an error.
    pub max_tries: usize,
}

impl Default for SokobanGenConfig {
    fn default() -> Self {
        SokobanGenConfig {
            width: 7,
            height: 7,
            interior_walls: 2,
            boxes: 2,
            mode: SearchMode::Nondeterministic,
            max_reasoning_tokens: Some(10_000),
            max_cost: SOKOBAN_MAX_COST,
            max_expansions: DEFAULT_MAX_EXPANSIONS,
            max_tries: 10_000,
        }
    }
}

impl SokobanGenConfig {
    /// Checks sizes and counts.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = check_size(self.width as i64, self.height as i64, 1)?;
        if w < 5 || h < 5 {
            return Err(Error::Config {
                field: "width/height",
                reason: format!(
                    "need at least 5x5 so boxes fit 2 cells from the border, got {w}x{h}"
                ),
            });
        }
        let interior = (w - 2) * (h - 2);
        let need = self.interior_walls as u64 + 2 * self.boxes as u64 + 1;
        if need > interior as u64 {
            return Err(Error::Config {
                field: "interior_walls/boxes",
                reason: format!(
                    "{} walls + {} boxes + {} docks + worker exceed {interior} interior cells",
                    self.interior_walls, self.boxes, self.boxes
                ),
            });
        }
        if self.boxes == 0 {
            return Err(Error::Config {
                field: "boxes",
                reason: "need at least one box".into(),
            });
        }
        let inner = (w - 4) * (h - 4);
        if self.boxes > inner {
            return Err(Error::Config {
                field: "boxes",
                reason: format!(
                    "boxes are placed at least 2 cells from the border, and a {w}x{h} level has \
                     only {inner} such cells, fewer than {} boxes",
                    self.boxes
                ),
            });
        }
        if self.max_tries == 0 {
            return Err(Error::Config {
                field: "max_tries",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// Upper bounds on the distinct levels this configuration can draw (one task each):
    /// interior walls × box cells × worker cell × dock cells.
    pub fn capacity(&self) -> Capacity {
        let interior =
            u64::from(self.width.saturating_sub(2)) * u64::from(self.height.saturating_sub(2));
        let inner =
            u64::from(self.width.saturating_sub(4)) * u64::from(self.height.saturating_sub(4));
        let (walls, boxes) = (u64::from(self.interior_walls), u64::from(self.boxes));
        let after = interior.saturating_sub(walls + boxes);
        let levels = binomial(interior, walls)
            * binomial(inner, boxes)
            * after as f64
            * binomial(after.saturating_sub(1), boxes);
        Capacity {
            layouts: levels,
            tasks_per_layout: 1.0,
            tasks: levels,
        }
    }

    /// The vocabulary matching this configuration.
    pub fn vocabulary(&self) -> Result<Vocabulary> {
        Vocabulary::sokoban(self.width, self.height, self.max_cost)
    }
}

/// Samples one level (steps 1–5 above) without solving it.
pub fn sample_level(cfg: &SokobanGenConfig, rng: &mut Rng) -> Result<SokobanLevel> {
    cfg.validate()?;
    let (w, h) = (cfg.width, cfg.height);
    let n = (w * h) as usize;
    let mut taken = vec![false; n];
    let mut walls = Vec::new();
    for (i, t) in taken.iter_mut().enumerate() {
        let p = Pos::from_index(i, w);
        if p.x == 0 || p.y == 0 || p.x == w - 1 || p.y == h - 1 {
            *t = true;
            walls.push(p);
        }
    }
    let pick = |k: usize, taken: &mut Vec<bool>, region: &dyn Fn(Pos) -> bool, rng: &mut Rng| {
        let mut cand: Vec<usize> = (0..n)
            .filter(|&i| !taken[i] && region(Pos::from_index(i, w)))
            .collect();
        rng.shuffle(&mut cand);
        cand.truncate(k);
        for &i in &cand {
            taken[i] = true;
        }
        cand.into_iter()
            .map(|i| Pos::from_index(i, w))
            .collect::<Vec<_>>()
    };
    let anywhere = |_: Pos| true;
    let inner = |p: Pos| p.x >= 2 && p.x + 2 < w && p.y >= 2 && p.y + 2 < h;
    walls.extend(pick(
        cfg.interior_walls as usize,
        &mut taken,
        &anywhere,
        rng,
    ));
    let boxes = pick(cfg.boxes as usize, &mut taken, &inner, rng);
    let worker = pick(1, &mut taken, &anywhere, rng);
    let docks = pick(cfg.boxes as usize, &mut taken, &anywhere, rng);
    let worker = *worker.first().ok_or(Error::Config {
        field: "interior_walls/boxes",
        reason: "no free cell left for the worker".into(),
    })?;
    SokobanLevel::new(w, h, worker, boxes, docks, walls)
}

/// One accepted Sokoban level with its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SokobanSample {
    /// The level (JSON-serialisable).
    pub level: SokobanLevel,
    /// Prompt, reasoning and plan tokens.
    pub tokens: TokenSequence,
    /// Optimal plan length in plan nodes (start and goal included).
    pub optimal_plan_len: usize,
    /// Levels drawn for this sample (1 = the first draw was accepted).
    pub tries: usize,
}

/// Reusable Sokoban generator.
pub struct SokobanGenerator {
    config: SokobanGenConfig,
    vocab: Vocabulary,
    solver: SokobanSolver,
}

impl SokobanGenerator {
    /// Validates `config` and builds its vocabulary.
    pub fn new(config: SokobanGenConfig) -> Result<Self> {
        config.validate()?;
        Ok(SokobanGenerator {
            vocab: config.vocabulary()?,
            config,
            solver: SokobanSolver::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SokobanGenConfig {
        &self.config
    }

    /// The vocabulary the tokens use.
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Draws levels until one is accepted.
    pub fn generate(&mut self, rng: &mut Rng) -> Result<SokobanSample> {
        let cfg = self.config;
        // A step spells at least 6 tokens, so a trace under the token limit
        // has fewer than limit / 6 closes: cap the search there.
        let budget = match cfg.max_reasoning_tokens {
            Some(t) => cfg.max_expansions.min(t.div_ceil(6)),
            None => cfg.max_expansions,
        };
        let mut last = String::new();
        for tries in 1..=cfg.max_tries {
            let level = sample_level(&cfg, rng)?;
            match self
                .solver
                .solve_tokens(&level, &self.vocab, cfg.mode, rng, budget)
            {
                Ok((tokens, plan_len)) => {
                    if cfg
                        .max_reasoning_tokens
                        .is_some_and(|t| tokens.reasoning.len() >= t)
                    {
                        last = format!("reasoning has {} tokens", tokens.reasoning.len());
                        continue;
                    }
                    return Ok(SokobanSample {
                        level,
                        tokens,
                        optimal_plan_len: plan_len,
                        tries,
                    });
                }
                Err(
                    e @ (Error::Unsolvable { .. }
                    | Error::BoxesWithoutDocks { .. }
                    | Error::SearchBudget { .. }
                    | Error::NotInVocabulary { .. }),
                ) => {
                    last = e.to_string();
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::GenerationFailed {
            tries: cfg.max_tries,
            reason: last,
        })
    }
}
