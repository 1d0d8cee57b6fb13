//! The promises of a run directory, each checked against an independent expectation:
//! one writer, nothing written into what is not a run, no garbage from non-finite weights,
//! a resume only onto the same data, model and settings (a run can be extended), a data
//! cursor that fits the epoch plan, TensorBoard events and `summary.json` that agree with
//! `metrics.jsonl`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use planform_model::EncoderDecoderConfig;
use planform_train::checkpoint::{read_state, FileDigest, MODEL_FILE, STATE_FILE};
use planform_train::config::ModelSpec;
use planform_train::metrics::{read_records, MetricsRecord, METRICS_FILE};
use planform_train::summary::RunReport;
use planform_train::tensorboard::{read_events, EVENTS_FILE, TB_DIR};
use planform_train::testutil::{tiny_data, tiny_encoder_decoder};
use planform_train::{
    load_model, DeviceChoice, Progress, StartMode, TrainConfig, TrainData, TrainError, Trainer,
};
use serde_json::Value;

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
    c.threads = Some(1);
    c.seed = 5;
    c.batch.sequences = 4;
    c.optim.lr = 3e-3;
    c.optim.warmup_steps = 2;
    c.optim.total_steps = 6;
    c.log.log_every = 2;
    c.log.eval_every = 3;
    c.log.checkpoint_every = 3;
    c.log.keep_checkpoints = None;
    c
}

fn go(_: &Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = if p.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_second_trainer_on_a_run_directory_is_refused_while_the_first_lives() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let first = Trainer::new(config(&out, &data), data.clone(), StartMode::Auto).unwrap();
    // From another thread, as a second writer would come.
    let (c, d) = (config(&out, &data), data.clone());
    let e = std::thread::spawn(move || Trainer::new(c, d, StartMode::Auto).err())
        .join()
        .unwrap()
        .expect("refused");
    assert!(matches!(e, TrainError::Busy(_)), "{e}");
    let msg = e.to_string();
    let want = format!(
        "run directory {} is in use by pid {}",
        out.display(),
        std::process::id()
    );
    assert!(msg.starts_with(&want), "{msg}");
    drop(first);
    let mut again = Trainer::new(config(&out, &data), data, StartMode::Auto).unwrap();
    assert!(again.run(&mut go).unwrap().completed);
}

#[test]
fn output_paths_that_are_not_runs_are_refused_and_left_untouched() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    // A dataset directory.
    let ds = tmp.path().join("maze-5");
    let mut gen = planform_data::GenerateConfig::new(planform_data::Domain::maze(5, 5), 20);
    gen.seed = 1;
    planform_data::generate(&gen, &ds, 1, |_, _| {}).unwrap();
    // A directory with an unrelated file, and a file.
    let other = tmp.path().join("papers");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("draft.tex"), "\\section{}").unwrap();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    for (path, needle) in [
        (&ds, "it is a dataset"),
        (&other, "draft.tex"),
        (&file, "it is a file"),
    ] {
        let before = if path.is_dir() {
            listing(path)
        } else {
            vec![(String::new(), std::fs::read(path).unwrap())]
        };
        let e = Trainer::new(config(path, &data), data.clone(), StartMode::Auto)
            .err()
            .expect("refused");
        assert!(matches!(e, TrainError::NotARunDir { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
        let after = if path.is_dir() {
            listing(path)
        } else {
            vec![(String::new(), std::fs::read(path).unwrap())]
        };
        assert_eq!(before, after, "{} was modified", path.display());
    }
}

/// Rewrites `model.safetensors` of a checkpoint with `edit` applied to its tensors (and
/// the header metadata), and records the new digest in `state.json`, as a consistent but
/// wrong checkpoint would be.
fn rewrite_weights(
    ck: &Path,
    edit: impl FnOnce(&mut BTreeMap<String, tch::Tensor>, &mut BTreeMap<String, String>),
) {
    let path = ck.join(MODEL_FILE);
    let mut loaded = planform_model::tensor_io::load_tensors(&path, tch::Device::Cpu).unwrap();
    edit(&mut loaded.tensors, &mut loaded.metadata);
    let host: Vec<(String, planform_model::tensor_io::HostTensor)> = loaded
        .tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                planform_model::tensor_io::HostTensor::from_tensor(n, t).unwrap(),
            )
        })
        .collect();
    planform_model::tensor_io::save_tensors(&path, &host, loaded.metadata).unwrap();
    edit_state(ck, |s| {
        s["files"][MODEL_FILE] = serde_json::to_value(FileDigest::of(&path).unwrap()).unwrap();
    });
}

