//! A stop request (what SIGINT/SIGTERM become) ends the loop after the current step with a
//! checkpoint of that step, and the resumed run ends as an uninterrupted one does. Its own
//! test binary: the request is process-wide.

use std::ops::ControlFlow;
use std::path::Path;

use planform_model::{EncoderDecoderConfig, StackConfig};
use planform_train::config::ModelSpec;
use planform_train::metrics::{read_records, METRICS_FILE};
use planform_train::summary::RunReport;
use planform_train::testutil::maze_examples;
use planform_train::{
    interrupt, DeviceChoice, Progress, StartMode, TrainConfig, TrainData, Trainer,
};

fn config(out: &Path, data: &TrainData) -> TrainConfig {
    let stack = StackConfig {
        dim: 32,
        layers: 1,
        heads: 2,
    };
    let mut m = EncoderDecoderConfig::from_size(planform_model::ModelSize::Tiny, data.vocab.len());
    m.encoder = stack;
    m.decoder = stack;
    m.ffn_multiple_of = 32;
    let mut c = TrainConfig::new("unused", out, ModelSpec::Custom(m));
    c.device = DeviceChoice::Cpu;
    c.threads = Some(1);
    c.seed = 9;
    c.batch.sequences = 4;
    c.optim.lr = 3e-3;
    c.optim.warmup_steps = 2;
    c.optim.total_steps = 8;
    c.log.log_every = 3;
    c.log.eval_every = 4;
    c.log.checkpoint_every = 100;
    c
}

fn records(dir: &Path) -> Vec<String> {
    read_records(&dir.join(METRICS_FILE))
        .unwrap()
        .into_iter()
        .map(|(r, _)| {
            let mut v = serde_json::to_value(&r).unwrap();
            let o = v.as_object_mut().unwrap();
            for k in ["tokens_per_sec", "elapsed_secs", "secs"] {
                o.remove(k);
            }
            v.to_string()
        })
        .collect()
}

#[test]
fn a_stop_request_checkpoints_the_step_reached_and_the_resume_matches() {
    let (vocab, train, test) = maze_examples(4, 20, 6, 11).unwrap();
    let data = TrainData::from_examples(vocab, train, test, &Default::default());
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let go = |_: &Progress| ControlFlow::Continue(());

    // No training loop runs: a signal is not taken (the process would end).
    assert!(!interrupt::on_signal(15));
    assert_eq!(interrupt::requested(), None);

    Trainer::new(config(&whole, &data), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut &go)
        .unwrap();

    // SIGTERM arrives during step 5 (the loop is running: taken; a second one is not).
    let s = Trainer::new(config(&cut, &data), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut |p: &Progress| {
            if p.step == 5 {
                assert!(interrupt::on_signal(15));
                assert!(
                    !interrupt::on_signal(15),
                    "a second signal ends the process"
                );
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!((s.step, s.completed, s.interrupted), (5, false, Some(15)));
    assert_eq!(
        s.last_checkpoint.as_deref(),
        Some(cut.join("checkpoints/step-000005").as_path())
    );
    let report = RunReport::read(&cut).unwrap();
    assert_eq!(report.interrupted_by.as_deref(), Some("SIGTERM"));
    assert_eq!((report.steps, report.completed), (5, false));

    // Still requested: another loop stops at once, checkpointing nothing new.
    let s = Trainer::new(config(&cut, &data), data.clone(), StartMode::Resume)
        .unwrap()
        .run(&mut &go)
        .unwrap();
    assert_eq!(
        (s.step, s.interrupted, s.last_checkpoint),
        (5, Some(15), None)
    );

    interrupt::clear();
    let s = Trainer::new(config(&cut, &data), data, StartMode::Resume)
        .unwrap()
        .run(&mut &go)
        .unwrap();
    assert!(s.completed && s.interrupted.is_none());
    assert_eq!(records(&cut), records(&whole));
}
