//! Sequences of one example at one stage (the reference's `get_cot_latent_dataset` and
//! `get_question_latent_dataset`):
//!
//! ```text
//! training, stage k:  question <bot> slot × (k·c) <eot> steps[k..] answer
//! labels:             -100 on the question, both markers and every slot; the tokens else
//! evaluation prompt:  question <bot> slot × (k·c) <eot>
//! ```
//!
//! Past `max_latent_stage` every step is removed and the slots stay at
//! `max_latent_stage·c` (`pad_latent_to_max`) or `min(steps, max_latent_stage)·c`. The
//! slot is `<latent>` (continuous thought) or `<pause>`; methods without markers (CoT,
//! No-CoT, w/o thought, pause token) have no `<bot>`/`<eot>`.

use planform_core::rng::Rng;

use crate::config::{Curriculum, Method, Slot};
use crate::vocab::{CoconutVocab, Example};

/// Label of positions without loss.
pub const IGNORE: i64 = -100;

/// One sequence and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Token ids (slots hold `<latent>` or `<pause>`).
    pub ids: Vec<i64>,
    /// Per position: the id, or [`IGNORE`].
    pub labels: Vec<i64>,
    /// Index of the first slot, when there is one.
    pub first_slot: Option<usize>,
    /// Number of slots.
    pub slots: usize,
    /// Whether the slots are continuous thoughts.
    pub continuous: bool,
}

impl Sequence {
    /// Continuous thoughts in the sequence (0 for pause slots).
    pub fn latents(&self) -> usize {
        if self.continuous {
            self.slots
        } else {
            0
        }
    }
}

/// `(steps skipped, slots)` of an example with `n_steps` steps trained at `stage`.
pub fn stage_plan(cur: &Curriculum, stage: usize, n_steps: usize) -> (usize, usize) {
    let max = cur.max_latent_stage;
    let (skip, thoughts) = if stage > max {
        let t = if cur.pad_latent_to_max {
            max
        } else {
            n_steps.min(max)
        };
        (n_steps, t)
    } else {
        (stage.min(n_steps), stage)
    };
    let (skip, thoughts) = match cur.method {
        Method::Cot => (0, 0),
        Method::NoCot => (n_steps, 0),
        Method::PauseToken => (n_steps, max),
        Method::NoThought => (skip, 0),
        Method::Coconut | Method::NoCurriculum | Method::PauseAsThought => (skip, thoughts),
    };
    (skip, thoughts * cur.c)
}

/// The stage an example is trained at: the scheduled one, or with probability
/// `uniform_prob` a uniform stage in `0..=steps` (one draw of `rng` when `uniform_prob > 0`).
pub fn draw_stage(cur: &Curriculum, scheduled: usize, n_steps: usize, rng: &mut Rng) -> usize {
    if cur.uniform_prob > 0.0 && rng.f64() < cur.uniform_prob {
        rng.below_usize(n_steps + 1)
    } else {
        scheduled
    }
}

fn slot_id(vocab: &CoconutVocab, method: Method) -> (i64, bool) {
    match method.slot() {
        Slot::Continuous => (vocab.latent, true),
        Slot::Pause | Slot::None => (vocab.pause, false),
    }
}

/// `question [<bot>] slot × slots [<eot>]` and the number of prompt positions with
/// labels ignored.
fn prefix(ex: &Example, vocab: &CoconutVocab, method: Method, slots: usize) -> Sequence {
    let (slot, continuous) = slot_id(vocab, method);
    let mut ids = ex.question.clone();
    if method.markers() {
        ids.push(vocab.bot);
    }
    let first_slot = (slots > 0).then_some(ids.len());
    ids.extend(std::iter::repeat_n(slot, slots));
    if method.markers() {
        ids.push(vocab.eot);
    }
    Sequence {
        labels: vec![IGNORE; ids.len()],
        ids,
        first_slot,
        slots,
        continuous,
    }
}

/// The training sequence of `ex` at `stage` (already drawn with [`draw_stage`]).
pub fn train_sequence(
    ex: &Example,
    stage: usize,
    cur: &Curriculum,
    vocab: &CoconutVocab,
) -> Sequence {
    let (skip, slots) = stage_plan(cur, stage, ex.steps.len());
    let mut seq = prefix(ex, vocab, cur.method, slots);
    for t in ex.steps[skip..].iter().flatten().chain(&ex.answer) {
        seq.ids.push(*t);
        seq.labels.push(*t);
    }
    seq
}

/// The evaluation prompt of `ex` at `stage`: `k = min(stage, max_latent_stage)` (or
/// `min(stage, steps, max_latent_stage)` without `pad_latent_to_max`) times `c` slots.
pub fn eval_prompt(ex: &Example, stage: usize, cur: &Curriculum, vocab: &CoconutVocab) -> Sequence {
    let max = if cur.pad_latent_to_max {
        cur.max_latent_stage
    } else {
        cur.max_latent_stage.min(ex.steps.len())
    };
    let thoughts = match cur.method {
        Method::Cot | Method::NoCot | Method::NoThought => 0,
        Method::PauseToken => cur.max_latent_stage,
        Method::Coconut | Method::NoCurriculum | Method::PauseAsThought => stage.min(max),
    };
    prefix(ex, vocab, cur.method, thoughts * cur.c)
}

