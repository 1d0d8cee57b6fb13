//! Shared fixtures: a small 5×5 maze dataset and a base run trained on it (built once per
//! test binary), plus a small bootstrap config.
#![allow(dead_code)]

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use planform_bootstrap::{BootstrapConfig, Warmup};
use planform_data::{Dataset, Domain, GenerateConfig};
use planform_eval::MaxLen;
use planform_model::{EncoderDecoderConfig, ModelSize, StackConfig};
use planform_train::{DeviceChoice, ModelSpec, StartMode, TrainConfig};

/// Steps of the base run.
pub const BASE_STEPS: u64 = 300;

/// Serialises the tests that train (libtorch's global seed and thread count).
pub fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `size × size` maze dataset of `n` tasks (a fifth in test).
pub fn maze_dataset(dir: &Path, size: u32, n: u64, seed: u64) -> Dataset {
    let mut cfg = GenerateConfig::new(Domain::maze(size, size), n);
    cfg.test_fraction = 0.2;
    cfg.seed = seed;
    planform_data::generate(&cfg, dir, 1, |_, _| {}).expect("generate dataset");
    Dataset::open(dir).expect("open dataset")
}

fn small_model(vocab: usize) -> EncoderDecoderConfig {
    let stack = StackConfig {
        dim: 48,
        layers: 1,
        heads: 2,
    };
    let mut m = EncoderDecoderConfig::from_size(ModelSize::Tiny, vocab);
    m.encoder = stack;
    m.decoder = stack;
    m.ffn_multiple_of = 32;
    m
}

/// `(dataset dir, base run dir)`: generated and trained once per test binary, in a
/// directory that lives until the process ends.
pub fn fixture() -> &'static (PathBuf, PathBuf) {
    static FIXTURE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let _guard = lock();
        tch::set_num_threads(1);
        let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir")
            .keep();
        let data = root.join("data");
        let run = root.join("base");
        let ds = maze_dataset(&data, 5, 300, 11);
        let vocab = ds.vocabulary().len();
        let mut c = TrainConfig::new(&data, &run, ModelSpec::Custom(small_model(vocab)));
        c.device = DeviceChoice::Cpu;
        c.threads = Some(1);
        c.seed = 5;
        c.batch.sequences = 16;
        c.optim.lr = 3e-3;
        c.optim.warmup_steps = 20;
        c.optim.total_steps = BASE_STEPS;
        c.log.eval_at_start = false;
        c.log.eval_every = BASE_STEPS;
        c.log.checkpoint_every = BASE_STEPS;
        c.data.eval_examples = 8;
        planform_train::train(c, StartMode::Fresh, &mut |_| ControlFlow::Continue(()))
            .expect("train base model");
        (data, run)
    })
}

/// A 2-iteration bootstrap on the fixture: 24 prompts in chunks of 10, k = 4, 6 fine-tune
/// steps (checkpoint every 2), 6 test tasks × 2 samples, one thread on the CPU.
pub fn small_config(out: &Path) -> BootstrapConfig {
    let (data, base) = fixture();
    let mut c = BootstrapConfig::new(base, data, out);
    c.iterations = 2;
    c.seed = 9;
    c.device = DeviceChoice::Cpu;
    c.threads = Some(1);
    c.sample.samples = 4;
    c.sample.train_prompts = Some(24);
    c.sample.chunk_prompts = 10;
    c.sample.batch_rows = 16;
    c.sample.max_len = MaxLen::Auto;
    c.finetune.steps = 6;
    c.finetune.warmup = Warmup::Reference;
    c.finetune.batch = 4;
    c.finetune.set = vec![
        "log.checkpoint_every=2".into(),
        "log.eval_every=3".into(),
        "log.log_every=2".into(),
        "data.eval_examples=4".into(),
    ];
    c.eval.tasks = 6;
    c.eval.samples = 2;
    c.eval.batch_rows = 16;
    c.eval.tstar_runs = 2;
    c
}