fn edit_state(ck: &Path, edit: impl FnOnce(&mut Value)) {
    let p = ck.join(STATE_FILE);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn finished_run(dir: &Path, data: &TrainData) -> PathBuf {
    let s = Trainer::new(config(dir, data), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut go)
        .unwrap();
    assert!(s.completed);
    dir.join("checkpoints/step-000006")
}

#[test]
fn non_finite_weights_are_refused_on_load_naming_the_tensor() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let ck = finished_run(&run, &data);
    let mut victim = String::new();
    rewrite_weights(&ck, |t, _| {
        let (name, w) = t
            .iter_mut()
            .find(|(n, _)| n.starts_with("decoder.") && n.ends_with(".weight"))
            .expect("a decoder weight");
        victim = name.clone();
        *w = w.copy().fill_(f64::NAN);
    });
    let e = load_model(&run, tch::Device::Cpu).err().expect("refused");
    let msg = e.to_string();
    assert!(msg.contains(&victim) && msg.contains("non-finite"), "{msg}");
    // Resuming it is refused too (the run was finished: extend it to get there).
    let mut c = config(&run, &data);
    c.optim.total_steps = 8;
    let e = Trainer::new(c, data, StartMode::Resume)
        .err()
        .expect("refused");
    assert!(e.to_string().contains(&victim), "{e}");
}

#[test]
fn a_state_file_describing_another_model_is_refused() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let ck = finished_run(&run, &data);
    // Same shapes, other attention heads: the weights would load into the wrong model.
    edit_state(&ck, |s| {
        s["model"]["decoder"]["heads"] = 4.into();
    });
    let e = load_model(&run, tch::Device::Cpu).err().expect("refused");
    let msg = e.to_string();
    assert!(msg.contains("decoder.heads: 2 → 4"), "{msg}");
    // Checkpoints written before the model config was recorded still load.
    edit_state(&ck, |s| {
        s["model"]["decoder"]["heads"] = 2.into();
    });
    rewrite_weights(&ck, |_, meta| {
        assert!(meta.remove("model_config").is_some());
    });
    let m = load_model(&run, tch::Device::Cpu).unwrap();
    assert_eq!(m.step, 6);
}

#[test]
fn divergence_stops_the_run_without_a_checkpoint_of_bad_weights() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut c = config(&run, &data);
    c.optim.lr = 1e30;
    c.optim.warmup_steps = 0;
    c.log.log_every = 1;
    c.log.checkpoint_every = 1;
    c.optim.total_steps = 20;
    let Err(e) = Trainer::new(c, data, StartMode::Fresh)
        .unwrap()
        .run(&mut go)
    else {
        panic!("a run at lr 1e30 did not diverge");
    };
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            TrainError::NonFiniteLoss { .. } | TrainError::NonFiniteWeights { .. }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("lower `optim.lr`") && msg.contains("1e30"),
        "{msg}"
    );
    // Every checkpoint written loads (finite weights only).
    let root = run.join("checkpoints");
    for step in planform_train::checkpoint::list_checkpoints(&root).unwrap() {
        let dir = root.join(planform_train::checkpoint::checkpoint_name(step));
        load_model(&dir, tch::Device::Cpu).unwrap();
    }
}

