//! Wall and CPU clocks (Linux `/proc`; CPU time falls back to wall time elsewhere) and the
//! [`Machine`] description printed with every benchmark.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// CPU seconds used so far by the calling thread (`/proc/thread-self/schedstat`, ns).
pub fn thread_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// CPU seconds (user + system) used so far by the whole process, all threads
/// (`/proc/self/stat` fields 14 and 15, in clock ticks of 1/100 s).
pub fn process_cpu() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it follow the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: f64 = f.next()?.parse().ok()?;
    let stime: f64 = f.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Which CPU clock a [`Clock`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuScope {
    /// The calling thread only.
    Thread,
    /// The whole process.
    Process,
}

/// A started stopwatch measuring wall time and CPU time.
pub struct Clock {
    wall: Instant,
    scope: CpuScope,
    cpu: Option<f64>,
}

impl Clock {
    /// Starts both clocks now.
    pub fn start(scope: CpuScope) -> Self {
        Clock {
            wall: Instant::now(),
            scope,
            cpu: read(scope),
        }
    }

    /// Wall seconds since the start.
    pub fn wall(&self) -> f64 {
        self.wall.elapsed().as_secs_f64()
    }

    /// CPU seconds since the start, or wall seconds when CPU time cannot be read.
    pub fn cpu(&self) -> f64 {
        match (self.cpu, read(self.scope)) {
            (Some(a), Some(b)) => b - a,
            _ => self.wall(),
        }
    }
}

fn read(scope: CpuScope) -> Option<f64> {
    match scope {
        CpuScope::Thread => thread_cpu(),
        CpuScope::Process => process_cpu(),
    }
}

/// The machine a benchmark ran on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo` ("unknown" elsewhere).
    pub cpu_model: String,
    /// Logical cores available to this process.
    pub cores: usize,
    /// 1-minute load average when the benchmark started (`/proc/loadavg`).
    pub load_start: Option<f64>,
    /// 1-minute load average when it ended.
    pub load_end: Option<f64>,
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
}

impl Machine {
    /// The two header lines of a benchmark report: machine, date and load; the command.
    pub fn markdown_header(&self, command: &str) -> String {
        let load = |l: Option<f64>| l.map_or_else(|| "?".into(), |l| format!("{l:.2}"));
        format!(
            "Machine: {} ({} cores), {}; 1-min load average {} at start, {} at end.\nCommand: `{command}`\n",
            self.cpu_model,
            self.cores,
            self.date,
            load(self.load_start),
            load(self.load_end)
        )
    }

    /// Describes this machine now (`load_end` is filled in by [`Machine::finish`]).
    pub fn now() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_start: load_average(),
            load_end: None,
            date: utc_date(SystemTime::now()),
        }
    }

    /// Records the load average at the end of the run.
    pub fn finish(&mut self) {
        self.load_end = load_average();
    }
}

/// The 1-minute load average.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `YYYY-MM-DD` (UTC) of a time.
pub fn utc_date(t: SystemTime) -> String {
    let days = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_match_known_days() {
        // Values from `date -u -d @SECONDS +%F`.
        for (secs, want) in [
            (0u64, "1970-01-01"),
            (951_782_400, "2000-02-29"),
            (1_709_251_199, "2024-02-29"),
            (1_795_651_200, "2026-11-26"),
        ] {
            assert_eq!(utc_date(UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
    }

    #[test]
    fn cpu_clocks_advance_with_work() {
        let c = Clock::start(CpuScope::Thread);
        let mut x = 0u64;
        while c.wall() < 0.05 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert!(x != 1);
        let cpu = c.cpu();
        assert!(cpu > 0.0 && cpu <= c.wall() + 0.01, "cpu {cpu}");
    }
}
