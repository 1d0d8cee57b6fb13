//! Atomic dataset directories: build in `<out>.partial-<pid>`, then rename to `<out>`.
//!
//! Order of operations in [`PartialDir::commit`]: shards are already closed and fsynced;
//! the manifest is written (temp file + rename) and fsynced LAST; the directory is fsynced;
//! it is renamed to `<out>` and the parent directory is fsynced. A crash at any point leaves
//! either the old state or a `.partial-<pid>` directory that [`crate::Dataset::open`]
//! refuses. With `overwrite`, an existing `<out>` is first renamed to `<out>.old-<pid>` and
//! deleted after the new one is in place.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io_err, DataError, Result};
use crate::manifest::MANIFEST_FILE;

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
    /// Create `<out>.partial-<pid>` (replacing a stale one of this pid). Fails with
    /// [`DataError::AlreadyExists`] if `<out>` exists and `overwrite` is false.
    pub(crate) fn create(out: &Path, overwrite: bool) -> Result<Self> {
        if out.file_name().is_none() {
            return Err(DataError::InvalidConfig(format!(
                "output path {} has no directory name",
                out.display()
            )));
        }
        if out.exists() && !overwrite {
            return Err(DataError::AlreadyExists {
                path: out.to_path_buf(),
            });
        }
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let path = sibling(out, "partial");
        if path.exists() {
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

        let mut old = None;
        if self.out.exists() {
            if !self.overwrite {
                return Err(DataError::AlreadyExists {
                    path: self.out.clone(),
                });
            }
            let o = sibling(&self.out, "old");
            if o.exists() {
                fs::remove_dir_all(&o).map_err(io_err(&o))?;
            }
            fs::rename(&self.out, &o).map_err(io_err(&self.out))?;
            old = Some(o);
        }
        fs::rename(&self.path, &self.out).map_err(io_err(&self.out))?;
        self.committed = true;
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(parent)?;
        }
        if let Some(o) = old {
            let removed = if o.is_dir() {
                fs::remove_dir_all(&o)
            } else {
                fs::remove_file(&o)
            };
            removed.map_err(io_err(&o))?;
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

    #[test]
    fn commit_and_refuse_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("ds");
        let p = PartialDir::create(&out, false).unwrap();
        assert!(is_partial_name(p.path()));
        fs::write(p.path().join("a.parquet"), b"x").unwrap();
        p.commit(b"{}").unwrap();
        assert!(out.join(MANIFEST_FILE).exists());
        assert!(matches!(
            PartialDir::create(&out, false),
            Err(DataError::AlreadyExists { .. })
        ));
        // Overwrite replaces the directory's contents.
        let p = PartialDir::create(&out, true).unwrap();
        p.commit(b"{\"new\":1}").unwrap();
        assert!(!out.join("a.parquet").exists());
        assert_eq!(fs::read(out.join(MANIFEST_FILE)).unwrap(), b"{\"new\":1}");
        // A dropped (failed) partial directory leaves nothing behind.
        let p = PartialDir::create(&tmp.path().join("other"), false).unwrap();
        let path = p.path().to_path_buf();
        drop(p);
        assert!(!path.exists());
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
