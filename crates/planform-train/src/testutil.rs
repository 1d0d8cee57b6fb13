//! Small real datasets for tests and benchmarks: maze tasks from planform-trace's generator.

use planform_data::Example;
use planform_trace::astar::SearchMode;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::vocab::Vocabulary;

use crate::error::{Result, TrainError};

/// `n_train` + `n_test` maze tasks of a `size × size` grid (reference generator rules,
/// deterministic A*), with ids `0..`; test tasks come from layouts after the training ones.
pub fn maze_examples(
    size: u32,
    n_train: usize,
    n_test: usize,
    seed: u64,
) -> Result<(Vocabulary, Vec<Example>, Vec<Example>)> {
    let err = |e: planform_trace::error::Error| TrainError::Data(e.to_string());
    let vocab = Vocabulary::maze(size, size).map_err(err)?;
    let mut gen = MazeGenerator::new(MazeGenConfig::reference(
        size,
        size,
        SearchMode::Deterministic,
    ))
    .map_err(err)?;
    let mut train: Vec<Example> = Vec::new();
    let mut test: Vec<Example> = Vec::new();
    let mut layout = 0u64;
    while train.len() < n_train || test.len() < n_test {
        let mut rng = Rng::stream(seed, layout);
        let tasks = gen.generate_layout(&vocab, &mut rng).map_err(err)?.tasks;
        // A layout's tasks all go to one split, as in the reference.
        let (dst, want) = if train.len() < n_train {
            (&mut train, n_train)
        } else {
            (&mut test, n_test)
        };
        for t in tasks.into_iter().take(want - dst.len()) {
            dst.push(Example {
                id: 0,
                layout,
                task: String::new(),
                reasoning_length: t.tokens.reasoning.len() as u32,
                prompt: t.tokens.prompt,
                reasoning: t.tokens.reasoning,
                plan: t.tokens.plan,
                plan_length: t.optimal_plan_len as u32,
                astar_mean_reasoning: None,
            });
        }
        layout += 1;
        if layout > 1_000_000 {
            return Err(TrainError::Data(
                "maze generator produced too few tasks".into(),
            ));
        }
    }
    for (i, e) in train.iter_mut().chain(test.iter_mut()).enumerate() {
        e.id = i as u64;
    }
    Ok((vocab, train, test))
}

/// The smallest encoder–decoder the tests train: one block of width 32 and 2 heads on each
/// side (the `tiny` size otherwise), for a vocabulary of `vocab` tokens.
pub fn tiny_encoder_decoder(vocab: usize) -> planform_model::EncoderDecoderConfig {
    let stack = planform_model::StackConfig {
        dim: 32,
        layers: 1,
        heads: 2,
    };
    let mut m =
        planform_model::EncoderDecoderConfig::from_size(planform_model::ModelSize::Tiny, vocab);
    m.encoder = stack;
    m.decoder = stack;
    m.ffn_multiple_of = 32;
    m
}

/// The tests' small 4×4 maze training data (20 training and 6 held-out tasks, seed 11).
pub fn tiny_data() -> crate::TrainData {
    let (vocab, train, test) = maze_examples(4, 20, 6, 11).expect("tiny maze data");
    crate::TrainData::from_examples(vocab, train, test, &Default::default())
}
