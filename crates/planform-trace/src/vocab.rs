//! Token vocabularies in the reference order.
//!
//! The reference (`DictTokenizer`) sorts all token strings lexicographically
//! and prepends `bos` and `eos`, so `bos = 0`, `eos = 1` and the remaining ids
//! follow the byte order of the strings. Padding uses id 0.
//!
//! * Maze `w×h`: `str(i)` for `i < max(w, h)`, `c0 … c{w·h−1}`, and
//!   `start goal wall create close plan` — 118 / 428 / 938 tokens for
//!   10×10 / 20×20 / 30×30.
//! * Sokoban `w×h` with costs below `max_cost`: `str(i)` for `i < max(w, h)`,
//!   `c0 … c{max_cost−1}`, and `box worker dock wall create close plan` —
//!   40,016 tokens for 7×7 with `max_cost = 40000` (the reference).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::grid::check_size;
use crate::task::Domain;

/// Id of `bos`.
pub const BOS: u32 = 0;
/// Id of `eos`.
pub const EOS: u32 = 1;
/// Padding id (equal to `bos`, as in the reference).
pub const PAD: u32 = 0;

/// Keyword tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Keyword {
    /// `start` (maze prompt).
    Start,
    /// `goal` (maze prompt).
    Goal,
    /// `wall` (both prompts).
    Wall,
    /// `create` (trace).
    Create,
    /// `close` (trace).
    Close,
    /// `plan` (plan).
    Plan,
    /// `worker` (Sokoban).
    Worker,
    /// `box` (Sokoban).
    Box,
    /// `dock` (Sokoban).
    Dock,
}

impl Keyword {
    /// All keywords.
    pub const ALL: [Keyword; 9] = [
        Keyword::Start,
        Keyword::Goal,
        Keyword::Wall,
        Keyword::Create,
        Keyword::Close,
        Keyword::Plan,
        Keyword::Worker,
        Keyword::Box,
        Keyword::Dock,
    ];

    /// The token string.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Start => "start",
            Keyword::Goal => "goal",
            Keyword::Wall => "wall",
            Keyword::Create => "create",
            Keyword::Close => "close",
            Keyword::Plan => "plan",
            Keyword::Worker => "worker",
            Keyword::Box => "box",
            Keyword::Dock => "dock",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// What a vocabulary is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VocabularySpec {
    /// Maze of the given size (costs `c0 … c{w·h−1}`).
    Maze {
        /// Grid width.
        width: u32,
        /// Grid height.
        height: u32,
    },
    /// Sokoban of the given size with costs `c0 … c{max_cost−1}`.
    Sokoban {
        /// Grid width.
        width: u32,
        /// Grid height.
        height: u32,
        /// Number of cost tokens (reference: 40,000).
        max_cost: u32,
    },
}

impl VocabularySpec {
    /// The domain.
    pub fn domain(&self) -> Domain {
        match self {
            VocabularySpec::Maze { .. } => Domain::Maze,
            VocabularySpec::Sokoban { .. } => Domain::Sokoban,
        }
    }
}

/// Reference Sokoban cost-token count (`c0 … c39999`).
pub const SOKOBAN_MAX_COST: u32 = 40_000;

/// Largest allowed number of cost tokens.
pub const MAX_COST_TOKENS: u32 = 1_000_000;

/// The class of a token id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `bos`.
    Bos,
    /// `eos`.
    Eos,
    /// A coordinate `"0"`, `"1"`, ….
    Num(u32),
    /// A cost `"c0"`, `"c1"`, ….
    Cost(u32),
    /// A keyword.
    Keyword(Keyword),
}

/// A vocabulary: id ↔ string maps plus direct id tables for the hot path.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    spec: VocabularySpec,
    tokens: Vec<String>,
    kinds: Vec<TokenKind>,
    lookup: HashMap<String, u32>,
    num_ids: Vec<u32>,
    cost_ids: Vec<u32>,
    keyword_ids: [u32; 9],
}

const ABSENT: u32 = u32::MAX;

impl Vocabulary {
    /// The maze vocabulary for a `width × height` grid.
    pub fn maze(width: u32, height: u32) -> Result<Self> {
        Self::new(VocabularySpec::Maze { width, height })
    }

    /// The Sokoban vocabulary (`max_cost` cost tokens; reference 40,000).
    pub fn sokoban(width: u32, height: u32, max_cost: u32) -> Result<Self> {
        Self::new(VocabularySpec::Sokoban {
            width,
            height,
            max_cost,
        })
    }

