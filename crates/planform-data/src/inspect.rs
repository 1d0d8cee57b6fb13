//! Summary of a dataset for `planform inspect`: counts, stats and length histograms.

use std::fmt;

use crate::error::Result;
use crate::manifest::{Split, SplitInfo};
use crate::reader::Dataset;
use crate::stats::{HistogramBin, LengthStats, SplitHistograms};

/// Rows per batch while scanning for histograms.
const SCAN_ROWS: usize = 16_384;

/// One split's summary.
#[derive(Debug, Clone)]
pub struct SplitSummary {
    /// Which split.
    pub split: Split,
    /// Counts, stats and shards from the manifest.
    pub info: SplitInfo,
    /// Exact histograms recomputed from the rows.
    pub histograms: SplitHistograms,
    /// Rows with t* present.
    pub with_tstar: u64,
}

/// What `planform inspect` prints; [`fmt::Display`] renders it as text.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Domain name, e.g. `maze-10x10`.
    pub domain: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Train then test.
    pub splits: Vec<SplitSummary>,
    /// Number of bins used when rendering histograms.
    pub bins: usize,
    /// Manifest generation counts rendered as JSON.
    pub generation: String,
    /// For datasets built from a task file: `FILE (N tasks, sha256 …)`.
    pub source: Option<String>,
}

impl Dataset {
    /// Scan both splits (verifying checksums as it reads) and summarize them.
    pub fn inspect(&self, bins: usize) -> Result<Inspection> {
        let mut splits = Vec::new();
        for split in Split::ALL {
            let mut h = SplitHistograms::default();
            let mut with_tstar = 0;
            for batch in self.batches(split, SCAN_ROWS) {
                for ex in batch? {
                    h.add(ex.prompt.len(), ex.reasoning.len(), ex.plan.len());
                    with_tstar += u64::from(ex.astar_mean_reasoning.is_some());
                }
            }
            splits.push(SplitSummary {
                split,
                info: self.manifest().split(split).clone(),
                histograms: h,
                with_tstar,
            });
        }
        Ok(Inspection {
            domain: self.config().domain.name(),
            vocab_size: self.vocabulary().len(),
            splits,
            bins,
            generation: serde_json::to_string(&self.manifest().generation).unwrap_or_default(),
            source: self
                .config()
                .source
                .as_ref()
                .map(|s| format!("{} ({} tasks, sha256 {})", s.file, s.tasks, s.sha256)),
        })
    }
}

fn stats_line(f: &mut fmt::Formatter<'_>, name: &str, s: &LengthStats) -> fmt::Result {
    writeln!(
        f,
        "    {name:<10} min {:>6}  p50 {:>6}  p90 {:>6}  p99 {:>6}  max {:>6}  mean {:>9.1}",
        s.min, s.p50, s.p90, s.p99, s.max, s.mean
    )
}

fn histogram(f: &mut fmt::Formatter<'_>, name: &str, bins: &[HistogramBin]) -> fmt::Result {
    let top = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    writeln!(f, "    {name} length histogram:")?;
    for b in bins {
        let bar = "#".repeat(((b.count * 40).div_ceil(top)) as usize);
        writeln!(f, "      {:>6}..={:<6} {:>9} {bar}", b.lo, b.hi, b.count)?;
    }
    Ok(())
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "domain {}  vocabulary {} tokens",
            self.domain, self.vocab_size
        )?;
        match &self.source {
            Some(source) => writeln!(f, "built from task file {source}")?,
            None => writeln!(f, "generation {}", self.generation)?,
        }
        for s in &self.splits {
            writeln!(
                f,
                "{}: {} tasks, {} layouts, {} shards, {} bytes, t* on {} rows",
                s.split,
                s.info.tasks,
                s.info.layouts,
                s.info.shards.len(),
                s.info.shards.iter().map(|x| x.bytes).sum::<u64>(),
                s.with_tstar
            )?;
            let st = s.histograms.stats();
            stats_line(f, "prompt", &st.prompt)?;
            stats_line(f, "reasoning", &st.reasoning)?;
            stats_line(f, "plan", &st.plan)?;
            stats_line(f, "decoder", &st.decoder)?;
            if s.info.tasks > 0 {
                histogram(f, "reasoning", &s.histograms.reasoning.binned(self.bins))?;
                histogram(f, "decoder", &s.histograms.decoder.binned(self.bins))?;
            }
        }
        Ok(())
    }
}
