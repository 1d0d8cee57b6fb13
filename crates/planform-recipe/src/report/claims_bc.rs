//! Claims (b) bootstrapping and (c) Dualformer.

use planform_eval::EvalReport;

use super::claims::{
    at_least, beats, ClaimResult, Figure, Rate, Row, Verdict, PAPER_BOOTSTRAP_OPTIMAL,
    PAPER_BOOTSTRAP_RELATIVE, PAPER_DUAL_AUTO, PAPER_DUAL_FAST, PAPER_DUAL_SLOW,
};
use super::claims::{comparability, eval_of, optimal, pct, scale_note, Runs};
use super::Claim;

/// Evaluates claim (b).
pub fn bootstrap(label: &str, recipe: &str, runs: &Runs) -> ClaimResult {
    let claim = "Searchformer bootstrapping (sample on the training prompts, keep the shortest \
                 optimal response, fine-tune, repeat) shortens the model's search traces while \
                 holding its optimal rate (Searchformer §5: relative trace length 98.4% → \
                 88.7% → 81.3% → 73.2% of A*, optimal 90.8% → 93.5% → 93.3% → 93.7% on \
                 Sokoban)."
        .to_string();
    let names = vec![recipe.to_string()];
    let mut notes = Vec::new();
    if let Some(s) = scale_note(runs, &names) {
        notes.push(s);
    }
    let mut missing = Vec::new();
    let iters = match runs.get(recipe) {
        None => {
            missing.push(format!("run `{recipe}`"));
            Vec::new()
        }
        Some(r) => match &r.bootstrap {
            None => {
                missing.push(format!("bootstrap/bootstrap.jsonl of run `{recipe}`"));
                Vec::new()
            }
            Some(b) => b.clone(),
        },
    };
    let mut rows = Vec::new();
    for it in &iters {
        let i = it.iteration;
        let t = &it.test;
        let paper = |a: &[f64; 4]| a.get(i).map_or("–".into(), |v| format!("{v:.1}%"));
        rows.push(Row {
            what: format!("iteration {i}: optimal responses' trace / A* trace"),
            planform: t
                .relative_length
                .map_or("n/a (no optimal response)".into(), pct),
            paper: paper(&PAPER_BOOTSTRAP_RELATIVE),
        });
        rows.push(Row {
            what: format!("iteration {i}: optimal"),
            planform: format!(
                "{}, k = {}",
                Rate::of(&[(t.optimal, t.tasks)]).map_or("–".into(), |r| r.describe()),
                t.samples
            ),
            paper: paper(&PAPER_BOOTSTRAP_OPTIMAL),
        });
    }
    let (verdict, verdict_line) = match (iters.first(), iters.last()) {
        (Some(first), Some(last)) if iters.len() >= 2 && missing.is_empty() => {
            let shorter = match (first.test.relative_length, last.test.relative_length) {
                (Some(a), Some(b)) if b < a => Verdict::Yes,
                _ => Verdict::No,
            };
            let held = match (
                Rate::of(&[(last.test.optimal, last.test.tasks)]),
                Rate::of(&[(first.test.optimal, first.test.tasks)]),
            ) {
                (Some(l), Some(f)) => at_least(&l, &f),
                _ => Verdict::Missing,
            };
            let v = Verdict::all(&[shorter, held]);
            (
                v,
                format!(
                    "reproduces at CPU scale: {} — relative trace length {} → {} (traces \
                     shorter: {}), optimal {} → {} (held within noise: {})",
                    v.words(),
                    first.test.relative_length.map_or("n/a".into(), pct),
                    last.test.relative_length.map_or("n/a".into(), pct),
                    shorter.words(),
                    pct(first.test.optimal),
                    pct(last.test.optimal),
                    held.words()
                ),
            )
        }
        _ => (
            Verdict::Missing,
            format!("reproduces at CPU scale: {}", Verdict::Missing.words()),
        ),
    };
    let n = iters.len().max(4);
    let cats: Vec<String> = (0..n).map(|i| format!("iteration {i}")).collect();
    let at = |i: usize, f: &dyn Fn(usize) -> Option<f64>| f(i);
    let rel: Vec<Option<f64>> = (0..n)
        .map(|i| {
            at(i, &|i| {
                iters
                    .iter()
                    .find(|x| x.iteration == i)?
                    .test
                    .relative_length
                    .map(|v| 100.0 * v)
            })
        })
        .collect();
    let opt: Vec<Option<f64>> = (0..n)
        .map(|i| {
            iters
                .iter()
                .find(|x| x.iteration == i)
                .map(|x| 100.0 * x.test.optimal)
        })
        .collect();
    let paper = |a: &[f64; 4]| (0..n).map(|i| a.get(i).copied()).collect::<Vec<_>>();
    let figures = vec![Figure {
        title: format!("{label}: trace length and optimal rate per iteration"),
        y_label: "%".into(),
        categories: cats,
        series: vec![
            ("planform trace / A*".into(), rel),
            ("planform optimal".into(), opt),
            (
                "paper trace / A* (Sokoban)".into(),
                paper(&PAPER_BOOTSTRAP_RELATIVE),
            ),
            (
                "paper optimal (Sokoban)".into(),
                paper(&PAPER_BOOTSTRAP_OPTIMAL),
            ),
        ],
        lines: true,
    }];
    ClaimResult {
        label: label.into(),
        claim,
        verdict,
        verdict_line,
        rows,
        notes,
        missing,
        runs: names,
        figures,
    }
}

