//! What a run directory may be, and the limits a run checks before it starts.
//!
//! - [`check_run_dir`]: `planform train` writes only into a directory that is absent, empty,
//!   or already a training run (it has `checkpoints/`, `metrics.jsonl`, or a `config.toml`
//!   that parses as a [`TrainConfig`]). A file, a dataset, or a directory holding anything
//!   else is refused, and nothing in it is touched.
//! - [`lock`]: one writer per run directory (`planform_core::lock`).
//! - [`check_threads`]: at most 4 × the available cores.
//! - [`available_memory`]: `MemAvailable` of `/proc/meminfo`, for estimates made before
//!   allocating.

use std::path::Path;

use planform_core::lock::{RunLock, LOCK_FILE};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::metrics::METRICS_FILE;

/// The run's config file.
pub const CONFIG_FILE: &str = "config.toml";

/// Refuses an output path that is not a training run directory (see the module docs).
pub fn check_run_dir(out: &Path) -> Result<()> {
    let not = |reason: String| {
        Err(TrainError::NotARunDir {
            path: out.to_path_buf(),
            reason,
        })
    };
    let meta = match std::fs::metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io(out, e)),
    };
    if !meta.is_dir() {
        return not("it is a file; give a directory (new, empty, or an earlier run)".into());
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(out).map_err(|e| TrainError::io(out, e))? {
        let name = e.map_err(|e| TrainError::io(out, e))?.file_name();
        if name != LOCK_FILE {
            names.push(name.to_string_lossy().into_owned());
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    if out.join(planform_data::MANIFEST_FILE).exists() {
        return not(format!(
            "it is a dataset (it has {}); choose another output directory",
            planform_data::MANIFEST_FILE
        ));
    }
    let config = out.join(CONFIG_FILE);
    if out.join(crate::checkpoint::CHECKPOINTS_DIR).is_dir()
        || out.join(METRICS_FILE).is_file()
        || TrainConfig::from_file(&config).is_ok()
    {
        return Ok(());
    }
    names.sort();
    let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
    not(format!(
        "it holds files planform train did not write ({}{}); refusing to write into it — \
         choose a new or empty directory",
        shown.join(", "),
        if names.len() > 3 { ", …" } else { "" }
    ))
}

/// Locks `out` for this process (creating it), or names the process that holds it.
pub fn lock(out: &Path) -> Result<RunLock> {
    Ok(RunLock::acquire(out)?)
}

/// The CPU cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Refuses more libtorch threads than 4 × the available cores (more only thrash; a typo
/// such as `threads = 100000` would spawn thousands).
pub fn check_threads(threads: usize) -> Result<()> {
    let cores = available_cores();
    if threads > 4 * cores {
        return Err(TrainError::invalid(
            "threads",
            format!(
                "{threads} is more than 4 × the {cores} available cores; use at most {} \
                 (omit it for libtorch's default)",
                4 * cores
            ),
        ));
    }
    Ok(())
}

/// Bytes of memory available for new allocations (`MemAvailable` of `/proc/meminfo`), if
/// known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let kib: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kib * 1024)
}

/// `bytes` for people (`6.16 GB`).
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<()>) -> String {
        match r {
            Err(TrainError::NotARunDir { reason, .. }) => reason,
            other => panic!("expected NotARunDir, got {other:?}"),
        }
    }

    #[test]
    fn only_absent_empty_or_training_run_directories_are_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        check_run_dir(&p.join("absent")).unwrap();
        check_run_dir(p).unwrap();
        // A lock file alone (an interrupted start) is still empty.
        std::fs::write(p.join(LOCK_FILE), "").unwrap();
        check_run_dir(p).unwrap();

        let file = p.join("file.txt");
        std::fs::write(&file, "x").unwrap();
        assert!(reason(check_run_dir(&file)).contains("is a file"));
        // The directory now holds an unrelated file: refused, naming it.
        let r = reason(check_run_dir(p));
        assert!(r.contains("file.txt") && r.contains("did not write"), "{r}");

        let ds = p.join("ds");
        std::fs::create_dir(&ds).unwrap();
        std::fs::write(ds.join("manifest.json"), "{}").unwrap();
        std::fs::create_dir(ds.join("checkpoints")).unwrap();
        assert!(reason(check_run_dir(&ds)).contains("dataset"));

        // Another tool's config.toml is not a training config.
        let other = p.join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(CONFIG_FILE), "iterations = 3\n").unwrap();
        assert!(reason(check_run_dir(&other)).contains("config.toml"));

        for marker in ["checkpoints", METRICS_FILE] {
            let run = p.join(format!("run-{marker}"));
            std::fs::create_dir(&run).unwrap();
            if marker == "checkpoints" {
                std::fs::create_dir(run.join(marker)).unwrap();
            } else {
                std::fs::write(run.join(marker), "").unwrap();
            }
            std::fs::write(run.join("notes.txt"), "mine").unwrap();
            check_run_dir(&run).unwrap();
        }
        let run = p.join("run-config");
        std::fs::create_dir(&run).unwrap();
        let cfg = TrainConfig::new(
            "d",
            &run,
            crate::ModelSpec::Size(planform_model::ModelSize::Tiny),
        );
        std::fs::write(run.join(CONFIG_FILE), cfg.to_toml().unwrap()).unwrap();
        check_run_dir(&run).unwrap();
    }

    #[test]
    fn threads_are_bounded_by_the_cores() {
        let cores = available_cores();
        check_threads(1).unwrap();
        check_threads(4 * cores).unwrap();
        let e = check_threads(100_000).unwrap_err().to_string();
        assert!(e.contains("threads") && e.contains("100000"), "{e}");
    }

    #[test]
    fn mem_available_is_read_in_kib() {
        let text = "MemTotal:       24000000 kB\nMemFree:  1 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
        assert_eq!(human_bytes(6_160_000_000), "6.16 GB");
        assert_eq!(human_bytes(2_500_000), "2.5 MB");
    }
}
