//! Streaming shard writer: rows in, `<split>-NNNNN.parquet` files out, each with its size
//! and sha256 recorded.
//!
//! Rows are buffered into fixed-size record batches (boundaries depend only on the row
//! stream, never on timing), so the bytes written are a pure function of the rows.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::error::{io_err, DataError, Result};
use crate::manifest::{
    ShardInfo, Split, FORMAT_VERSION, KV_FORMAT_VERSION, KV_MANIFEST, KV_SPLIT, MANIFEST_FILE,
};
use crate::schema::{arrow_schema, to_batch, Example};

/// Rows per record batch handed to the Parquet encoder.
const BATCH_ROWS: usize = 4096;
/// Rows per Parquet row group (readers such as `datasets` stream by row group).
pub const ROW_GROUP_ROWS: usize = 16_384;
/// zstd level of all columns.
pub const ZSTD_LEVEL: i32 = 3;

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

fn properties(split: Split) -> Result<WriterProperties> {
    let level =
        ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| DataError::InvalidConfig(e.to_string()))?;
    let kv = vec![
        KeyValue::new(KV_FORMAT_VERSION.to_string(), FORMAT_VERSION.to_string()),
        KeyValue::new(KV_MANIFEST.to_string(), MANIFEST_FILE.to_string()),
        KeyValue::new(KV_SPLIT.to_string(), split.name().to_string()),
    ];
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_key_value_metadata(Some(kv));
    // Task JSON is unique per row, so a dictionary would only overflow and fall back.
    // Token lists keep the default dictionary encoding: the vocabulary is small, so each id
    // becomes a few bit-packed bits before zstd.
    b = b.set_column_dictionary_enabled(ColumnPath::from("task"), false);
    Ok(b.build())
}

struct OpenShard {
    writer: ArrowWriter<HashingWriter>,
    path: PathBuf,
    file: String,
    rows: u64,
}

/// Writes one split's rows into rolling shards of `shard_rows` rows in `dir`.
pub struct ShardWriter {
    dir: PathBuf,
    split: Split,
    shard_rows: u64,
    props: WriterProperties,
    buffer: Vec<Example>,
    current: Option<OpenShard>,
    done: Vec<ShardInfo>,
}

impl ShardWriter {
    /// A writer for `split` into directory `dir` (which must exist).
    pub fn new(dir: &Path, split: Split, shard_rows: u64) -> Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            split,
            shard_rows: shard_rows.max(1),
            props: properties(split)?,
            buffer: Vec::with_capacity(BATCH_ROWS),
            current: None,
            done: Vec::new(),
        })
    }

    /// Rows of the current shard already written or buffered.
    fn current_rows(&self) -> u64 {
        self.current.as_ref().map_or(0, |s| s.rows) + self.buffer.len() as u64
    }

    /// Append one row.
    pub fn push(&mut self, row: Example) -> Result<()> {
        self.buffer.push(row);
        let room = self.shard_rows - self.current_rows();
        if self.buffer.len() >= BATCH_ROWS || room == 0 {
            self.flush_buffer()?;
        }
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.rows == self.shard_rows)
        {
            self.close_shard()?;
        }
        Ok(())
    }

    fn flush_buffer(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if self.current.is_none() {
            let file = self.split.shard_file(self.done.len());
            let path = self.dir.join(&file);
            let f = File::create(&path).map_err(io_err(&path))?;
            let sink = HashingWriter {
                inner: BufWriter::with_capacity(1 << 20, f),
                hasher: Sha256::new(),
                bytes: 0,
            };
            let writer = ArrowWriter::try_new(sink, arrow_schema(), Some(self.props.clone()))
                .map_err(|e| write_err(&path, e))?;
            self.current = Some(OpenShard {
                writer,
                path,
                file,
                rows: 0,
            });
        }
        let batch = to_batch(&self.buffer).map_err(|reason| DataError::Write {
            path: self.dir.join(self.split.shard_file(self.done.len())),
            reason,
        })?;
        if let Some(shard) = self.current.as_mut() {
            shard
                .writer
                .write(&batch)
                .map_err(|e| write_err(&shard.path, e))?;
            shard.rows += self.buffer.len() as u64;
        }
        self.buffer.clear();
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
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
        self.flush_buffer()?;
        self.close_shard()?;
        Ok(self.done)
    }
}

fn write_err(path: &Path, e: parquet::errors::ParquetError) -> DataError {
    DataError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