#[test]
fn resume_refusals_name_every_differing_key_and_runs_can_be_extended() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    finished_run(&run, &data);
    let mut c = config(&run, &data);
    c.optim.lr = 1e-3;
    c.batch.sequences = 2;
    let e = Trainer::new(c, data.clone(), StartMode::Resume)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("optim.lr: 0.003 → 0.001"), "{e}");
    assert!(e.contains("batch.sequences: 4 → 2"), "{e}");
    assert!(!e.contains('{'), "no JSON dumps: {e}");
    let mut c = config(&run, &data);
    c.optim.total_steps = 5;
    let e = Trainer::new(c, data.clone(), StartMode::Resume)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("optim.total_steps: 6 → 5") && e.contains("not shortened"),
        "{e}"
    );

    // Extending: 6 → 9 steps continues from step 6 under the new schedule.
    let mut c = config(&run, &data);
    c.optim.total_steps = 9;
    let mut t = Trainer::new(c.clone(), data.clone(), StartMode::Resume).unwrap();
    assert_eq!(t.step(), 6);
    let mut lrs = Vec::new();
    let s = t
        .run(&mut |p: &Progress| {
            lrs.push((p.step, p.lr));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(s.completed && s.step == 9);
    let schedule = c.optim.schedule();
    let want: Vec<(u64, f64)> = (6..9)
        .map(|s| (s + 1, schedule.lr_at(c.optim.lr, s)))
        .collect();
    assert_eq!(lrs, want);
    // The run's config.toml now says 9, so resuming from it works.
    let stored = TrainConfig::from_file(&run.join("config.toml")).unwrap();
    assert_eq!(stored.optim.total_steps, 9);
}

#[test]
fn resuming_on_another_dataset_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, n: u64| {
        let ds = tmp.path().join(name);
        let mut gen = planform_data::GenerateConfig::new(planform_data::Domain::maze(4, 4), n);
        gen.seed = 2;
        planform_data::generate(&gen, &ds, 1, |_, _| {}).unwrap();
        ds
    };
    let (a, b) = (make("a", 40), make("b", 48));
    let probe = TrainData::load(&a, &Default::default()).unwrap();
    let run = tmp.path().join("run");
    let mut c = config(&run, &probe);
    c.data_dir = a.clone();
    c.optim.total_steps = 3;
    planform_train::train(c.clone(), StartMode::Fresh, &mut go).unwrap();
    assert!(read_state(&run.join("checkpoints/step-000003"))
        .unwrap()
        .dataset
        .is_some());
    // The same data under another path is the same dataset.
    let moved = tmp.path().join("a-moved");
    std::fs::rename(&a, &moved).unwrap();
    let mut c2 = c.clone();
    c2.data_dir = moved;
    c2.optim.total_steps = 4;
    planform_train::train(c2.clone(), StartMode::Resume, &mut go).unwrap();
    // Another dataset is not.
    let mut c3 = c2.clone();
    c3.data_dir = b.clone();
    c3.optim.total_steps = 5;
    let e = planform_train::train(c3, StartMode::Resume, &mut go)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not the one this run trained on"), "{e}");
    assert!(e.contains("num_tasks: 40 → 48"), "{e}");
    // A checkpoint from before the dataset was recorded resumes anywhere.
    let ck = run.join("checkpoints/step-000004");
    edit_state(&ck, |s| {
        s.as_object_mut().unwrap().remove("dataset");
    });
    let mut c4 = c2;
    c4.data_dir = b;
    c4.optim.total_steps = 5;
    planform_train::train(c4, StartMode::Resume, &mut go).unwrap();
}

#[test]
fn an_impossible_data_cursor_is_refused() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut c = config(&run, &data);
    c.optim.total_steps = 10;
    let s = Trainer::new(c.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut |p: &Progress| {
            if p.step == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(s.step, 3);
    let ck = run.join("checkpoints/step-000003");
    let good = std::fs::read(ck.join(STATE_FILE)).unwrap();
    for (field, value, needle) in [
        (
            "epoch",
            1_000_000_000_000u64,
            "epoch 1000000000000 is impossible",
        ),
        ("batch", 1_000_000_000u64, "batch 1000000000 is past the"),
    ] {
        std::fs::write(ck.join(STATE_FILE), &good).unwrap();
        edit_state(&ck, |s| s["cursor"][field] = value.into());
        let e = Trainer::new(c.clone(), data.clone(), StartMode::Resume)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(needle), "{field}: {e}");
    }
    std::fs::write(ck.join(STATE_FILE), &good).unwrap();
    Trainer::new(c, data, StartMode::Resume).unwrap();
}

