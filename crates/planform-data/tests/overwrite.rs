//! The output path: only a dataset planform wrote is ever replaced (with `overwrite`),
//! nothing else is deleted or written into, whatever is there; stale `.partial-<pid>`
//! directories of dead processes are cleaned up, live or foreign ones are kept.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use planform_data::{generate, remove_stale_partials, DataError, Dataset, Split, MANIFEST_FILE};
use planform_trace::rng::Rng;

/// Every file under `root` (recursively, links not followed) with its bytes, and every
/// directory and link as a marker: a snapshot to prove nothing changed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(meta) = fs::symlink_metadata(root) else {
        return out;
    };
    if meta.file_type().is_symlink() {
        out.insert(root.to_path_buf(), b"<link>".to_vec());
    } else if meta.is_dir() {
        out.insert(root.to_path_buf(), b"<dir>".to_vec());
        for e in fs::read_dir(root).unwrap() {
            out.extend(snapshot(&e.unwrap().path()));
        }
    } else {
        out.insert(root.to_path_buf(), fs::read(root).unwrap());
    }
    out
}

fn small(n: u64, seed: u64, overwrite: bool) -> planform_data::GenerateConfig {
    let mut c = common::small_maze(n, seed);
    c.overwrite = overwrite;
    c
}

/// Generating into `out` with and without `overwrite` is refused, names the path and
/// says why, and leaves everything (including the target) exactly as it was.
fn assert_refused(tmp: &Path, out: &Path, why: &str) {
    let before = snapshot(tmp);
    for overwrite in [false, true] {
        let e = generate(&small(40, 1, overwrite), out, 1, |_, _| {}).unwrap_err();
        assert!(
            matches!(e, DataError::NotADataset { .. }),
            "{}: {e}",
            out.display()
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&out.display().to_string()),
            "names the path: {msg}"
        );
        assert!(msg.contains(why), "says why ({why}): {msg}");
        assert_eq!(snapshot(tmp), before, "{} was modified", out.display());
    }
}

#[test]
fn only_recognised_datasets_are_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    // A folder with a thesis in it.
    let thesis = t.join("thesis");
    fs::create_dir(&thesis).unwrap();
    fs::write(thesis.join("thesis.tex"), b"\\chapter{Results}").unwrap();
    assert_refused(t, &thesis, "without manifest.json");

    // A training run: checkpoints/ and a config.
    let run = t.join("run");
    fs::create_dir_all(run.join("checkpoints/step-100")).unwrap();
    fs::write(
        run.join("checkpoints/step-100/model.safetensors"),
        b"weights",
    )
    .unwrap();
    fs::write(run.join("config.toml"), b"steps = 100").unwrap();
    assert_refused(t, &run, "training run");

    // A plain file.
    let file = t.join("notes.txt");
    fs::write(&file, b"keep me").unwrap();
    assert_refused(t, &file, "is a file");

    // Symbolic links: to a dataset, to an empty directory, dangling.
    let ds = t.join("ds");
    common::gen(&small(60, 2, false), &ds, 1);
    for (name, target) in [("link-ds", ds.clone()), ("link-none", t.join("nowhere"))] {
        let link = t.join(name);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_refused(t, &link, "symbolic link");
    }

    // A dataset with a foreign file dropped into it.
    let mixed = t.join("mixed");
    common::gen(&small(60, 3, false), &mixed, 1);
    fs::write(mixed.join("analysis.ipynb"), b"{}").unwrap();
    assert_refused(t, &mixed, "analysis.ipynb");

    // A directory whose manifest.json is not planform's.
    let other = t.join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join(MANIFEST_FILE), br#"{"name": "my web app"}"#).unwrap();
    assert_refused(t, &other, "not a planform dataset manifest");
}

#[test]
fn datasets_and_empty_dirs_are_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // An empty directory is created into, even without overwrite.
    let empty = t.join("empty");
    fs::create_dir(&empty).unwrap();
    let m = common::gen(&small(50, 4, false), &empty, 1);
    assert_eq!(
        Dataset::open(&empty).unwrap().len(Split::Train),
        m.train.tasks
    );

    // An existing dataset: refused without overwrite (untouched), replaced with it.
    let before = snapshot(&empty);
    let e = generate(&small(70, 5, false), &empty, 1, |_, _| {}).unwrap_err();
    assert!(matches!(e, DataError::AlreadyExists { .. }), "{e}");
    assert!(
        e.to_string().contains("--overwrite"),
        "names the CLI flag: {e}"
    );
    assert_eq!(snapshot(&empty), before);
    let m = common::gen(&small(70, 5, true), &empty, 1);
    assert_eq!(m.train.tasks + m.test.tasks, 70);
    Dataset::open(&empty).unwrap().verify().unwrap();

    // A dataset with bootstrap's auxiliary file is still planform's to replace.
    fs::write(empty.join("bootstrap.json"), b"{}").unwrap();
    common::gen(&small(30, 6, true), &empty, 1);
    assert!(!empty.join("bootstrap.json").exists());
    // Nothing but the dataset is left next to it.
    let names: Vec<String> = fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["empty".to_string()]);
}

