//! What is at a dataset's output path, and what planform may therefore do there.
//!
//! planform writes a dataset into `<out>.partial-<pid>` and renames it to `<out>`
//! ([`crate::atomic`]). Before that it looks at `<out>` ([`examine`]):
//!
//! - nothing there, or an empty directory: the dataset is created there;
//! - a dataset planform wrote (a directory holding a planform `manifest.json`, the shards
//!   it lists and nothing else but [`AUXILIARY_FILES`]): refused without `overwrite`,
//!   replaced with it — and only those files are deleted afterwards;
//! - anything else (a file, a symbolic link, a directory with other files or with
//!   subdirectories such as a training run's `checkpoints/`): refused with
//!   [`DataError::NotADataset`], whatever `overwrite` says.
//!
//! [`remove_stale_partials`] deletes `<out>.partial-<pid>` siblings left by processes that
//! no longer run (killed generations), when their contents are only dataset files.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use planform_core::process::pid_alive;

use crate::error::{io_err, DataError, Result};
use crate::manifest::{FORMAT_NAME, MANIFEST_FILE};

/// Files other planform tools write into a dataset directory besides the manifest and
/// shards (`planform bootstrap`: `bootstrap.json` provenance of an improved dataset,
/// `outcomes.json` of a sample chunk). A dataset holding them may still be replaced.
pub const AUXILIARY_FILES: [&str; 2] = ["bootstrap.json", "outcomes.json"];

/// What [`examine`] found at an output path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing (not even a dangling symbolic link).
    Absent,
    /// An empty directory.
    Empty,
    /// A dataset planform wrote; `entries` are its files (all of them).
    Dataset {
        /// File names inside the directory.
        entries: Vec<OsString>,
    },
}

fn refuse(out: &Path, reason: impl Into<String>) -> DataError {
    DataError::NotADataset {
        path: out.to_path_buf(),
        reason: reason.into(),
    }
}

/// The shard file names listed by a manifest of any format version, or why the file is
/// not a planform manifest.
fn manifest_files(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("its {MANIFEST_FILE} is not valid JSON ({e})"))?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(format!(
            "its {MANIFEST_FILE} is not a planform dataset manifest (no \"format\": \
             \"{FORMAT_NAME}\")"
        ));
    }
    let mut files = Vec::new();
    for split in ["train", "test"] {
        let shards = v
            .get(split)
            .and_then(|s| s.get("shards"))
            .and_then(|s| s.as_array())
            .ok_or_else(|| format!("its {MANIFEST_FILE} has no {split} shard list"))?;
        for s in shards {
            let name = s.get("file").and_then(|f| f.as_str()).ok_or_else(|| {
                format!("its {MANIFEST_FILE} lists a {split} shard without a name")
            })?;
            files.push(name.to_string());
        }
    }
    Ok(files)
}

/// Up to four names, then a count.
fn some_names(names: &[String]) -> String {
    let mut s = names.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 4 {
        s.push_str(&format!(" (and {} more)", names.len() - 4));
    }
    s
}

/// Looks at `out` without following a symbolic link there. Errors with
/// [`DataError::NotADataset`] when `out` holds anything planform must not replace.
pub(crate) fn examine(out: &Path) -> Result<Existing> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(io_err(out)(e)),
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(refuse(
            out,
            "it is a symbolic link (planform does not write through or replace links; give \
             the real directory)",
        ));
    }
    if !kind.is_dir() {
        return Err(refuse(out, "it is a file, not a dataset directory"));
    }
    let mut entries = Vec::new();
    let mut dirs = Vec::new();
    for e in fs::read_dir(out).map_err(io_err(out))? {
        let e = e.map_err(io_err(out))?;
        let ft = e.file_type().map_err(io_err(e.path()))?;
        let name = e.file_name();
        if ft.is_dir() {
            dirs.push(format!("{}/", name.to_string_lossy()));
        }
        entries.push((name, ft.is_file()));
    }
    if entries.is_empty() {
        return Ok(Existing::Empty);
    }
    if !dirs.is_empty() {
        dirs.sort();
        let run = dirs.iter().any(|d| d == "checkpoints/");
        return Err(refuse(
            out,
            format!(
                "it is a directory holding subdirectories ({}){}, which a dataset never has",
                some_names(&dirs),
                if run {
                    " — it looks like a training run"
                } else {
                    ""
                }
            ),
        ));
    }
    let manifest = out.join(MANIFEST_FILE);
    let listed = match fs::read(&manifest) {
        Ok(bytes) => manifest_files(&bytes).map_err(|r| refuse(out, r))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut names: Vec<String> = entries
                .iter()
                .map(|(n, _)| n.to_string_lossy().into_owned())
                .collect();
            names.sort();
            return Err(refuse(
                out,
                format!(
                    "it is a non-empty directory without {MANIFEST_FILE} (holding {}), not a \
                     planform dataset",
                    some_names(&names)
                ),
            ));
        }
        Err(e) => return Err(io_err(&manifest)(e)),
    };
    let mut foreign: Vec<String> = entries
        .iter()
        .filter(|(name, is_file)| {
            let n = name.to_string_lossy();
            !(*is_file
                && (n == MANIFEST_FILE
                    || listed.iter().any(|f| *f == n)
                    || AUXILIARY_FILES.contains(&n.as_ref())))
        })
        .map(|(n, _)| n.to_string_lossy().into_owned())
        .collect();
    if !foreign.is_empty() {
        foreign.sort();
        return Err(refuse(
            out,
            format!(
                "it holds a planform manifest but also files that are not part of the dataset \
                 ({})",
                some_names(&foreign)
            ),
        ));
    }
    Ok(Existing::Dataset {
        entries: entries.into_iter().map(|(n, _)| n).collect(),
    })
}

