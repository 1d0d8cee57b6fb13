//! Nondeterministic A* reproduces the reference *distribution* of traces.
//!
//! The expected statistics were recorded by running a Python re-statement of
//! the reference `astar.py` (Python `heapq`, `random.shuffle` of the children,
//! `random.choice([False, True])` in `__lt__`) with `random.seed(1)` — maze:
//! reasoning tokens = 5 × steps; Sokoban: tokens of `WithBoxSokobanTokenizer`.
//! We compare means (within 4.5 combined standard errors) and standard
//! deviations (within 20%).

use planform_trace::astar::SearchMode;
use planform_trace::maze::MazeTask;
use planform_trace::maze_gen::MazeSolver;
use planform_trace::rng::Rng;
use planform_trace::sokoban::SokobanLevel;
use planform_trace::sokoban_search::{SokobanSolver, DEFAULT_MAX_EXPANSIONS};
use planform_trace::vocab::Vocabulary;

struct Recorded {
    n: usize,
    mean: f64,
    sd: f64,
    min: usize,
    max: usize,
}

fn stats(v: &[usize]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<usize>() as f64 / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn compare(name: &str, lens: &[usize], r: &Recorded) {
    let (mean, sd) = stats(lens);
    eprintln!(
        "{name}: mean {mean:.2} sd {sd:.2} (reference {:.2} / {:.2})",
        r.mean, r.sd
    );
    let se = (r.sd * r.sd / r.n as f64 + sd * sd / lens.len() as f64).sqrt();
    assert!(
        (mean - r.mean).abs() <= 4.5 * se + 1e-9,
        "{name}: mean {mean:.2} vs reference {:.2} (se {se:.2})",
        r.mean
    );
    assert!(
        (sd - r.sd).abs() <= 0.2 * r.sd + 0.5,
        "{name}: sd {sd:.2} vs reference {:.2}",
        r.sd
    );
    let lo = *lens.iter().min().unwrap();
    let hi = *lens.iter().max().unwrap();
    assert!(
        lo >= r.min.saturating_sub(r.min / 10) && hi <= r.max + r.max / 10,
        "{name}: range {lo}..{hi}"
    );
}

fn maze_lens(task: &MazeTask, runs: usize) -> Vec<usize> {
    let vocab = Vocabulary::maze(task.width(), task.height()).unwrap();
    let mut solver = MazeSolver::new();
    (0..runs)
        .map(|i| {
            let mut rng = Rng::stream(99, i as u64);
            let (seq, _) = solver
                .solve_tokens(task, &vocab, SearchMode::Nondeterministic, &mut rng)
                .unwrap();
            seq.reasoning.len()
        })
        .collect()
}

fn golden(file: &str, line: usize) -> MazeTask {
    let path = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    MazeTask::from_json(text.lines().nth(line).unwrap()).unwrap()
}

#[test]
fn maze_nondeterministic_distribution() {
    let open8 = MazeTask::from_json(
        r#"{"width": 8, "height": 8, "start": [0, 0], "goal": [7, 7], "walls": []}"#,
    )
    .unwrap();
    let bar9 = MazeTask::from_json(
        r#"{"width": 9, "height": 9, "start": [4, 0], "goal": [4, 8], "walls": [[1,4],[2,4],[3,4],[4,4],[5,4],[6,4],[7,4]]}"#,
    )
    .unwrap();
    let cases = [
        (
            "open 8x8",
            open8,
            Recorded {
                n: 4000,
                mean: 609.85375,
                sd: 63.71261539865947,
                min: 310,
                max: 725,
            },
        ),
        (
            "bar 9x9",
            bar9,
            Recorded {
                n: 4000,
                mean: 649.05875,
                sd: 69.9192055049076,
                min: 470,
                max: 775,
            },
        ),
        (
            "maze-10 line 0",
            golden("maze-10-det.jsonl", 0),
            Recorded {
                n: 4000,
                mean: 162.58375,
                sd: 7.342886757774493,
                min: 150,
                max: 170,
            },
        ),
        (
            "maze-10 line 1",
            golden("maze-10-det.jsonl", 1),
            Recorded {
                n: 4000,
                mean: 203.195,
                sd: 4.552963320739582,
                min: 180,
                max: 205,
            },
        ),
        (
            "maze-10 line 2",
            golden("maze-10-det.jsonl", 2),
            Recorded {
                n: 4000,
                mean: 147.87375,
                sd: 4.004411434593104,
                min: 120,
                max: 150,
            },
        ),
        (
            "maze-20 line 0",
            golden("maze-20-det.jsonl", 0),
            Recorded {
                n: 2000,
                mean: 517.72,
                sd: 7.5250647837742894,
                min: 475,
                max: 535,
            },
        ),
        (
            "maze-20 line 1",
            golden("maze-20-det.jsonl", 1),
            Recorded {
                n: 2000,
                mean: 593.3525,
                sd: 10.100655609909685,
                min: 565,
                max: 605,
            },
        ),
        (
            "maze-30 line 0",
            golden("maze-30-det.jsonl", 0),
            Recorded {
                n: 1000,
                mean: 1189.065,
                sd: 18.01251717556433,
                min: 1115,
                max: 1230,
            },
        ),
    ];
    for (name, task, rec) in cases {
        compare(name, &maze_lens(&task, 4000), &rec);
    }
}

#[test]
fn sokoban_nondeterministic_distribution() {
    let level =
        SokobanLevel::from_ascii("#######\n#  .  #\n#  #  #\n# @   #\n# $$. #\n#  #  #\n#######\n")
            .unwrap();
    let vocab = Vocabulary::sokoban(7, 7, 40_000).unwrap();
    let mut solver = SokobanSolver::new();
    let lens: Vec<usize> = (0..600)
        .map(|i| {
            let mut rng = Rng::stream(5, i);
            let (seq, _) = solver
                .solve_tokens(
                    &level,
                    &vocab,
                    SearchMode::Nondeterministic,
                    &mut rng,
                    DEFAULT_MAX_EXPANSIONS,
                )
                .unwrap();
            seq.reasoning.len()
        })
        .collect();
    compare(
        "example-7722",
        &lens,
        &Recorded {
            n: 300,
            mean: 2362.54,
            sd: 207.5594575055543,
            min: 1740,
            max: 2622,
        },
    );
}
