//! Vocabularies and examples: a question, reasoning steps and an answer as token ids.
//!
//! ProsQA uses a word-level vocabulary (71 tokens): the markers, `\n` (written `<nl>`),
//! `###`, the statement words and the public name inventory. A record becomes (as the
//! reference's `get_dataset`, with words for GPT-2 pieces):
//!
//! ```text
//! question: <bos> Every wumpus is a yumpus . ... Is Tom a A or B ? <nl>
//! steps:    Tom is a wumpus . <nl>   (one per step)
//! answer:   ### Tom is a yumpus . <eos>
//! ```
//!
//! Mazes use planform's maze vocabulary (bos = pad = 0, eos = 1) with the four markers
//! appended; see [`crate::maze`].

use std::collections::HashMap;

use planform_trace::prosqa::{ProsqaRecord, CONCEPT_NAMES, PERSON_NAMES};
use planform_trace::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::error::{CoconutError, Result};

/// Begin of the latent segment (`<|start-latent|>` in the reference).
pub const BOT: &str = "<bot>";
/// End of the latent segment.
pub const EOT: &str = "<eot>";
/// A continuous-thought slot.
pub const LATENT: &str = "<latent>";
/// A pause token (pause-as-thought and the pause baseline).
pub const PAUSE: &str = "<pause>";
/// The newline that ends the question and each step.
pub const NL: &str = "<nl>";
/// The answer marker.
pub const ANSWER: &str = "###";

/// Which vocabulary (stored in checkpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VocabKind {
    /// The ProsQA word vocabulary.
    Prosqa,
    /// planform's maze vocabulary of a size, plus the markers.
    Maze {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// A vocabulary with the Coconut markers.
#[derive(Debug, Clone)]
pub struct CoconutVocab {
    kind: VocabKind,
    tokens: Vec<String>,
    lookup: HashMap<String, i64>,
    /// `<bos>`.
    pub bos: i64,
    /// `<eos>`.
    pub eos: i64,
    /// Padding.
    pub pad: i64,
    /// `<bot>`.
    pub bot: i64,
    /// `<eot>`.
    pub eot: i64,
    /// `<latent>`.
    pub latent: i64,
    /// `<pause>`.
    pub pause: i64,
    /// `###` (ProsQA only).
    pub answer: Option<i64>,
    /// `<nl>` (ProsQA only).
    pub nl: Option<i64>,
}

/// Question, steps and answer of one example, as ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// `<bos>` and the question (ProsQA: ending in `<nl>`).
    pub question: Vec<i64>,
    /// Reasoning steps (ProsQA: each ending in `<nl>`).
    pub steps: Vec<Vec<i64>>,
    /// The answer with its marker and `<eos>`.
    pub answer: Vec<i64>,
}

