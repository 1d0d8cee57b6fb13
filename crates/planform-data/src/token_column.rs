//! Direct Parquet encoding of the token-list columns (`prompt`, `reasoning`, `plan`) and
//! of the task JSON strings.
//!
//! The columns are `list<uint32 not null> not null`: one leaf with maximum repetition and
//! definition level 1. Arrow's generic path materialises two 16-bit levels per token, then
//! run-length encodes them value by value, and splits the byte streams through growing
//! buffers; for ~1,000 tokens per row that costs about as much as finding the tokens. Here a
//! row's levels are two runs (`rep = 0, 1, 1, …`; `def = 1, 1, …`, or one `0, 0` entry for an
//! empty list), so levels cost O(rows), and the values go straight from the rows into the
//! four BYTE_STREAM_SPLIT streams of a page buffer sized once.
//!
//! The pages are ordinary Parquet v1 data pages (RLE levels, BYTE_STREAM_SPLIT values,
//! zstd), the same encodings the Arrow path wrote for these columns; any reader of the Arrow
//! path's files reads these (`crates/planform-data/tests/python.rs` reads them with pyarrow,
//! pandas and `datasets`; the unit tests below compare with the Arrow writer's values).
//! Pages end at row boundaries, so the bytes depend only on the rows.
//!
//! The task strings (a required `BYTE_ARRAY` column) are PLAIN pages without levels, as
//! the Arrow path wrote them; written here they skip building an Arrow string array and
//! share the thread's zstd context instead of a new one per column chunk.

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Values per data page before a page is cut at the next row boundary (1 MiB of `u32`, the
/// Arrow writer's default page size).
pub const PAGE_VALUES: usize = 1 << 18;

/// One encoded column chunk: its bytes (page headers and pages) and the metadata that
/// `SerializedRowGroupWriter::append_column` splices into the file.
pub struct TokenChunk {
    pub bytes: Bytes,
    pub close: ColumnCloseResult,
}

/// Appends RLE runs of a bit-width-1 level stream, merging equal neighbours.
#[derive(Default)]
struct Runs {
    runs: Vec<(u8, u32)>,
}

impl Runs {
    fn push(&mut self, value: u8, len: u32) {
        if len == 0 {
            return;
        }
        match self.runs.last_mut() {
            Some((v, n)) if *v == value => *n += len,
            _ => self.runs.push((value, len)),
        }
    }

    /// The RLE/bit-packing hybrid encoding of the runs (RLE runs only, bit width 1),
    /// prefixed by its 4-byte little-endian length as data page v1 levels are.
    fn write_v1(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        for &(value, len) in &self.runs {
            let mut header = u64::from(len) << 1;
            while header >= 0x80 {
                out.push((header as u8) | 0x80);
                header >>= 7;
            }
            out.push(header as u8);
            out.push(value);
        }
        let n = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&n.to_le_bytes());
    }

    fn clear(&mut self) {
        self.runs.clear();
    }
}

/// Appends the four little-endian byte streams of BYTE_STREAM_SPLIT of the concatenated
/// `rows` (`n` values in all) to `out`.
///
/// Token ids are small: when every value is below 256 (vocabularies of up to 256 tokens,
/// every maze up to 10×10), the three high streams are zeros, so one narrowing pass writes
/// the low stream and notes whether any value is larger; only then are the four streams
/// split byte by byte.
fn split_streams(rows: &[&[u32]], n: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 4 * n, 0);
    let (s0, rest) = out[start..].split_at_mut(n);
    let mut high = 0u32;
    let mut i = 0;
    for row in rows {
        for (d, &v) in s0[i..i + row.len()].iter_mut().zip(row.iter()) {
            *d = v as u8;
            high |= v;
        }
        i += row.len();
    }
    if high < 256 {
        return;
    }
    let (s1, rest) = rest.split_at_mut(n);
    let (s2, s3) = rest.split_at_mut(n);
    let mut i = 0;
    for row in rows {
        let end = i + row.len();
        for (k, &v) in row.iter().enumerate() {
            let b = v.to_le_bytes();
            s1[i + k] = b[1];
            s2[i + k] = b[2];
            s3[i + k] = b[3];
        }
        i = end;
    }
}

