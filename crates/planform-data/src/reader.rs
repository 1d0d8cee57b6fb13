//! Opening, verifying and reading a dataset directory.
//!
//! Checks, and when they run:
//! - [`Dataset::open`] (cheap, always): the directory exists and is not a `.partial-<pid>`
//!   leftover; `manifest.json` exists, parses, has this build's format version and is
//!   self-consistent; every shard exists and has the manifest's byte size (catches
//!   truncation); every shard's Parquet footer parses, has the planform schema and the
//!   manifest's row count.
//! - [`Dataset::verify`]: full sha256 of every shard against the manifest.
//!   Also at open: the manifest's fields agree with each other and with its config
//!   (`crate::manifest_check`: shard names unique and numbered in order, vocabulary of
//!   the configured domain, statistics coherent); every `*.parquet` file in the directory
//!   is listed; each shard's `planform.split` metadata names the split it is listed under;
//!   its footer statistics (min/max of `id`, `reasoning_length`, `plan_length`, when the
//!   writer stored them) agree with the manifest's statistics and ids increase from shard
//!   to shard.
//! - Every read ([`Dataset::read_split`], [`Dataset::batches`], [`Dataset::read_shard`]):
//!   the shard is read into memory once, its sha256 is checked, then it is decoded; every
//!   token id is checked against the vocabulary size and `reasoning_length` against the
//!   reasoning tokens; every row is checked against the rules of `crate::validate` (ids
//!   increasing, non-empty prompt and plan, no `bos`/`eos` inside, `plan_length` =
//!   plan clauses, finite t*, prompt = tokenized task). So a flipped byte is a
//!   [`DataError::ChecksumMismatch`], never a decoder panic. Decoding is additionally
//!   guarded against panics of the Parquet crate.
//! - A whole split read ([`Dataset::read_split`], or [`Dataset::batches`] run to its end):
//!   row count, layout count and length statistics recomputed from the rows must equal
//!   the manifest's, so a reader never acts on statistics the rows do not have.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use planform_trace::vocab::Vocabulary;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::atomic::is_partial_name;
use crate::config::GenerateConfig;
use crate::error::{io_err, DataError, Result};
use crate::footer::{FooterStats, SplitFooters};
use crate::manifest::{Manifest, ShardInfo, Split, MANIFEST_FILE};
use crate::schema::{check_schema, from_batch, Example};
use crate::validate::{RowRules, SplitTally};
use crate::writer::hex;

/// Rows per decoded record batch when reading whole shards.
const READ_BATCH_ROWS: usize = 8192;

/// An opened dataset directory: its manifest plus validated shard list.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    manifest: Manifest,
    vocab: Vocabulary,
}

fn corrupt(path: &Path, reason: impl ToString) -> DataError {
    DataError::CorruptShard {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Run a decoder step, turning a panic inside the Parquet crate into a typed error.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "decoder panicked".into());
            Err(corrupt(path, format!("decoder panicked: {msg}")))
        }
    }
}

