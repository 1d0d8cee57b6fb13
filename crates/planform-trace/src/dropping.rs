//! Dualformer trace dropping (reference `facebookresearch/dualformer`,
//! `searchformer/trace.py`, `DictTokenizer.tokenize_maze` / `tokenize_sokoban`).
//!
//! One level is drawn per example from probabilities `p0 … p4`:
//!
//! | level | effect on the reasoning |
//! |---|---|
//! | 0 [`DropLevel::Full`] | unchanged |
//! | 1 [`DropLevel::NoClose`] | only the `create` clauses (all `close` clauses dropped) |
//! | 2 [`DropLevel::NoCost`] | level 1 with every cost token removed |
//! | 3 [`DropLevel::NoCreate`] | see [`Level3`] |
//! | 4 [`DropLevel::NoTrace`] | empty |
//!
//! The level is drawn as in the reference: `u = rng.f64()`; `u < p1` → 1,
//! `u < p1+p2` → 2, `u < p1+p2+p3` → 3, `u < p1+…+p4` → 4, otherwise 0.
//! The plan is never modified. Everything operates on token ids; a clause is a
//! `create`/`close` token and everything up to the next `create`/`close`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::task::Domain;
use crate::vocab::{Keyword, Vocabulary};

/// A trace-dropping level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DropLevel {
    /// Level 0: full trace.
    Full = 0,
    /// Level 1: no `close` clauses.
    NoClose = 1,
    /// Level 2: no `close` clauses and no cost tokens.
    NoCost = 2,
    /// Level 3: additionally some `create` clauses dropped.
    NoCreate = 3,
    /// Level 4: no trace at all.
    NoTrace = 4,
}

impl DropLevel {
    /// Level by number `0..=4`.
    pub fn from_index(i: usize) -> Option<Self> {
        [
            DropLevel::Full,
            DropLevel::NoClose,
            DropLevel::NoCost,
            DropLevel::NoCreate,
            DropLevel::NoTrace,
        ]
        .get(i)
        .copied()
    }
}

/// What level 3 does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Level3 {
    /// The paper's definition (both domains): the level-2 list (no `close`,
    /// no costs) with each `create` clause dropped independently with
    /// `drop_probability` (paper: 0.3; a clause is kept iff `rng.f64() > p`).
    Paper {
        /// Probability of dropping each `create` clause.
        drop_probability: f64,
    },
    /// What the released code does. Maze: the level-1 list (**costs kept**)
    /// minus `k = ⌊n·U{10..40}/100⌋` of its `n` clauses chosen uniformly
    /// without replacement. Sokoban: identical to `Paper { drop_probability: 0.3 }`.
    ReferenceCode,
}

/// When an example's dropped form is re-drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resample {
    /// A fresh draw every epoch (reference behaviour for mazes).
    EveryEpoch,
    /// One draw per example, kept across epochs (reference behaviour for Sokoban,
    /// which caches the dropped trace per example id).
    FixedPerExample,
}

/// Dualformer trace-dropping configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppingConfig {
    /// `[p0, p1, p2, p3, p4]`: non-negative, summing to 1.
    pub probabilities: [f64; 5],
    /// Level-3 semantics.
    pub level3: Level3,
    /// Re-randomisation policy (see [`DroppingConfig::rng_for`]).
    pub resample: Resample,
}

impl DroppingConfig {
    /// Builds and validates a configuration.
    pub fn new(probabilities: [f64; 5], level3: Level3, resample: Resample) -> Result<Self> {
        let c = DroppingConfig {
            probabilities,
            level3,
            resample,
        };
        c.validate()?;
        Ok(c)
    }

