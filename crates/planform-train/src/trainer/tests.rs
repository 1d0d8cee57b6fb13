//! Training-loop tests on tiny real maze data: exact resume, checkpoint errors, loading.

use std::ops::ControlFlow;
use std::path::Path;

use planform_model::EncoderDecoderConfig;

use super::*;
use crate::checkpoint::{MODEL_FILE, STATE_FILE};
use crate::config::{DeviceChoice, Level3Choice, ModelSpec, ResampleChoice, TraceConfig};
use crate::loss::next_token_loss;
use crate::metrics::{read_records, METRICS_FILE};
use crate::testutil::{tiny_data, tiny_encoder_decoder};
use planform_model::checkpoint::load_model as load_model_from_checkpoint;
use planform_model::{tensor_io, EncoderDecoder, Family, ModelInput};

fn tiny_model(vocab: usize) -> EncoderDecoderConfig {
    tiny_encoder_decoder(vocab)
}

fn data() -> TrainData {
    tiny_data()
}

fn config(out: &Path, data: &TrainData) -> TrainConfig {
    let mut c = TrainConfig::new(
        "unused",
        out,
        ModelSpec::Custom(tiny_model(data.vocab.len())),
    );
    c.device = DeviceChoice::Cpu;
    // One intra-op thread: tests run in parallel on a shared 2-core machine.
    c.threads = Some(1);
    c.seed = 5;
    c.trace = TraceConfig::Dualformer {
        probabilities: [0.4, 0.15, 0.15, 0.15, 0.15],
        level3: Level3Choice::ReferenceCode,
        level3_drop_probability: 0.3,
        resample: Some(ResampleChoice::EveryEpoch),
    };
    c.batch.sequences = 4;
    c.batch.accumulation = 2;
    c.optim.lr = 3e-3;
    c.optim.warmup_steps = 2;
    c.optim.total_steps = 7;
    c.log.log_every = 1;
    c.log.eval_every = 3;
    c.log.checkpoint_every = 2;
    c.log.keep_checkpoints = Some(2);
    c
}

fn no_progress(_: &Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Everything of a record except timings.
fn comparable(dir: &Path) -> Vec<String> {
    read_records(&dir.join(METRICS_FILE))
        .unwrap()
        .into_iter()
        .map(|(r, _)| match r {
            MetricsRecord::Train(mut t) => {
                t.tokens_per_sec = 0.0;
                t.elapsed_secs = 0.0;
                serde_json::to_string(&MetricsRecord::Train(t)).unwrap()
            }
            MetricsRecord::Eval(mut e) => {
                e.secs = 0.0;
                e.elapsed_secs = 0.0;
                serde_json::to_string(&MetricsRecord::Eval(e)).unwrap()
            }
        })
        .collect()
}

fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let m = load_model_from_checkpoint(dir, tch::Device::Cpu).unwrap();
    let mut v: Vec<(String, Vec<f32>)> =
        m.vs.variables()
            .into_iter()
            .map(|(n, t)| (n, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()))
            .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn killed_and_resumed_run_equals_uninterrupted_run_bit_for_bit() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));

    let summary = Trainer::new(config(&a, &data), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    assert!(summary.completed);
    assert_eq!(summary.step, 7);

    // "Kill" after step 5: the newest checkpoint is step 4; steps 5's records get dropped.
    let mut stop_at_5 = |p: &Progress| {
        if p.step == 5 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let s = Trainer::new(config(&b, &data), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut stop_at_5)
        .unwrap();
    assert!(!s.completed);
    assert_eq!(s.step, 5);
    let stored = crate::checkpoint::config_of_run(&b).unwrap();
    assert_eq!(stored, config(&b, &data));
    let mut resumed = Trainer::new(stored, data.clone(), StartMode::Resume).unwrap();
    assert_eq!(resumed.step(), 4);
    let s = resumed.run(&mut no_progress).unwrap();
    assert!(s.completed);

    let (ra, rb) = (comparable(&a), comparable(&b));
    // 7 train records + evals at 0, 3, 6, 7.
    assert_eq!(ra.len(), 11, "{ra:#?}");
    assert_eq!(ra, rb);
    assert_eq!(weights(&a), weights(&b));
    // 20 examples in batches of 4 over 14 micro-batches: the run crossed two epochs.
    assert!(s.last_train.as_ref().unwrap().epoch >= 2);
    // keep_checkpoints = 2
    let kept = crate::checkpoint::list_checkpoints(&b.join("checkpoints")).unwrap();
    assert_eq!(kept, vec![6, 7]);
}

#[test]
fn loss_goes_down_on_tiny_data() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), &data);
    c.trace = TraceConfig::SearchAugmented;
    c.batch.accumulation = 1;
    c.optim.total_steps = 40;
    c.optim.warmup_steps = 4;
    c.optim.lr = 1e-2;
    c.log.checkpoint_every = 100;
    c.log.eval_every = 100;
    let s = Trainer::new(c, data, StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    let recs = read_records(&tmp.path().join(METRICS_FILE)).unwrap();
    let train: Vec<f64> = recs
        .iter()
        .filter_map(|(r, _)| {
            if let MetricsRecord::Train(t) = r {
                Some(t.metrics.loss)
            } else {
                None
            }
        })
        .collect();
    let first = train[..5].iter().sum::<f64>() / 5.0;
    let last = train[train.len() - 5..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.7 * first, "{first} -> {last}");
    let eval = s.last_eval.unwrap();
    assert!(
        eval.metrics.loss < 0.8 * first && eval.sequences == 6,
        "{eval:?}"
    );
}

