//! Claim (a): search-augmented beats solution-only at equal data and model size.

use planform_data::Domain;

use super::claims::{
    beats, ClaimResult, Figure, Rate, Row, Verdict, PAPER_SOKOBAN_SEARCH_AUGMENTED,
    PAPER_SOKOBAN_SOLUTION_ONLY,
};
use super::claims::{comparability, eval_of, optimal, pct, scale_note, solved, Runs};

fn is_sokoban(runs: &Runs, names: &[String]) -> bool {
    names.iter().find_map(|n| runs.get(n)).is_some_and(|r| {
        matches!(
            r.recipe.data.generate_config().domain,
            Domain::Sokoban { .. }
        )
    })
}

/// Evaluates claim (a).
pub fn search_vs_solution(
    label: &str,
    solution_only: &[String],
    search_augmented: &[String],
    eval: &str,
    runs: &Runs,
) -> ClaimResult {
    let mut missing = Vec::new();
    let all: Vec<String> = solution_only
        .iter()
        .chain(search_augmented)
        .cloned()
        .collect();
    let so: Vec<_> = solution_only
        .iter()
        .filter_map(|n| eval_of(runs, n, eval, &mut missing))
        .collect();
    let sa: Vec<_> = search_augmented
        .iter()
        .filter_map(|n| eval_of(runs, n, eval, &mut missing))
        .collect();
    let sokoban = is_sokoban(runs, &all);
    let claim = "A model trained on A* search traces followed by the plan (search-augmented) \
                 solves more test tasks optimally than the same model trained on plans alone \
                 (solution-only), with equal data and model size (Searchformer §6.1 Table 1 \
                 for Sokoban; maze figures show the same, qualitatively, with the gap growing \
                 with maze size)."
        .to_string();
    let mut notes = Vec::new();
    if let Some(s) = scale_note(runs, &all) {
        notes.push(s);
    }
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    let (so_opt, sa_opt) = (
        Rate::of(&so.iter().map(|e| optimal(e)).collect::<Vec<_>>()),
        Rate::of(&sa.iter().map(|e| optimal(e)).collect::<Vec<_>>()),
    );
    let (so_sol, sa_sol) = (
        Rate::of(&so.iter().map(|e| solved(e)).collect::<Vec<_>>()),
        Rate::of(&sa.iter().map(|e| solved(e)).collect::<Vec<_>>()),
    );
    let paper = |v: f64, se: Option<f64>| {
        if sokoban {
            se.map_or(format!("{v:.1}%"), |s| format!("{v:.1}% ± {s:.1}"))
        } else {
            "– (maze: figures only)".into()
        }
    };
    let (ps, pa) = (PAPER_SOKOBAN_SOLUTION_ONLY, PAPER_SOKOBAN_SEARCH_AUGMENTED);
    for (what, rate, p) in [
        ("solution-only: optimal", &so_opt, paper(ps.1, Some(ps.2))),
        (
            "search-augmented: optimal",
            &sa_opt,
            paper(pa.1, Some(pa.2)),
        ),
        ("solution-only: solved", &so_sol, paper(ps.0, None)),
        ("search-augmented: solved", &sa_sol, paper(pa.0, None)),
    ] {
        rows.push(Row {
            what: what.into(),
            planform: rate.as_ref().map_or("missing".into(), |r| r.describe()),
            paper: p,
        });
    }
    if let Some(e) = so.first().or(sa.first()) {
        notes.push(format!(
            "Each task counts as optimal if any of its k = {} sampled responses is optimal \
             (as the paper, which uses k = 64); eval `{eval}` on {} test tasks (the first by hashed id, spread over the split).",
            e.metrics.samples_per_task, e.metrics.tasks
        ));
    }
    let verdict = match (&so_opt, &sa_opt) {
        _ if !missing.is_empty() => Verdict::Missing,
        (Some(a), Some(b)) => match comparability(runs, &all) {
            Some(why) => {
                notes.push(format!("Not an equal-data, equal-model comparison: {why}."));
                Verdict::NotComparable
            }
            None => beats(b, a),
        },
        _ => Verdict::Missing,
    };
    let verdict_line = match (&so_opt, &sa_opt) {
        (Some(a), Some(b)) => format!(
            "reproduces at CPU scale: {} — search-augmented {} vs solution-only {} optimal \
             (difference {:+.1} points)",
            verdict.words(),
            pct(b.mean),
            pct(a.mean),
            100.0 * (b.mean - a.mean)
        ),
        _ => format!("reproduces at CPU scale: {}", verdict.words()),
    };
    let mut fig = Figure {
        title: format!("{label}: optimal and solved rate"),
        y_label: "% of test tasks".into(),
        categories: vec!["solution-only".into(), "search-augmented".into()],
        series: vec![
            (
                "planform optimal".into(),
                vec![
                    so_opt.as_ref().map(|r| 100.0 * r.mean),
                    sa_opt.as_ref().map(|r| 100.0 * r.mean),
                ],
            ),
            (
                "planform solved".into(),
                vec![
                    so_sol.as_ref().map(|r| 100.0 * r.mean),
                    sa_sol.as_ref().map(|r| 100.0 * r.mean),
                ],
            ),
        ],
        lines: false,
    };
    if sokoban {
        fig.series.push((
            "paper optimal (Sokoban, 45M)".into(),
            vec![Some(ps.1), Some(pa.1)],
        ));
    }
    figures.push(fig);
    ClaimResult {
        label: label.into(),
        claim,
        verdict,
        verdict_line,
        rows,
        notes,
        missing,
        runs: all,
        figures,
    }
}
