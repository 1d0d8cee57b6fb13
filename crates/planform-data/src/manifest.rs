//! `manifest.json`: what a dataset holds and how to check it.

use std::path::Path;

use planform_trace::vocab::{Vocabulary, VocabularySpec};
use serde::{Deserialize, Serialize};

use crate::config::GenerateConfig;
use crate::error::{io_err, DataError, Result};
use crate::stats::SplitLengthStats;

/// Value of [`Manifest::format`].
pub const FORMAT_NAME: &str = "planform-dataset";
/// Format version of generated datasets and of the shard schema (also written to every
/// shard's key-value metadata). Bump on any incompatible change of the manifest or the
/// shard schema.
pub const FORMAT_VERSION: u32 = 1;
/// Format version of datasets built from a task file (`config.source` present). Version
/// 1 readers refuse them instead of taking them for generated data; this build reads
/// versions [`FORMAT_VERSION`]`..=`[`MAX_FORMAT_VERSION`].
pub const MAX_FORMAT_VERSION: u32 = 2;
/// File name of the manifest inside a dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Parquet key-value metadata key holding the format version.
pub const KV_FORMAT_VERSION: &str = "planform.format_version";
/// Parquet key-value metadata key naming the manifest file.
pub const KV_MANIFEST: &str = "planform.manifest";
/// Parquet key-value metadata key holding the split name.
pub const KV_SPLIT: &str = "planform.split";

/// The two splits of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training split (the first layouts in index order).
    Train,
    /// Test split (the layouts after train's).
    Test,
}

impl Split {
    /// Both splits, train first.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    /// `"train"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    /// Shard file name, e.g. `train-00000.parquet`.
    pub fn shard_file(self, index: usize) -> String {
        format!("{}-{index:05}.parquet", self.name())
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One Parquet file of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name relative to the dataset directory.
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
}

/// Counts, lengths and files of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SplitInfo {
    /// Tasks (rows).
    pub tasks: u64,
    /// Distinct layouts (wall layouts / Sokoban levels).
    pub layouts: u64,
    /// Sequence-length statistics.
    pub lengths: SplitLengthStats,
    /// Shards in order.
    pub shards: Vec<ShardInfo>,
}

/// Bookkeeping from the generation loop (all deterministic for a seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GenerationCounts {
    /// Layout indices consumed, `0..layouts_consumed`.
    pub layouts_consumed: u64,
    /// Layouts that produced no task.
    pub empty_layouts: u64,
    /// Layouts rejected because an earlier index produced the same layout/level.
    pub duplicate_layouts: u64,
    /// Tasks dropped by the length filters.
    pub filtered_tasks: u64,
    /// Tasks dropped because their layout overshot a split's target.
    pub overshoot_tasks: u64,
}

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// planform version that wrote the dataset.
    pub planform_version: String,
    /// The generator config (including the seed).
    pub config: GenerateConfig,
    /// What the vocabulary is for; `Vocabulary::new(vocabulary_spec)` rebuilds it.
    pub vocabulary_spec: VocabularySpec,
    /// Token strings in id order (`bos` = 0, `eos` = 1, then sorted strings).
    pub vocabulary: Vec<String>,
    /// Training split.
    pub train: SplitInfo,
    /// Test split.
    pub test: SplitInfo,
    /// Whether the `astar_mean_reasoning` column (t*) is filled for the test split.
    pub has_astar_mean_reasoning: bool,
    /// Nondeterministic A* runs averaged for t* (when present).
    pub astar_mean_runs: Option<u32>,
    /// Generation bookkeeping.
    pub generation: GenerationCounts,
}

impl Manifest {
    /// A split's info.
    pub fn split(&self, split: Split) -> &SplitInfo {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    /// Read and validate `dir/manifest.json`; also returns the rebuilt vocabulary
    /// (checked to equal the manifest's token list).
    pub fn load(dir: &Path) -> Result<(Self, Vocabulary)> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::MissingManifest { path })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let malformed = |reason: String| DataError::MalformedManifest {
            path: path.clone(),
            reason,
        };
        // Check format and version first so an old/new manifest gets the right error.
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
        if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
            return Err(malformed(format!("`format` is not \"{FORMAT_NAME}\"")));
        }
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| malformed("`format_version` is missing".into()))?;
        if !(u64::from(FORMAT_VERSION)..=u64::from(MAX_FORMAT_VERSION)).contains(&version) {
            return Err(DataError::IncompatibleVersion {
                path,
                found: u32::try_from(version).unwrap_or(u32::MAX),
                expected: MAX_FORMAT_VERSION,
            });
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
        m.check().map_err(&malformed)?;
        crate::manifest_check::check(&m).map_err(&malformed)?;
        let vocab = Vocabulary::new(m.vocabulary_spec)
            .map_err(|e| malformed(format!("vocabulary_spec: {e}")))?;
        if vocab.tokens() != m.vocabulary.as_slice() {
            return Err(malformed(
                "vocabulary does not match the one built from vocabulary_spec".into(),
            ));
        }
        Ok((m, vocab))
    }

    /// Internal consistency: shard names, row sums, vocabulary.
    fn check(&self) -> std::result::Result<(), String> {
        if self.vocabulary.is_empty() {
            return Err("empty vocabulary".into());
        }
        for split in Split::ALL {
            let info = self.split(split);
            let rows: u64 = info.shards.iter().map(|s| s.rows).sum();
            if rows != info.tasks {
                return Err(format!(
                    "{split}: shards hold {rows} rows but tasks = {}",
                    info.tasks
                ));
            }
            for s in &info.shards {
                let plain = !s.file.is_empty()
                    && s.file.ends_with(".parquet")
                    && !s.file.contains(['/', '\\'])
                    && !s.file.starts_with('.');
                if !plain {
                    return Err(format!("{split}: bad shard file name {:?}", s.file));
                }
                if s.sha256.len() != 64 || !s.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "{}: sha256 {:?} is not 64 hex digits",
                        s.file, s.sha256
                    ));
                }
            }
        }
        if self.has_astar_mean_reasoning != self.astar_mean_runs.is_some() {
            return Err("has_astar_mean_reasoning and astar_mean_runs disagree".into());
        }
        Ok(())
    }

    /// The format version a manifest with this config has: [`MAX_FORMAT_VERSION`] when it
    /// names a task-file source, [`FORMAT_VERSION`] otherwise.
    pub fn version_for(config: &GenerateConfig) -> u32 {
        if config.source.is_some() {
            MAX_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        }
    }

    /// Serialize (pretty JSON, trailing newline; deterministic).
    pub(crate) fn to_bytes(&self) -> serde_json::Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(self)?;
        v.push(b'\n');
        Ok(v)
    }
}
