//! Metadata and rows the reader used to trust: an edited manifest (length statistics,
//! shard list, domain) and hostile rows (duplicate ids, empty prompt or plan, `bos`/`eos`
//! inside, `plan_length` disagreeing with the plan, NaN t*, a prompt that is not the
//! task's) are refused with errors naming the file, the row id and what is wrong.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use parquet::file::properties::{EnabledStatistics, WriterProperties};
use planform_data::schema::{arrow_schema, to_batch};
use planform_data::{DataError, Dataset, Example, Split, MANIFEST_FILE};
use planform_trace::rng::Rng;
use sha2::{Digest, Sha256};

fn dataset(tmp: &Path, name: &str) -> PathBuf {
    let out = tmp.join(name);
    let mut c = common::small_maze(300, 5);
    c.shard_rows = 100;
    c.tstar = Some(planform_data::TStarConfig { runs: 2 });
    common::gen(&c, &out, 2);
    out
}

fn copy_dir(src: &Path, dst: &Path) {
    let _ = fs::remove_dir_all(dst);
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Rewrites shard `index` of `split` with `rows` (no column statistics, so the footer
/// checks at open cannot see the damage) and reseals its size and sha256.
fn rewrite_shard(dir: &Path, split: Split, index: usize, rows: &[Example]) {
    let file = split.shard_file(index);
    let path = dir.join(&file);
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    let f = fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, arrow_schema(), Some(props)).unwrap();
    w.write(&to_batch(rows).unwrap()).unwrap();
    w.close().unwrap();
    let bytes = fs::read(&path).unwrap();
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    edit_manifest(dir, |v| {
        let s = &mut v[split.name()]["shards"][index];
        s["bytes"] = bytes.len().into();
        s["sha256"] = sha.into();
    });
}

fn read_all(dir: &Path) -> Result<(), DataError> {
    let ds = Dataset::open(dir)?;
    for split in Split::ALL {
        ds.read_split(split)?;
    }
    Ok(())
}

/// The hostile row edits, each with a phrase its error must contain.
type Tamper = (&'static str, fn(&mut Example, &[Example]), &'static str);

fn tampers() -> Vec<Tamper> {
    vec![
        (
            "empty prompt",
            |e, _| e.prompt.clear(),
            "the prompt is empty",
        ),
        (
            "empty plan",
            |e, _| {
                e.plan.clear();
                e.plan_length = 0;
            },
            "the plan is empty",
        ),
        (
            "bos in reasoning",
            |e, _| e.reasoning[0] = 0,
            "`bos` (id 0)",
        ),
        (
            "eos in prompt",
            |e, _| {
                let n = e.prompt.len();
                e.prompt[n - 1] = 1;
            },
            "`eos` (id 1)",
        ),
        ("eos in plan", |e, _| e.plan[0] = 1, "`eos` (id 1)"),
        (
            "plan_length off by one",
            |e, _| e.plan_length += 1,
            "plan_length is",
        ),
        (
            "plan clause scrambled",
            |e, _| e.plan.swap(0, 1),
            "expected `plan x y`",
        ),
        (
            "NaN t*",
            |e, _| e.astar_mean_reasoning = Some(f64::NAN),
            "t*",
        ),
        (
            "negative t*",
            |e, _| e.astar_mean_reasoning = Some(-3.0),
            "t*",
        ),
        (
            "infinite t*",
            |e, _| e.astar_mean_reasoning = Some(f64::INFINITY),
            "t*",
        ),
        (
            "prompt of another task",
            |e, all| {
                let other = all
                    .iter()
                    .find(|o| o.prompt != e.prompt && o.prompt.len() == e.prompt.len());
                e.prompt = other.expect("another prompt").prompt.clone();
            },
            "the prompt does not match the task",
        ),
        (
            "task of another size",
            |e, _| {
                e.task = e.task.replace("\"width\":5", "\"width\":6");
            },
            "6x5 maze but the dataset holds 5x5",
        ),
        (
            "task JSON with a duplicate key",
            |e, _| {
                e.task = e.task.replacen('{', "{\"width\":9,", 1);
            },
            "duplicate key `width`",
        ),
        (
            "Sokoban fields in a maze",
            |e, _| {
                e.task = e.task.replacen('{', "{\"worker\":[0,0],", 1);
            },
            "Sokoban fields",
        ),
        (
            "id repeated",
            |e, all| {
                let k = all.iter().position(|o| o.id == e.id).unwrap();
                e.id = all[k - 1].id;
            },
            "duplicate of the previous row",
        ),
        (
            "id decreasing",
            |e, all| e.id = all[0].id,
            "smaller than the previous row",
        ),
    ]
}

#[test]
fn hostile_rows_are_refused_with_file_and_id() {
    let tmp = tempfile::tempdir().unwrap();
    let good = dataset(tmp.path(), "good");
    read_all(&good).unwrap();
    let ds = Dataset::open(&good).unwrap();
    let shard = ds.read_shard(Split::Test, 0).unwrap();
    assert!(shard.len() > 3 && shard.iter().all(|e| e.astar_mean_reasoning.is_some()));
    let d = tmp.path().join("d");
    let mut rng = Rng::new(17);
    for (what, edit, needle) in tampers() {
        // A random row (never the first: "id repeated" copies the first row's id).
        let k = 1 + rng.below(shard.len() as u64 - 1) as usize;
        let mut rows = shard.clone();
        let snapshot = rows.clone();
        edit(&mut rows[k], &snapshot);
        copy_dir(&good, &d);
        rewrite_shard(&d, Split::Test, 0, &rows);
        let e = read_all(&d).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::InvalidRow { .. }), "{what}: {e:?}");
        assert!(
            msg.contains("test-00000.parquet"),
            "{what}: names the file: {msg}"
        );
        assert!(
            msg.contains(&format!("row id {}", rows[k].id)),
            "{what}: names the row: {msg}"
        );
        assert!(
            msg.contains(needle),
            "{what}: says what is wrong ({needle}): {msg}"
        );
        // The streaming reader refuses it as well.
        let ds = Dataset::open(&d).unwrap();
        assert!(
            ds.batches(Split::Test, 7).any(|b| b.is_err()),
            "{what}: batches"
        );
    }
    // The untouched rows written the same way read fine (the harness is not the error).
    copy_dir(&good, &d);
    rewrite_shard(&d, Split::Test, 0, &shard);
    read_all(&d).unwrap();
}

