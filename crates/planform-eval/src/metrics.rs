//! Aggregate metrics over scored tasks: the reference's task-level metrics
//! (`planform_trace::metrics::Summary`) plus Dualformer's 3-of-k and diversity,
//! trace-length statistics, stop reasons and mode choices.

use planform_model::StopReason;
use planform_trace::metrics::{fraction_at_least, Summary, TaskScore};
use serde::{Deserialize, Serialize};

use crate::score::{ModeChoice, TaskResult};

/// Distribution of response trace lengths (tokens before the first `plan`, `bos`
/// excluded) over the responses whose plan parsed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TraceStats {
    /// Responses counted.
    pub count: usize,
    /// Mean trace tokens (0 when `count` is 0).
    pub mean: f64,
    /// Median (nearest rank: the smallest value with at least half the responses at or
    /// below it).
    pub median: usize,
    /// Longest trace.
    pub max: usize,
}

impl TraceStats {
    /// Statistics of `values`.
    pub fn of(mut values: Vec<usize>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let n = values.len();
        TraceStats {
            count: n,
            mean: values.iter().sum::<usize>() as f64 / n as f64,
            median: values[n.div_ceil(2) - 1],
            max: values[n - 1],
        }
    }
}

/// Mean trace length of the optimal responses against A*'s, over the tasks with at
/// least one optimal response (reference `notebook/Searchformer.ipynb`, "relative
/// improvement": per task the mean over its optimal responses, then the mean over
/// tasks; the A* side averages the same tasks).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct OptimalTraceRatio {
    /// Tasks with an optimal response.
    pub tasks: usize,
    /// Mean over those tasks of the mean trace tokens of their optimal responses.
    pub response_mean: f64,
    /// Mean stored A* trace length over the same tasks.
    pub astar_mean: f64,
    /// `response_mean / astar_mean` (`None` when undefined).
    pub ratio: Option<f64>,
    /// Mean t* over the same tasks (`None` if any lacks t*).
    pub tstar_mean: Option<f64>,
    /// `response_mean / tstar_mean`.
    pub ratio_tstar: Option<f64>,
}

/// Counts of responses by first token after `bos`, with how many of each were correct
/// and optimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModeCount {
    /// Responses.
    pub responses: usize,
    /// Of those, correct.
    pub correct: usize,
    /// Of those, optimal.
    pub optimal: usize,
}

/// Mode choices (`plan` = fast, `create` = slow, other) over all responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ModeCounts {
    /// First token `plan`.
    pub fast: ModeCount,
    /// First token `create`.
    pub slow: ModeCount,
    /// Anything else.
    pub other: ModeCount,
}

/// Why responses ended, and how many failed to parse, as counts over all responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StopCounts {
    /// Ended with `eos`.
    pub eos: usize,
    /// Hit the maximum decode length.
    pub max_len: usize,
    /// No plan could be parsed (no `plan` token, or a malformed plan).
    pub parse_failed: usize,
}

/// Every aggregate metric of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Tasks evaluated.
    pub tasks: usize,
    /// Responses scored (tasks × k).
    pub responses: usize,
    /// Responses per task (the largest, if they differ).
    pub samples_per_task: usize,
    /// Reference task-level metrics: solved / optimal (any of k), SWC, ILR-on-solved,
    /// ILR-on-optimal.
    pub summary: Summary,
    /// Fraction of tasks with at least 3 correct responses (Dualformer "3-Solved-k";
    /// `None` when k < 3).
    pub solved_3: Option<f64>,
    /// Fraction of tasks with at least 3 optimal responses.
    pub optimal_3: Option<f64>,
    /// Fraction of responses that are correct.
    pub correct_responses: f64,
    /// Fraction of responses that are optimal.
    pub optimal_responses: f64,
    /// Mean number of distinct correct plans per task (Dualformer diversity).
    pub unique_correct_plans: f64,
    /// Trace lengths of the responses that parsed.
    pub trace: TraceStats,
    /// Mean stored A* trace length over the tasks.
    pub astar_mean: f64,
    /// Mean t* over the tasks (`None` if any task lacks t*).
    pub tstar_mean: Option<f64>,
    /// `trace.mean / astar_mean`.
    pub trace_ratio: Option<f64>,
    /// Optimal responses against A*, on the tasks with one.
    pub optimal_trace: OptimalTraceRatio,
    /// Stop reasons and parse failures.
    pub stops: StopCounts,
    /// First-token mode choices.
    pub modes: ModeCounts,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        sum += v;
        n += 1;
    }
    (n > 0).then(|| sum / n as f64)
}

