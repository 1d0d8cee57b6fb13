//! The curriculum loop on a tiny generated ProsQA: optimizer resets, resumption equal to an
//! uninterrupted run, checkpoints that load, and every arm running end to end.

use std::ops::ControlFlow;
use std::path::Path;

use planform_coconut::config::{DataConfig, EvalConfig, OptimConfig, ResetOptimizer};
use planform_coconut::data::Dataset;
use planform_coconut::train::{load_checkpoint, train_on, RunResult};
use planform_coconut::{Curriculum, Method, RunConfig};
use planform_model::{DecoderPreset, DecoderSpec};
use planform_trace::prosqa::ProsqaGenConfig;
use tch::Device;

fn config(method: Method, reset: ResetOptimizer) -> RunConfig {
    RunConfig {
        name: format!("t-{}", method.name()),
        description: String::new(),
        seed: 1,
        threads: 1,
        data: DataConfig::Prosqa {
            name: "tiny".into(),
            train: 24,
            valid: 6,
            test: 6,
            seed: 0,
            generator: ProsqaGenConfig {
                nodes: 8,
                min_steps: 2,
                max_steps: 4,
                ..ProsqaGenConfig::default()
            },
        },
        model: DecoderSpec {
            dim: Some(32),
            layers: Some(2),
            heads: Some(4),
            ffn_hidden: Some(64),
            ..DecoderSpec::preset(DecoderPreset::Tiny)
        },
        curriculum: Curriculum {
            method,
            c: 1,
            max_latent_stage: 2,
            epochs_per_stage: 2,
            epochs: 5,
            pad_latent_to_max: true,
            uniform_prob: 0.0,
        },
        optim: OptimConfig {
            batch_size: 8,
            reset_optimizer: reset,
            ..OptimConfig::default()
        },
        eval: EvalConfig {
            max_new_tokens: 24,
            batch_size: 4,
            stage_questions: 3,
        },
        init_from: None,
    }
}

