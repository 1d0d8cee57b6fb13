//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::Path;

use planform_data::{generate, Domain, GenerateConfig, Manifest};

/// A small 5×5 maze config (fast): `n` tasks, 20% test, shards of 97 rows in row groups
/// of 10 rows.
pub fn small_maze(n: u64, seed: u64) -> GenerateConfig {
    let mut c = GenerateConfig::new(Domain::maze(5, 5), n);
    c.seed = seed;
    c.test_fraction = 0.2;
    c.shard_rows = 97;
    c.row_group_rows = 10;
    c
}

/// Generate with no progress output.
pub fn gen(config: &GenerateConfig, out: &Path, threads: usize) -> Manifest {
    generate(config, out, threads, |_, _| {}).expect("generation succeeds")
}