/// The pid of a `<out>.partial-<pid>` name for `out`'s file name, if `name` is one.
pub(crate) fn partial_pid(out_name: &str, name: &str) -> Option<u32> {
    let pid = name.strip_prefix(out_name)?.strip_prefix(".partial-")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a file name is one planform writes while building a dataset: the manifest
/// (and its temporary file), `train-NNNNN.parquet` / `test-NNNNN.parquet` shards, the
/// auxiliary files, and hidden `.<name>.tmp-<pid>` temporaries of atomic writes.
fn is_dataset_file_name(name: &str) -> bool {
    let shard = |n: &str| {
        ["train-", "test-"].iter().any(|p| {
            n.strip_prefix(p)
                .and_then(|r| r.strip_suffix(".parquet"))
                .is_some_and(|d| d.len() == 5 && d.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let temp = |n: &str| {
        n.strip_prefix('.')
            .and_then(|r| r.rsplit_once(".tmp-"))
            .is_some_and(|(base, pid)| {
                !pid.is_empty()
                    && pid.bytes().all(|b| b.is_ascii_digit())
                    && (base == MANIFEST_FILE || AUXILIARY_FILES.contains(&base))
            })
    };
    name == MANIFEST_FILE
        || name == format!("{MANIFEST_FILE}.tmp")
        || AUXILIARY_FILES.contains(&name)
        || shard(name)
        || temp(name)
}

/// Whether `dir` (not a link) holds only files a dataset under construction holds.
pub(crate) fn looks_like_partial(dir: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    for e in entries {
        let Ok(e) = e else { return false };
        let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || !e.file_name().to_str().is_some_and(is_dataset_file_name) {
            return false;
        }
    }
    true
}

/// Deletes the `<out>.partial-<pid>` siblings of `out` whose process is no longer running
/// (see [`pid_alive`]) and which hold only dataset files; returns the paths removed.
/// Partial directories of running processes, of this process, or holding anything else
/// are left alone.
pub fn remove_stale_partials(out: &Path) -> Result<Vec<PathBuf>> {
    let Some(out_name) = out.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let parent = planform_core::fs::parent_dir(out);
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        // No parent directory yet (or a file in its place): nothing to clean up here.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(io_err(parent)(e)),
    };
    let me = std::process::id();
    let mut removed = Vec::new();
    for e in entries {
        let e = e.map_err(io_err(parent))?;
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| partial_pid(out_name, n)) else {
            continue;
        };
        let path = e.path();
        if pid == me || pid_alive(pid) || !looks_like_partial(&path) {
            continue;
        }
        fs::remove_dir_all(&path).map_err(io_err(&path))?;
        removed.push(path);
    }
    removed.sort();
    Ok(removed)
}

/// Deletes the dataset files `entries` of `dir` and then the (now empty) directory. A
/// file that appeared since it was examined makes the final step fail, and is kept.
pub(crate) fn remove_dataset(dir: &Path, entries: &[OsString]) -> Result<()> {
    for name in entries {
        let p = dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
    fs::remove_dir(dir).map_err(io_err(dir))
}