impl CoconutVocab {
    /// Builds a vocabulary of `kind`.
    pub fn new(kind: VocabKind) -> Result<Self> {
        let tokens: Vec<String> = match kind {
            VocabKind::Prosqa => {
                let fixed = [
                    "<bos>", "<eos>", "<pad>", BOT, EOT, LATENT, PAUSE, NL, ANSWER, "Every", "is",
                    "a", "Is", "or", ".", "?",
                ];
                fixed
                    .iter()
                    .chain(PERSON_NAMES.iter())
                    .chain(CONCEPT_NAMES.iter())
                    .map(|s| s.to_string())
                    .collect()
            }
            VocabKind::Maze { width, height } => {
                let v = Vocabulary::maze(width, height)?;
                let mut t = v.tokens().to_vec();
                t.extend([BOT, EOT, LATENT, PAUSE].map(String::from));
                t
            }
        };
        let lookup: HashMap<String, i64> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as i64))
            .collect();
        let id = |t: &str| lookup.get(t).copied();
        let need =
            |t: &str| id(t).ok_or_else(|| CoconutError::Config(format!("vocabulary lacks {t:?}")));
        let (bos, eos, pad) = match kind {
            VocabKind::Prosqa => (need("<bos>")?, need("<eos>")?, need("<pad>")?),
            VocabKind::Maze { .. } => (0, 1, 0),
        };
        Ok(CoconutVocab {
            kind,
            bos,
            eos,
            pad,
            bot: need(BOT)?,
            eot: need(EOT)?,
            latent: need(LATENT)?,
            pause: need(PAUSE)?,
            answer: id(ANSWER),
            nl: id(NL),
            tokens,
            lookup,
        })
    }

    /// The ProsQA word vocabulary.
    pub fn prosqa() -> Self {
        // The fixed word list always holds every marker.
        Self::new(VocabKind::Prosqa).unwrap_or_else(|e| unreachable!("{e}"))
    }

    /// What the vocabulary is.
    pub fn kind(&self) -> VocabKind {
        self.kind
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Never true.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Token strings in id order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Id of a token string.
    pub fn id(&self, token: &str) -> Option<i64> {
        self.lookup.get(token).copied()
    }

    /// String of an id (`"?"`-like placeholder `<unk>` for ids outside the vocabulary).
    pub fn token(&self, id: i64) -> &str {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.tokens.get(i))
            .map_or("<unk>", String::as_str)
    }

    /// Whether `id` is one of the markers (`<bot>`, `<eot>`, `<latent>`, `<pause>`).
    pub fn is_marker(&self, id: i64) -> bool {
        [self.bot, self.eot, self.latent, self.pause].contains(&id)
    }

    /// Ids of the words of `text` (ProsQA: `.` and `?` are words of their own).
    pub fn encode_text(&self, text: &str) -> Result<Vec<i64>> {
        words(text)
            .map(|w| {
                self.id(w).ok_or_else(|| {
                    CoconutError::Data(format!("word {w:?} is not in the ProsQA vocabulary"))
                })
            })
            .collect()
    }

    /// Ids back to text (`.`/`?` attached to the previous word, `<nl>` as a newline).
    pub fn decode_text(&self, ids: &[i64]) -> String {
        let mut out = String::new();
        for &id in ids {
            let t = self.token(id);
            match t {
                "." | "?" => out.push_str(t),
                NL => out.push('\n'),
                _ => {
                    if !(out.is_empty() || out.ends_with('\n')) {
                        out.push(' ');
                    }
                    out.push_str(t);
                }
            }
        }
        out
    }

    /// A ProsQA record as an example (the reference's `get_dataset` layout).
    pub fn prosqa_example(&self, r: &ProsqaRecord) -> Result<Example> {
        let (Some(nl), Some(answer)) = (self.nl, self.answer) else {
            return Err(CoconutError::Config(
                "ProsQA records need the ProsQA vocabulary".into(),
            ));
        };
        let mut question = vec![self.bos];
        question.extend(self.encode_text(&r.question)?);
        question.push(nl);
        let steps = r
            .steps
            .iter()
            .map(|s| {
                let mut ids = self.encode_text(s)?;
                ids.push(nl);
                Ok(ids)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ans = vec![answer];
        ans.extend(self.encode_text(&r.answer)?);
        ans.push(self.eos);
        Ok(Example {
            question,
            steps,
            answer: ans,
        })
    }
}

/// Splits text into words, `.` and `?` separated from the word they end.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace().flat_map(|w| {
        let (head, tail) = match w.strip_suffix(['.', '?']) {
            Some(h) if !h.is_empty() => (h, &w[h.len()..]),
            _ => (w, ""),
        };
        [head, tail].into_iter().filter(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prosqa_records_tokenize_and_decode() {
        let v = CoconutVocab::prosqa();
        assert_eq!(v.len(), 16 + 17 + 38);
        let ids = v.encode_text("Every wumpus is a yumpus. Is Tom a A or B?");
        assert!(ids.unwrap_err().to_string().contains("\"A\""));
        let ids = v
            .encode_text("Every wumpus is a yumpus. Is Tom a lempus or impus?")
            .unwrap();
        assert_eq!(ids.len(), 13); // 11 words, "." and "?"
        assert_eq!(
            v.decode_text(&ids),
            "Every wumpus is a yumpus. Is Tom a lempus or impus?"
        );
        assert_eq!(
            words("a b. c?").collect::<Vec<_>>(),
            ["a", "b", ".", "c", "?"]
        );
    }

    #[test]
    fn maze_vocabulary_appends_the_markers() {
        let v = CoconutVocab::new(VocabKind::Maze {
            width: 5,
            height: 5,
        })
        .unwrap();
        let base = Vocabulary::maze(5, 5).unwrap();
        assert_eq!(v.len(), base.len() + 4);
        assert_eq!((v.bos, v.eos, v.pad), (0, 1, 0));
        assert_eq!(v.token(v.latent), LATENT);
        assert!(v.answer.is_none());
    }
}
