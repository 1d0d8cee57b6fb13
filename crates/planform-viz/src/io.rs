//! Atomic file writes.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temporary sibling path of `path` (same directory, so a rename is atomic),
/// keeping the extension (backends pick formats by it).
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}{ext}", std::process::id()))
}

/// Renames `tmp` over `path`, removing `tmp` on failure.
pub(crate) fn commit(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(tmp);
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Writes `bytes` to `path` atomically (planform-core's one atomic write).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    planform_core::fs::write_atomic(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