#[test]
fn start_modes_are_enforced() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), &data);
    c.optim.total_steps = 2;
    c.optim.warmup_steps = 1;
    let e = Trainer::new(c.clone(), data.clone(), StartMode::Resume)
        .err()
        .unwrap();
    assert!(matches!(e, TrainError::NoCheckpoint(_)), "{e}");
    Trainer::new(c.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    let e = Trainer::new(c.clone(), data.clone(), StartMode::Fresh)
        .err()
        .unwrap();
    assert!(matches!(e, TrainError::RunExists(_)), "{e}");
    // Auto resumes; the run is already complete.
    let s = Trainer::new(c.clone(), data.clone(), StartMode::Auto)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    assert!(s.completed && s.step == 2);
    // A changed learning rate changes the trajectory: refused.
    c.optim.lr *= 2.0;
    let e = Trainer::new(c, data, StartMode::Resume)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("optim.lr: 0.003 → 0.006"), "{e}");
}

fn finished_run(dir: &Path) -> (TrainConfig, TrainData) {
    let data = data();
    let mut c = config(dir, &data);
    c.optim.total_steps = 2;
    c.optim.warmup_steps = 1;
    c.log.keep_checkpoints = None;
    Trainer::new(c.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    (c, data)
}

fn assert_checkpoint_err(r: Result<impl Sized>, needle: &str) {
    match r {
        Err(TrainError::Checkpoint { reason, path }) => {
            assert!(reason.contains(needle), "{}: {reason}", path.display())
        }
        Err(e) => panic!("expected a checkpoint error containing {needle:?}, got {e}"),
        Ok(_) => panic!("expected a checkpoint error containing {needle:?}"),
    }
}

#[test]
fn damaged_checkpoints_give_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, data) = finished_run(tmp.path());
    let ck = tmp.path().join("checkpoints").join("step-000002");
    let resume = || Trainer::new(cfg.clone(), data.clone(), StartMode::Resume);
    let load =
        || load_model_from_checkpoint(tmp.path(), tch::Device::Cpu).map_err(TrainError::from);
    assert!(load().is_ok());

    // Garbage JSON.
    let state_text = std::fs::read_to_string(ck.join(STATE_FILE)).unwrap();
    std::fs::write(ck.join(STATE_FILE), "{ not json").unwrap();
    assert_checkpoint_err(load(), "not valid JSON");
    assert_checkpoint_err(resume(), "not valid JSON");
    std::fs::write(ck.join(STATE_FILE), &state_text).unwrap();

    // Truncated weights.
    let model_bytes = std::fs::read(ck.join(MODEL_FILE)).unwrap();
    std::fs::write(ck.join(MODEL_FILE), &model_bytes[..model_bytes.len() / 2]).unwrap();
    assert_checkpoint_err(load(), "truncated");
    // Same size, flipped byte.
    let mut flipped = model_bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    std::fs::write(ck.join(MODEL_FILE), &flipped).unwrap();
    assert_checkpoint_err(load(), "corrupt");
    std::fs::write(ck.join(MODEL_FILE), &model_bytes).unwrap();

    // A state.json whose model config disagrees with the weights: the config recorded in
    // model.safetensors names the difference (without it, the shapes would).
    let mut state: serde_json::Value = serde_json::from_str(&state_text).unwrap();
    state["model"]["decoder"]["dim"] = serde_json::json!(64);
    std::fs::write(ck.join(STATE_FILE), serde_json::to_string(&state).unwrap()).unwrap();
    assert_checkpoint_err(load(), "decoder.dim: 32 → 64");
    assert_checkpoint_err(resume(), "the model differs from the checkpoint's");
    assert_checkpoint_err(resume(), "decoder.dim: 64 → 32");
    // Unsupported version.
    let mut state: serde_json::Value = serde_json::from_str(&state_text).unwrap();
    state["version"] = serde_json::json!(99);
    std::fs::write(ck.join(STATE_FILE), serde_json::to_string(&state).unwrap()).unwrap();
    assert_checkpoint_err(load(), "version");
    std::fs::write(ck.join(STATE_FILE), &state_text).unwrap();

    // Missing tensor: rewrite the weights without one variable (and fix the digest).
    let loaded = tensor_io::load_tensors(&ck.join(MODEL_FILE), tch::Device::Cpu).unwrap();
    let dropped = loaded.tensors.keys().next().unwrap().clone();
    let host: Vec<(String, tensor_io::HostTensor)> = loaded
        .tensors
        .iter()
        .filter(|(n, _)| **n != dropped)
        .map(|(n, t)| (n.clone(), tensor_io::HostTensor::from_tensor(n, t).unwrap()))
        .collect();
    tensor_io::save_tensors(&ck.join(MODEL_FILE), &host, Default::default()).unwrap();
    let mut state: TrainState = serde_json::from_str(&state_text).unwrap();
    state.files.insert(
        MODEL_FILE.into(),
        crate::checkpoint::tests_digest(&ck.join(MODEL_FILE)),
    );
    std::fs::write(ck.join(STATE_FILE), serde_json::to_string(&state).unwrap()).unwrap();
    assert_checkpoint_err(load(), &format!("missing key {dropped}"));
    std::fs::write(ck.join(MODEL_FILE), &model_bytes).unwrap();
    std::fs::write(ck.join(STATE_FILE), &state_text).unwrap();

    // Missing optimizer file.
    let opt = ck.join(crate::checkpoint::OPTIMIZER_FILE);
    let opt_bytes = std::fs::read(&opt).unwrap();
    std::fs::remove_file(&opt).unwrap();
    assert_checkpoint_err(resume(), "missing");
    std::fs::write(&opt, &opt_bytes).unwrap();

    // A broken pointer.
    let latest = tmp.path().join("checkpoints").join("latest");
    std::fs::write(&latest, "../../etc").unwrap();
    assert_checkpoint_err(load(), "pointer");
    std::fs::write(&latest, "step-000009\n").unwrap();
    assert_checkpoint_err(load(), "without state.json");
    std::fs::write(&latest, "step-000002\n").unwrap();
    assert!(resume().is_ok());
}