fn trace_mean(e: &EvalReport) -> f64 {
    e.metrics.trace.mean
}

/// Evaluates claim (c).
pub fn dualformer(claim_cfg: &Claim, runs: &Runs) -> ClaimResult {
    let Claim::Dualformer {
        label,
        dualformer,
        solution_only,
        search_augmented,
        baseline_eval,
        fast_eval,
        slow_eval,
        auto_eval,
    } = claim_cfg
    else {
        unreachable!("dualformer() is called for Claim::Dualformer only")
    };
    let claim = "One Dualformer model (trained on randomly shortened traces) beats the \
                 solution-only model in fast mode, matches or beats the search-augmented model \
                 in slow mode with shorter traces, and in auto mode chooses between the two \
                 (Dualformer, 30×30 mazes: fast 80% vs 30% optimal; slow 97.6% vs 93.3% with \
                 45.5% fewer reasoning steps; auto 96.6% with 59.9% fewer steps)."
        .to_string();
    let names = vec![
        dualformer.clone(),
        solution_only.clone(),
        search_augmented.clone(),
    ];
    let mut missing = Vec::new();
    let so = eval_of(runs, solution_only, baseline_eval, &mut missing);
    let sa = eval_of(runs, search_augmented, baseline_eval, &mut missing);
    let fast = eval_of(runs, dualformer, fast_eval, &mut missing);
    let slow = eval_of(runs, dualformer, slow_eval, &mut missing);
    let auto = eval_of(runs, dualformer, auto_eval, &mut missing);
    let mut notes = Vec::new();
    if let Some(s) = scale_note(runs, &names) {
        notes.push(s);
    }
    notes.push(
        "Trace lengths are mean trace tokens per response (before the first `plan`, over \
         responses whose plan parsed); the paper counts reasoning steps. Dualformer traces \
         may omit cost tokens, so tokens and steps are not the same ratio."
            .into(),
    );
    let rate = |e: Option<&EvalReport>| e.and_then(|e| Rate::of(&[optimal(e)]));
    let (so_r, sa_r, fast_r, slow_r, auto_r) =
        (rate(so), rate(sa), rate(fast), rate(slow), rate(auto));
    let fewer = |e: Option<&EvalReport>| match (e, sa) {
        (Some(e), Some(sa)) if trace_mean(sa) > 0.0 => Some(1.0 - trace_mean(e) / trace_mean(sa)),
        _ => None,
    };
    let desc = |r: &Option<Rate>| r.as_ref().map_or("missing".into(), |r| r.describe());
    let fewer_s = |f: Option<f64>| {
        f.map_or("–".into(), |f| {
            format!("{:.1}% fewer trace tokens", 100.0 * f)
        })
    };
    let mut rows = vec![
        Row {
            what: "solution-only: optimal".into(),
            planform: desc(&so_r),
            paper: format!("{:.0}%", PAPER_DUAL_FAST.1),
        },
        Row {
            what: "Dualformer fast: optimal".into(),
            planform: desc(&fast_r),
            paper: format!("{:.0}%", PAPER_DUAL_FAST.0),
        },
        Row {
            what: "search-augmented: optimal".into(),
            planform: desc(&sa_r),
            paper: format!("{:.1}% (Searchformer)", PAPER_DUAL_SLOW.1),
        },
        Row {
            what: "Dualformer slow: optimal".into(),
            planform: desc(&slow_r),
            paper: format!("{:.1}%", PAPER_DUAL_SLOW.0),
        },
        Row {
            what: "Dualformer slow: trace vs search-augmented".into(),
            planform: fewer_s(fewer(slow)),
            paper: format!("{:.1}% fewer steps", PAPER_DUAL_SLOW.2),
        },
        Row {
            what: "Dualformer auto: optimal".into(),
            planform: desc(&auto_r),
            paper: format!("{:.1}%", PAPER_DUAL_AUTO.0),
        },
        Row {
            what: "Dualformer auto: trace vs search-augmented".into(),
            planform: fewer_s(fewer(auto)),
            paper: format!("{:.1}% fewer steps", PAPER_DUAL_AUTO.1),
        },
    ];
    if let Some(a) = auto {
        let m = &a.metrics.modes;
        let n = a.metrics.responses.max(1) as f64;
        rows.push(Row {
            what: "Dualformer auto: responses choosing fast / slow".into(),
            planform: format!(
                "{:.1}% / {:.1}% (optimal {:.1}% / {:.1}% of those)",
                100.0 * m.fast.responses as f64 / n,
                100.0 * m.slow.responses as f64 / n,
                100.0 * m.fast.optimal as f64 / m.fast.responses.max(1) as f64,
                100.0 * m.slow.optimal as f64 / m.slow.responses.max(1) as f64,
            ),
            paper: "–".into(),
        });
    }
    let (verdict, verdict_line) = match (&so_r, &sa_r, &fast_r, &slow_r, &auto_r) {
        (Some(so_r), Some(sa_r), Some(fast_r), Some(slow_r), Some(auto_r))
            if missing.is_empty() =>
        {
            if let Some(why) = comparability(runs, &names) {
                notes.push(format!("Not an equal-data, equal-model comparison: {why}."));
            }
            let shorter = |f: Option<f64>| {
                if f.is_some_and(|f| f > 0.0) {
                    Verdict::Yes
                } else {
                    Verdict::No
                }
            };
            let fast_v = beats(fast_r, so_r);
            let slow_v = Verdict::all(&[at_least(slow_r, sa_r), shorter(fewer(slow))]);
            let both_modes = auto.is_some_and(|a| {
                a.metrics.modes.fast.responses > 0 && a.metrics.modes.slow.responses > 0
            });
            let auto_v = Verdict::all(&[
                at_least(auto_r, sa_r),
                shorter(fewer(auto)),
                if both_modes {
                    Verdict::Yes
                } else {
                    Verdict::No
                },
            ]);
            let mut v = Verdict::all(&[fast_v, slow_v, auto_v]);
            if comparability(runs, &names).is_some() {
                v = Verdict::NotComparable;
            }
            (
                v,
                format!(
                    "reproduces at CPU scale: {} — fast {} vs solution-only {} (beats: {}); \
                     slow {} vs search-augmented {}, {} (matches with shorter traces: {}); \
                     auto {}, {} (uses both modes and matches: {})",
                    v.words(),
                    pct(fast_r.mean),
                    pct(so_r.mean),
                    fast_v.words(),
                    pct(slow_r.mean),
                    pct(sa_r.mean),
                    fewer_s(fewer(slow)),
                    slow_v.words(),
                    pct(auto_r.mean),
                    fewer_s(fewer(auto)),
                    auto_v.words()
                ),
            )
        }
        _ => (
            Verdict::Missing,
            format!("reproduces at CPU scale: {}", Verdict::Missing.words()),
        ),
    };
    let v = |r: &Option<Rate>| r.as_ref().map(|r| 100.0 * r.mean);
    let figures = vec![
        Figure {
            title: format!("{label}: optimal rate"),
            y_label: "% of test tasks solved optimally".into(),
            categories: [
                "solution-only",
                "search-augm.",
                "dual fast",
                "dual slow",
                "dual auto",
            ]
            .map(String::from)
            .to_vec(),
            series: vec![
                (
                    "planform".into(),
                    vec![v(&so_r), v(&sa_r), v(&fast_r), v(&slow_r), v(&auto_r)],
                ),
                (
                    "paper (30×30 maze)".into(),
                    vec![
                        Some(PAPER_DUAL_FAST.1),
                        Some(PAPER_DUAL_SLOW.1),
                        Some(PAPER_DUAL_FAST.0),
                        Some(PAPER_DUAL_SLOW.0),
                        Some(PAPER_DUAL_AUTO.0),
                    ],
                ),
            ],
            lines: false,
        },
        Figure {
            title: format!("{label}: mean trace tokens per response"),
            y_label: "trace tokens".into(),
            categories: ["search-augm.", "dual slow", "dual auto", "dual fast"]
                .map(String::from)
                .to_vec(),
            series: vec![(
                "planform".into(),
                vec![
                    sa.map(trace_mean),
                    slow.map(trace_mean),
                    auto.map(trace_mean),
                    fast.map(trace_mean),
                ],
            )],
            lines: false,
        },
    ];
    ClaimResult {
        label: label.clone(),
        claim,
        verdict,
        verdict_line,
        rows,
        notes,
        missing,
        runs: names,
        figures,
    }
}