    /// Builds the vocabulary described by `spec`.
    pub fn new(spec: VocabularySpec) -> Result<Self> {
        let (width, height, ncost, keywords): (u32, u32, u32, &[Keyword]) = match spec {
            VocabularySpec::Maze { width, height } => {
                let (w, h) = check_size(width as i64, height as i64, 2)?;
                (
                    w,
                    h,
                    w * h,
                    &[
                        Keyword::Start,
                        Keyword::Goal,
                        Keyword::Wall,
                        Keyword::Create,
                        Keyword::Close,
                        Keyword::Plan,
                    ],
                )
            }
            VocabularySpec::Sokoban {
                width,
                height,
                max_cost,
            } => {
                let (w, h) = check_size(width as i64, height as i64, 1)?;
                if max_cost == 0 || max_cost > MAX_COST_TOKENS {
                    return Err(Error::Config {
                        field: "max_cost",
                        reason: format!("must be in 1..={MAX_COST_TOKENS}, got {max_cost}"),
                    });
                }
                (
                    w,
                    h,
                    max_cost,
                    &[
                        Keyword::Box,
                        Keyword::Worker,
                        Keyword::Dock,
                        Keyword::Wall,
                        Keyword::Create,
                        Keyword::Close,
                        Keyword::Plan,
                    ],
                )
            }
        };
        let nnum = width.max(height);
        let mut entries: Vec<(String, TokenKind)> =
            Vec::with_capacity((nnum + ncost) as usize + keywords.len());
        for i in 0..nnum {
            entries.push((i.to_string(), TokenKind::Num(i)));
        }
        for c in 0..ncost {
            entries.push((format!("c{c}"), TokenKind::Cost(c)));
        }
        for &k in keywords {
            entries.push((k.as_str().to_string(), TokenKind::Keyword(k)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tokens = Vec::with_capacity(entries.len() + 2);
        let mut kinds = Vec::with_capacity(entries.len() + 2);
        tokens.push("bos".to_string());
        kinds.push(TokenKind::Bos);
        tokens.push("eos".to_string());
        kinds.push(TokenKind::Eos);
        for (s, k) in entries {
            tokens.push(s);
            kinds.push(k);
        }
        let mut num_ids = vec![ABSENT; nnum as usize];
        let mut cost_ids = vec![ABSENT; ncost as usize];
        let mut keyword_ids = [ABSENT; 9];
        let mut lookup = HashMap::with_capacity(tokens.len());
        for (id, (s, k)) in tokens.iter().zip(&kinds).enumerate() {
            let id = id as u32;
            lookup.insert(s.clone(), id);
            match *k {
                TokenKind::Num(v) => num_ids[v as usize] = id,
                TokenKind::Cost(v) => cost_ids[v as usize] = id,
                TokenKind::Keyword(kw) => keyword_ids[kw.slot()] = id,
                TokenKind::Bos | TokenKind::Eos => {}
            }
        }
        Ok(Vocabulary {
            spec,
            tokens,
            kinds,
            lookup,
            num_ids,
            cost_ids,
            keyword_ids,
        })
    }

    /// What this vocabulary is for.
    pub fn spec(&self) -> VocabularySpec {
        self.spec
    }

    /// The domain.
    pub fn domain(&self) -> Domain {
        self.spec.domain()
    }

    /// Number of tokens (including `bos` and `eos`).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Never true (a vocabulary always holds `bos` and `eos`).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// All token strings, index = id.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// String of an id.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(|s| s.as_str())
    }

    /// Id of a string.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.lookup.get(token).copied()
    }

    /// Class of an id.
    #[inline]
    pub fn kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// Id of a keyword, if this vocabulary has it.
    #[inline]
    pub fn keyword(&self, k: Keyword) -> Option<u32> {
        let id = self.keyword_ids[k.slot()];
        (id != ABSENT).then_some(id)
    }

    /// Id of a keyword known to exist in this domain's vocabulary.
    #[inline]
    pub(crate) fn kw(&self, k: Keyword) -> u32 {
        self.keyword_ids[k.slot()]
    }

    /// Id of the coordinate token `str(v)`.
    #[inline]
    pub fn num(&self, v: u32) -> Result<u32> {
        self.num_ids
            .get(v as usize)
            .copied()
            .ok_or(Error::NotInVocabulary {
                what: "number",
                value: v as u64,
            })
    }

    /// Id of the cost token `c{v}`.
    #[inline]
    pub fn cost(&self, v: u32) -> Result<u32> {
        self.cost_ids
            .get(v as usize)
            .copied()
            .ok_or(Error::NotInVocabulary {
                what: "cost",
                value: v as u64,
            })
    }

    /// Number of coordinate tokens (`max(w, h)`).
    pub fn num_count(&self) -> u32 {
        self.num_ids.len() as u32
    }

    /// Number of cost tokens.
    pub fn cost_count(&self) -> u32 {
        self.cost_ids.len() as u32
    }

    /// `true` if `id` is a cost token.
    #[inline]
    pub fn is_cost(&self, id: u32) -> bool {
        matches!(self.kind(id), Some(TokenKind::Cost(_)))
    }

    /// Strings → ids; unknown strings are an error.
    pub fn encode<S: AsRef<str>>(&self, tokens: &[S]) -> Result<Vec<u32>> {
        tokens
            .iter()
            .map(|t| {
                let t = t.as_ref();
                self.id(t).ok_or_else(|| Error::UnknownToken(t.to_string()))
            })
            .collect()
    }

    /// Ids → strings; unknown ids are an error.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<&str>> {
        ids.iter()
            .map(|&id| {
                self.token(id).ok_or(Error::UnknownTokenId {
                    id,
                    size: self.tokens.len(),
                })
            })
            .collect()
    }

    /// Ids → owned strings.
    pub fn decode_owned(&self, ids: &[u32]) -> Result<Vec<String>> {
        Ok(self.decode(ids)?.into_iter().map(str::to_string).collect())
    }
}
