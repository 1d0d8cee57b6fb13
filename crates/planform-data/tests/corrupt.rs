//! Damaged datasets give typed errors, never panics: missing files, garbage manifests,
//! truncated and bit-flipped shards (fuzz-style with a fixed seed), wrong schema, token ids
//! outside the vocabulary, leftover `.partial` directories, overwrite rules.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use planform_data::{generate, DataError, Dataset, Split, MANIFEST_FILE};
use planform_trace::rng::Rng;
use sha2::{Digest, Sha256};

/// A fresh small dataset in `tmp/name`.
fn dataset(tmp: &Path, name: &str) -> PathBuf {
    let out = tmp.join(name);
    let mut c = common::small_maze(300, 21);
    c.shard_rows = 100;
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

/// Open and read everything; returns the first error.
fn open_and_read(dir: &Path) -> Result<(), DataError> {
    let ds = Dataset::open(dir)?;
    ds.read_split(Split::Train)?;
    ds.read_split(Split::Test)?;
    for b in ds.batches(Split::Train, 64) {
        b?;
    }
    ds.verify()
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST_FILE);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Make the manifest agree with a shard's current bytes (bypasses the checksum so the
/// Parquet decoder itself sees the damage).
fn reseal(dir: &Path, shard_index: usize) {
    let bytes = fs::read(dir.join(format!("train-{shard_index:05}.parquet"))).unwrap();
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    edit_manifest(dir, |v| {
        let s = &mut v["train"]["shards"][shard_index];
        s["bytes"] = bytes.len().into();
        s["sha256"] = sha.into();
    });
}

#[test]
fn missing_things() {
    let tmp = tempfile::tempdir().unwrap();
    let good = dataset(tmp.path(), "good");
    open_and_read(&good).unwrap();

    let e = Dataset::open(tmp.path().join("nope")).unwrap_err();
    assert!(matches!(e, DataError::MissingDir { .. }), "{e}");

    let d = tmp.path().join("d");
    copy_dir(&good, &d);
    fs::remove_file(d.join(MANIFEST_FILE)).unwrap();
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DataError::MissingManifest { .. }), "{e}");
    assert!(
        e.to_string().contains("manifest.json"),
        "names the file: {e}"
    );

    copy_dir(&good, &d);
    fs::remove_file(d.join("test-00000.parquet")).unwrap();
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DataError::MissingShard { .. }), "{e}");
    assert!(e.to_string().contains("test-00000.parquet"), "{e}");

    copy_dir(&good, &d);
    fs::write(d.join(MANIFEST_FILE), b"{ this is not json").unwrap();
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DataError::MalformedManifest { .. }), "{e}");

    copy_dir(&good, &d);
    edit_manifest(&d, |v| v["format_version"] = 999.into());
    let e = Dataset::open(&d).unwrap_err();
    assert!(
        matches!(
            e,
            DataError::IncompatibleVersion {
                found: 999,
                expected: planform_data::MAX_FORMAT_VERSION,
                ..
            }
        ),
        "{e}"
    );

    copy_dir(&good, &d);
    edit_manifest(&d, |v| {
        v["train"]["shards"][0]["file"] = "../escape.parquet".into()
    });
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DataError::MalformedManifest { .. }), "{e}");

    copy_dir(&good, &d);
    edit_manifest(&d, |v| v["train"]["tasks"] = 5.into());
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DataError::MalformedManifest { .. }), "{e}");
}

#[test]
fn token_out_of_vocabulary() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dataset(tmp.path(), "d");
    // Claim the data are 2x2 mazes with their vocabulary (14 tokens): 5x5 ids exceed it.
    let small = planform_trace::vocab::Vocabulary::maze(2, 2).unwrap();
    let claim_2x2 = |v: &mut serde_json::Value, domain_too: bool| {
        v["vocabulary_spec"] = serde_json::to_value(small.spec()).unwrap();
        v["vocabulary"] = serde_json::to_value(small.tokens()).unwrap();
        if domain_too {
            v["config"]["domain"]["width"] = 2.into();
            v["config"]["domain"]["height"] = 2.into();
        }
    };
    // The vocabulary alone no longer matches the configured domain: refused at open.
    edit_manifest(&d, |v| claim_2x2(v, false));
    let e = Dataset::open(&d).unwrap_err();
    assert!(
        matches!(&e, DataError::MalformedManifest { reason, .. } if reason.contains("vocabulary_spec")),
        "{e}"
    );
    edit_manifest(&d, |v| claim_2x2(v, true));
    let ds = Dataset::open(&d).unwrap();
    let e = ds.read_split(Split::Train).unwrap_err();
    assert!(
        matches!(e, DataError::TokenOutOfRange { vocab_size: 14, .. }),
        "{e}"
    );
    // A vocabulary list that disagrees with its spec is a malformed manifest.
    edit_manifest(&d, |v| v["vocabulary"][3] = "zzz".into());
    assert!(matches!(
        Dataset::open(&d),
        Err(DataError::MalformedManifest { .. })
    ));
}