impl EvalMetrics {
    /// Aggregates scored tasks.
    pub fn compute(results: &[TaskResult]) -> Self {
        let scores: Vec<TaskScore> = results.iter().map(|r| r.score.clone()).collect();
        let samples = || results.iter().flat_map(|r| r.samples.iter());
        let responses = samples().count();
        let k = results.iter().map(|r| r.samples.len()).max().unwrap_or(0);
        let frac = |n: usize| {
            if responses == 0 {
                0.0
            } else {
                n as f64 / responses as f64
            }
        };

        let trace = TraceStats::of(
            samples()
                .filter(|s| s.parsed())
                .map(|s| s.eval.trace_tokens)
                .collect(),
        );
        let astar_mean =
            mean(results.iter().map(|r| r.astar_reasoning_length as f64)).unwrap_or(0.0);
        let tstar_mean = results
            .iter()
            .map(|r| r.tstar)
            .collect::<Option<Vec<f64>>>()
            .and_then(|v| mean(v.into_iter()));

        let with_opt: Vec<&TaskResult> = results
            .iter()
            .filter(|r| r.score.mean_trace_optimal.is_some())
            .collect();
        let response_mean =
            mean(with_opt.iter().filter_map(|r| r.score.mean_trace_optimal)).unwrap_or(0.0);
        let opt_astar =
            mean(with_opt.iter().map(|r| r.astar_reasoning_length as f64)).unwrap_or(0.0);
        let opt_tstar = with_opt
            .iter()
            .map(|r| r.tstar)
            .collect::<Option<Vec<f64>>>()
            .and_then(|v| mean(v.into_iter()));
        let optimal_trace = OptimalTraceRatio {
            tasks: with_opt.len(),
            response_mean,
            astar_mean: opt_astar,
            ratio: ratio(response_mean, opt_astar).filter(|_| !with_opt.is_empty()),
            tstar_mean: opt_tstar,
            ratio_tstar: opt_tstar.and_then(|t| ratio(response_mean, t)),
        };

        let mut stops = StopCounts::default();
        let mut modes = ModeCounts::default();
        for s in samples() {
            match s.stop {
                StopReason::Eos => stops.eos += 1,
                StopReason::MaxLen => stops.max_len += 1,
            }
            stops.parse_failed += usize::from(!s.parsed());
            let m = match s.mode {
                ModeChoice::Fast => &mut modes.fast,
                ModeChoice::Slow => &mut modes.slow,
                ModeChoice::Other => &mut modes.other,
            };
            m.responses += 1;
            m.correct += usize::from(s.eval.correct);
            m.optimal += usize::from(s.eval.optimal);
        }

        EvalMetrics {
            tasks: results.len(),
            responses,
            samples_per_task: k,
            summary: Summary::new(&scores),
            solved_3: (k >= 3).then(|| fraction_at_least(&scores, 3, false)),
            optimal_3: (k >= 3).then(|| fraction_at_least(&scores, 3, true)),
            correct_responses: frac(samples().filter(|s| s.eval.correct).count()),
            optimal_responses: frac(samples().filter(|s| s.eval.optimal).count()),
            unique_correct_plans: mean(results.iter().map(|r| r.score.unique_correct_plans as f64))
                .unwrap_or(0.0),
            trace_ratio: ratio(trace.mean, astar_mean).filter(|_| trace.count > 0),
            trace,
            astar_mean,
            tstar_mean,
            optimal_trace,
            stops,
            modes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_stats_nearest_rank() {
        let s = TraceStats::of(vec![5, 1, 3, 9]);
        assert_eq!((s.count, s.median, s.max), (4, 3, 9));
        assert!((s.mean - 4.5).abs() < 1e-12);
        assert_eq!(TraceStats::of(vec![7, 2, 4]).median, 4);
        assert_eq!(TraceStats::of(vec![]), TraceStats::default());
    }
}
