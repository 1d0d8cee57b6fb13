//! Generation throughput: pure generation vs `generate` (with Parquet writes), plus a
//! Parquet encoding comparison on the generated rows.
//!
//! ```text
//! cargo run --release -p planform-data --example write_bench -- TASKS THREADS OUT_DIR [SIZE]
//! ```
//! Maze `SIZE×SIZE` (default 10), deterministic A*, seed 1. `GEN_ONLY=1` runs only step 2,
//! `PURE_ONLY=1` only step 1 (handy under `perf stat`), `NO_TABLE=1` steps 1 and 2 without
//! the encoding table; `ROW_GROUP=n` sets the row-group size of step 2.

use std::path::Path;
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use planform_data::schema::to_batch;
use planform_data::{generate, Dataset, Domain, Example, GenerateConfig, SearchMode, Split};
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::vocab::Vocabulary;
use rayon::prelude::*;

/// The allocator of the `planform` binary, so that the numbers match `planform gen`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: write_bench TASKS THREADS OUT_DIR [SIZE]".into());
    }
    let n: u64 = args[1].parse()?;
    let threads: usize = args[2].parse()?;
    let out = Path::new(&args[3]);
    let size: u32 = args.get(4).map_or(Ok(10), |s| s.parse())?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;

    let only_generate = std::env::var_os("GEN_ONLY").is_some();
    // 1. Pure generation (A* + tokens, no JSON, no Parquet), same chunked scheme.
    let vocab = Vocabulary::maze(size, size)?;
    let cfg = MazeGenConfig::reference(size, size, SearchMode::Deterministic);
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let (mut tasks, mut tokens, mut next) = (0u64, 0u64, 0u64);
    while tasks < n && !only_generate {
        let chunk = 64 * threads as u64;
        let r: Vec<(u64, u64)> = pool.install(|| {
            (next..next + chunk)
                .into_par_iter()
                .map_init(
                    || MazeGenerator::new(cfg).expect("valid config"),
                    |g, i| {
                        let l = g
                            .generate_layout(&vocab, &mut Rng::stream(1, i))
                            .expect("layout");
                        let tok = l.tasks.iter().map(|s| s.tokens.len() as u64).sum();
                        (l.tasks.len() as u64, tok)
                    },
                )
                .collect()
        });
        next += chunk;
        for (a, b) in r {
            tasks += a;
            tokens += b;
        }
    }
    let pure = t.elapsed().as_secs_f64();
    let pure_cpu = cpu_seconds() - cpu;
    println!(
        "pure generation: {tasks} tasks in {pure:.2}s wall = {:.0} tasks/s, {:.2}M tokens/s \
         ({threads} threads); {pure_cpu:.2} CPU-s = {:.0} tasks per CPU-second",
        tasks as f64 / pure,
        tokens as f64 / pure / 1e6,
        tasks as f64 / pure_cpu
    );

    if std::env::var_os("PURE_ONLY").is_some() {
        return Ok(());
    }
    // 2. Full generate() with Parquet writes.
    let mut c = GenerateConfig::new(Domain::maze(size, size), n);
    c.seed = 1;
    c.overwrite = true;
    if let Some(rg) = std::env::var("ROW_GROUP").ok().and_then(|v| v.parse().ok()) {
        c.row_group_rows = rg;
    }
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let m = generate(&c, out, threads, |_, _| {})?;
    let full = t.elapsed().as_secs_f64();
    let full_cpu = cpu_seconds() - cpu;
    let bytes: u64 = Split::ALL
        .iter()
        .flat_map(|&s| m.split(s).shards.iter().map(|x| x.bytes))
        .sum();
    println!(
        "generate (with Parquet): {n} tasks in {full:.2}s wall = {:.0} tasks/s ({threads} \
         threads); {full_cpu:.2} CPU-s = {:.0} tasks per CPU-second; {bytes} bytes on disk = \
         {:.1} MB per million tasks",
        n as f64 / full,
        n as f64 / full_cpu,
        bytes as f64 / n as f64
    );

    if only_generate || std::env::var_os("NO_TABLE").is_some() {
        return Ok(());
    }
    // 3. Read back (checksums verified) and time the Parquet encoding alone.
    let ds = Dataset::open(out)?;
    let t = Instant::now();
    let rows = ds.read_split(Split::Train)?;
    println!(
        "read_split(train): {} rows in {:.2}s",
        rows.len(),
        t.elapsed().as_secs_f64()
    );
    let sample: Vec<Example> = rows.into_iter().take(100_000).collect();
    if let Some(reps) = std::env::var("ENCODE_REPS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // Interleaved repeats of the two closest candidates; report the minimum CPU time.
        let cands = [
            (
                "zstd(3) dict, no stats",
                Variant {
                    stats: false,
                    ..Variant::default()
                },
            ),
            (
                "zstd(3) plain, no stats",
                Variant {
                    dict: false,
                    stats: false,
                    ..Variant::default()
                },
            ),
        ];
        let mut best = [f64::MAX; 2];
        let mut size = [0usize; 2];
        for _ in 0..reps {
            for (i, (_, v)) in cands.iter().enumerate() {
                let (secs, len) = encode(&sample, *v)?;
                best[i] = best[i].min(secs);
                size[i] = len;
            }
        }
        for (i, (name, _)) in cands.iter().enumerate() {
            println!(
                "  min of {reps}: {name:<26} {:.2} CPU-s ({:.0} rows per CPU-s), {:.1} MB per million rows",
                best[i],
                sample.len() as f64 / best[i],
                size[i] as f64 / sample.len() as f64
            );
        }
        return Ok(());
    }
    for (name, v) in [
        ("zstd(3) dict", Variant::default()),
        (
            "zstd(1) dict",
            Variant {
                level: 1,
                ..Variant::default()
            },
        ),
        (
            "zstd(3) plain",
            Variant {
                dict: false,
                ..Variant::default()
            },
        ),
        (
            "zstd(9) dict",
            Variant {
                level: 9,
                ..Variant::default()
            },
        ),
        (
            "zstd(3) dict, no token stats",
            Variant {
                stats: false,
                ..Variant::default()
            },
        ),
        (
            "zstd(3) dict, v2 pages",
            Variant {
                v2: true,
                ..Variant::default()
            },
        ),
        (
            "zstd(3) plain, no stats",
            Variant {
                dict: false,
                stats: false,
                ..Variant::default()
            },
        ),
        (
            "zstd(1) plain, no stats",
            Variant {
                level: 1,
                dict: false,
                stats: false,
                v2: false,
                enc: None,
            },
        ),
        (
            "zstd(3) byte-stream-split, no stats",
            Variant {
                dict: false,
                stats: false,
                enc: Some(parquet::basic::Encoding::BYTE_STREAM_SPLIT),
                ..Variant::default()
            },
        ),
        (
            "zstd(1) byte-stream-split [used]",
            Variant {
                level: 1,
                dict: false,
                stats: false,
                enc: Some(parquet::basic::Encoding::BYTE_STREAM_SPLIT),
                ..Variant::default()
            },
        ),
        (
            "zstd(3) delta, no stats",
            Variant {
                dict: false,
                stats: false,
                enc: Some(parquet::basic::Encoding::DELTA_BINARY_PACKED),
                ..Variant::default()
            },
        ),
        (
            "zstd(1) delta, no stats",
            Variant {
                level: 1,
                dict: false,
                stats: false,
                enc: Some(parquet::basic::Encoding::DELTA_BINARY_PACKED),
                ..Variant::default()
            },
        ),
    ] {
        let (secs, len) = encode(&sample, v)?;
        println!(
            "  encode {} rows, {name:<30}: {secs:.2} CPU-s ({:.0} rows per CPU-s), {:.1} MB per million rows",
            sample.len(),
            sample.len() as f64 / secs,
            len as f64 / sample.len() as f64
        );
    }
    Ok(())
}

