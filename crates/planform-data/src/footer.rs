//! Cheap checks at open from the shards' Parquet footers: the split each shard says it
//! holds, and the min/max statistics of `id`, `reasoning_length` and `plan_length`
//! compared with the manifest (so an edited manifest statistic is caught without reading
//! a single row).

use std::path::Path;

use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;

use crate::error::{DataError, Result};
use crate::manifest::{Split, SplitInfo, KV_SPLIT};
use crate::manifest_check::PLAN_TOKENS_PER_NODE;

/// Inclusive `(min, max)`.
type Range = (u64, u64);

/// What a shard footer says about a few integer columns (`None`: no statistics stored).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FooterStats {
    ids: Option<Range>,
    reasoning: Option<Range>,
    plan_nodes: Option<Range>,
}

fn int_range(s: &Statistics) -> Option<Range> {
    // Unsigned columns are stored as the signed physical type; `as` recovers the value.
    match s {
        Statistics::Int32(v) => Some((*v.min_opt()? as u32 as u64, *v.max_opt()? as u32 as u64)),
        Statistics::Int64(v) => Some((*v.min_opt()? as u64, *v.max_opt()? as u64)),
        _ => None,
    }
}

fn merge(a: Option<Range>, b: Option<Range>) -> Option<Range> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        _ => None,
    }
}

/// Reads a shard footer: checks its `planform.split` metadata (when present) names
/// `split`, and collects the column statistics over all row groups.
pub(crate) fn read(meta: &ParquetMetaData, split: Split, path: &Path) -> Result<FooterStats> {
    let kv = meta.file_metadata().key_value_metadata();
    if let Some(found) = kv
        .and_then(|kv| kv.iter().find(|k| k.key == KV_SPLIT))
        .and_then(|k| k.value.as_deref())
    {
        if found != split.name() {
            return Err(DataError::InconsistentShard {
                path: path.to_path_buf(),
                reason: format!(
                    "its metadata says it holds {found} rows, but the manifest lists it under \
                     {split}"
                ),
            });
        }
    }
    let column = |name: &str| -> Option<Range> {
        let mut acc: Option<Range> = None;
        for rg in meta.row_groups() {
            if rg.num_rows() == 0 {
                continue;
            }
            let chunk = rg
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)?;
            let r = int_range(chunk.statistics()?)?;
            acc = Some(acc.map_or(r, |a| (a.0.min(r.0), a.1.max(r.1))));
        }
        acc
    };
    Ok(FooterStats {
        ids: column("id"),
        reasoning: column("reasoning_length"),
        plan_nodes: column("plan_length"),
    })
}

/// Footer statistics of a split's shards in order.
#[derive(Debug, Default)]
pub(crate) struct SplitFooters {
    shards: usize,
    last_max_id: Option<u64>,
    reasoning: Option<Range>,
    plan_nodes: Option<Range>,
}

impl SplitFooters {
    /// Adds the next shard; its ids must all exceed the previous shard's.
    pub(crate) fn add(&mut self, path: &Path, s: FooterStats) -> Result<()> {
        if let (Some(prev), Some((lo, _))) = (self.last_max_id, s.ids) {
            if lo <= prev {
                return Err(DataError::InconsistentShard {
                    path: path.to_path_buf(),
                    reason: format!(
                        "its smallest id {lo} is not above the previous shard's largest id \
                         {prev} (ids are unique and increase through a split)"
                    ),
                });
            }
        }
        self.last_max_id = s.ids.map(|r| r.1);
        if self.shards == 0 {
            self.reasoning = s.reasoning;
            self.plan_nodes = s.plan_nodes;
        } else {
            self.reasoning = merge(self.reasoning, s.reasoning);
            self.plan_nodes = merge(self.plan_nodes, s.plan_nodes);
        }
        self.shards += 1;
        Ok(())
    }

    /// Compares the footer ranges with the manifest's reasoning and plan statistics.
    pub(crate) fn compare(&self, split: Split, info: &SplitInfo, manifest: &Path) -> Result<()> {
        if self.shards == 0 || info.tasks == 0 {
            return Ok(());
        }
        let per = u64::from(PLAN_TOKENS_PER_NODE);
        let checks = [
            (
                "reasoning",
                "reasoning_length",
                self.reasoning,
                1,
                &info.lengths.reasoning,
            ),
            (
                "plan",
                "plan_length",
                self.plan_nodes,
                per,
                &info.lengths.plan,
            ),
        ];
        for (name, column, range, scale, stored) in checks {
            let Some((lo, hi)) = range else { continue };
            let (lo, hi) = (lo * scale, hi * scale);
            if (u64::from(stored.min), u64::from(stored.max)) != (lo, hi) {
                let times = if scale == 1 {
                    String::new()
                } else {
                    format!(" × {scale} tokens per node")
                };
                return Err(DataError::MalformedManifest {
                    path: manifest.to_path_buf(),
                    reason: format!(
                        "{split}.lengths.{name} (min {}, max {}) disagrees with the shards' \
                         `{column}` column (min {lo}, max {hi}{times}, from the Parquet footers)",
                        stored.min, stored.max
                    ),
                });
            }
        }
        Ok(())
    }
}