/// The offset-index entry of a page written at `offset` (within the chunk) of `size` bytes.
fn location(offset: i64, size: i64, first_row_index: i64) -> Result<PageLocation> {
    Ok(PageLocation {
        offset,
        compressed_page_size: i32::try_from(size)
            .map_err(|_| ParquetError::General(format!("a page of {size} bytes")))?,
        first_row_index,
    })
}

/// The rows of the list page being filled: its rows, values, level entries and first row.
#[derive(Default)]
struct ListPage<'a> {
    rows: Vec<&'a [u32]>,
    values: usize,
    entries: u32,
    first_row: i64,
}

/// The pages of one column chunk as they are written: bytes, offset index and sizes.
struct ChunkPages {
    sink: TrackedWrite<Vec<u8>>,
    locations: Vec<PageLocation>,
    /// Level entries (list columns) or values (required columns) written.
    values: i64,
    uncompressed: i64,
    compressed: i64,
}

impl ChunkPages {
    fn new() -> Self {
        Self {
            sink: TrackedWrite::new(Vec::new()),
            locations: Vec::new(),
            values: 0,
            uncompressed: 0,
            compressed: 0,
        }
    }

    /// The finished chunk of `rows` rows of column `descr`, its pages compressed with zstd
    /// at `level` and encoded with `encodings`.
    fn finish(
        self,
        descr: ColumnDescPtr,
        level: ZstdLevel,
        encodings: Vec<Encoding>,
        rows: usize,
    ) -> Result<TokenChunk> {
        let bytes = Bytes::from(self.sink.into_inner()?);
        debug_assert_eq!(bytes.len() as i64, self.compressed);
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression(Compression::ZSTD(level))
            .set_encodings(encodings)
            .set_num_values(self.values)
            .set_total_compressed_size(self.compressed)
            .set_total_uncompressed_size(self.uncompressed)
            .set_data_page_offset(0)
            .build()?;
        Ok(TokenChunk {
            bytes,
            close: ColumnCloseResult {
                bytes_written: self.compressed as u64,
                rows_written: rows as u64,
                metadata,
                bloom_filter: None,
                column_index: None,
                offset_index: Some(OffsetIndexMetaData {
                    page_locations: self.locations,
                    unencoded_byte_array_data_bytes: None,
                }),
            },
        })
    }
}

/// Encoder of the column chunks written directly: the token lists and the task strings.
/// Holds a reusable zstd context and page buffers; each rayon worker keeps one
/// ([`with_encoder`]), so neither is allocated afresh per chunk.
pub struct TokenColumnEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    level: ZstdLevel,
    /// Values per list page before it is cut ([`PAGE_VALUES`]).
    page_values: usize,
    /// Bytes per string page before it is cut ([`PAGE_BYTES`]).
    page_bytes: usize,
    page: Vec<u8>,
    compressed: Vec<u8>,
    rep: Runs,
    def: Runs,
}

/// Bytes of plain-encoded strings per data page before it is cut at the next row (the
/// Arrow writer's default page size).
pub const PAGE_BYTES: usize = 1 << 20;

thread_local! {
    static ENCODER: std::cell::RefCell<Option<TokenColumnEncoder>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's encoder for zstd `level`, made on first use.
pub fn with_encoder<R>(
    level: ZstdLevel,
    f: impl FnOnce(&mut TokenColumnEncoder) -> Result<R>,
) -> Result<R> {
    ENCODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some(enc) if enc.level == level => f(enc),
            _ => f(slot.insert(TokenColumnEncoder::new(level)?)),
        }
    })
}

impl TokenColumnEncoder {
    /// An encoder compressing pages with zstd at `level`.
    pub fn new(level: ZstdLevel) -> Result<Self> {
        let compressor = zstd::bulk::Compressor::new(level.compression_level())
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(Self {
            compressor,
            level,
            page_values: PAGE_VALUES,
            page_bytes: PAGE_BYTES,
            page: Vec::new(),
            compressed: Vec::new(),
            rep: Runs::default(),
            def: Runs::default(),
        })
    }