fn run(
    cfg: &RunConfig,
    data: &Dataset,
    dir: &Path,
    stop_after: Option<usize>,
) -> Option<RunResult> {
    let mut epochs = 0;
    train_on(cfg, data, dir, &mut |_| {
        epochs += 1;
        if Some(epochs) == stop_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap()
}

fn weights(dir: &Path) -> Vec<(String, tch::Tensor)> {
    let l = load_checkpoint(dir, Device::Cpu).unwrap();
    let mut v: Vec<_> = l.vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn optimizer_resets_at_every_stage_and_resumption_is_exact() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(Method::Coconut, ResetOptimizer::Stage);
    let data = Dataset::load(&cfg.data, &tmp.path().join("data")).unwrap();
    assert_eq!(
        (data.train.len(), data.valid.len(), data.test.len()),
        (24, 6, 6)
    );
    let full = run(&cfg, &data, &tmp.path().join("full"), None).unwrap();
    // Stages 0,0,1,1,2: fresh optimizer (no state) at epochs 0, 2, 4 only.
    let resets: Vec<bool> = full.records.iter().map(|r| r.optimizer_reset).collect();
    assert_eq!(resets, [true, false, true, false, true]);
    let bytes: Vec<usize> = full
        .records
        .iter()
        .map(|r| r.optimizer_state_bytes)
        .collect();
    assert_eq!((bytes[0], bytes[2], bytes[4]), (0, 0, 0));
    assert!(bytes[1] > 0 && bytes[3] > 0, "{bytes:?}");
    assert_eq!(
        full.stage_valid.iter().map(|s| s.0).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(full.test.questions, 6);
    assert!(
        full.test.thoughts == 2.0,
        "final stage: 2 thoughts per question"
    );
    // Interrupted after epoch 3 (mid-stage), resumed: the same weights and results.
    let dir = tmp.path().join("resumed");
    assert!(run(&cfg, &data, &dir, Some(3)).is_none());
    let resumed = run(&cfg, &data, &dir, None).unwrap();
    assert_eq!(resumed.test, full.test);
    for ((na, a), (nb, b)) in weights(&tmp.path().join("full"))
        .iter()
        .zip(weights(&dir).iter())
    {
        assert_eq!(na, nb);
        assert!(a.equal(b), "{na} differs after resumption");
    }
    // Per-epoch and never.
    let e = run(
        &config(Method::Coconut, ResetOptimizer::Epoch),
        &data,
        &tmp.path().join("e"),
        None,
    )
    .unwrap();
    assert!(e
        .records
        .iter()
        .all(|r| r.optimizer_reset && r.optimizer_state_bytes == 0));
    let n = run(
        &config(Method::Coconut, ResetOptimizer::Never),
        &data,
        &tmp.path().join("n"),
        None,
    )
    .unwrap();
    assert!(n.records[1..]
        .iter()
        .all(|r| !r.optimizer_reset && r.optimizer_state_bytes > 0));
    // A checkpoint of another configuration is refused.
    let other = config(Method::Cot, ResetOptimizer::Stage);
    let err = train_on(&other, &data, &dir, &mut |_| ControlFlow::Continue(())).unwrap_err();
    assert!(err.to_string().contains("another configuration"), "{err}");
}

#[test]
fn every_arm_trains_and_evaluates() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    for method in Method::ALL {
        let mut cfg = config(method, ResetOptimizer::Stage);
        cfg.curriculum.epochs = 3;
        cfg.curriculum.epochs_per_stage = 1;
        cfg.eval.stage_questions = 0;
        let data = Dataset::load(&cfg.data, &tmp.path().join("data")).unwrap();
        let r = run(&cfg, &data, &tmp.path().join(method.name()), None).unwrap();
        assert_eq!(r.method, method);
        assert!(r.records.iter().all(|e| e.loss.is_finite()), "{method:?}");
        let thoughts = match method {
            Method::Coconut | Method::NoCurriculum => 2.0,
            _ => 0.0,
        };
        assert_eq!(r.test.thoughts, thoughts, "{method:?}");
    }
}

#[test]
fn a_finished_run_is_reused_only_with_its_own_configuration() {
    let mut cfg = config(Method::NoCot, ResetOptimizer::Stage);
    cfg.curriculum.epochs = 1;
    let tmp = tempfile::tempdir().unwrap();
    let pilot =
        planform_coconut::train::train_run(&cfg, tmp.path(), &mut |_| ControlFlow::Continue(()))
            .unwrap()
            .expect("finished");
    // Asked again with the same config: the stored result, not a new run.
    let again = planform_coconut::train::train_run(&cfg, tmp.path(), &mut |_| {
        panic!("a finished run was trained again")
    })
    .unwrap()
    .unwrap();
    assert_eq!(again, pilot);
    // The full run under the same name is not the pilot's result.
    cfg.curriculum.epochs = 3;
    let e =
        planform_coconut::train::train_run(&cfg, tmp.path(), &mut |_| ControlFlow::Continue(()))
            .unwrap_err();
    assert!(e.to_string().contains("another configuration"), "{e}");
}

/// A study with a report directory archives each finished run there; after the runs
/// directory is lost (a fresh clone), the archived run is not trained again and the summary
/// is the same; a changed configuration trains again.
#[test]
fn a_study_resumes_from_its_archive_without_the_runs_directory() {
    use planform_coconut::study::{run_study, summarize_archived, StudyConfig};
    let tmp = tempfile::tempdir().unwrap();
    let (runs, report) = (tmp.path().join("runs"), tmp.path().join("report"));
    let study = StudyConfig {
        name: "s".into(),
        description: String::new(),
        arms: vec!["unused.toml".into()],
        seeds: vec![1],
        parallel: 1,
        paper: None,
        claims: Vec::new(),
        start: None,
        start_config: None,
    };
    let arm = config(Method::Cot, ResetOptimizer::Stage);
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let log = |l: &str| lines.lock().unwrap().push(l.to_string());
    let study_of = |arm: &RunConfig| {
        run_study(
            &study,
            std::slice::from_ref(arm),
            &runs,
            Some(&report),
            &log,
        )
        .unwrap()
    };
    let first = study_of(&arm);
    assert!(report.join("points/t-cot-s1.json").is_file());
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    for f in ["fig-accuracy", "fig-tokens"] {
        assert!(md.contains(&format!("![{f}.svg]({f}.svg)")), "{md}");
        for ext in ["svg", "png"] {
            assert!(report.join(format!("{f}.{ext}")).is_file(), "{f}.{ext}");
            assert!(runs.join(format!("s/{f}.{ext}")).is_file(), "{f}.{ext}");
        }
    }

    std::fs::remove_dir_all(&runs).unwrap();
    lines.lock().unwrap().clear();
    let again = study_of(&arm);
    assert_eq!(again, first);
    assert_eq!(
        std::fs::read_to_string(report.join("summary.md")).unwrap(),
        md
    );
    let said = lines.lock().unwrap().join("\n");
    assert!(
        said.contains("t-cot s1: archived result, not run"),
        "{said}"
    );
    assert!(!runs.join("s/t-cot").exists(), "nothing was trained");

    // Summarize only (`--summarize`): the archived run, an arm without runs left out,
    // nothing trained.
    let mut other = arm.clone();
    other.name = "t-other".into();
    let (partial, have, all) =
        summarize_archived(&study, &[arm.clone(), other], &runs, &report).unwrap();
    assert_eq!((have, all), (1, 2));
    assert_eq!(partial.arms, first.arms);
    assert!(!runs.join("s/t-other").exists(), "nothing was trained");
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.contains("| t-cot | CoT | 1 |"), "{md}");

    let mut changed = arm;
    changed.optim.lr *= 2.0;
    lines.lock().unwrap().clear();
    study_of(&changed);
    assert!(!lines.lock().unwrap().join("\n").contains("archived result"));
    assert!(runs.join("s/t-cot/s1/result.json").is_file());
}

/// `init_from` starts a run from another run's weights: with a learning rate too small to
/// move them, the second run ends where the first did (a seeded start would not), and a
/// model of another shape is refused, naming the field.
#[test]
fn init_from_starts_from_another_runs_weights() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let mut a = config(Method::Cot, ResetOptimizer::Stage);
    a.curriculum.epochs = 1;
    a.eval.stage_questions = 0;
    let data = Dataset::load(&a.data, &tmp.path().join("data")).unwrap();
    run(&a, &data, &tmp.path().join("a"), None).unwrap();

    let mut b = a.clone();
    b.name = "t-b".into();
    b.seed = 7;
    b.optim.lr = 1e-20;
    b.optim.weight_decay = 0.0;
    b.init_from = Some(tmp.path().join("a"));
    run(&b, &data, &tmp.path().join("b"), None).unwrap();
    let mut fresh = b.clone();
    fresh.init_from = None;
    run(&fresh, &data, &tmp.path().join("fresh"), None).unwrap();
    let (wa, wb, wf) = (
        weights(&tmp.path().join("a")),
        weights(&tmp.path().join("b")),
        weights(&tmp.path().join("fresh")),
    );
    let diff = |x: &[(String, tch::Tensor)], y: &[(String, tch::Tensor)]| {
        x.iter()
            .zip(y)
            .map(|((n, p), (m, q))| {
                assert_eq!(n, m);
                (p - q).abs().max().double_value(&[])
            })
            .fold(0.0, f64::max)
    };
    assert!(diff(&wa, &wb) < 1e-12, "{}", diff(&wa, &wb));
    assert!(diff(&wa, &wf) > 1e-3, "{}", diff(&wa, &wf));

    let mut wide = b.clone();
    wide.name = "t-wide".into();
    wide.model.dim = Some(48);
    let e = planform_coconut::train::train_on(&wide, &data, &tmp.path().join("w"), &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(e.to_string().contains("init_from"), "{e}");

    let mut missing = b.clone();
    missing.name = "t-missing".into();
    missing.init_from = Some(tmp.path().join("nowhere"));
    let e = planform_coconut::train::train_on(&missing, &data, &tmp.path().join("m"), &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("init_from: no run to start from"),
        "{e}"
    );
}

/// A study's `start` run is trained once, before the arms, and every arm starts from it:
/// with a learning rate too small to move the weights, the arms end where the start did;
/// when every arm is archived, the start is not trained again.
#[test]
fn a_study_start_run_is_every_arms_init() {
    use planform_coconut::study::{run_study, StudyConfig};
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let (runs, report) = (tmp.path().join("runs"), tmp.path().join("report"));
    let mut start = config(Method::Cot, ResetOptimizer::Stage);
    start.name = "t-start".into();
    start.curriculum.epochs = 1;
    start.eval.stage_questions = 0;
    let study = StudyConfig {
        name: "s".into(),
        description: String::new(),
        arms: vec!["unused.toml".into()],
        seeds: vec![1, 2],
        parallel: 1,
        paper: None,
        claims: Vec::new(),
        start: Some("unused-start.toml".into()),
        start_config: Some(start),
    };
    let mut arm = config(Method::NoCot, ResetOptimizer::Stage);
    arm.curriculum.epochs = 1;
    arm.eval.stage_questions = 0;
    arm.optim.lr = 1e-20;
    arm.optim.weight_decay = 0.0;
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let log = |l: &str| lines.lock().unwrap().push(l.to_string());
    let run = || {
        run_study(
            &study,
            std::slice::from_ref(&arm),
            &runs,
            Some(&report),
            &log,
        )
    };
    run().unwrap();
    let w0 = weights(&runs.join("s/t-start/s1"));
    for seed in [1, 2] {
        let w = weights(&runs.join(format!("s/t-no-cot/s{seed}")));
        for ((n, a), (m, b)) in w0.iter().zip(&w) {
            assert_eq!(n, m);
            let d = (a - b).abs().max().double_value(&[]);
            assert!(d < 1e-12, "seed {seed}, {n}: {d}");
        }
    }
    assert!(lines
        .lock()
        .unwrap()
        .join("\n")
        .contains("the arms' common start"));

    std::fs::remove_dir_all(&runs).unwrap();
    lines.lock().unwrap().clear();
    run().unwrap();
    let said = lines.lock().unwrap().join("\n");
    assert!(!said.contains("common start"), "{said}");
    assert!(!runs.join("s/t-start").exists());
}

/// Every shipped Coconut config loads: run configs, pilots and studies (with their arms and
/// start run).
#[test]
fn every_shipped_config_loads() {
    use planform_coconut::study::StudyConfig;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/coconut");
    let mut files: Vec<_> = [root.clone(), root.join("pilots")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let (mut runs, mut studies) = (0, 0);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if text.lines().any(|l| l.starts_with("arms = ")) {
            let (s, arms) = StudyConfig::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert_eq!(arms.len(), s.arms.len());
            assert_eq!(s.start.is_some(), s.start_config.is_some());
            studies += 1;
        } else {
            RunConfig::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            runs += 1;
        }
    }
    assert!(runs >= 10 && studies >= 3, "{runs} runs, {studies} studies");
}
