//! Golden-file equality: every line of the reference deterministic maze
//! datasets must be reproduced token for token.

use planform_trace::astar::SearchMode;
use planform_trace::maze::MazeTask;
use planform_trace::maze_gen::MazeSolver;
use planform_trace::rng::Rng;
use planform_trace::task::Task;
use planform_trace::tokens::StringSequence;
use planform_trace::vocab::Vocabulary;

fn check_file(name: &str, expected_lines: usize) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("golden file present");
    let mut solver = MazeSolver::new();
    let mut rng = Rng::new(0);
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let task = MazeTask::from_json(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
        let want: StringSequence = serde_json::from_str(line).expect("token fields");
        let vocab = Vocabulary::maze(task.width(), task.height()).expect("vocab");
        let (seq, plan_len) = solver
            .solve_tokens(&task, &vocab, SearchMode::Deterministic, &mut rng)
            .expect("solvable");
        let got = seq.to_strings(&vocab).expect("decode");
        assert_eq!(got.prompt, want.prompt, "{name}:{} prompt", i + 1);
        assert_eq!(got.reasoning, want.reasoning, "{name}:{} reasoning", i + 1);
        assert_eq!(got.plan, want.plan, "{name}:{} plan", i + 1);
        assert_eq!(plan_len * 3, want.plan.len());
        // The JSON line writer reproduces the reference bytes exactly.
        let written = Task::Maze(task).to_json_line(Some(&got));
        assert_eq!(written, line, "{name}:{} JSON bytes", i + 1);
        n += 1;
    }
    assert_eq!(n, expected_lines, "{name} line count");
}

#[test]
fn golden_maze_10() {
    check_file("maze-10-det.jsonl", 157);
}

#[test]
fn golden_maze_20() {
    check_file("maze-20-det.jsonl", 43);
}

#[test]
fn golden_maze_30() {
    check_file("maze-30-det.jsonl", 15);
}