impl Dataset {
    /// Open and validate a dataset directory (see the module docs for what is checked).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                let kind = if m.is_file() { "file" } else { "special file" };
                return Err(DataError::NotADirectory { path: dir, kind });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::MissingDir { path: dir })
            }
            Err(e) => return Err(io_err(&dir)(e)),
        }
        if is_partial_name(&dir) {
            return Err(DataError::PartialDataset { path: dir });
        }
        let (manifest, vocab) = Manifest::load(&dir)?;
        let ds = Self {
            dir,
            manifest,
            vocab,
        };
        ds.check_unlisted_shards()?;
        for split in Split::ALL {
            let mut footers = SplitFooters::default();
            for shard in &ds.manifest.split(split).shards {
                let stats = ds.check_shard_footer(shard, split)?;
                footers.add(&ds.shard_path(shard), stats)?;
            }
            footers.compare(split, ds.manifest.split(split), &ds.dir.join(MANIFEST_FILE))?;
        }
        Ok(ds)
    }

    /// Every `*.parquet` file in the directory must be a listed shard: an unlisted one
    /// (say, after a duplicated manifest entry replaced another) would never be read.
    fn check_unlisted_shards(&self) -> Result<()> {
        let listed: std::collections::HashSet<&str> = Split::ALL
            .iter()
            .flat_map(|&s| {
                self.manifest
                    .split(s)
                    .shards
                    .iter()
                    .map(|x| x.file.as_str())
            })
            .collect();
        let mut unlisted = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))? {
            let name = e.map_err(io_err(&self.dir))?.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".parquet") && !listed.contains(name.as_ref()) {
                unlisted.push(name.into_owned());
            }
        }
        if unlisted.is_empty() {
            return Ok(());
        }
        unlisted.sort();
        Err(DataError::MalformedManifest {
            path: self.dir.join(MANIFEST_FILE),
            reason: format!(
                "shard files {} are in the directory but not listed, so they would never be \
                 read",
                unlisted.join(", ")
            ),
        })
    }

    fn rules(&self) -> RowRules<'_> {
        RowRules::new(&self.vocab, &self.manifest.config)
    }

    /// The dataset directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The generation config (domain, size, seed, A* mode, filters).
    pub fn config(&self) -> &GenerateConfig {
        &self.manifest.config
    }

    /// The vocabulary (rebuilt from the manifest's spec and checked against its tokens).
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocab
    }

    /// Number of rows in a split.
    pub fn len(&self, split: Split) -> u64 {
        self.manifest.split(split).tasks
    }

    /// Whether both splits are empty.
    pub fn is_empty(&self) -> bool {
        self.len(Split::Train) == 0 && self.len(Split::Test) == 0
    }

    /// Path of a shard.
    pub fn shard_path(&self, shard: &ShardInfo) -> PathBuf {
        self.dir.join(&shard.file)
    }

    fn check_size(&self, shard: &ShardInfo) -> Result<PathBuf> {
        let path = self.shard_path(shard);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::MissingShard { path })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        if meta.len() != shard.bytes {
            return Err(DataError::SizeMismatch {
                path,
                expected: shard.bytes,
                found: meta.len(),
            });
        }
        Ok(path)
    }

    fn check_shard_footer(&self, shard: &ShardInfo, split: Split) -> Result<FooterStats> {
        let path = self.check_size(shard)?;
        let file = std::fs::File::open(&path).map_err(io_err(&path))?;
        let builder = guarded(&path, || {
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(&path, e))
        })?;
        check_schema(builder.schema(), &path)?;
        let rows = builder.metadata().file_metadata().num_rows();
        if u64::try_from(rows).ok() != Some(shard.rows) {
            return Err(DataError::InconsistentShard {
                path,
                reason: format!("footer says {rows} rows, manifest says {}", shard.rows),
            });
        }
        crate::footer::read(builder.metadata(), split, &path)
    }

    /// Read a shard's bytes and check size and sha256.
    fn load_verified(&self, shard: &ShardInfo) -> Result<(PathBuf, Bytes)> {
        let path = self.check_size(shard)?;
        let data = std::fs::read(&path).map_err(io_err(&path))?;
        let found = hex(&Sha256::digest(&data));
        if found != shard.sha256 {
            return Err(DataError::ChecksumMismatch {
                path,
                expected: shard.sha256.clone(),
                found,
            });
        }
        Ok((path, Bytes::from(data)))
    }

    /// Check the full sha256 of every shard (both splits), in parallel.
    pub fn verify(&self) -> Result<()> {
        let shards: Vec<&ShardInfo> = Split::ALL
            .iter()
            .flat_map(|&s| self.manifest.split(s).shards.iter())
            .collect();
        shards
            .par_iter()
            .try_for_each(|s| self.load_verified(s).map(|_| ()))
    }

    fn batch_reader(
        &self,
        shard: &ShardInfo,
        batch_rows: usize,
    ) -> Result<(PathBuf, ParquetRecordBatchReader)> {
        let (path, data) = self.load_verified(shard)?;
        let reader = guarded(&path, || {
            ParquetRecordBatchReaderBuilder::try_new(data)
                .and_then(|b| b.with_batch_size(batch_rows.max(1)).build())
                .map_err(|e| corrupt(&path, e))
        })?;
        Ok((path, reader))
    }

    fn decode_next(
        &self,
        path: &Path,
        reader: &mut ParquetRecordBatchReader,
    ) -> Option<Result<Vec<Example>>> {
        let vocab = self.manifest.vocabulary.len();
        let next = guarded(path, || match reader.next() {
            None => Ok(None),
            Some(Err(e)) => Err(corrupt(path, e)),
            Some(Ok(batch)) => from_batch(&batch, vocab, path).map(Some),
        });
        let rules = self.rules();
        next.and_then(|rows| {
            if let Some(rows) = &rows {
                for ex in rows {
                    rules.check(ex, path)?;
                }
            }
            Ok(rows)
        })
        .transpose()
    }

    /// Read one shard of a split (verified; see the module docs).
    pub fn read_shard(&self, split: Split, index: usize) -> Result<Vec<Example>> {
        let info = self.manifest.split(split);
        let shard = info
            .shards
            .get(index)
            .ok_or_else(|| DataError::MissingShard {
                path: self.dir.join(split.shard_file(index)),
            })?;
        let (path, mut reader) = self.batch_reader(shard, READ_BATCH_ROWS)?;
        let mut rows = Vec::with_capacity(shard.rows as usize);
        let mut tally = SplitTally::default();
        while let Some(batch) = self.decode_next(&path, &mut reader) {
            let batch = batch?;
            for ex in &batch {
                tally.add(ex, &path)?;
            }
            rows.extend(batch);
        }
        if rows.len() as u64 != shard.rows {
            return Err(DataError::InconsistentShard {
                path,
                reason: format!("{} rows decoded, manifest says {}", rows.len(), shard.rows),
            });
        }
        Ok(rows)
    }

    /// Read a whole split into memory, shards decoded in parallel, rows in file order.
    /// The rows' count, layouts and length statistics are checked against the manifest.
    pub fn read_split(&self, split: Split) -> Result<Vec<Example>> {
        let info = self.manifest.split(split);
        let parts: Vec<Vec<Example>> = (0..info.shards.len())
            .into_par_iter()
            .map(|i| self.read_shard(split, i))
            .collect::<Result<_>>()?;
        let mut tally = SplitTally::default();
        for (shard, rows) in info.shards.iter().zip(&parts) {
            let path = self.shard_path(shard);
            for ex in rows {
                tally.add(ex, &path)?;
            }
        }
        tally.finish(split, info, &self.dir.join(MANIFEST_FILE))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Stream a split as batches of at most `batch_rows` rows (one shard in memory at a
    /// time; each shard verified when it is opened). Run to its end, the iterator also
    /// compares the split's row count, layouts and length statistics with the manifest
    /// and yields a last `Err` if they differ.
    pub fn batches(&self, split: Split, batch_rows: usize) -> Batches<'_> {
        Batches {
            ds: self,
            split,
            batch_rows,
            next_shard: 0,
            current: None,
            failed: false,
            tally: SplitTally::default(),
        }
    }
}

