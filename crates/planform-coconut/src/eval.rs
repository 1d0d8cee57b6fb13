//! Accuracy and generated tokens.
//!
//! ProsQA: the answer is what follows the last `###` up to `<eos>` (the reference takes
//! the text after the last `#`); it is correct when it equals the record's answer.
//! Generated tokens are counted as the paper's Table 1 does: continuous thoughts plus
//! generated language tokens (`<eos>` not counted; pause tokens are part of the prompt and
//! not counted). Mazes: the plan is scored with planform's maze evaluation (correct:
//! reaches the goal legally; optimal: also of optimal length).

use planform_model::DecoderOnly;
use planform_trace::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::data::{Item, Meta};
use crate::decode::{decode, Decoded};
use crate::error::Result;
use crate::layout::Sequence;
use crate::maze::score_maze;
use crate::vocab::{CoconutVocab, VocabKind};

/// One scored question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Correct answer (ProsQA) / correct plan (maze).
    pub correct: bool,
    /// Optimal plan (maze; equals `correct` for ProsQA).
    pub optimal: bool,
    /// Language tokens generated (without `<eos>`).
    pub language_tokens: usize,
    /// Continuous thoughts.
    pub thoughts: usize,
    /// The generated text (ProsQA) or tokens (maze).
    pub output: String,
}

/// Means over a set of questions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Questions.
    pub questions: usize,
    /// Fraction answered correctly (maze: correct plans).
    pub accuracy: f64,
    /// Fraction of optimal plans (maze; ProsQA: the accuracy).
    pub optimal: f64,
    /// Mean language tokens generated.
    pub language_tokens: f64,
    /// Mean continuous thoughts.
    pub thoughts: f64,
    /// Mean generated tokens as the paper counts them (thoughts + language tokens).
    pub tokens: f64,
}

impl EvalSummary {
    /// Means of `scored`.
    pub fn of(scored: &[Scored]) -> Self {
        let n = scored.len().max(1) as f64;
        let mean = |f: &dyn Fn(&Scored) -> f64| scored.iter().map(f).sum::<f64>() / n;
        EvalSummary {
            questions: scored.len(),
            accuracy: mean(&|s| f64::from(u8::from(s.correct))),
            optimal: mean(&|s| f64::from(u8::from(s.optimal))),
            language_tokens: mean(&|s| s.language_tokens as f64),
            thoughts: mean(&|s| s.thoughts as f64),
            tokens: mean(&|s| (s.language_tokens + s.thoughts) as f64),
        }
    }
}

/// The tokens after the last `###` (the whole output when there is none).
pub fn answer_part(tokens: &[i64], marker: Option<i64>) -> &[i64] {
    match marker.and_then(|m| tokens.iter().rposition(|&t| t == m)) {
        Some(i) => &tokens[i + 1..],
        None => tokens,
    }
}

/// Scores one decoded output against its item.
pub fn score(vocab: &CoconutVocab, item: &Item, d: &Decoded) -> Result<Scored> {
    let (correct, optimal, output) = match &item.meta {
        Meta::Prosqa(_) => {
            let ex = &item.example;
            // The answer without its marker and `<eos>`.
            let want = &ex.answer[1..ex.answer.len() - 1];
            let has_marker = vocab.answer.is_some_and(|m| d.tokens.contains(&m));
            let ok = has_marker && answer_part(&d.tokens, vocab.answer) == want;
            (ok, ok, vocab.decode_text(&d.tokens))
        }
        Meta::Maze(m) => {
            let VocabKind::Maze { width, height } = vocab.kind() else {
                return Err(crate::error::CoconutError::Data(
                    "a maze item needs the maze vocabulary".into(),
                ));
            };
            let base = Vocabulary::maze(width, height)?;
            let lang: Vec<i64> = d
                .tokens
                .iter()
                .copied()
                .filter(|&t| !vocab.is_marker(t))
                .collect();
            let s = score_maze(m, &base, &lang, d.ended);
            let text: Vec<&str> = d.tokens.iter().map(|&t| vocab.token(t)).collect();
            (s.correct, s.optimal, text.join(" "))
        }
    };
    Ok(Scored {
        correct,
        optimal,
        language_tokens: d.tokens.len(),
        thoughts: d.thoughts,
        output,
    })
}

/// Decodes `prompts` (one per item, batched) and scores every answer.
pub fn evaluate(
    model: &DecoderOnly,
    vocab: &CoconutVocab,
    items: &[Item],
    prompts: &[Sequence],
    max_new_tokens: usize,
    batch_size: usize,
) -> Result<(EvalSummary, Vec<Scored>)> {
    let decoded = decode(model, vocab, prompts, max_new_tokens, batch_size)?;
    let scored = items
        .iter()
        .zip(&decoded)
        .map(|(it, d)| score(vocab, it, d))
        .collect::<Result<Vec<_>>>()?;
    Ok((EvalSummary::of(&scored), scored))
}
