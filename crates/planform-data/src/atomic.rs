//! Atomic dataset directories: build in `<out>.partial-<pid>`, then rename to `<out>`.
//!
//! Order of operations in [`PartialDir::commit`]: shards are already closed and fsynced;
//! the manifest is written (temp file + rename) and fsynced LAST; the directory is fsynced;
//! it is renamed to `<out>` and the parent directory is fsynced. A crash at any point leaves
//! either the old state or a `.partial-<pid>` directory that [`crate::Dataset::open`]
//! refuses and a later generation removes ([`crate::remove_stale_partials`]).
//!
//! What may be at `<out>` is decided by [`crate::outdir::examine`], at creation and again at
//! commit: nothing or an empty directory (created), a dataset planform wrote (replaced only
//! with `overwrite`), anything else (refused). A replaced dataset is first renamed to
//! `<out>.old-<pid>`; after the new one is in place, the files it was recognised by are
//! deleted one by one and the directory removed — never a recursive delete of `<out>`.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io_err, DataError, Result};
use crate::manifest::MANIFEST_FILE;
use crate::outdir::{examine, looks_like_partial, remove_dataset, remove_stale_partials, Existing};

/// Whether a directory name looks like an unfinished generation (`*.partial-<digits>`).
pub fn is_partial_name(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    match name.rsplit_once(".partial-") {
        Some((_, pid)) => !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}-{}", std::process::id()));
    out.with_file_name(name)
}

/// `<out>.old-<pid>`, or `<out>.old-<pid>.<n>` if that is taken: a name nothing has.
fn free_old_sibling(out: &Path) -> PathBuf {
    let base = sibling(out, "old");
    let mut path = base.clone();
    let mut n = 0u32;
    while fs::symlink_metadata(&path).is_ok() {
        n += 1;
        let mut name = base
            .file_name()
            .map(|s| s.to_os_string())
            .unwrap_or_default();
        name.push(format!(".{n}"));
        path = base.with_file_name(name);
    }
    path
}

fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// A temporary dataset directory, deleted on drop unless committed.
pub(crate) struct PartialDir {
    path: PathBuf,
    out: PathBuf,
    overwrite: bool,
    committed: bool,
}

impl PartialDir {
    /// Create `<out>.partial-<pid>` after checking what is at `out` (see the module docs):
    /// [`DataError::AlreadyExists`] for an existing dataset without `overwrite`,
    /// [`DataError::NotADataset`] for anything else that is there. Stale partial
    /// directories of dead processes next to `out` are removed first.
    pub(crate) fn create(out: &Path, overwrite: bool) -> Result<Self> {
        if out.file_name().is_none() {
            return Err(DataError::InvalidConfig(format!(
                "output path {} has no directory name",
                out.display()
            )));
        }
        match examine(out)? {
            Existing::Dataset { .. } if !overwrite => {
                return Err(DataError::AlreadyExists {
                    path: out.to_path_buf(),
                })
            }
            Existing::Absent | Existing::Empty | Existing::Dataset { .. } => {}
        }
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        remove_stale_partials(out)?;
        let path = sibling(out, "partial");
        if fs::symlink_metadata(&path).is_ok() {
            // Our own pid: a leftover of an earlier process that had the same id. Remove it
            // only if it holds nothing but dataset files.
            if !looks_like_partial(&path) {
                return Err(DataError::NotADataset {
                    path: path.clone(),
                    reason: "this temporary path is taken by something that is not an \
                             unfinished dataset"
                        .into(),
                });
            }
            fs::remove_dir_all(&path).map_err(io_err(&path))?;
        }
        fs::create_dir(&path).map_err(io_err(&path))?;
        Ok(Self {
            path,
            out: out.to_path_buf(),
            overwrite,
            committed: false,
        })
    }

    /// The directory to write shards into.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Write the manifest last, fsync, and rename into place.
    pub(crate) fn commit(mut self, manifest: &[u8]) -> Result<PathBuf> {
        let tmp = self.path.join(format!("{MANIFEST_FILE}.tmp"));
        let dst = self.path.join(MANIFEST_FILE);
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(manifest).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        fsync_dir(&self.path)?;

        // Look again: `out` may have changed while the shards were written.
        let mut old = None;
        match examine(&self.out)? {
            Existing::Absent | Existing::Empty => {}
            Existing::Dataset { .. } if !self.overwrite => {
                return Err(DataError::AlreadyExists {
                    path: self.out.clone(),
                })
            }
            Existing::Dataset { entries } => {
                let o = free_old_sibling(&self.out);
                fs::rename(&self.out, &o).map_err(io_err(&self.out))?;
                old = Some((o, entries));
            }
        }
        // Renaming onto an empty directory replaces it; onto anything else it fails.
        if let Err(e) = fs::rename(&self.path, &self.out) {
            if let Some((o, _)) = &old {
                // Put the previous dataset back.
                let _ = fs::rename(o, &self.out);
            }
            return Err(io_err(&self.out)(e));
        }
        self.committed = true;
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
        if let Some((o, entries)) = old {
            remove_dataset(&o, &entries)?;
        }
        Ok(self.out.clone())
    }
}

impl Drop for PartialDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names() {
        assert!(is_partial_name(Path::new("/x/data.partial-123")));
        assert!(is_partial_name(Path::new("d.v1.partial-7")));
        assert!(!is_partial_name(Path::new("/x/data")));
        assert!(!is_partial_name(Path::new("/x/data.partial-")));
        assert!(!is_partial_name(Path::new("/x/data.partial-12a")));
    }

    /// A minimal manifest `examine` recognises, listing one train shard.
    const MANIFEST_A: &[u8] = br#"{"format": "planform-dataset", "train": {"shards": [{"file": "train-00000.parquet"}]}, "test": {"shards": []}}"#;
    const MANIFEST_B: &[u8] =
        br#"{"format": "planform-dataset", "train": {"shards": []}, "test": {"shards": []}}"#;

    #[test]
    fn commit_and_refuse_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("ds");
        let p = PartialDir::create(&out, false).unwrap();
        assert!(is_partial_name(p.path()));
        fs::write(p.path().join("train-00000.parquet"), b"x").unwrap();
        p.commit(MANIFEST_A).unwrap();
        assert!(out.join(MANIFEST_FILE).exists());
        assert!(matches!(
            PartialDir::create(&out, false),
            Err(DataError::AlreadyExists { .. })
        ));
        // Overwrite replaces the directory's contents.
        let p = PartialDir::create(&out, true).unwrap();
        p.commit(MANIFEST_B).unwrap();
        assert!(!out.join("train-00000.parquet").exists());
        assert_eq!(fs::read(out.join(MANIFEST_FILE)).unwrap(), MANIFEST_B);
        // A dropped (failed) partial directory leaves nothing behind.
        let p = PartialDir::create(&tmp.path().join("other"), false).unwrap();
        let path = p.path().to_path_buf();
        drop(p);
        assert!(!path.exists());
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
