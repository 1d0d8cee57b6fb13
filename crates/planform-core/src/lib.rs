//! planform-core: the helpers every planform crate shares, one of each, with no tensor
//! dependency.
//!
//! - [`rng`]: the one deterministic generator (xoshiro256** seeded through SplitMix64),
//!   keyed streams and seed derivation. Datasets, data order, trace dropping and sampling
//!   all draw from it, so the same seed gives the same bytes on every machine.
//! - [`fs`]: atomic file writes (temporary sibling + fsync + rename).
//! - [`lock`]: one writer per run directory (an advisory `flock` on `<dir>/.lock`).
//! - [`overrides`]: the one `--set FIELD=VALUE` path of every config.
//! - [`process`]: whether a process id is still running (stale-leftover cleanup).

pub mod fs;
pub mod lock;
pub mod overrides;
pub mod process;
pub mod rng;
