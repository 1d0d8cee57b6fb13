//! Read throughput of an existing dataset:
//! `cargo run --release -p planform-data --example read_bench -- DATASET_DIR`.

use std::time::Instant;

use planform_data::{Dataset, Split};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: read_bench DATASET_DIR")?;
    let t = Instant::now();
    let ds = Dataset::open(&dir)?;
    println!(
        "open (manifest + footers): {:.3}s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    ds.verify()?;
    println!(
        "verify (sha256 of all shards): {:.2}s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let train = ds.read_split(Split::Train)?;
    let secs = t.elapsed().as_secs_f64();
    let tokens: usize = train
        .iter()
        .map(|e| e.prompt.len() + e.reasoning.len() + e.plan.len())
        .sum();
    println!(
        "read_split(train): {} rows, {:.1}M tokens in {secs:.2}s = {:.0} rows/s",
        train.len(),
        tokens as f64 / 1e6,
        train.len() as f64 / secs
    );
    let t = Instant::now();
    let mut n = 0;
    for b in ds.batches(Split::Test, 4096) {
        n += b?.len();
    }
    println!(
        "batches(test): {n} rows in {:.2}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
