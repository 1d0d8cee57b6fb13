//! Vocabularies, sequence variants and the full round trip
//! tokens → strings → ids → parsed plan → validation.

use planform_trace::astar::SearchMode;
use planform_trace::eval::{evaluate_response, evaluate_response_strings};
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::sokoban_gen::{SokobanGenConfig, SokobanGenerator};
use planform_trace::task::Task;
use planform_trace::tokens::{TokenSequence, TraceVariant};
use planform_trace::vocab::{Keyword, TokenKind, Vocabulary, BOS, EOS, PAD};

#[test]
fn vocabulary_sizes() {
    assert_eq!(Vocabulary::maze(10, 10).unwrap().len(), 118);
    assert_eq!(Vocabulary::maze(20, 20).unwrap().len(), 428);
    assert_eq!(Vocabulary::maze(30, 30).unwrap().len(), 938);
    assert_eq!(Vocabulary::sokoban(7, 7, 40_000).unwrap().len(), 40_016);
    // other sizes: max(w,h) numbers + w*h costs + 6 keywords + bos/eos
    assert_eq!(Vocabulary::maze(15, 7).unwrap().len(), 15 + 105 + 8);
    assert_eq!(Vocabulary::sokoban(9, 8, 500).unwrap().len(), 9 + 500 + 9);
    assert!(Vocabulary::maze(0, 10).is_err());
    assert!(Vocabulary::maze(101, 10).is_err());
    assert!(Vocabulary::sokoban(7, 7, 0).is_err());
}

/// The 10×10 id layout stated in searchformer.md §2.3.
#[test]
fn maze_10_ids() {
    let v = Vocabulary::maze(10, 10).unwrap();
    assert_eq!((BOS, EOS, PAD), (0, 1, 0));
    assert_eq!(v.token(0), Some("bos"));
    assert_eq!(v.token(1), Some("eos"));
    for d in 0..10 {
        assert_eq!(v.num(d).unwrap(), 2 + d);
    }
    assert_eq!(v.id("c0"), Some(12));
    assert_eq!(v.id("c1"), Some(13));
    assert_eq!(v.id("c10"), Some(14));
    assert_eq!(v.id("c99"), Some(111));
    assert_eq!(v.id("close"), Some(112));
    assert_eq!(v.id("create"), Some(113));
    assert_eq!(v.id("goal"), Some(114));
    assert_eq!(v.id("plan"), Some(115));
    assert_eq!(v.id("start"), Some(116));
    assert_eq!(v.id("wall"), Some(117));
    assert_eq!(v.keyword(Keyword::Plan), Some(115));
    assert_eq!(v.keyword(Keyword::Worker), None);
    assert_eq!(v.kind(14), Some(TokenKind::Cost(10)));
    // strings sorted after the two specials
    let toks = v.tokens();
    assert!(toks[2..].windows(2).all(|w| w[0] < w[1]));
    assert!(v.decode(&[118]).is_err());
    assert!(v.encode(&["c100"]).is_err());
}

#[test]
fn sokoban_ids_are_sorted() {
    let v = Vocabulary::sokoban(7, 7, 40_000).unwrap();
    let toks = v.tokens();
    assert!(toks[2..].windows(2).all(|w| w[0] < w[1]));
    assert_eq!(v.id("0"), Some(2));
    assert_eq!(v.id("6"), Some(8));
    assert_eq!(v.id("box"), Some(9));
    assert_eq!(v.id("c0"), Some(10));
    assert_eq!(v.token(v.cost(39_999).unwrap()), Some("c39999"));
    assert!(v.cost(40_000).is_err());
    assert_eq!(v.id("worker"), Some(40_015));
}

fn round_trip(task: &Task, vocab: &Vocabulary, seq: &TokenSequence, optimal: usize) {
    let strings = seq.to_strings(vocab).unwrap();
    let back = TokenSequence::from_strings(&strings, vocab).unwrap();
    assert_eq!(&back, seq);
    assert_eq!(task.prompt(vocab).unwrap(), seq.prompt);
    let mut rng = Rng::new(0);
    for variant in [TraceVariant::SearchAugmented, TraceVariant::SolutionOnly] {
        let target = back.decoder_target(&variant, vocab, &mut rng).unwrap();
        let expected_trace = if variant == TraceVariant::SolutionOnly {
            0
        } else {
            seq.reasoning.len()
        };
        assert_eq!(target.plan_start, 1 + expected_trace);
        let ev = evaluate_response(task, vocab, &target.tokens, optimal);
        assert!(
            ev.correct && ev.optimal && ev.has_eos && ev.syntax_correct,
            "{ev:?}"
        );
        assert_eq!(ev.trace_tokens, expected_trace);
        assert_eq!(ev.plan_length, optimal);
        let strs = vocab.decode(&target.tokens).unwrap();
        let ev2 = evaluate_response_strings(task, vocab, &strs, optimal);
        assert_eq!(ev, ev2);
        // a response one step longer than optimal is not optimal
        let ev3 = evaluate_response(task, vocab, &target.tokens, optimal - 1);
        assert!(ev3.correct && !ev3.optimal);
    }
    let enc = seq.encoder_input();
    assert_eq!(enc[0], BOS);
    assert_eq!(*enc.last().unwrap(), EOS);
    assert_eq!(&enc[1..enc.len() - 1], seq.prompt.as_slice());
}

#[test]
fn round_trip_maze_and_sokoban() {
    for (size, mode) in [
        (10, SearchMode::Deterministic),
        (20, SearchMode::Nondeterministic),
        (30, SearchMode::Deterministic),
    ] {
        let vocab = Vocabulary::maze(size, size).unwrap();
        let mut gen = MazeGenerator::new(MazeGenConfig::reference(size, size, mode)).unwrap();
        let layout = gen
            .generate_layout(&vocab, &mut Rng::new(size as u64))
            .unwrap();
        for s in layout.tasks.iter().take(5) {
            let task = Task::Maze(s.task.clone());
            round_trip(&task, &vocab, &s.tokens, s.optimal_plan_len);
            // JSON line round trip through the Task enum
            let line = task.to_json_line(Some(&s.tokens.to_strings(&vocab).unwrap()));
            assert_eq!(Task::from_json(&line).unwrap(), task);
        }
    }
    let mut gen = SokobanGenerator::new(SokobanGenConfig::default()).unwrap();
    let vocab = gen.vocabulary().clone();
    for i in 0..3 {
        let s = gen.generate(&mut Rng::stream(5, i)).unwrap();
        let task = Task::Sokoban(s.level.clone());
        round_trip(&task, &vocab, &s.tokens, s.optimal_plan_len);
        let line = task.to_json_line(None);
        assert_eq!(Task::from_json(&line).unwrap(), task);
        assert!(line.starts_with("{\"width\": 7, \"height\": 7, \"worker\": ["));
    }
}
