//! zstd parameters for the token pages: compression time and size per task of the three
//! token-list columns of a dataset, laid out as the shard writer lays out its pages
//! (BYTE_STREAM_SPLIT: the low bytes, then three streams of zeros for ids below 256), at
//! level 1 (what `planform gen` writes) and with smaller hash tables and windows.
//!
//! ```text
//! planform gen -n 200000 -j 1 --out /tmp/g
//! cargo run --release -p planform-data --example zstd_params -- /tmp/g
//! ```
//! Best of 5 passes over the first 100,000 training rows; lower `ns/task` is faster.

use std::collections::BTreeMap;
use std::time::Instant;

use planform_data::{Dataset, Split};
use zstd::stream::raw::CParameter as P;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: zstd_params DATASET_DIR")?;
    let rows = Dataset::open(dir)?.read_split(Split::Train)?;
    let rows = &rows[..rows.len().min(100_000)];
    if rows.is_empty() {
        return Err("the dataset has no training rows".into());
    }
    let mut configs: Vec<(String, Vec<P>)> = vec![("level 1".into(), vec![])];
    for hl in [10u32, 11, 12, 13] {
        configs.push((format!("hashLog {hl}"), vec![P::HashLog(hl)]));
        configs.push((
            format!("hashLog {hl}, windowLog 17"),
            vec![P::HashLog(hl), P::WindowLog(17)],
        ));
        configs.push((
            format!("hashLog {hl}, minMatch 5"),
            vec![P::HashLog(hl), P::MinMatch(5)],
        ));
    }
    let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for column in 0..3 {
        let mut low = Vec::new();
        for r in rows {
            let t = [&r.prompt, &r.reasoning, &r.plan][column];
            low.extend(t.iter().map(|&v| v as u8));
        }
        let pages: Vec<Vec<u8>> = low
            .chunks(1 << 18)
            .map(|c| {
                let mut p = c.to_vec();
                p.resize(4 * c.len(), 0);
                p
            })
            .collect();
        for (name, params) in &configs {
            let mut c = zstd::bulk::Compressor::new(1)?;
            for p in params {
                c.set_parameter(*p)?;
            }
            let (mut best, mut size) = (f64::MAX, 0);
            let mut out = Vec::with_capacity(8 << 20);
            for _ in 0..5 {
                let t = Instant::now();
                size = 0;
                for p in &pages {
                    out.clear();
                    c.compress_to_buffer(p, &mut out)?;
                    size += out.len();
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            let e = totals.entry(name.clone()).or_default();
            e.0 += best * 1e9 / rows.len() as f64;
            e.1 += size as f64 / rows.len() as f64;
        }
    }
    println!("| zstd parameters | ns per task | bytes per task |\n|---|---|---|");
    for (name, (ns, bytes)) in &totals {
        println!("| {name} | {ns:.0} | {bytes:.1} |");
    }
    Ok(())
}
