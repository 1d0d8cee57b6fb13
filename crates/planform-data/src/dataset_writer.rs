//! [`DatasetWriter`]: stream examples into a new dataset directory, atomically.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use planform_trace::vocab::Vocabulary;

use crate::atomic::PartialDir;
use crate::config::GenerateConfig;
use crate::error::{DataError, Result};
use crate::manifest::{GenerationCounts, Manifest, Split, SplitInfo, FORMAT_NAME};
use crate::schema::Example;
use crate::stats::SplitHistograms;
use crate::validate::RowRules;
use crate::writer::ShardWriter;

#[derive(Default)]
struct SplitState {
    writer: Option<ShardWriter>,
    hist: SplitHistograms,
    layouts: HashSet<u64>,
    /// Layout of the last row pushed.
    last_layout: Option<u64>,
    tasks: u64,
    last_id: Option<u64>,
}

/// Writes a dataset: rows are streamed to Parquet shards in `<out>.partial-<pid>`; the
/// manifest is written last in [`DatasetWriter::finish`], which renames the directory to
/// `<out>`. Dropping the writer without `finish` deletes the partial directory.
///
/// Used by [`crate::generate`], and usable directly (e.g. to store bootstrapped traces).
pub struct DatasetWriter {
    partial: PartialDir,
    config: GenerateConfig,
    vocabulary: Vocabulary,
    train: SplitState,
    test: SplitState,
}

impl DatasetWriter {
    /// Start a dataset at `out`. Fails with [`DataError::AlreadyExists`] if `out` exists and
    /// `config.overwrite` is false.
    pub fn create(out: &Path, config: &GenerateConfig, vocabulary: &Vocabulary) -> Result<Self> {
        config.validate()?;
        let vocabulary = vocabulary.clone();
        let partial = PartialDir::create(out, config.overwrite)?;
        Ok(Self {
            partial,
            config: config.clone(),
            vocabulary,
            train: SplitState::default(),
            test: SplitState::default(),
        })
    }

    /// The temporary directory being written (`<out>.partial-<pid>`).
    pub fn partial_dir(&self) -> &Path {
        self.partial.path()
    }

    /// Rows pushed so far to a split.
    pub fn tasks(&self, split: Split) -> u64 {
        match split {
            Split::Train => self.train.tasks,
            Split::Test => self.test.tasks,
        }
    }

    /// Append one row to a split. Ids must be strictly increasing within a split, token
    /// ids must be in the vocabulary, `reasoning_length` must equal the reasoning length,
    /// and the row must pass every rule the reader checks ([`DataError::InvalidRow`]:
    /// non-empty prompt and plan, no `bos`/`eos` inside, `plan_length` = `plan x y`
    /// clauses, finite t* ≥ 0, task JSON of the dataset's domain and size whose
    /// tokenization is the prompt) — so a written dataset always reads back.
    pub fn push(&mut self, split: Split, row: Example) -> Result<()> {
        self.push_checked(split, row, true)
    }

    /// [`DatasetWriter::push`] for rows whose prompt the caller just tokenized from the
    /// task itself (generation): skips only re-parsing and re-tokenizing the task.
    pub(crate) fn push_generated(&mut self, split: Split, row: Example) -> Result<()> {
        self.push_checked(split, row, false)
    }

    fn push_checked(&mut self, split: Split, row: Example, check_task: bool) -> Result<()> {
        let vocab_size = self.vocabulary.len();
        let (shard_rows, group_rows) = (self.config.shard_rows, self.config.row_group_rows);
        let dir = self.partial.path();
        let state = match split {
            Split::Train => &mut self.train,
            Split::Test => &mut self.test,
        };
        let shard = usize::try_from(state.tasks / shard_rows.max(1)).unwrap_or(usize::MAX);
        let here = || dir.join(split.shard_file(shard));
        let rules = RowRules::new(&self.vocabulary, &self.config);
        // One branch-free pass over all tokens; the detailed checks below name a failure.
        let plain = [&row.prompt, &row.reasoning, &row.plan]
            .iter()
            .all(|toks| rules.all_plain_tokens(toks));
        if !plain {
            for (column, toks) in [
                ("prompt", &row.prompt),
                ("reasoning", &row.reasoning),
                ("plan", &row.plan),
            ] {
                if let Some(&t) = toks.iter().find(|&&t| t as usize >= vocab_size) {
                    return Err(DataError::TokenOutOfRange {
                        path: here(),
                        row_id: row.id,
                        column,
                        token: t,
                        vocab_size,
                    });
                }
            }
        }
        if row.reasoning_length as usize != row.reasoning.len() {
            return Err(DataError::InconsistentShard {
                path: here(),
                reason: format!(
                    "row id {}: reasoning_length {} but {} reasoning tokens",
                    row.id,
                    row.reasoning_length,
                    row.reasoning.len()
                ),
            });
        }
        rules.check_tokens(&row, &here, plain)?;
        if check_task {
            rules.check_task(&row, &here())?;
        }
        if state.last_id.is_some_and(|last| row.id <= last) {
            return Err(DataError::InconsistentShard {
                path: here(),
                reason: format!(
                    "row ids must increase: {} after {:?}",
                    row.id, state.last_id
                ),
            });
        }
        state.last_id = Some(row.id);
        state
            .hist
            .add(row.prompt.len(), row.reasoning.len(), row.plan.len());
        // Rows of a layout arrive together: hash only the first of each run.
        if state.last_layout != Some(row.layout) {
            state.layouts.insert(row.layout);
            state.last_layout = Some(row.layout);
        }
        state.tasks += 1;
        if state.writer.is_none() {
            let version = Manifest::version_for(&self.config);
            state.writer = Some(ShardWriter::with_format_version(
                dir, split, shard_rows, group_rows, version,
            )?);
        }
        match state.writer.as_mut() {
            Some(w) => w.push(row),
            None => Ok(()),
        }
    }

    /// Close all shards, write the manifest last and move the dataset into place.
    /// Returns the final directory.
    pub fn finish(self, generation: GenerationCounts) -> Result<PathBuf> {
        let info = |s: SplitState| -> Result<SplitInfo> {
            let shards = match s.writer {
                Some(w) => w.finish()?,
                None => Vec::new(),
            };
            Ok(SplitInfo {
                tasks: s.tasks,
                layouts: s.layouts.len() as u64,
                lengths: s.hist.stats(),
                shards,
            })
        };
        let tstar = self.config.tstar;
        let manifest = Manifest {
            format: FORMAT_NAME.to_string(),
            format_version: Manifest::version_for(&self.config),
            planform_version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.config,
            vocabulary_spec: self.vocabulary.spec(),
            vocabulary: self.vocabulary.tokens().to_vec(),
            train: info(self.train)?,
            test: info(self.test)?,
            has_astar_mean_reasoning: tstar.is_some(),
            astar_mean_runs: tstar.map(|t| t.runs),
            generation,
        };
        let bytes = manifest.to_bytes().map_err(|e| DataError::Write {
            path: self.partial.path().join(crate::manifest::MANIFEST_FILE),
            reason: e.to_string(),
        })?;
        self.partial.commit(&bytes)
    }
}
