//! The results archive of a sweep: every finished point's [`PointResult`] together with the
//! resolved recipe that produced it, one small JSON file per point in
//! `<report dir>/points/<point>.json`.
//!
//! A study's report directory is committed (`docs/studies/<name>/`), its runs directory is
//! not: runs hold checkpoints and datasets, gigabytes that a fresh clone or a wiped machine
//! does not have. With the archive, a fresh clone resumes a study where it stopped: a point
//! whose archived recipe equals its current resolved recipe (byte for byte, as TOML) counts
//! as done and its result is restored into the runs directory, so the summary aggregates it;
//! a point whose recipe changed since (an edited sweep file, a changed default) is run again
//! and reported as stale.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{PointJob, PointResult, RESULT_FILE};
use crate::error::{RecipeError, Result};
use crate::runner::{read_json, write_atomic};

/// Directory (under the report directory) holding the archived points.
pub const ARCHIVE_DIR: &str = "points";

/// One archived point: the recipe it ran and what it measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedPoint {
    /// The point's resolved recipe, as TOML (what `<runs>/<sweep>/points/<point>.toml` held).
    pub recipe: String,
    /// The collected result.
    pub result: PointResult,
}

/// What [`restore`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restored {
    /// Points whose result was restored from the archive.
    pub restored: usize,
    /// Points with an archived result for a different recipe (they run again).
    pub stale: Vec<String>,
}

fn archive_path(dir: &Path, job: &PointJob) -> PathBuf {
    dir.join(ARCHIVE_DIR).join(format!("{}.json", job.name))
}

/// Restores the archived results in `dir` of every point not done in its runs directory
/// whose archived recipe equals its resolved recipe.
pub fn restore(jobs: &[PointJob], dir: &Path) -> Result<Restored> {
    let mut out = Restored::default();
    for job in jobs.iter().filter(|j| !j.is_done()) {
        let path = archive_path(dir, job);
        if !path.is_file() {
            continue;
        }
        let archived: ArchivedPoint = read_json(&path)?;
        if archived.recipe != job.recipe.to_toml()? || archived.result.name != job.name {
            out.stale.push(job.name.clone());
            continue;
        }
        let json = serde_json::to_vec_pretty(&archived.result).map_err(|e| RecipeError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&job.run_dir().join(RESULT_FILE), &json)?;
        out.restored += 1;
    }
    Ok(out)
}

/// Archives `job`'s collected result (its `result.json`) into `dir`.
pub fn store(job: &PointJob, dir: &Path) -> Result<()> {
    let result: PointResult = read_json(&job.run_dir().join(RESULT_FILE))?;
    let archived = ArchivedPoint {
        recipe: job.recipe.to_toml()?,
        result,
    };
    let path = archive_path(dir, job);
    let json = serde_json::to_vec_pretty(&archived).map_err(|e| RecipeError::Json {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&path, &json)
}

/// Archives every point that is done in its runs directory (points finished before the
/// archive existed, or by a run without one).
pub fn store_done(jobs: &[PointJob], dir: &Path) -> Result<usize> {
    let mut n = 0;
    for job in jobs.iter().filter(|j| j.is_done()) {
        store(job, dir)?;
        n += 1;
    }
    Ok(n)
}
