//! Atomic file writes, and a guard that removes a temporary file on every
//! error path (early return, `?`, or a panic while writing).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary sibling of a target file (same directory, so the final rename
/// is atomic; the target's extension is kept, since plotting backends pick
/// their format by it). The file is removed when the guard is dropped unless
/// [`TempFile::commit`] renamed it over the target.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// The guard for `target`: `.<name>.tmp-<pid><.ext>` beside it. Nothing
    /// is created yet; whoever writes to [`TempFile::path`] creates it.
    pub fn for_target(target: &Path) -> Self {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        let ext = target
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        TempFile {
            path: target.with_file_name(format!(".{name}.tmp-{}{ext}", std::process::id())),
            armed: true,
        }
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temporary file over `target`. On failure the temporary
    /// file is removed (by the guard) and the error names `target`.
    pub fn commit(mut self, target: &Path) -> Result<()> {
        std::fs::rename(&self.path, target).map_err(|source| Error::Io {
            path: target.to_path_buf(),
            error: source,
        })?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` atomically (planform-core's one atomic write,
/// which removes its temporary file on every error).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    planform_core::fs::write_atomic(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        error: source,
    })
}

/// Creates `path` atomically through `fill`, which must write the whole file
/// at the temporary path it is given (e.g. a plotting backend). Whatever
/// happens in `fill` (an error or a panic), no temporary file is left behind.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    let tmp = TempFile::for_target(path);
    fill(tmp.path())?;
    tmp.commit(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn failing_or_panicking_writers_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.png");
        std::fs::write(&out, b"old").unwrap();
        // The writer fails half way (as on a full disk).
        let err = write_atomic_with(&out, |p| {
            std::fs::write(p, b"partial").unwrap();
            Err(Error::Plot("disk full".into()))
        });
        assert!(matches!(err, Err(Error::Plot(_))));
        assert_eq!(names(dir.path()), vec!["a.png"]);
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        // The writer panics after creating the file.
        let caught = std::panic::catch_unwind(|| {
            let _ = write_atomic_with(&out, |p| {
                std::fs::write(p, b"partial").unwrap();
                panic!("backend bug")
            });
        });
        assert!(caught.is_err());
        assert_eq!(names(dir.path()), vec!["a.png"]);
        // The rename fails: the target is a non-empty directory.
        let d = dir.path().join("d.svg");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("x"), b"x").unwrap();
        let err = write_atomic_with(&d, |p| {
            std::fs::write(p, b"new").map_err(|source| Error::Io {
                path: p.to_path_buf(),
                error: source,
            })
        });
        assert!(matches!(err, Err(Error::Io { .. })), "{err:?}");
        assert_eq!(names(dir.path()), vec!["a.png", "d.svg"]);
        assert!(write_atomic(&d, b"new").is_err());
        assert_eq!(names(dir.path()), vec!["a.png", "d.svg"]);
        // Success replaces the file and leaves nothing else.
        write_atomic_with(&out, |p| {
            std::fs::write(p, b"new").map_err(|source| Error::Io {
                path: p.to_path_buf(),
                error: source,
            })
        })
        .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert_eq!(names(dir.path()), vec!["a.png", "d.svg"]);
    }
}
