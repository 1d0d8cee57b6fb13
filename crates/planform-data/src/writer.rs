//! Streaming shard writer: rows in, `<split>-NNNNN.parquet` files out, each with its size
//! and sha256 recorded.
//!
//! Row-group boundaries depend only on the row stream (never on timing or thread count),
//! so the bytes written are a pure function of the rows.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn,
    ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{io_err, DataError, Result};
use crate::manifest::{ShardInfo, Split, KV_FORMAT_VERSION, KV_MANIFEST, KV_SPLIT, MANIFEST_FILE};
use crate::schema::{arrow_schema, build_column, row_tokens, Example, TASK_COLUMN, TOKEN_COLUMNS};
use crate::token_column::{with_encoder, TokenChunk};

/// Default most rows per Parquet row group (readers such as `datasets` stream by row group).
/// Measured on 10×10 mazes: 4,096 instead of 16,384 cut peak memory of `generate` from
/// 270 MB to 90 MB and encoding CPU by ~10%, at +0% file size; 1,024 instead of 4,096, with
/// each row group encoded as soon as it is sealed on one thread (its rows still in cache),
/// raises `planform gen`'s one-thread rate by 5–8% for 1% larger files (512: slower and
/// 4% larger). `docs/benchmarks.md`, "Stop 24".
pub const ROW_GROUP_ROWS: usize = 1024;
/// A row group is also cut once it holds this many tokens (bounds memory for long traces).
pub const ROW_GROUP_TOKENS: usize = 8 << 20;
/// Encode pending row groups once they hold this many tokens, even if fewer than threads.
const PENDING_TOKENS: usize = 32 << 20;
/// zstd level of all columns (see `properties` for the measurement).
pub const ZSTD_LEVEL: i32 = 1;

/// `Write` adapter that hashes and counts what passes through.
struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Lower-case hex of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn properties(split: Split, format_version: u32) -> Result<WriterProperties> {
    let level = zstd_level()?;
    let kv = vec![
        KeyValue::new(KV_FORMAT_VERSION.to_string(), format_version.to_string()),
        KeyValue::new(KV_MANIFEST.to_string(), MANIFEST_FILE.to_string()),
        KeyValue::new(KV_SPLIT.to_string(), split.name().to_string()),
    ];
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(kv));
    // Measured on 10×10 mazes (examples/write_bench.rs, 100,000 rows, one thread):
    // - dictionary encoding of the token lists makes files 13% smaller than plain but
    //   costs 30% more encoding CPU;
    // - BYTE_STREAM_SPLIT (byte 0 of every token, then byte 1, …: token ids are small, so
    //   three of the four byte streams are almost all zeros) with zstd level 1 encodes 25%
    //   faster than plain + zstd(3) and makes files 20% smaller (158 vs 199 MB per million
    //   tasks). Readers: arrow-rs, pyarrow ≥ 16 (so Hugging Face `datasets`), DuckDB, polars.
    // The token lists are written by `token_column` with these encodings; the settings
    // below describe them and apply wherever the Arrow path writes them.
    // Min/max statistics of token ids and task JSON are useless for pruning: none.
    // Row ids are unique and consecutive: a dictionary only costs a hash per row before
    // falling back; delta encoding stores them in a few bytes per page.
    b = b
        .set_column_dictionary_enabled(ColumnPath::from("id"), false)
        .set_column_encoding(ColumnPath::from("id"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from("task"), false)
        .set_column_statistics_enabled(ColumnPath::from("task"), EnabledStatistics::None);
    for col in ["prompt", "reasoning", "plan"] {
        let path = ColumnPath::new(vec![col.to_string(), "list".into(), "item".into()]);
        b = b
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path.clone(), Encoding::BYTE_STREAM_SPLIT)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    Ok(b.build())
}

struct OpenShard {
    writer: SerializedFileWriter<HashingWriter>,
    factory: ArrowRowGroupWriterFactory,
    path: PathBuf,
    file: String,
    /// Rows assigned to this shard (encoded, pending or in the open row group).
    rows: u64,
    /// Row groups appended to the file so far.
    row_groups: usize,
}

