//! Token sequences and the model-facing sequence variants.
//!
//! A [`TokenSequence`] holds the three parts of a tokenized task without
//! `bos`/`eos`: the prompt, the reasoning (A* execution trace) and the plan.
//! Model sequences (reference `DictTokenizer.tokenize`):
//!
//! * encoder input: `bos prompt eos`;
//! * decoder target, search-augmented: `bos reasoning plan eos`;
//! * decoder target, solution-only: `bos plan eos`;
//! * Dualformer: the reasoning is first reduced by a randomly drawn
//!   trace-dropping level (see [`crate::dropping`]).

use serde::{Deserialize, Serialize};

use crate::dropping::{DropLevel, DroppingConfig};
use crate::error::Result;
use crate::rng::Rng;
use crate::vocab::{Vocabulary, BOS, EOS};

/// Prompt, reasoning and plan token ids (no `bos`/`eos`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenSequence {
    /// Task description.
    pub prompt: Vec<u32>,
    /// A* execution trace (`create`/`close` clauses).
    pub reasoning: Vec<u32>,
    /// `plan` clauses from start to goal.
    pub plan: Vec<u32>,
}

/// The same three parts as token strings (the golden-file / CLI form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StringSequence {
    /// Task description.
    pub prompt: Vec<String>,
    /// A* execution trace.
    pub reasoning: Vec<String>,
    /// Plan.
    pub plan: Vec<String>,
}

/// Which decoder target a model is trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TraceVariant {
    /// `bos plan eos`.
    SolutionOnly,
    /// `bos reasoning plan eos`.
    SearchAugmented,
    /// `bos dropped(reasoning) plan eos` with a per-example random level.
    Dualformer(DroppingConfig),
}

/// A decoder target with the position where the plan starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderTarget {
    /// `bos [reasoning] plan eos`.
    pub tokens: Vec<u32>,
    /// Index of the first plan token in `tokens` (`1 + reasoning length`).
    pub plan_start: usize,
    /// The drawn Dualformer level (`None` for the other variants).
    pub level: Option<DropLevel>,
}

impl TokenSequence {
    /// `bos prompt eos`.
    pub fn encoder_input(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.prompt.len() + 2);
        v.push(BOS);
        v.extend_from_slice(&self.prompt);
        v.push(EOS);
        v
    }

    /// `bos reasoning plan eos`.
    pub fn search_augmented_target(&self) -> Vec<u32> {
        with_reasoning(&self.reasoning, &self.plan)
    }

    /// `bos plan eos`.
    pub fn solution_only_target(&self) -> Vec<u32> {
        with_reasoning(&[], &self.plan)
    }

    /// The decoder target for `variant`. `rng` is only used by
    /// [`TraceVariant::Dualformer`]; build it with
    /// [`DroppingConfig::rng_for`] to control per-epoch re-randomisation.
    pub fn decoder_target(
        &self,
        variant: &TraceVariant,
        vocab: &Vocabulary,
        rng: &mut Rng,
    ) -> Result<DecoderTarget> {
        Ok(match variant {
            TraceVariant::SolutionOnly => DecoderTarget {
                tokens: self.solution_only_target(),
                plan_start: 1,
                level: None,
            },
            TraceVariant::SearchAugmented => DecoderTarget {
                tokens: self.search_augmented_target(),
                plan_start: 1 + self.reasoning.len(),
                level: None,
            },
            TraceVariant::Dualformer(cfg) => {
                let (level, reasoning) = cfg.apply(&self.reasoning, vocab, rng)?;
                DecoderTarget {
                    tokens: with_reasoning(&reasoning, &self.plan),
                    plan_start: 1 + reasoning.len(),
                    level: Some(level),
                }
            }
        })
    }

    /// Converts to strings.
    pub fn to_strings(&self, vocab: &Vocabulary) -> Result<StringSequence> {
        Ok(StringSequence {
            prompt: vocab.decode_owned(&self.prompt)?,
            reasoning: vocab.decode_owned(&self.reasoning)?,
            plan: vocab.decode_owned(&self.plan)?,
        })
    }

    /// Converts from strings (unknown strings are an error).
    pub fn from_strings(s: &StringSequence, vocab: &Vocabulary) -> Result<Self> {
        Ok(TokenSequence {
            prompt: vocab.encode(&s.prompt)?,
            reasoning: vocab.encode(&s.reasoning)?,
            plan: vocab.encode(&s.plan)?,
        })
    }

    /// Total number of tokens in the three parts.
    pub fn len(&self) -> usize {
        self.prompt.len() + self.reasoning.len() + self.plan.len()
    }

    /// `true` if all parts are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn with_reasoning(reasoning: &[u32], plan: &[u32]) -> Vec<u32> {
    let mut v = Vec::with_capacity(reasoning.len() + plan.len() + 2);
    v.push(BOS);
    v.extend_from_slice(reasoning);
    v.extend_from_slice(plan);
    v.push(EOS);
    v
}
