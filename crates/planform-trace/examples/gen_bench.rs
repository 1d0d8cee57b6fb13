//! Single-thread generation throughput.
//!
//! `cargo run --release -p planform-trace --example gen_bench -- [maze|sokoban] SIZE [det|nondet] SECONDS`
//! e.g. `... -- maze 10 det 3` or `... -- sokoban 7 nondet 10`.

use std::time::Instant;

use planform_trace::astar::SearchMode;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::sokoban_gen::{SokobanGenConfig, SokobanGenerator};
use planform_trace::vocab::Vocabulary;

/// CPU time of this thread in seconds (Linux `/proc/thread-self/schedstat`), so that
/// rates are meaningful on a loaded machine; falls back to wall time elsewhere.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

struct Clock {
    wall: Instant,
    cpu: Option<f64>,
}

impl Clock {
    fn start() -> Self {
        Clock {
            wall: Instant::now(),
            cpu: cpu_seconds(),
        }
    }
    fn wall(&self) -> f64 {
        self.wall.elapsed().as_secs_f64()
    }
    /// CPU seconds if available, else wall seconds.
    fn cpu(&self) -> f64 {
        match (self.cpu, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => self.wall(),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let domain = args.get(1).map(String::as_str).unwrap_or("maze");
    let size: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mode = match args.get(3).map(String::as_str) {
        Some("nondet") => SearchMode::Nondeterministic,
        _ => SearchMode::Deterministic,
    };
    let seconds: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    match domain {
        "sokoban" => sokoban(size, seconds),
        _ => maze(size, mode, seconds),
    }
}

fn maze(size: u32, mode: SearchMode, seconds: f64) {
    let vocab = Vocabulary::maze(size, size).expect("vocab");
    let mut gen = MazeGenerator::new(MazeGenConfig::reference(size, size, mode)).expect("config");
    let clock = Clock::start();
    let (mut layouts, mut tasks, mut tokens) = (0u64, 0u64, 0u64);
    while clock.cpu() < seconds {
        for _ in 0..16 {
            let mut rng = Rng::stream(1, layouts);
            let layout = gen.generate_layout(&vocab, &mut rng).expect("generate");
            layouts += 1;
            tasks += layout.tasks.len() as u64;
            tokens += layout
                .tasks
                .iter()
                .map(|t| t.tokens.len() as u64)
                .sum::<u64>();
        }
    }
    let (dt, wall) = (clock.cpu(), clock.wall());
    println!(
        "maze {size}x{size} {mode:?}: {layouts} layouts, {tasks} tasks in {dt:.2} CPU s ({wall:.2} wall s) = {:.0} tasks/s, {:.2e} tokens/s ({:.1} tasks/layout, {:.0} tokens/task)",
        tasks as f64 / dt,
        tokens as f64 / dt,
        tasks as f64 / layouts as f64,
        tokens as f64 / tasks.max(1) as f64
    );
}

fn sokoban(size: u32, seconds: f64) {
    let cfg = SokobanGenConfig {
        width: size,
        height: size,
        ..SokobanGenConfig::default()
    };
    let mut gen = SokobanGenerator::new(cfg).expect("config");
    let clock = Clock::start();
    let (mut tasks, mut tokens, mut tries, mut reasoning) = (0u64, 0u64, 0u64, 0u64);
    while clock.cpu() < seconds {
        let s = gen.generate(&mut Rng::stream(1, tasks)).expect("generate");
        tasks += 1;
        tries += s.tries as u64;
        tokens += s.tokens.len() as u64;
        reasoning += s.tokens.reasoning.len() as u64;
    }
    let (dt, wall) = (clock.cpu(), clock.wall());
    println!(
        "sokoban {size}x{size} walls 2 boxes 2 nondet: {tasks} tasks in {dt:.2} CPU s ({wall:.2} wall s) = {:.0} tasks/s, {:.2e} tokens/s ({:.2} levels drawn/task, mean reasoning {:.0} tokens)",
        tasks as f64 / dt,
        tokens as f64 / dt,
        tries as f64 / tasks as f64,
        reasoning as f64 / tasks as f64
    );
}