#[test]
fn edited_manifests_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = dataset(tmp.path(), "good");
    let d = tmp.path().join("d");
    type Edit = (&'static str, fn(&mut serde_json::Value), &'static str);
    let at_open: Vec<Edit> = vec![
        // Eval used decoder.max as its response length: 15 cut every response.
        (
            "decoder max cut",
            |v| v["test"]["lengths"]["decoder"]["max"] = 15.into(),
            "decoder",
        ),
        (
            "reasoning and decoder max consistent but false",
            |v| {
                let l = &mut v["train"]["lengths"];
                let r = l["reasoning"]["max"].as_u64().unwrap();
                let d = l["decoder"]["max"].as_u64().unwrap();
                l["reasoning"]["max"] = (r + 30).into();
                l["reasoning"]["p99"] = (r + 30).into();
                l["decoder"]["max"] = (d + 30).into();
            },
            "footers",
        ),
        (
            "shard listed twice",
            |v| {
                let s = v["train"]["shards"][0].clone();
                v["train"]["shards"][1] = s;
            },
            "listed twice",
        ),
        (
            "test shard also listed under train",
            |v| {
                let s = v["test"]["shards"][0].clone();
                v["train"]["shards"].as_array_mut().unwrap().push(s);
            },
            "train",
        ),
        (
            "shard dropped from the list",
            |v| {
                let shards = v["train"]["shards"].as_array_mut().unwrap();
                let gone = shards.pop().unwrap();
                let rows = gone["rows"].as_u64().unwrap();
                let t = v["train"]["tasks"].as_u64().unwrap() - rows;
                v["train"]["tasks"] = t.into();
                for g in ["prompt", "reasoning", "plan", "decoder"] {
                    v["train"]["lengths"][g]["count"] = t.into();
                }
            },
            "not listed",
        ),
        (
            "domain edited",
            |v| v["config"]["domain"]["width"] = 7.into(),
            "vocabulary_spec",
        ),
        (
            "domain edited to sokoban",
            |v| {
                v["config"]["domain"] = serde_json::json!({"kind": "sokoban", "width": 5, "height": 5, "walls": 0, "boxes": 1});
            },
            "vocabulary_spec",
        ),
        (
            "t* runs edited",
            |v| v["astar_mean_runs"] = 64.into(),
            "astar_mean_runs",
        ),
        (
            "layouts > tasks",
            |v| v["test"]["layouts"] = 100_000.into(),
            "layouts",
        ),
        (
            "count edited",
            |v| v["test"]["lengths"]["plan"]["count"] = 3.into(),
            "count",
        ),
        (
            "source on a version 1 manifest",
            |v| {
                v["config"]["source"] =
                    serde_json::json!({"file": "x", "sha256": "0", "tasks": 300});
            },
            "format_version",
        ),
    ];
    for (what, edit, needle) in at_open {
        copy_dir(&good, &d);
        edit_manifest(&d, edit);
        let e = Dataset::open(&d).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(needle), "{what}: {msg}");
        assert!(
            msg.contains(&d.display().to_string()),
            "{what}: names the path: {msg}"
        );
    }
    // Edits consistent with everything checkable at open are caught when the split is
    // read: statistics are recomputed from the rows.
    let on_read: Vec<Edit> = vec![
        (
            "p50 edited",
            |v| {
                let p = &mut v["test"]["lengths"]["prompt"];
                let (p50, p90) = (p["p50"].as_u64().unwrap(), p["p90"].as_u64().unwrap());
                p["p50"] = if p50 < p90 { p50 + 1 } else { p50 - 1 }.into();
            },
            "prompt.p50",
        ),
        (
            "layout count edited",
            |v| {
                let l = v["test"]["layouts"].as_u64().unwrap();
                v["test"]["layouts"] = (l - 1).into();
            },
            "distinct layouts",
        ),
    ];
    for (what, edit, needle) in on_read {
        copy_dir(&good, &d);
        edit_manifest(&d, edit);
        let ds = Dataset::open(&d).unwrap_or_else(|e| panic!("{what}: {e}"));
        let e = ds.read_split(Split::Test).unwrap_err();
        assert!(
            matches!(e, DataError::MalformedManifest { .. }),
            "{what}: {e}"
        );
        assert!(e.to_string().contains(needle), "{what}: {e}");
        // Streaming to the end reports it too; stopping early does not need to.
        let last = ds.batches(Split::Test, 16).last().unwrap();
        assert!(last.unwrap_err().to_string().contains(needle), "{what}");
        assert!(
            ds.read_split(Split::Train).is_ok(),
            "{what}: other split fine"
        );
    }
}