/// Iterator over a split's rows in batches; see [`Dataset::batches`].
pub struct Batches<'a> {
    ds: &'a Dataset,
    split: Split,
    batch_rows: usize,
    next_shard: usize,
    current: Option<(PathBuf, ParquetRecordBatchReader)>,
    failed: bool,
    tally: SplitTally,
}

impl Iterator for Batches<'_> {
    type Item = Result<Vec<Example>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some((path, reader)) = self.current.as_mut() {
                let next = self.ds.decode_next(path, reader).map(|r| {
                    r.and_then(|rows| {
                        for ex in &rows {
                            self.tally.add(ex, path)?;
                        }
                        Ok(rows)
                    })
                });
                match next {
                    Some(Ok(rows)) if rows.is_empty() => continue,
                    Some(r) => {
                        self.failed = r.is_err();
                        return Some(r);
                    }
                    None => self.current = None,
                }
            }
            let info = self.ds.manifest.split(self.split);
            let Some(shard) = info.shards.get(self.next_shard) else {
                // The whole split was read: its totals must match the manifest.
                self.failed = true;
                let manifest = self.ds.dir.join(MANIFEST_FILE);
                return self
                    .tally
                    .finish(self.split, info, &manifest)
                    .err()
                    .map(Err);
            };
            self.next_shard += 1;
            match self.ds.batch_reader(shard, self.batch_rows) {
                Ok(r) => self.current = Some(r),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