/// Property-style: random directory trees at the output path are never modified, and
/// only the ones that are exactly a dataset (or empty) are accepted.
#[test]
fn random_trees_are_never_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_ds = tmp.path().join("seed");
    common::gen(&small(40, 7, false), &seed_ds, 1);
    let dataset_files: Vec<PathBuf> = fs::read_dir(&seed_ds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut rng = Rng::new(0x5EED);
    for round in 0..40 {
        let out = tmp.path().join(format!("case-{round}"));
        fs::create_dir(&out).unwrap();
        // Start from a dataset copy half of the time, then add 0-3 random entries.
        if rng.coin() {
            for f in &dataset_files {
                fs::copy(f, out.join(f.file_name().unwrap())).unwrap();
            }
        }
        let extra = rng.below(4);
        for k in 0..extra {
            let name = [
                "notes.md",
                "data.csv",
                ".hidden",
                "x.parquet",
                "checkpoints",
            ][rng.below(5) as usize];
            let p = out.join(format!("{k}{name}"));
            if rng.coin() {
                fs::create_dir_all(p.join("inner")).unwrap();
            } else {
                fs::write(&p, format!("payload {round}")).unwrap();
            }
        }
        let is_dataset = out.join(MANIFEST_FILE).exists() && extra == 0;
        let is_empty = fs::read_dir(&out).unwrap().next().is_none();
        let before = snapshot(tmp.path());
        let r = generate(&small(30, round, true), &out, 1, |_, _| {});
        if is_dataset || is_empty {
            r.unwrap_or_else(|e| panic!("round {round}: {e}"));
        } else {
            let e = r.unwrap_err();
            assert!(
                matches!(e, DataError::NotADataset { .. }),
                "round {round}: {e}"
            );
            assert_eq!(snapshot(tmp.path()), before, "round {round}: modified");
        }
    }
}

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stale_partials_are_removed_and_others_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let out = t.join("ds");
    let dead = dead_pid();
    // A killed generation: shards and a temporary manifest, no process any more.
    let stale = t.join(format!("ds.partial-{dead}"));
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("train-00000.parquet"), b"PAR1").unwrap();
    fs::write(stale.join("manifest.json.tmp"), b"{").unwrap();
    // Same dead pid, but it holds something that is not a dataset file: kept.
    let foreign = t.join(format!("ds.partial-{}", dead_pid()));
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("thesis.pdf"), b"%PDF").unwrap();
    // A running process (pid 1) and another output's partial: kept.
    let live = t.join("ds.partial-1");
    fs::create_dir(&live).unwrap();
    let elsewhere = t.join(format!("other.partial-{dead}"));
    fs::create_dir(&elsewhere).unwrap();
    // Not a partial name at all.
    let lookalike = t.join(format!("ds.partial-{dead}x"));
    fs::create_dir(&lookalike).unwrap();

    assert_eq!(remove_stale_partials(&out).unwrap(), vec![stale.clone()]);
    assert!(!stale.exists());
    for kept in [&foreign, &live, &elsewhere, &lookalike] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    // generate cleans up by itself too.
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("test-00003.parquet"), b"PAR1").unwrap();
    common::gen(&small(30, 1, false), &out, 1);
    assert!(!stale.exists());
    assert!(foreign.join("thesis.pdf").exists());
}

#[test]
fn thread_counts_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    for threads in [planform_data::MAX_THREADS + 1, 100_000, usize::MAX] {
        let e = generate(&small(30, 1, false), &out, threads, |_, _| {}).unwrap_err();
        assert!(matches!(e, DataError::InvalidConfig(_)), "{e}");
        assert!(e.to_string().contains("256"), "{e}");
        assert!(!out.exists());
    }
    common::gen(&small(30, 1, false), &out, planform_data::MAX_THREADS);
}
