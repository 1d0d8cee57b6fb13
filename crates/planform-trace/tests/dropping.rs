//! Dualformer trace dropping on token ids.

use planform_trace::astar::SearchMode;
use planform_trace::dropping::{apply_level, clauses, DropLevel, DroppingConfig, Level3, Resample};
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::sokoban_gen::{SokobanGenConfig, SokobanGenerator};
use planform_trace::tokens::{TokenSequence, TraceVariant};
use planform_trace::vocab::{Keyword, Vocabulary};

fn maze_sample() -> (Vocabulary, TokenSequence) {
    let vocab = Vocabulary::maze(10, 10).unwrap();
    let mut gen =
        MazeGenerator::new(MazeGenConfig::reference(10, 10, SearchMode::Deterministic)).unwrap();
    let mut i = 0;
    loop {
        let layout = gen.generate_layout(&vocab, &mut Rng::new(i)).unwrap();
        if let Some(s) = layout
            .tasks
            .into_iter()
            .max_by_key(|s| s.tokens.reasoning.len())
        {
            return (vocab, s.tokens);
        }
        i += 1;
    }
}

fn sokoban_sample() -> (Vocabulary, TokenSequence) {
    let mut gen = SokobanGenerator::new(SokobanGenConfig::default()).unwrap();
    let s = gen.generate(&mut Rng::new(2)).unwrap();
    (gen.vocabulary().clone(), s.tokens)
}

fn count(vocab: &Vocabulary, r: &[u32], k: Keyword) -> usize {
    r.iter().filter(|&&t| Some(t) == vocab.keyword(k)).count()
}

#[test]
fn levels_on_maze_and_sokoban() {
    for (vocab, seq) in [maze_sample(), sokoban_sample()] {
        let r = &seq.reasoning;
        let n_create = count(&vocab, r, Keyword::Create);
        let mut rng = Rng::new(1);
        let full = apply_level(DropLevel::Full, Level3::ReferenceCode, r, &vocab, &mut rng);
        assert_eq!(&full, r);
        let l1 = apply_level(
            DropLevel::NoClose,
            Level3::ReferenceCode,
            r,
            &vocab,
            &mut rng,
        );
        assert_eq!(count(&vocab, &l1, Keyword::Close), 0);
        assert_eq!(count(&vocab, &l1, Keyword::Create), n_create);
        // level 1 = the create clauses verbatim
        let creates: Vec<u32> = clauses(r, &vocab)
            .filter(|c| Some(c[0]) == vocab.keyword(Keyword::Create))
            .flatten()
            .copied()
            .collect();
        assert_eq!(l1, creates);
        let l2 = apply_level(
            DropLevel::NoCost,
            Level3::ReferenceCode,
            r,
            &vocab,
            &mut rng,
        );
        assert!(l2.iter().all(|&t| !vocab.is_cost(t)));
        assert_eq!(count(&vocab, &l2, Keyword::Create), n_create);
        assert_eq!(l2.len(), l1.len() - 2 * n_create);
        let l4 = apply_level(
            DropLevel::NoTrace,
            Level3::ReferenceCode,
            r,
            &vocab,
            &mut rng,
        );
        assert!(l4.is_empty());
    }
}

#[test]
fn level3_maze_reference_code_keeps_costs_and_drops_10_to_40_percent() {
    let (vocab, seq) = maze_sample();
    let n = count(&vocab, &seq.reasoning, Keyword::Create);
    assert!(n >= 20);
    let mut rng = Rng::new(9);
    for _ in 0..200 {
        let l3 = apply_level(
            DropLevel::NoCreate,
            Level3::ReferenceCode,
            &seq.reasoning,
            &vocab,
            &mut rng,
        );
        assert_eq!(l3.len() % 5, 0, "5-token create clauses with costs");
        assert!(l3.iter().any(|&t| vocab.is_cost(t)));
        let kept = l3.len() / 5;
        let dropped = n - kept;
        assert!(
            dropped >= n * 10 / 100 && dropped <= n * 40 / 100,
            "{dropped} of {n}"
        );
        // kept clauses appear in their original order
        let l1 = apply_level(
            DropLevel::NoClose,
            Level3::ReferenceCode,
            &seq.reasoning,
            &vocab,
            &mut rng,
        );
        let mut it = l1.chunks(5);
        for c in l3.chunks(5) {
            assert!(it.any(|d| d == c));
        }
    }
}

