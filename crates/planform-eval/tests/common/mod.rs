//! Shared fixtures: tiny generated maze datasets and a tiny trained checkpoint.
#![allow(dead_code)]

use std::ops::ControlFlow;
use std::path::Path;

use planform_data::{Dataset, Domain, Example, GenerateConfig, Split, TStarConfig};
use planform_model::{DecoderPreset, DecoderSpec, EncoderDecoderConfig, ModelSize, StackConfig};
use planform_trace::vocab::{BOS, EOS};
use planform_train::{DeviceChoice, ModelSpec, StartMode, TrainConfig};

/// A `size × size` maze dataset of `n` tasks (a quarter in test), t* from `tstar` runs.
pub fn maze_dataset(dir: &Path, size: u32, n: u64, tstar: Option<u32>, seed: u64) -> Dataset {
    let mut cfg = GenerateConfig::new(Domain::maze(size, size), n);
    cfg.test_fraction = 0.25;
    cfg.seed = seed;
    cfg.tstar = tstar.map(|runs| TStarConfig { runs });
    planform_data::generate(&cfg, dir, 1, |_, _| {}).expect("generate dataset");
    Dataset::open(dir).expect("open dataset")
}

/// The test split in id order.
pub fn test_rows(ds: &Dataset) -> Vec<Example> {
    let mut rows = ds.read_split(Split::Test).expect("read test split");
    rows.sort_by_key(|e| e.id);
    rows
}

/// The A* decoder target `bos reasoning plan eos`.
pub fn oracle(e: &Example) -> Vec<u32> {
    let mut v = vec![BOS];
    v.extend_from_slice(&e.reasoning);
    v.extend_from_slice(&e.plan);
    v.push(EOS);
    v
}

/// The solution-only target `bos plan eos`.
pub fn oracle_fast(e: &Example) -> Vec<u32> {
    let mut v = vec![BOS];
    v.extend_from_slice(&e.plan);
    v.push(EOS);
    v
}

fn tiny_model(vocab: usize) -> EncoderDecoderConfig {
    let stack = StackConfig {
        dim: 32,
        layers: 1,
        heads: 2,
    };
    let mut m = EncoderDecoderConfig::from_size(ModelSize::Tiny, vocab);
    m.encoder = stack;
    m.decoder = stack;
    m.ffn_multiple_of = 32;
    m
}

/// Trains a tiny encoder–decoder for two steps on `data` (CPU) and writes its checkpoint
/// to `run`.
pub fn tiny_checkpoint(data: &Dataset, run: &Path) {
    let vocab = data.vocabulary().len();
    tiny_run(data, run, ModelSpec::Custom(tiny_model(vocab)));
}

/// The same with a tiny decoder-only model.
pub fn tiny_decoder_checkpoint(data: &Dataset, run: &Path) {
    let spec = DecoderSpec {
        dim: Some(32),
        layers: Some(2),
        ..DecoderSpec::preset(DecoderPreset::Tiny)
    };
    tiny_run(data, run, ModelSpec::DecoderOnly(spec));
}

fn tiny_run(data: &Dataset, run: &Path, model: ModelSpec) {
    let mut c = TrainConfig::new(data.dir(), run, model);
    c.device = DeviceChoice::Cpu;
    c.seed = 3;
    c.batch.sequences = 4;
    c.optim.warmup_steps = 1;
    c.optim.total_steps = 2;
    c.log.eval_at_start = false;
    c.data.eval_examples = 4;
    planform_train::train(c, StartMode::Fresh, &mut |_| ControlFlow::Continue(()))
        .expect("train tiny model");
}
