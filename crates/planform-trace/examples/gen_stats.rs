//! Length statistics of generated data, to compare with the reference
//! notebooks (searchformer.md §1.1).
//!
//! `cargo run --release -p planform-trace --example gen_stats -- SIZE [det|nondet] LAYOUTS`

use planform_trace::astar::SearchMode;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::vocab::Vocabulary;

fn describe(name: &str, mut v: Vec<usize>) {
    v.sort_unstable();
    let n = v.len();
    let mean = v.iter().sum::<usize>() as f64 / n as f64;
    println!(
        "{name:>10}: min {:>5} p50 {:>5} mean {:>8.1} max {:>5}",
        v[0],
        v[n / 2],
        mean,
        v[n - 1]
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mode = match args.get(2).map(String::as_str) {
        Some("nondet") => SearchMode::Nondeterministic,
        _ => SearchMode::Deterministic,
    };
    let layouts: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let vocab = Vocabulary::maze(size, size).expect("vocab");
    let mut gen = MazeGenerator::new(MazeGenConfig::reference(size, size, mode)).expect("config");
    let (mut prompt, mut reasoning, mut plan, mut per_layout) = (vec![], vec![], vec![], vec![]);
    for i in 0..layouts {
        let layout = gen
            .generate_layout(&vocab, &mut Rng::stream(3, i))
            .expect("generate");
        per_layout.push(layout.tasks.len());
        for t in &layout.tasks {
            prompt.push(t.tokens.prompt.len());
            reasoning.push(t.tokens.reasoning.len());
            plan.push(t.tokens.plan.len());
        }
    }
    println!(
        "maze {size}x{size} {mode:?}, {layouts} layouts, {} tasks",
        prompt.len()
    );
    describe("tasks/lay", per_layout);
    describe("prompt", prompt);
    describe("reasoning", reasoning);
    describe("plan", plan);
}
