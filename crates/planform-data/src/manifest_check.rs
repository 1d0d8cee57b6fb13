//! Cross-checks of a manifest's fields against each other and against its config: what
//! can be derived is compared with what is stored, so an edited or inconsistent manifest
//! is refused at [`crate::Dataset::open`] instead of silently steering readers (a decoder
//! `max` edited to 15 would cut every sampled response at 15 tokens).
//!
//! Checks against the rows themselves (recomputed statistics, layout counts) run when a
//! split is read ([`crate::reader`]); checks against shard footers run at open.

use crate::layouts::vocabulary_spec;
use crate::manifest::{Manifest, Split};
use crate::stats::{LengthStats, SplitLengthStats};

/// Plan tokens per plan node (`plan x y`) in both domains.
pub(crate) const PLAN_TOKENS_PER_NODE: u32 = 3;

type Check = std::result::Result<(), String>;

/// Every consistency rule of a parsed manifest; the message names the field.
pub(crate) fn check(m: &Manifest) -> Check {
    let want_version = Manifest::version_for(&m.config);
    if m.format_version != want_version {
        return Err(format!(
            "format_version {} but a manifest {} a task-file source (config.source) has \
             version {want_version}",
            m.format_version,
            if m.config.source.is_some() {
                "with"
            } else {
                "without"
            }
        ));
    }
    let spec = vocabulary_spec(&m.config.domain);
    if m.vocabulary_spec != spec {
        return Err(format!(
            "vocabulary_spec {:?} is not the vocabulary of config.domain {} ({spec:?})",
            m.vocabulary_spec,
            m.config.domain.name()
        ));
    }
    let runs = m.config.tstar.map(|t| t.runs);
    if m.astar_mean_runs != runs {
        return Err(format!(
            "astar_mean_runs {:?} disagrees with config.tstar ({runs:?} runs)",
            m.astar_mean_runs
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for split in Split::ALL {
        let info = m.split(split);
        for (i, s) in info.shards.iter().enumerate() {
            let want = split.shard_file(i);
            if !seen.insert(s.file.as_str()) {
                return Err(format!("{split}: shard {} is listed twice", s.file));
            }
            if s.file != want {
                return Err(format!(
                    "{split}: shard {i} is {:?}, expected {want:?} (shards are numbered in \
                     order within their split)",
                    s.file
                ));
            }
            if s.rows == 0 {
                return Err(format!("{split}: shard {} has 0 rows", s.file));
            }
        }
        if info.layouts > info.tasks || (info.tasks > 0 && info.layouts == 0) {
            return Err(format!(
                "{split}: {} layouts for {} tasks",
                info.layouts, info.tasks
            ));
        }
        check_lengths(&info.lengths, info.tasks).map_err(|e| format!("{split}.lengths.{e}"))?;
    }
    Ok(())
}

fn check_one(name: &str, s: &LengthStats, count: u64) -> Check {
    if s.count != count {
        return Err(format!("{name}.count is {} for {count} tasks", s.count));
    }
    if count == 0 {
        if *s != LengthStats::default() {
            return Err(format!("{name} is not all zero for an empty split"));
        }
        return Ok(());
    }
    let ordered = s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max;
    if !ordered {
        return Err(format!(
            "{name}: min {} <= p50 {} <= p90 {} <= p99 {} <= max {} does not hold",
            s.min, s.p50, s.p90, s.p99, s.max
        ));
    }
    let (lo, hi) = (f64::from(s.min), f64::from(s.max));
    if !s.mean.is_finite() || s.mean < lo - 1e-9 || s.mean > hi + 1e-9 {
        return Err(format!(
            "{name}.mean {} is outside [min {}, max {}]",
            s.mean, s.min, s.max
        ));
    }
    Ok(())
}

/// Field-level rules of one split's statistics, and the decoder = reasoning + plan + 2
/// and plan = 3 × nodes relations.
pub(crate) fn check_lengths(l: &SplitLengthStats, tasks: u64) -> Check {
    check_one("prompt", &l.prompt, tasks)?;
    check_one("reasoning", &l.reasoning, tasks)?;
    check_one("plan", &l.plan, tasks)?;
    check_one("decoder", &l.decoder, tasks)?;
    if tasks == 0 {
        return Ok(());
    }
    let (r, p, d) = (&l.reasoning, &l.plan, &l.decoder);
    if p.min % PLAN_TOKENS_PER_NODE != 0 || p.max % PLAN_TOKENS_PER_NODE != 0 {
        return Err(format!(
            "plan: min {} and max {} must be multiples of {PLAN_TOKENS_PER_NODE} (`plan x y` per node)",
            p.min, p.max
        ));
    }
    let sum = |a: u32, b: u32| u64::from(a) + u64::from(b) + 2;
    // The longest decoder sequence is at least the longest reasoning plus the shortest
    // plan (and vice versa), at most the two longest; likewise for the shortest.
    let max_ok = u64::from(d.max) >= sum(r.max, p.min).max(sum(r.min, p.max))
        && u64::from(d.max) <= sum(r.max, p.max);
    let min_ok = u64::from(d.min) >= sum(r.min, p.min)
        && u64::from(d.min) <= sum(r.min, p.max).min(sum(r.max, p.min));
    if !max_ok || !min_ok {
        return Err(format!(
            "decoder: min {} / max {} cannot be reasoning + plan + 2 with reasoning {}..={} \
             and plan {}..={}",
            d.min, d.max, r.min, r.max, p.min, p.max
        ));
    }
    let mean = r.mean + p.mean + 2.0;
    if (d.mean - mean).abs() > 1e-6 * mean.max(1.0) {
        return Err(format!(
            "decoder.mean {} is not reasoning.mean + plan.mean + 2 = {mean}",
            d.mean
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitHistograms;

    fn stats(rows: &[(usize, usize, usize)]) -> SplitLengthStats {
        let mut h = SplitHistograms::default();
        for &(a, b, c) in rows {
            h.add(a, b, c);
        }
        h.stats()
    }

    #[test]
    fn real_statistics_pass() {
        let l = stats(&[(10, 40, 9), (12, 0, 3), (30, 400, 60)]);
        check_lengths(&l, 3).unwrap();
        check_lengths(&SplitLengthStats::default(), 0).unwrap();
    }

    #[test]
    fn edited_statistics_fail() {
        let good = stats(&[(10, 40, 9), (12, 20, 3), (30, 400, 60)]);
        type Edit = Box<dyn Fn(&mut SplitLengthStats)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("decoder.max cut to 15", Box::new(|l| l.decoder.max = 15)),
            (
                "decoder.max too large",
                Box::new(|l| l.decoder.max = 10_000),
            ),
            ("decoder.min", Box::new(|l| l.decoder.min = 1)),
            ("count", Box::new(|l| l.prompt.count = 2)),
            ("p90 > max", Box::new(|l| l.reasoning.p90 = 401)),
            ("mean", Box::new(|l| l.plan.mean = 100.0)),
            ("NaN mean", Box::new(|l| l.prompt.mean = f64::NAN)),
            ("plan not 3k", Box::new(|l| l.plan.max = 61)),
            ("decoder mean", Box::new(|l| l.decoder.mean += 1.0)),
        ];
        for (what, edit) in edits {
            let mut l = good;
            edit(&mut l);
            assert!(check_lengths(&l, 3).is_err(), "{what} not caught");
        }
    }
}