/// The prompt with exactly `k` slots of `method` (the latent-search analysis forces
/// `k` thoughts; `extra` tokens are appended after `<eot>`).
pub fn forced_prompt(
    ex: &Example,
    method: Method,
    k: usize,
    vocab: &CoconutVocab,
    extra: &[i64],
) -> Sequence {
    let mut seq = prefix(ex, vocab, method, k);
    seq.ids.extend_from_slice(extra);
    seq.labels.extend(std::iter::repeat_n(IGNORE, extra.len()));
    seq
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(method: Method) -> Curriculum {
        Curriculum {
            method,
            c: 2,
            max_latent_stage: 2,
            epochs_per_stage: 1,
            epochs: 4,
            pad_latent_to_max: true,
            uniform_prob: 0.0,
        }
    }

    fn example() -> Example {
        Example {
            question: vec![0, 20, 21],
            steps: vec![vec![30, 31], vec![32], vec![33, 34]],
            answer: vec![8, 40, 1],
        }
    }

    #[test]
    fn labels_mask_question_markers_and_slots() {
        let v = CoconutVocab::prosqa();
        let (l, b, e) = (v.latent, v.bot, v.eot);
        let s = train_sequence(&example(), 1, &cur(Method::Coconut), &v);
        assert_eq!(s.ids, vec![0, 20, 21, b, l, l, e, 32, 33, 34, 8, 40, 1]);
        let m = IGNORE;
        assert_eq!(s.labels, vec![m, m, m, m, m, m, m, 32, 33, 34, 8, 40, 1]);
        assert_eq!((s.first_slot, s.latents()), (Some(4), 2));
        // Past the last latent stage: every step gone, max_latent_stage·c thoughts.
        let s = train_sequence(&example(), 5, &cur(Method::Coconut), &v);
        assert_eq!(s.ids, vec![0, 20, 21, b, l, l, l, l, e, 8, 40, 1]);
        assert_eq!(s.labels.iter().filter(|&&x| x != IGNORE).count(), 3);
        // Without padding a one-step example keeps one thought's worth.
        let mut c = cur(Method::Coconut);
        c.pad_latent_to_max = false;
        let short = Example {
            steps: vec![vec![30]],
            ..example()
        };
        assert_eq!(train_sequence(&short, 5, &c, &v).slots, 2);
        // Stage 0 is CoT with empty markers.
        let s = train_sequence(&example(), 0, &cur(Method::Coconut), &v);
        assert_eq!(s.ids[3..5], [b, e]);
        assert_eq!(s.first_slot, None);
    }

    #[test]
    fn every_method_lays_out_its_sequence() {
        let v = CoconutVocab::prosqa();
        let (p, b, e) = (v.pause, v.bot, v.eot);
        let ex = example();
        let ids = |m: Method, stage: usize| train_sequence(&ex, stage, &cur(m), &v).ids;
        assert_eq!(
            ids(Method::Cot, 0),
            vec![0, 20, 21, 30, 31, 32, 33, 34, 8, 40, 1]
        );
        assert_eq!(ids(Method::NoCot, 0), vec![0, 20, 21, 8, 40, 1]);
        assert_eq!(
            ids(Method::NoThought, 1),
            vec![0, 20, 21, 32, 33, 34, 8, 40, 1]
        );
        assert_eq!(
            ids(Method::PauseAsThought, 1),
            vec![0, 20, 21, b, p, p, e, 32, 33, 34, 8, 40, 1]
        );
        assert_eq!(
            ids(Method::PauseToken, 0),
            vec![0, 20, 21, p, p, p, p, 8, 40, 1]
        );
        let pa = train_sequence(&ex, 1, &cur(Method::PauseAsThought), &v);
        assert_eq!((pa.slots, pa.latents()), (2, 0));
        // Evaluation prompts end where the answer (or the steps) would begin.
        let c = cur(Method::Coconut);
        assert_eq!(
            eval_prompt(&ex, 9, &c, &v).ids,
            vec![0, 20, 21, b, v.latent, v.latent, v.latent, v.latent, e]
        );
        assert_eq!(
            eval_prompt(&ex, 0, &cur(Method::NoCot), &v).ids,
            vec![0, 20, 21]
        );
        assert_eq!(
            eval_prompt(&ex, 0, &cur(Method::PauseToken), &v).ids,
            vec![0, 20, 21, p, p, p, p]
        );
        let f = forced_prompt(&ex, Method::Coconut, 3, &v, &[9]);
        assert_eq!(
            f.ids,
            vec![0, 20, 21, b, v.latent, v.latent, v.latent, e, 9]
        );
    }

    #[test]
    fn uniform_prob_draws_stages() {
        let mut c = cur(Method::Coconut);
        assert_eq!(draw_stage(&c, 1, 3, &mut Rng::new(0)), 1);
        c.uniform_prob = 1.0;
        let mut rng = Rng::new(0);
        let stages: Vec<usize> = (0..200).map(|_| draw_stage(&c, 1, 3, &mut rng)).collect();
        assert!((0..=3).all(|s| stages.contains(&s)) && stages.iter().all(|&s| s <= 3));
    }
}
