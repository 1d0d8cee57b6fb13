//! Writes sample pictures to a folder: `cargo run -p planform-viz --example samples -- OUT_DIR`.
//! (maze and Sokoban SVGs, terminal text, a viewer page, and plots of a synthetic metrics file).

use std::path::PathBuf;

use planform_trace::astar::SearchMode;
use planform_trace::maze::MazeTask;
use planform_trace::rng::Rng;
use planform_viz::io::write_atomic;
use planform_viz::*;

fn main() -> Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "viz-samples".into()),
    );
    std::fs::create_dir_all(&out).map_err(|source| Error::Io {
        path: out.clone(),
        error: source,
    })?;
    let line = include_str!("../tests/data/maze-10-first.json");
    let task = MazeTask::from_json(line)?;
    let trace = task.solve(SearchMode::Deterministic, &mut Rng::new(0))?;
    let maze = Board::Maze(task);
    let astar = Search::from_maze_trace(&trace);
    let model = Search::parse(
        &"bos create 5 7 c0 c3 create 5 8 create 4 7 c1 create 6 8 create 7 8 create 7 7 \
          plan 5 7 plan 5 8 plan 6 8 plan 7 8 plan 7 7 plan 9 9 plan 12 3 plan 5 4 eos"
            .split_whitespace()
            .collect::<Vec<_>>(),
    );
    let sok_json: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/sokoban-7722.json")).expect("fixture");
    let sok = Board::Sokoban(SokobanLevel::from_ascii(
        sok_json["level"].as_str().unwrap_or_default(),
    )?);
    let toks: Vec<&str> = ["reasoning", "plan"]
        .iter()
        .flat_map(|k| sok_json[*k].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str())
        .collect();
    let sok_search = Search::parse(&toks);

    let svg = |name: &str, b: &Board, s: &Search, title: &str| {
        let opts = SvgOptions {
            title: Some(title.into()),
            ..Default::default()
        };
        write_atomic(&out.join(name), render_svg(b, Some(s), &opts).as_bytes())
    };
    svg("maze-astar.svg", &maze, &astar, "A* (deterministic)")?;
    svg("maze-model.svg", &maze, &model, "model response (invalid)")?;
    svg("sokoban-astar.svg", &sok, &sok_search, "Sokoban A*")?;
    let mut text = render_board(&maze, Some(&astar), &TextOptions::default());
    text += &render_listing(&maze, &astar, &TextOptions::default());
    text += &render_board(&sok, Some(&sok_search), &TextOptions::default());
    write_atomic(&out.join("show.txt"), text.as_bytes())?;

    let mut t1 = ViewerTask::new("maze 10x10 #0", maze, astar);
    t1.model = Some(model);
    t1.model_label = "model (slow)".into();
    t1.correct = Some(false);
    t1.optimal = Some(false);
    let t2 = ViewerTask::new("sokoban 7722", sok, sok_search);
    let page = render_viewer(&ViewerInput {
        title: "planform viewer samples".into(),
        tasks: vec![t1, t2],
    });
    write_atomic(&out.join("viewer.html"), page.as_bytes())?;

    let mut jsonl = String::new();
    for step in (0..=2000).step_by(50) {
        let s = step as f64;
        jsonl += &format!(
            "{{\"step\":{step},\"loss\":{:.5},\"loss_trace\":{:.5},\"loss_plan\":{:.5},\"lr\":0.0001}}\n",
            3.0 * (-s / 400.0).exp() + 0.05,
            2.5 * (-s / 350.0).exp() + 0.04,
            1.0 * (-s / 600.0).exp() + 0.01
        );
        if step % 500 == 0 {
            jsonl += &format!(
                "{{\"kind\":\"eval\",\"step\":{step},\"test_loss\":{:.5},\"token_accuracy\":{:.4},\"seq_accuracy\":{:.4}}}\n",
                3.1 * (-s / 400.0).exp() + 0.07,
                1.0 - 0.9 * (-s / 500.0).exp(),
                1.0 - (-s / 1500.0).exp()
            );
        }
    }
    let metrics = out.join("metrics.jsonl");
    write_atomic(&metrics, jsonl.as_bytes())?;
    let opts = PlotOptions {
        title: Some("synthetic run".into()),
        ..Default::default()
    };
    plot_metrics(&[&metrics], &out.join("curves.svg"), PlotFormat::Svg, &opts)?;
    plot_metrics(&[&metrics], &out.join("curves.png"), PlotFormat::Png, &opts)?;
    println!("wrote samples to {}", out.display());
    Ok(())
}