#[test]
fn an_unlisted_or_foreign_shard_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let good = dataset(tmp.path(), "good");
    let d = tmp.path().join("d");
    copy_dir(&good, &d);
    fs::copy(d.join("train-00000.parquet"), d.join("train-00009.parquet")).unwrap();
    let e = Dataset::open(&d).unwrap_err();
    assert!(e.to_string().contains("train-00009.parquet"), "{e}");
    // Train and test shards of equal row counts swapped on disk and in the manifest
    // (names kept, sizes and checksums resealed): each one's metadata names its split.
    let even = tmp.path().join("even");
    let mut c = common::small_maze(300, 5);
    c.shard_rows = 60;
    let m = common::gen(&c, &even, 1);
    assert_eq!((m.train.shards.len(), m.test.shards[0].rows), (4, 60));
    copy_dir(&even, &d);
    fs::rename(d.join("test-00000.parquet"), d.join("tmp")).unwrap();
    fs::rename(d.join("train-00003.parquet"), d.join("test-00000.parquet")).unwrap();
    fs::rename(d.join("tmp"), d.join("train-00003.parquet")).unwrap();
    edit_manifest(&d, |v| {
        let (a, b) = (
            v["train"]["shards"][3].clone(),
            v["test"]["shards"][0].clone(),
        );
        for (field, x, y) in [("bytes", &a, &b), ("sha256", &a, &b)] {
            v["train"]["shards"][3][field] = y[field].clone();
            v["test"]["shards"][0][field] = x[field].clone();
        }
    });
    let e = Dataset::open(&d).unwrap_err();
    assert!(e.to_string().contains("lists it under train"), "{e}");
}

#[test]
fn a_file_is_not_a_dataset_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("data.parquet");
    fs::write(&f, b"PAR1").unwrap();
    let e = Dataset::open(&f).unwrap_err();
    assert!(
        matches!(e, DataError::NotADirectory { kind: "file", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("is not a dataset directory"), "{e}");
    assert!(!e.to_string().contains("does not exist"), "{e}");
    let e = Dataset::open(tmp.path().join("missing")).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn os_errors_are_reported_once() {
    // Output under a file: the OS error appears in the message, and is not also the
    // error's source (so an anyhow chain does not print it twice).
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("file");
    fs::write(&f, b"x").unwrap();
    let c = common::small_maze(20, 1);
    let e = planform_data::generate(&c, f.join("sub").join("ds"), 1, |_, _| {}).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert!(e.to_string().contains("os error"), "{e}");
    assert!(std::error::Error::source(&e).is_none(), "{e:?}");
}