#[test]
fn tensorboard_events_and_summary_json_agree_with_the_metrics_log() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut c = config(&run, &data);
    c.log.keep_checkpoints = Some(1);
    // A kill after step 4 (records of step 4 are dropped on resume), then the rest.
    Trainer::new(c.clone(), data.clone(), StartMode::Fresh)
        .unwrap()
        .run(&mut |p: &Progress| {
            if p.step == 4 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    let s = Trainer::new(c.clone(), data, StartMode::Resume)
        .unwrap()
        .run(&mut go)
        .unwrap();
    assert!(s.completed);

    let records: Vec<MetricsRecord> = read_records(&run.join(METRICS_FILE))
        .unwrap()
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let events = read_events(&run.join(TB_DIR).join(EVENTS_FILE)).unwrap();
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    assert_eq!(events.len() - 1, records.len());
    for (e, r) in events[1..].iter().zip(&records) {
        assert_eq!(e.step as u64, r.step());
        let (prefix, loss) = match r {
            MetricsRecord::Train(t) => ("train", t.metrics.loss),
            MetricsRecord::Eval(v) => ("eval", v.metrics.loss),
        };
        let got = e
            .scalars
            .iter()
            .find(|(t, _)| t == &format!("{prefix}/loss"))
            .map(|s| s.1);
        assert_eq!(got, Some(loss as f32), "step {}", r.step());
        assert!(e.wall_time > 1.6e9, "a Unix time");
    }

    let report = RunReport::read(&run).unwrap();
    let evals: Vec<(u64, f64)> = records
        .iter()
        .filter_map(|r| match r {
            MetricsRecord::Eval(e) => Some((e.step, e.metrics.loss)),
            _ => None,
        })
        .collect();
    let best = evals
        .iter()
        .copied()
        .fold(None, |b: Option<(u64, f64)>, (s, l)| match b {
            Some((_, bl)) if bl <= l => b,
            _ => Some((s, l)),
        })
        .unwrap();
    assert_eq!((report.steps, report.total_steps), (6, 6));
    assert!(report.completed && report.interrupted_by.is_none());
    assert_eq!(report.best_eval_step, Some(best.0));
    assert_eq!(report.best_eval_loss, Some(best.1));
    assert_eq!(report.final_eval_loss, Some(evals.last().unwrap().1));
    assert_eq!(report.tokens_seen, s.tokens_seen);
    let kept = run.join("checkpoints").join(format!("step-{:06}", best.0));
    assert_eq!(
        report.best_checkpoint,
        kept.is_dir()
            .then(|| PathBuf::from(format!("checkpoints/step-{:06}", best.0)))
    );
    assert_eq!(
        report.last_checkpoint,
        Some(PathBuf::from("checkpoints/step-000006"))
    );
    // AdamW: two f32 moments per parameter, no SVDs, no master weights.
    let o = report.optimizer.expect("optimizer statistics");
    assert!(o.state_bytes > 0 && o.state_bytes % 8 == 0, "{o:?}");
    assert_eq!((o.svd_count, o.master_weight_bytes), (0, 0));
}

#[test]
fn absurd_thread_counts_are_refused() {
    let data = data();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(&tmp.path().join("run"), &data);
    c.threads = Some(100_000);
    let e = Trainer::new(c, data, StartMode::Fresh).err().unwrap();
    assert!(matches!(e, TrainError::ConfigInvalid { .. }), "{e}");
    assert!(e.to_string().contains("available cores"), "{e}");
    assert!(!tmp.path().join("run").exists(), "nothing written");
}

/// Bind-mounts `src` read-only at `dst` (needs root and mount rights; `false` if refused).
fn mount_read_only(src: &Path, dst: &Path) -> bool {
    let run = |args: &[&str]| {
        std::process::Command::new("mount")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let (s, d) = (src.to_str().unwrap(), dst.to_str().unwrap());
    if !run(&["--bind", s, d]) {
        return false;
    }
    if !run(&["-o", "remount,bind,ro", d]) {
        let _ = std::process::Command::new("umount").arg(d).status();
        return false;
    }
    true
}

#[test]
fn a_finished_run_on_a_read_only_file_system_is_read_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, ro) = (tmp.path().join("src"), tmp.path().join("ro"));
    std::fs::create_dir_all(&ro).unwrap();
    let data = data();
    let trained = Trainer::new(
        config(&src.join("run"), &data),
        data.clone(),
        StartMode::Fresh,
    )
    .unwrap()
    .run(&mut go)
    .unwrap();
    assert!(trained.completed && trained.wrote_summary);
    if !mount_read_only(&src, &ro) {
        eprintln!("skipped: cannot bind-mount read-only here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&ro);
    let run = ro.join("run");
    let before = listing(&run);
    // Finished: read and reported, nothing written (no lock file, no rewritten log).
    let again = Trainer::new(config(&run, &data), data.clone(), StartMode::Resume)
        .unwrap()
        .run(&mut go)
        .unwrap();
    assert!(again.completed && !again.wrote_summary);
    assert_eq!(again.step, trained.step);
    assert_eq!(
        again.last_eval.map(|e| e.metrics.loss),
        trained.last_eval.map(|e| e.metrics.loss)
    );
    // More steps to take: that needs a writable directory, and the error says why.
    let mut longer = config(&run, &data);
    longer.optim.total_steps = 9;
    let Err(e) = Trainer::new(longer, data.clone(), StartMode::Resume) else {
        panic!("an unfinished run on a read-only file system was accepted");
    };
    assert!(e.to_string().contains("Read-only file system"), "{e}");
    assert_eq!(listing(&run), before);
}
