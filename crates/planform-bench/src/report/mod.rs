//! The results of every benchmark and their markdown form, and writing reports to disk.
//!
//! - [`gen`]: `bench gen` ([`GenReport`](gen::GenReport)).
//! - [`train`]: `bench train` ([`TrainReport`](train::TrainReport)).
//! - [`decode`]: `bench decode` ([`DecodeReport`](decode::DecodeReport)).
//! - [`format`]: number formatting shared by the tables.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{BenchError, Result};

pub mod decode;
pub mod format;
pub mod gen;
pub mod train;

/// Writes `bytes` to `path` atomically (temporary file in the same directory + rename),
/// creating the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = planform_core::fs::parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    planform_core::fs::write_atomic(path, bytes).map_err(|e| BenchError::io(path, e))
}

/// Writes a report: `markdown` to `path`, `report` as pretty JSON next to it (extension
/// `.json`). Returns the JSON path.
pub fn write_report<R: Serialize>(path: &Path, markdown: &str, report: &R) -> Result<PathBuf> {
    let json = serde_json::to_string_pretty(report)?;
    let json_path = path.with_extension("json");
    write_atomic(path, markdown.as_bytes())?;
    write_atomic(&json_path, json.as_bytes())?;
    Ok(json_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_written_next_to_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("sub/report.md");
        let json = write_report(&md, "# hi\n", &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(json, dir.path().join("sub/report.json"));
        assert_eq!(std::fs::read_to_string(&md).unwrap(), "# hi\n");
        assert!(std::fs::read_to_string(&json).unwrap().contains("\"a\": 1"));
    }
}