    /// Encodes one row group's lists (one per row, in order) as the column `descr`, which
    /// must be a repeated `uint32` leaf with maximum repetition and definition level 1.
    pub fn encode<'a>(
        &mut self,
        descr: ColumnDescPtr,
        rows: impl ExactSizeIterator<Item = &'a [u32]>,
    ) -> Result<TokenChunk> {
        if descr.max_rep_level() != 1 || descr.max_def_level() != 1 {
            return Err(ParquetError::General(format!(
                "column {} is not a non-null list of non-null values (levels {}/{})",
                descr.path(),
                descr.max_rep_level(),
                descr.max_def_level()
            )));
        }
        // Levels left by a chunk that failed half-way must not leak into this one.
        self.rep.clear();
        self.def.clear();
        let n_rows = rows.len();
        let mut chunk = ChunkPages::new();
        let mut page = ListPage::default();
        for (r, row) in rows.enumerate() {
            if row.is_empty() {
                self.rep.push(0, 1);
                self.def.push(0, 1);
                page.entries += 1;
            } else {
                let n = u32::try_from(row.len())
                    .map_err(|_| ParquetError::General(format!("a row of {} tokens", row.len())))?;
                self.rep.push(0, 1);
                self.rep.push(1, n - 1);
                self.def.push(1, n);
                page.rows.push(row);
                page.values += row.len();
                page.entries += n;
            }
            if page.values >= self.page_values {
                self.list_page(&mut chunk, &page)?;
                page = ListPage {
                    first_row: r as i64 + 1,
                    ..ListPage::default()
                };
            }
        }
        if page.entries > 0 || chunk.values == 0 {
            self.list_page(&mut chunk, &page)?;
        }
        chunk.finish(
            descr,
            self.level,
            vec![Encoding::RLE, Encoding::BYTE_STREAM_SPLIT],
            n_rows,
        )
    }

    /// Encodes one row group's strings (one per row, in order) as the column `descr`, which
    /// must be a required `BYTE_ARRAY` column at the top level: PLAIN pages (each string's
    /// 4-byte little-endian length, then its bytes), no levels, cut at row boundaries
    /// after [`PAGE_BYTES`].
    pub fn encode_strings<'a>(
        &mut self,
        descr: ColumnDescPtr,
        rows: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<TokenChunk> {
        if descr.max_rep_level() != 0
            || descr.max_def_level() != 0
            || descr.physical_type() != parquet::basic::Type::BYTE_ARRAY
        {
            return Err(ParquetError::General(format!(
                "column {} is not a required top-level byte array",
                descr.path()
            )));
        }
        let n_rows = rows.len();
        let mut chunk = ChunkPages::new();
        let (mut entries, mut first_row) = (0u32, 0i64);
        self.page.clear();
        for (r, s) in rows.enumerate() {
            let n = u32::try_from(s.len())
                .map_err(|_| ParquetError::General(format!("a string of {} bytes", s.len())))?;
            self.page.extend_from_slice(&n.to_le_bytes());
            self.page.extend_from_slice(s.as_bytes());
            entries += 1;
            if self.page.len() >= self.page_bytes {
                self.write_page(&mut chunk, entries, first_row, Encoding::PLAIN)?;
                (entries, first_row) = (0, r as i64 + 1);
            }
        }
        if entries > 0 || chunk.values == 0 {
            self.write_page(&mut chunk, entries, first_row, Encoding::PLAIN)?;
        }
        chunk.finish(
            descr,
            self.level,
            vec![Encoding::PLAIN, Encoding::RLE],
            n_rows,
        )
    }

    /// Lays out the buffered levels and the values of `page` as one list page and writes it.
    fn list_page(&mut self, chunk: &mut ChunkPages, page: &ListPage<'_>) -> Result<()> {
        self.page.clear();
        self.rep.write_v1(&mut self.page);
        self.def.write_v1(&mut self.page);
        split_streams(&page.rows, page.values, &mut self.page);
        self.rep.clear();
        self.def.clear();
        self.write_page(
            chunk,
            page.entries,
            page.first_row,
            Encoding::BYTE_STREAM_SPLIT,
        )
    }

    /// Compresses the page body in `self.page` (then cleared) and appends it to `chunk` as
    /// a v1 data page of `entries` values (with levels: level entries) starting at row
    /// `first_row`.
    fn write_page(
        &mut self,
        chunk: &mut ChunkPages,
        entries: u32,
        first_row: i64,
        encoding: Encoding,
    ) -> Result<()> {
        self.compressed.clear();
        self.compressed
            .reserve(zstd::zstd_safe::compress_bound(self.page.len()));
        self.compressor
            .compress_to_buffer(&self.page, &mut self.compressed)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        let page = Page::DataPage {
            buf: Bytes::copy_from_slice(&self.compressed),
            num_values: entries,
            encoding,
            def_level_encoding: Encoding::RLE,
            rep_level_encoding: Encoding::RLE,
            statistics: None,
        };
        let spec = SerializedPageWriter::new(&mut chunk.sink)
            .write_page(CompressedPage::new(page, self.page.len()))?;
        self.page.clear();
        let (u, c) = (spec.uncompressed_size as i64, spec.compressed_size as i64);
        chunk
            .locations
            .push(location(chunk.compressed, c, first_row)?);
        chunk.uncompressed += u;
        chunk.compressed += c;
        chunk.values += i64::from(entries);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, ListArray, UInt32Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::PageIndexPolicy;
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// Writes `groups` row groups of a one-column file of `field`, chunk `g` encoded by
    /// `encode(encoder, g, column)` with zstd level 1, then reads the file back with
    /// arrow-rs's reader: the column's arrays and the pages of each row group.
    fn write_and_read(
        field: Field,
        groups: usize,
        enc: &mut TokenColumnEncoder,
        mut encode: impl FnMut(&mut TokenColumnEncoder, usize, ColumnDescPtr) -> TokenChunk,
    ) -> (Vec<arrow_array::ArrayRef>, Vec<usize>) {
        let schema = Arc::new(Schema::new(vec![field]));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
            .build();
        let (mut writer, _) = ArrowWriter::try_new(Vec::new(), schema, Some(props))
            .and_then(|w| w.into_serialized_writer())
            .unwrap();
        for g in 0..groups {
            let chunk = encode(enc, g, writer.schema_descr().column(0));
            let mut rg = writer.next_row_group().unwrap();
            rg.append_column(&chunk.bytes, chunk.close).unwrap();
            rg.close().unwrap();
        }
        let bytes = Bytes::from(writer.into_inner().unwrap());
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let builder =
            ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).unwrap();
        let pages: Vec<usize> = builder
            .metadata()
            .offset_index()
            .unwrap()
            .iter()
            .map(|rg| rg[0].page_locations().len())
            .collect();
        let arrays = builder
            .build()
            .unwrap()
            .map(|b| b.unwrap().column(0).clone())
            .collect();
        (arrays, pages)
    }

    /// Writes `groups` (row groups of lists) as a one-column file through the encoder with
    /// pages of `page_values`, then reads it back with arrow-rs's reader.
    fn round_trip(groups: &[Vec<Vec<u32>>], page_values: usize) -> (Vec<Vec<u32>>, Vec<usize>) {
        let item = Arc::new(Field::new("item", DataType::UInt32, false));
        let field = Field::new("reasoning", DataType::List(item), false);
        let mut enc = TokenColumnEncoder::new(ZstdLevel::try_new(1).unwrap()).unwrap();
        enc.page_values = page_values;
        let (arrays, pages) = write_and_read(field, groups.len(), &mut enc, |enc, g, descr| {
            enc.encode(descr, groups[g].iter().map(Vec::as_slice))
                .unwrap()
        });
        let mut out = Vec::new();
        for a in arrays {
            let list = a.as_any().downcast_ref::<ListArray>().unwrap();
            for i in 0..list.len() {
                let v = list.value(i);
                let v = v.as_any().downcast_ref::<UInt32Array>().unwrap();
                out.push(v.values().to_vec());
            }
        }
        (out, pages)
    }

    #[test]
    fn lists_read_back_exactly_across_pages_row_groups_and_empty_rows() {
        // Lengths 0, 1, 2, 17 (a 16-block plus a tail), long rows spanning several pages,
        // runs of empty rows, values using all four bytes.
        let mut x = 0x9e37_79b9u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let lens = [0usize, 1, 2, 17, 0, 0, 5, 1000, 33, 0, 1, 260, 7, 0];
        let mut group = |scale: u32| -> Vec<Vec<u32>> {
            lens.iter()
                .map(|&n| (0..n).map(|_| next() % scale).collect())
                .collect()
        };
        let groups = vec![group(200), group(u32::MAX), vec![vec![]], group(70_000)];
        let (back, pages) = round_trip(&groups, 64);
        let want: Vec<Vec<u32>> = groups.iter().flatten().cloned().collect();
        assert_eq!(back, want);
        // A page is cut after the row that brings it to 64 values: after the 1,000-token row
        // (1,025 values), after the 260-token row (294), and the rest (7); a row group of
        // one empty row still has one page.
        assert_eq!(pages, [3, 3, 1, 3]);
    }

    #[test]
    fn strings_read_back_exactly_across_pages_and_row_groups() {
        let groups: Vec<Vec<String>> = vec![
            vec![
                "".into(),
                "{\"a\":1}".into(),
                "é✓".repeat(9),
                "x".repeat(100),
                "".into(),
            ],
            vec!["only".into()],
            (0..50).map(|i| format!("row {i}")).collect(),
        ];
        let mut enc = TokenColumnEncoder::new(ZstdLevel::try_new(1).unwrap()).unwrap();
        enc.page_bytes = 40;
        let field = Field::new("task", DataType::Utf8, false);
        let (arrays, pages) = write_and_read(field, groups.len(), &mut enc, |enc, g, descr| {
            enc.encode_strings(descr, groups[g].iter().map(String::as_str))
                .unwrap()
        });
        let mut back = Vec::new();
        for a in arrays {
            let col = a
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .unwrap();
            back.extend(col.iter().map(|v| v.unwrap().to_string()));
        }
        let want: Vec<String> = groups.concat();
        assert_eq!(back, want);
        // Pages are cut after the row that brings them to 40 bytes (4-byte lengths
        // included): group 0 after the 3rd and 4th rows, then the last; group 1 one page;
        // group 2 every 4 or 5 short rows.
        assert_eq!(pages[..2], [3, 1]);
        assert!(pages[2] > 5, "{pages:?}");
    }

    #[test]
    fn split_streams_equals_the_byte_by_byte_definition() {
        // Small ids (the narrowing path) and ids with high bytes (the full split), with a
        // prefix already in the buffer that must stay untouched.
        let mut x = 0x2545_f491u32;
        for scale in [1u32, 256, 257, 70_000, u32::MAX] {
            let rows: Vec<Vec<u32>> = [0usize, 3, 16, 33, 1]
                .iter()
                .map(|&len| {
                    (0..len)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 17;
                            x ^= x << 5;
                            if scale == u32::MAX {
                                x
                            } else {
                                x % scale
                            }
                        })
                        .collect()
                })
                .collect();
            let flat: Vec<u32> = rows.iter().flatten().copied().collect();
            let mut want = vec![7u8, 9];
            for b in 0..4 {
                want.extend(flat.iter().map(|v| v.to_le_bytes()[b]));
            }
            let mut got = vec![7u8, 9];
            let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
            split_streams(&refs, flat.len(), &mut got);
            assert_eq!(got, want, "ids below {scale}");
        }
    }

    #[test]
    fn rle_runs_merge_neighbours_and_encode_long_runs() {
        let mut r = Runs::default();
        r.push(0, 1);
        r.push(0, 1);
        r.push(1, 0);
        r.push(1, 300);
        let mut out = Vec::new();
        r.write_v1(&mut out);
        // Two runs: (0 × 2): header 4, value 0; (1 × 300): header 600 = varint [0xd8, 0x04].
        assert_eq!(out, [5, 0, 0, 0, 4, 0, 0xd8, 0x04, 1]);
    }
}