/// CPU seconds (user + system) of this process so far, from /proc (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[derive(Clone, Copy)]
struct Variant {
    level: i32,
    dict: bool,
    stats: bool,
    v2: bool,
    /// Encoding of the token columns (None: plain or dictionary as `dict` says).
    enc: Option<parquet::basic::Encoding>,
}

impl Default for Variant {
    fn default() -> Self {
        Variant {
            level: 3,
            dict: true,
            stats: true,
            v2: false,
            enc: None,
        }
    }
}

/// Encode `rows` into an in-memory Parquet file with one property variant (single thread).
fn encode(rows: &[Example], v: Variant) -> Result<(f64, usize), Box<dyn std::error::Error>> {
    use parquet::file::properties::{EnabledStatistics, WriterVersion};
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(v.level)?))
        .set_max_row_group_row_count(Some(planform_data::ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_dictionary_enabled(ColumnPath::from("task"), false)
        .set_column_statistics_enabled(ColumnPath::from("task"), EnabledStatistics::None);
    if v.v2 {
        b = b.set_writer_version(WriterVersion::PARQUET_2_0);
    }

    for col in ["prompt", "reasoning", "plan"] {
        let path = ColumnPath::new(vec![col.into(), "list".into(), "item".into()]);
        if !v.dict {
            b = b.set_column_dictionary_enabled(path.clone(), false);
        }
        if let Some(e) = v.enc {
            b = b.set_column_encoding(path.clone(), e);
        }
        if !v.stats {
            b = b.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    let t = cpu_seconds();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(
        &mut buf,
        planform_data::schema::arrow_schema(),
        Some(b.build()),
    )?;
    for chunk in rows.chunks(4096) {
        w.write(&to_batch(chunk)?)?;
    }
    w.close()?;
    Ok((cpu_seconds() - t, buf.len()))
}