#[test]
fn wrong_schema() {
    use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
    let tmp = tempfile::tempdir().unwrap();
    let d = dataset(tmp.path(), "d");
    let batch = RecordBatch::try_from_iter([(
        "id",
        Arc::new(UInt64Array::from(vec![1u64, 2])) as ArrayRef,
    )])
    .unwrap();
    let f = fs::File::create(d.join("train-00001.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    reseal(&d, 1);
    let e = Dataset::open(&d).unwrap_err();
    assert!(matches!(e, DataError::WrongSchema { .. }), "{e}");
    assert!(e.to_string().contains("train-00001.parquet"), "{e}");
}

#[test]
fn fuzz_truncate_and_flip() {
    let tmp = tempfile::tempdir().unwrap();
    let good = dataset(tmp.path(), "good");
    let d = tmp.path().join("d");
    let shard = "train-00001.parquet";
    let orig = fs::read(good.join(shard)).unwrap();
    let orig_manifest = fs::read(good.join(MANIFEST_FILE)).unwrap();
    let mut rng = Rng::new(0xC0FFEE);
    let (mut caught, mut decoded_ok) = (0, 0);
    for round in 0..60 {
        copy_dir(&good, &d);
        let mode = round % 5;
        match mode {
            // Truncate the shard at a random point.
            0 => {
                let at = rng.below(orig.len() as u64) as usize;
                fs::write(d.join(shard), &orig[..at]).unwrap();
            }
            // Flip 1-3 random bytes of the shard.
            1 | 2 => {
                let mut b = orig.clone();
                for _ in 0..=rng.below(3) {
                    let i = rng.below(b.len() as u64) as usize;
                    b[i] ^= 1 + rng.below(255) as u8;
                }
                fs::write(d.join(shard), &b).unwrap();
                if mode == 2 {
                    // Reseal: the decoder must cope with the damage itself.
                    reseal(&d, 1);
                }
            }
            // Truncate the manifest.
            3 => {
                let at = rng.below(orig_manifest.len() as u64) as usize;
                fs::write(d.join(MANIFEST_FILE), &orig_manifest[..at]).unwrap();
            }
            // Flip a byte of the manifest.
            _ => {
                let mut b = orig_manifest.clone();
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 + rng.below(255) as u8;
                fs::write(d.join(MANIFEST_FILE), &b).unwrap();
            }
        }
        match open_and_read(&d) {
            Err(e) => {
                caught += 1;
                let typed = match mode {
                    0 => matches!(e, DataError::SizeMismatch { .. }),
                    1 => matches!(
                        e,
                        DataError::ChecksumMismatch { .. }
                            | DataError::CorruptShard { .. }
                            | DataError::WrongSchema { .. }
                            | DataError::InconsistentShard { .. }
                    ),
                    3 => matches!(e, DataError::MalformedManifest { .. }),
                    _ => !matches!(e, DataError::Io { .. }),
                };
                assert!(typed, "round {round} mode {mode}: unexpected error {e:?}");
            }
            // Only possible when checksums were resealed or a manifest flip hit a
            // harmless byte (e.g. inside the version string).
            Ok(()) => {
                assert!(
                    mode == 2 || mode == 4,
                    "round {round} mode {mode}: damage not detected"
                );
                decoded_ok += 1;
            }
        }
    }
    assert!(caught >= 40, "caught {caught}, decoded ok {decoded_ok}");
}

#[test]
fn partial_dirs_and_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let good = dataset(tmp.path(), "good");
    // A leftover partial directory (even one holding a manifest) is not a dataset.
    // pid 1 always runs, so this partial directory is not stale and must be left alone.
    let partial = tmp.path().join("ds.partial-1");
    copy_dir(&good, &partial);
    let e = Dataset::open(&partial).unwrap_err();
    assert!(matches!(e, DataError::PartialDataset { .. }), "{e}");
    assert!(matches!(
        Dataset::open(tmp.path().join("ds")),
        Err(DataError::MissingDir { .. })
    ));
    // Generating next to it works and leaves the foreign partial alone.
    let out = tmp.path().join("ds");
    let c = common::small_maze(100, 1);
    common::gen(&c, &out, 1);
    assert!(partial.exists());
    let own_partials: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.contains(&format!(".partial-{}", std::process::id())) || n.contains(".old-")
        })
        .collect();
    assert!(own_partials.is_empty(), "temp dirs left behind");
    let before = fs::read(out.join(MANIFEST_FILE)).unwrap();

    // Refuse to overwrite without the flag; the dataset is untouched.
    let mut c2 = common::small_maze(120, 2);
    let e = generate(&c2, &out, 1, |_, _| {}).unwrap_err();
    assert!(matches!(e, DataError::AlreadyExists { .. }), "{e}");
    assert_eq!(fs::read(out.join(MANIFEST_FILE)).unwrap(), before);

    // With overwrite it is replaced.
    c2.overwrite = true;
    let m = generate(&c2, &out, 1, |_, _| {}).unwrap();
    assert_eq!(m.train.tasks + m.test.tasks, 120);
    assert_eq!(Dataset::open(&out).unwrap().len(Split::Train), 96);
}