#[test]
fn loaded_model_reproduces_trainer_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data();
    let mut c = config(tmp.path(), &data);
    c.optim.total_steps = 3;
    c.optim.warmup_steps = 1;
    let mut t = Trainer::new(c, data.clone(), StartMode::Fresh).unwrap();
    t.run(&mut no_progress).unwrap();
    let loaded = load_model_from_checkpoint(tmp.path(), tch::Device::Cpu).unwrap();
    assert_eq!(loaded.step, 3);
    assert_eq!(&loaded.config, t.model_config());
    assert_eq!(
        loaded.vocab.vocabulary().unwrap().tokens(),
        data.vocab.tokens()
    );
    let seqs: Vec<Prepared> = data
        .test
        .iter()
        .map(|r| Prepared {
            enc: r.tokens.encoder_input(),
            dec: r.tokens.search_augmented_target(),
            plan_start: 1 + r.tokens.reasoning.len(),
        })
        .collect();
    let batch = Batch::collate(&seqs, Family::EncoderDecoder, tch::Device::Cpu).unwrap();
    let _g = tch::no_grad_guard();
    let a = t.model().forward(&batch.input).unwrap();
    let b = loaded.model.forward(&batch.input).unwrap();
    assert!(a.equal(&b));
}

#[test]
fn accumulated_gradients_equal_one_large_batch() {
    let data = data();
    let vs = VarStore::new(tch::Device::Cpu);
    let model = planform_model::seeded(0, || {
        EncoderDecoder::new(&vs.root(), &tiny_model(data.vocab.len()))
    })
    .unwrap();
    let seqs: Vec<Prepared> = data.train[..8]
        .iter()
        .map(|r| Prepared {
            enc: r.tokens.encoder_input(),
            dec: r.tokens.search_augmented_target(),
            plan_start: 1 + r.tokens.reasoning.len(),
        })
        .collect();
    let grads = |parts: &[&[Prepared]]| -> Vec<Tensor> {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, v) in &mut vars {
            v.zero_grad();
        }
        for p in parts {
            let b = Batch::collate(p, Family::EncoderDecoder, tch::Device::Cpu).unwrap();
            let ModelInput::EncoderDecoder {
                enc_ids,
                enc_mask,
                dec_in,
            } = &b.input
            else {
                unreachable!()
            };
            let logits = model.forward(enc_ids, enc_mask, dec_in).unwrap();
            next_token_loss(&logits, &b, 1.0 / 8.0)
                .unwrap()
                .loss
                .backward();
        }
        vars.iter().map(|(_, v)| v.grad().copy()).collect()
    };
    let whole = grads(&[&seqs[..]]);
    let split = grads(&[&seqs[..3], &seqs[3..]]);
    for (a, b) in whole.iter().zip(&split) {
        let diff = (a - b).abs().max().double_value(&[]);
        let scale = a.abs().max().double_value(&[]).max(1e-12);
        assert!(diff <= 1e-5 * scale, "{diff} vs {scale}");
    }
}