    /// Probabilities must be finite, non-negative and sum to 1 (±1e-6); a
    /// paper drop probability must lie in `[0, 1]`.
    pub fn validate(&self) -> Result<()> {
        let p = &self.probabilities;
        if p.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::Config {
                field: "probabilities",
                reason: format!("must be finite and non-negative, got {p:?}"),
            });
        }
        let sum: f64 = p.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(Error::Config {
                field: "probabilities",
                reason: format!("must sum to 1, got {sum} from {p:?}"),
            });
        }
        if let Level3::Paper { drop_probability } = self.level3 {
            if !(0.0..=1.0).contains(&drop_probability) {
                return Err(Error::Config {
                    field: "level3.drop_probability",
                    reason: format!("must lie in [0, 1], got {drop_probability}"),
                });
            }
        }
        Ok(())
    }

    /// The generator for one example's draw: keyed by `(seed, example_id,
    /// epoch)` for [`Resample::EveryEpoch`] and by `(seed, example_id)` for
    /// [`Resample::FixedPerExample`] (the epoch is then ignored).
    pub fn rng_for(&self, seed: u64, example_id: u64, epoch: u64) -> Rng {
        match self.resample {
            Resample::EveryEpoch => Rng::keyed(&[seed, example_id, epoch]),
            Resample::FixedPerExample => Rng::keyed(&[seed, example_id]),
        }
    }

    /// Draws a level (one `rng.f64()`).
    pub fn draw_level(&self, rng: &mut Rng) -> DropLevel {
        let u = rng.f64();
        let p = &self.probabilities;
        let mut acc = 0.0;
        for (i, level) in [
            (1, DropLevel::NoClose),
            (2, DropLevel::NoCost),
            (3, DropLevel::NoCreate),
            (4, DropLevel::NoTrace),
        ] {
            acc += p[i];
            if u < acc {
                return level;
            }
        }
        DropLevel::Full
    }

    /// Draws a level and returns the reduced reasoning.
    pub fn apply(
        &self,
        reasoning: &[u32],
        vocab: &Vocabulary,
        rng: &mut Rng,
    ) -> Result<(DropLevel, Vec<u32>)> {
        self.validate()?;
        let level = self.draw_level(rng);
        let out = apply_level(level, self.level3, reasoning, vocab, rng);
        Ok((level, out))
    }
}

/// Reduces `reasoning` to `level` (level-3 randomness drawn from `rng`).
pub fn apply_level(
    level: DropLevel,
    level3: Level3,
    reasoning: &[u32],
    vocab: &Vocabulary,
    rng: &mut Rng,
) -> Vec<u32> {
    match level {
        DropLevel::Full => reasoning.to_vec(),
        DropLevel::NoTrace => Vec::new(),
        DropLevel::NoClose => creates(reasoning, vocab).flatten().copied().collect(),
        DropLevel::NoCost => creates(reasoning, vocab)
            .flat_map(|c| c.iter().copied().filter(|&t| !vocab.is_cost(t)))
            .collect(),
        DropLevel::NoCreate => {
            let paper_p = match (level3, vocab.domain()) {
                (Level3::Paper { drop_probability }, _) => Some(drop_probability),
                (Level3::ReferenceCode, Domain::Sokoban) => Some(0.3),
                (Level3::ReferenceCode, Domain::Maze) => None,
            };
            match paper_p {
                Some(p) => {
                    let mut out = Vec::new();
                    for c in creates(reasoning, vocab) {
                        if rng.f64() > p {
                            out.extend(c.iter().copied().filter(|&t| !vocab.is_cost(t)));
                        }
                    }
                    out
                }
                None => {
                    let clauses: Vec<&[u32]> = creates(reasoning, vocab).collect();
                    let n = clauses.len();
                    let percent = rng.range_inclusive(10, 40) as usize;
                    let k = n * percent / 100;
                    let mut dropped = vec![false; n];
                    for i in rng.choose_k(n, k) {
                        dropped[i] = true;
                    }
                    clauses
                        .iter()
                        .zip(&dropped)
                        .filter(|(_, d)| !**d)
                        .flat_map(|(c, _)| c.iter().copied())
                        .collect()
                }
            }
        }
    }
}

/// Splits reasoning into clauses (a `create`/`close` token up to the next one).
pub fn clauses<'a>(
    reasoning: &'a [u32],
    vocab: &Vocabulary,
) -> impl Iterator<Item = &'a [u32]> + 'a {
    let create = vocab.keyword(Keyword::Create);
    let close = vocab.keyword(Keyword::Close);
    let is_head = move |t: u32| Some(t) == create || Some(t) == close;
    let mut i = reasoning
        .iter()
        .position(|&t| is_head(t))
        .unwrap_or(reasoning.len());
    std::iter::from_fn(move || {
        if i >= reasoning.len() {
            return None;
        }
        let start = i;
        i += 1;
        while i < reasoning.len() && !is_head(reasoning[i]) {
            i += 1;
        }
        Some(&reasoning[start..i])
    })
}

fn creates<'a>(reasoning: &'a [u32], vocab: &Vocabulary) -> impl Iterator<Item = &'a [u32]> + 'a {
    let create = vocab.keyword(Keyword::Create);
    clauses(reasoning, vocab).filter(move |c| Some(c[0]) == create)
}