/// Writes one split's rows into rolling shards of `shard_rows` rows in `dir`.
///
/// Row groups are cut at fixed points of the row stream (every `row_group_rows` rows or
/// [`ROW_GROUP_TOKENS`] tokens, and at shard ends), buffered, and encoded in parallel on
/// the current rayon pool (row groups × columns), then appended in order. Encoding a row
/// group does not depend on any other, so the bytes do not depend on the pool size.
pub struct ShardWriter {
    dir: PathBuf,
    split: Split,
    shard_rows: u64,
    group_rows: usize,
    props: WriterProperties,
    /// Sealed row groups of the current shard awaiting encoding.
    pending: Vec<Vec<Example>>,
    pending_tokens: usize,
    /// The row group being filled.
    group: Vec<Example>,
    group_tokens: usize,
    current: Option<OpenShard>,
    done: Vec<ShardInfo>,
}

fn tokens(e: &Example) -> usize {
    e.prompt.len() + e.reasoning.len() + e.plan.len()
}

impl ShardWriter {
    /// A writer for `split` into directory `dir` (which must exist) of a dataset whose
    /// manifest has `format_version` (`FORMAT_VERSION` unless built from a task file;
    /// named in each shard's key-value metadata). `row_group_rows` caps the rows per row
    /// group.
    pub(crate) fn with_format_version(
        dir: &Path,
        split: Split,
        shard_rows: u64,
        row_group_rows: u64,
        format_version: u32,
    ) -> Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            split,
            shard_rows: shard_rows.max(1),
            group_rows: usize::try_from(row_group_rows).unwrap_or(usize::MAX).max(1),
            props: properties(split, format_version)?,
            pending: Vec::new(),
            pending_tokens: 0,
            group: Vec::new(),
            group_tokens: 0,
            current: None,
            done: Vec::new(),
        })
    }

    fn open_shard(&mut self) -> Result<()> {
        let file = self.split.shard_file(self.done.len());
        let path = self.dir.join(&file);
        let f = File::create(&path).map_err(io_err(&path))?;
        let sink = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, f),
            hasher: Sha256::new(),
            bytes: 0,
        };
        // ArrowWriter embeds the Arrow schema in the key-value metadata (so readers get
        // uint32/uint64 back); its low-level parts then allow parallel encoding.
        let (writer, factory) =
            ArrowWriter::try_new(sink, arrow_schema(), Some(self.props.clone()))
                .and_then(|w| w.into_serialized_writer())
                .map_err(|e| write_err(&path, e))?;
        self.current = Some(OpenShard {
            writer,
            factory,
            path,
            file,
            rows: 0,
            row_groups: 0,
        });
        Ok(())
    }

    /// Append one row.
    pub fn push(&mut self, row: Example) -> Result<()> {
        if self.current.is_none() {
            self.open_shard()?;
        }
        self.group_tokens += tokens(&row);
        self.group.push(row);
        let shard_full = match self.current.as_mut() {
            Some(s) => {
                s.rows += 1;
                s.rows == self.shard_rows
            }
            None => false,
        };
        if shard_full
            || self.group.len() >= self.group_rows
            || self.group_tokens >= ROW_GROUP_TOKENS
        {
            self.seal_group();
        }
        if shard_full {
            self.close_shard()?;
        } else if self.pending.len() >= rayon::current_num_threads().max(1)
            // One sealed group per worker: with one thread each group is encoded at once,
            // while its rows are still in cache.
            || self.pending_tokens >= PENDING_TOKENS
        {
            self.encode_pending()?;
        }
        Ok(())
    }

    fn seal_group(&mut self) {
        if !self.group.is_empty() {
            self.pending.push(std::mem::take(&mut self.group));
            self.pending_tokens += self.group_tokens;
            self.group_tokens = 0;
        }
    }

    /// Encode the pending row groups in parallel and append them to the shard in order.
    fn encode_pending(&mut self) -> Result<()> {
        let Some(shard) = self.current.as_mut() else {
            return Ok(());
        };
        let groups = std::mem::take(&mut self.pending);
        self.pending_tokens = 0;
        let path = shard.path.clone();
        let err = |e: parquet::errors::ParquetError| write_err(&path, e);
        let schema = arrow_schema();
        let descr = shard.writer.schema_descr();
        let descrs: Vec<_> = (0..descr.num_columns()).map(|i| descr.column(i)).collect();
        let mut writers = Vec::with_capacity(groups.len());
        for i in 0..groups.len() {
            writers.push(
                shard
                    .factory
                    .create_column_writers(shard.row_groups + i)
                    .map_err(err)?,
            );
        }
        // Arrow conversion and level computation of the scalar columns per row group, in
        // parallel; the token lists and the task strings are encoded directly
        // (`token_column`).
        let jobs: Vec<Vec<Job>> = groups
            .par_iter()
            .zip(writers)
            .enumerate()
            .map(|(g, (rows, writers))| {
                let mut jobs = Vec::with_capacity(writers.len());
                for (i, (field, w)) in schema.fields().iter().zip(writers).enumerate() {
                    if i == TASK_COLUMN || TOKEN_COLUMNS.contains(&i) {
                        jobs.push(Job::Direct {
                            group: g,
                            column: i,
                        });
                        continue;
                    }
                    let mut leaves = compute_leaves(field, &build_column(rows, i)).map_err(err)?;
                    match (leaves.pop(), leaves.is_empty()) {
                        (Some(leaf), true) => jobs.push(Job::Arrow(Box::new((w, leaf)))),
                        _ => return Err(err(general("a column with several leaves"))),
                    }
                }
                Ok(jobs)
            })
            .collect::<Result<_>>()?;
        let per_group: Vec<usize> = jobs.iter().map(Vec::len).collect();
        let level = zstd_level()?;
        // Column chunks of all row groups, in parallel.
        let mut chunks = jobs
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|job| match job {
                Job::Arrow(job) => {
                    let (mut w, leaf) = *job;
                    w.write(&leaf)?;
                    w.close().map(Chunk::Arrow)
                }
                Job::Direct { group, column } => with_encoder(level, |enc| {
                    let (rows, descr) = (&groups[group], descrs[column].clone());
                    if column == TASK_COLUMN {
                        enc.encode_strings(descr, rows.iter().map(|r| r.task.as_str()))
                    } else {
                        enc.encode(descr, rows.iter().map(|r| row_tokens(r, column)))
                    }
                })
                .map(Chunk::Direct),
            })
            .collect::<std::result::Result<Vec<Chunk>, _>>()
            .map_err(err)?
            .into_iter();
        for n in per_group {
            let mut rg = shard.writer.next_row_group().map_err(err)?;
            for chunk in chunks.by_ref().take(n) {
                match chunk {
                    Chunk::Arrow(c) => c.append_to_row_group(&mut rg).map_err(err)?,
                    Chunk::Direct(t) => rg.append_column(&t.bytes, t.close).map_err(err)?,
                }
            }
            rg.close().map_err(err)?;
            shard.row_groups += 1;
        }
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        self.seal_group();
        self.encode_pending()?;
        let Some(shard) = self.current.take() else {
            return Ok(());
        };
        let sink = shard
            .writer
            .into_inner()
            .map_err(|e| write_err(&shard.path, e))?;
        let HashingWriter {
            inner,
            hasher,
            bytes,
        } = sink;
        let file = inner
            .into_inner()
            .map_err(|e| io_err(&shard.path)(e.into_error()))?;
        file.sync_all().map_err(io_err(&shard.path))?;
        self.done.push(ShardInfo {
            file: shard.file,
            rows: shard.rows,
            bytes,
            sha256: hex(&hasher.finalize()),
        });
        Ok(())
    }

    /// Flush, close the last shard and return all shards written.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>> {
        self.close_shard()?;
        Ok(self.done)
    }
}

/// One column chunk to encode: a scalar column through Arrow, or a token list or the task
/// strings directly (`column`: the index in the schema).
enum Job {
    Arrow(Box<(ArrowColumnWriter, ArrowLeafColumn)>),
    Direct { group: usize, column: usize },
}

enum Chunk {
    Arrow(ArrowColumnChunk),
    Direct(TokenChunk),
}

fn general(reason: &str) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General(reason.to_string())
}

fn zstd_level() -> Result<ZstdLevel> {
    ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| DataError::InvalidConfig(e.to_string()))
}

fn write_err(path: &Path, e: parquet::errors::ParquetError) -> DataError {
    DataError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