#[test]
fn trains_from_a_dataset_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("maze-5");
    let mut gen = planform_data::GenerateConfig::new(planform_data::Domain::maze(5, 5), 60);
    gen.seed = 3;
    planform_data::generate(&gen, &ds, 1, |_, _| {}).unwrap();
    let probe = TrainData::load(&ds, &Default::default()).unwrap();
    let mut c = config(&tmp.path().join("run"), &probe);
    c.data_dir = ds.clone();
    c.data.train_examples = Some(16);
    c.data.eval_examples = 3;
    c.model = ModelSpec::Custom(tiny_model(probe.vocab.len()));
    c.optim.total_steps = 2;
    c.optim.warmup_steps = 1;
    let mut seen = Vec::new();
    let s = train(c.clone(), StartMode::Fresh, &mut |p: &Progress| {
        seen.push((p.step, p.logged, p.checkpointed));
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(seen, vec![(1, true, false), (2, true, true)]);
    assert!(s.completed && s.last_eval.unwrap().sequences == 3);
    // Run dir layout.
    let run = tmp.path().join("run");
    assert!(run.join("config.toml").is_file());
    assert_eq!(
        std::fs::read_to_string(run.join("checkpoints/latest")).unwrap(),
        "step-000002\n"
    );
    for f in [MODEL_FILE, STATE_FILE, crate::checkpoint::OPTIMIZER_FILE] {
        assert!(run.join("checkpoints/step-000002").join(f).is_file(), "{f}");
    }
    let again = TrainConfig::from_file(&run.join("config.toml")).unwrap();
    assert_eq!(again, c);
    // A dataset directory that does not exist.
    let mut bad = c;
    bad.data_dir = tmp.path().join("nope");
    bad.out_dir = tmp.path().join("run2");
    let e = train(bad, StartMode::Fresh, &mut no_progress)
        .err()
        .unwrap();
    assert!(matches!(e, TrainError::Data(_)), "{e}");
}

#[test]
fn init_from_starts_a_fine_tune_from_another_run() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut ca = config(&a, &data);
    ca.optim.total_steps = 3;
    ca.optim.warmup_steps = 1;
    let sa = Trainer::new(ca.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    let mut cb = config(&b, &data);
    cb.optim.total_steps = 2;
    cb.optim.warmup_steps = 1;
    cb.init_from = Some(crate::config::InitFrom {
        checkpoint: a.clone(),
        optimizer: true,
    });
    Trainer::new(cb.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    // B's evaluation at step 0 sees A's final weights.
    let evals: Vec<EvalRecord> = read_records(&b.join(METRICS_FILE))
        .unwrap()
        .into_iter()
        .filter_map(|(r, _)| {
            if let MetricsRecord::Eval(e) = r {
                Some(e)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(evals[0].step, 0);
    assert_eq!(evals[0].metrics, sa.last_eval.unwrap().metrics);
    // Per-parameter AdamW step counts continue (3 + 2); the run's step counter restarted.
    let opt = tensor_io::load_tensors(
        &b.join("checkpoints/step-000002")
            .join(crate::checkpoint::OPTIMIZER_FILE),
        tch::Device::Cpu,
    )
    .unwrap();
    assert_eq!(opt.metadata["steps"], "2");
    let (name, step) = opt
        .tensors
        .iter()
        .find(|(n, _)| n.ends_with(".step"))
        .unwrap();
    assert_eq!(step.int64_value(&[]), 5, "{name}");
    // A different model is refused.
    let mut cc = config(&tmp.path().join("c"), &data);
    let mut m = tiny_model(data.vocab.len());
    m.decoder.layers = 2;
    cc.model = ModelSpec::Custom(m);
    cc.init_from = Some(crate::config::InitFrom {
        checkpoint: a,
        optimizer: false,
    });
    let e = Trainer::new(cc, data, StartMode::Fresh)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("init_from: the model differs from this run's")
            && e.contains("decoder.layers: 1 → 2"),
        "{e}"
    );
}

#[test]
fn a_plateau_stops_the_run_and_resume_keeps_it_stopped() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), &data);
    c.trace = TraceConfig::SearchAugmented;
    c.optim.total_steps = 60;
    c.optim.lr = 1e-6; // practically no learning: the loss cannot improve by 5%
    c.log.eval_every = 2;
    c.log.checkpoint_every = 100;
    c.stop.plateau = Some(crate::config::Plateau {
        patience: 3,
        min_delta: 0.05,
    });
    let s = Trainer::new(c.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    // Evals at 2 (best), 4, 6, 8 (three without improvement): stop at step 8.
    assert_eq!(s.stopped_on_plateau, Some(8), "{s:?}");
    assert!(s.completed && s.step == 8);
    let state =
        crate::checkpoint::read_state(&planform_model::resolve_checkpoint(tmp.path()).unwrap())
            .unwrap();
    assert!(state.finished() && state.step == 8);
    // Resuming a stopped run trains nothing more.
    let s2 = Trainer::new(c, data, StartMode::Resume)
        .unwrap()
        .run(&mut no_progress)
        .unwrap();
    assert_eq!(
        (s2.step, s2.completed, s2.stopped_on_plateau),
        (8, true, Some(8))
    );
}