#[test]
fn level3_paper_and_sokoban_drop_about_30_percent_without_costs() {
    for (vocab, seq, level3) in [
        {
            let (v, s) = maze_sample();
            (
                v,
                s,
                Level3::Paper {
                    drop_probability: 0.3,
                },
            )
        },
        {
            let (v, s) = sokoban_sample();
            (v, s, Level3::ReferenceCode)
        },
    ] {
        let n = count(&vocab, &seq.reasoning, Keyword::Create);
        let mut rng = Rng::new(4);
        let (mut kept, trials) = (0usize, 300);
        for _ in 0..trials {
            let l3 = apply_level(
                DropLevel::NoCreate,
                level3,
                &seq.reasoning,
                &vocab,
                &mut rng,
            );
            assert!(l3.iter().all(|&t| !vocab.is_cost(t)));
            kept += count(&vocab, &l3, Keyword::Create);
        }
        let ratio = kept as f64 / (n * trials) as f64;
        assert!((ratio - 0.7).abs() < 0.03, "kept ratio {ratio}");
    }
}

#[test]
fn level_distribution_matches_probabilities() {
    let p = [0.1, 0.2, 0.3, 0.25, 0.15];
    let cfg = DroppingConfig::new(p, Level3::ReferenceCode, Resample::EveryEpoch).unwrap();
    let mut rng = Rng::new(77);
    let mut counts = [0usize; 5];
    let n = 100_000;
    for _ in 0..n {
        counts[cfg.draw_level(&mut rng) as usize] += 1;
    }
    for i in 0..5 {
        let f = counts[i] as f64 / n as f64;
        let sd = (p[i] * (1.0 - p[i]) / n as f64).sqrt();
        assert!((f - p[i]).abs() < 5.0 * sd, "level {i}: {f} vs {}", p[i]);
    }
}

#[test]
fn config_validation_and_seeding() {
    assert!(DroppingConfig::new(
        [0.5, 0.5, 0.1, 0.0, 0.0],
        Level3::ReferenceCode,
        Resample::EveryEpoch
    )
    .is_err());
    assert!(DroppingConfig::new(
        [1.2, -0.2, 0.0, 0.0, 0.0],
        Level3::ReferenceCode,
        Resample::EveryEpoch
    )
    .is_err());
    assert!(DroppingConfig::new(
        [f64::NAN, 1.0, 0.0, 0.0, 0.0],
        Level3::ReferenceCode,
        Resample::EveryEpoch
    )
    .is_err());
    assert!(DroppingConfig::new(
        [0.0, 0.0, 0.0, 1.0, 0.0],
        Level3::Paper {
            drop_probability: 1.5
        },
        Resample::EveryEpoch
    )
    .is_err());
    let every = DroppingConfig::new([0.2; 5], Level3::ReferenceCode, Resample::EveryEpoch).unwrap();
    let fixed = DroppingConfig {
        resample: Resample::FixedPerExample,
        ..every.clone()
    };
    assert_eq!(fixed.rng_for(1, 2, 0), fixed.rng_for(1, 2, 5));
    assert_ne!(every.rng_for(1, 2, 0), every.rng_for(1, 2, 5));
    assert_ne!(every.rng_for(1, 2, 0), every.rng_for(1, 3, 0));
    // Dualformer decoder targets: plan untouched, level reported
    let (vocab, seq) = maze_sample();
    let variant = TraceVariant::Dualformer(every.clone());
    let mut seen = [false; 5];
    for epoch in 0..50 {
        let mut rng = every.rng_for(3, 0, epoch);
        let t = seq.decoder_target(&variant, &vocab, &mut rng).unwrap();
        let level = t.level.unwrap();
        seen[level as usize] = true;
        assert_eq!(
            &t.tokens[t.plan_start..t.tokens.len() - 1],
            seq.plan.as_slice()
        );
        let mut again = every.rng_for(3, 0, epoch);
        assert_eq!(seq.decoder_target(&variant, &vocab, &mut again).unwrap(), t);
    }
    assert!(
        seen.iter().all(|&s| s),
        "all levels drawn over 50 epochs: {seen:?}"
    );
}
