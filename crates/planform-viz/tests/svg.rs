//! SVG rendering: determinism, structure, colours by close order, invalid steps.

mod common;

use common::*;
use planform_trace::astar::SearchMode;
use planform_trace::rng::Rng;
use planform_viz::color::{BOX, INVALID, RAMP};
use planform_viz::{
    render_board, render_listing, render_svg, render_viewer, Board, Search, SvgOptions,
    TextOptions, ViewerInput, ViewerTask,
};

/// Minimal XML well-formedness check: balanced tags, quoted attributes, one root.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg.trim();
    let mut roots = 0;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        assert!(!text.contains('>'), "stray `>` in text {text:?}");
        let j = rest[i..].find('>').expect("unterminated tag") + i;
        let tag = &rest[i + 1..j];
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_string();
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(name);
        } else if stack.is_empty() {
            roots += 1;
        }
        rest = &rest[j + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(roots, 1);
}

fn example_a() -> (Board, Search) {
    let task = example_a_task();
    let trace = task
        .solve(SearchMode::Deterministic, &mut Rng::new(0))
        .unwrap();
    (Board::Maze(task), Search::from_maze_trace(&trace))
}

#[test]
fn example_a_cells_follow_close_order() {
    let (board, search) = example_a();
    let opts = SvgOptions::default();
    let svg = render_svg(&board, Some(&search), &opts);
    assert_eq!(
        svg,
        render_svg(&board, Some(&search), &opts),
        "deterministic"
    );
    assert_well_formed(&svg);
    // 7 distinct closed cells: rank k of 7 sits exactly on ramp stop k.
    for c in RAMP {
        assert_eq!(
            svg.matches(&format!(r#"height="28.0" fill="{c}"/>"#))
                .count(),
            1,
            "{c}"
        );
    }
    // The last cell closed is the goal (0,2): grid origin (10+axis, 10+axis), cell 28.
    let axis = 12.6 * 2.2;
    let (x, y) = (10.0 + axis, 10.0 + axis + 2.0 * 28.0);
    assert!(svg.contains(&format!(
        r#"<rect x="{x:.1}" y="{y:.1}" width="28.0" height="28.0" fill="{}"/>"#,
        RAMP[6]
    )));
    // One polyline through the 7 plan cell centres.
    assert_eq!(svg.matches("<polyline").count(), 1);
    let poly = svg
        .split("<polyline points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(poly.split(' ').count(), 7);
    assert!(poly.starts_with(&format!("{:.1},{:.1}", x + 14.0, 10.0 + axis + 14.0)));
    // A valid plan has no red crosses (cross stroke = 1.2 · 0.16 · 28 = 5.4).
    assert!(!svg.contains(&format!(r#"stroke="{INVALID}" stroke-width="5.4"/>"#)));
    assert!(svg.contains("trace 14 clauses (7 closed cells), plan 7 cells"));
}

#[test]
fn model_response_marks_invalid_steps() {
    let (board, _) = golden_10();
    let model = Search::parse(&broken_model_response());
    let svg = render_svg(
        &board,
        Some(&model),
        &SvgOptions {
            title: Some("model <slow> & co".into()),
            ..Default::default()
        },
    );
    assert_well_formed(&svg);
    assert!(svg.contains("model &lt;slow&gt; &amp; co"));
    // Statuses: ok x5, wall (9,9), off board (12,3), jump (5,4).
    // Red dashed segment only for the wall step (the others have no drawable predecessor),
    // plus the legend's sample line.
    assert_eq!(
        svg.matches(&format!(
            r#"stroke="{INVALID}" stroke-width="4.5" stroke-dasharray"#
        ))
        .count(),
        1
    );
    // Red crosses at the wall cell and at the goal reached by a jump.
    assert_eq!(
        svg.matches(&format!(r#"stroke="{INVALID}" stroke-width="5.4"/>"#))
            .count(),
        2
    );
    assert!(
        svg.contains("3 invalid steps; 1 off board, not drawn; 1 parse issues"),
        "{svg}"
    );
    // No closes in a Dualformer level-1 trace: created cells are outlined, none shaded.
    assert_eq!(
        svg.matches("stroke-dasharray=\"3 2\"").count(),
        3 + 1,
        "(5,7), (5,8), (4,7) + the legend swatch"
    );
}

#[test]
fn sokoban_board_objects_and_plan() {
    let (board, search) = sokoban();
    let svg = render_svg(&board, Some(&search), &SvgOptions::default());
    assert_well_formed(&svg);
    assert_eq!(
        svg.matches(&format!(r##"fill="{BOX}" stroke="#4e342e""##))
            .count(),
        2 + 1,
        "two boxes and the legend's"
    );
    // Both boxes end on docks elsewhere: two dashed ghost outlines.
    assert_eq!(
        svg.matches(&format!(r#"fill="none" stroke="{BOX}""#))
            .count(),
        2
    );
    assert!(svg.contains(">W</text>"));
    let poly = svg
        .split("<polyline points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(poly.split(' ').count(), 13);
    assert_eq!(
        svg,
        render_svg(&board, Some(&search), &SvgOptions::default())
    );
    // Without a search: just the board.
    let bare = render_svg(&board, None, &SvgOptions::default());
    assert_well_formed(&bare);
    assert!(!bare.contains("<polyline"));
}

#[test]
fn garbage_responses_never_panic() {
    let (maze, _) = golden_10();
    let (sok, _) = sokoban();
    let vocab = [
        "create",
        "close",
        "plan",
        "worker",
        "box",
        "bos",
        "eos",
        "0",
        "1",
        "5",
        "9",
        "10",
        "99",
        "123456789012345678901",
        "c0",
        "c7",
        "c",
        "cx",
        "wall",
        "",
        "-1",
    ];
    let mut rng = Rng::new(7);
    for round in 0..300 {
        let n = rng.below_usize(60);
        let toks: Vec<&str> = (0..n)
            .map(|_| vocab[rng.below_usize(vocab.len())])
            .collect();
        let s = Search::parse(&toks);
        for board in [&maze, &sok] {
            let _ = render_svg(
                board,
                Some(&s),
                &SvgOptions {
                    cell: (round % 40) as u32,
                    ..Default::default()
                },
            );
            let _ = render_board(
                board,
                Some(&s),
                &TextOptions {
                    color: round % 2 == 0,
                    max_clauses: Some(round % 5),
                },
            );
            let _ = render_listing(board, &s, &TextOptions::default());
            let mut t = ViewerTask::new("fuzz", board.clone(), s.clone());
            t.model = Some(s.clone());
            let _ = render_viewer(&ViewerInput {
                title: "fuzz".into(),
                tasks: vec![t],
            });
        }
    }
}

#[test]
fn sokoban_legend_names_boxes_and_docks_with_their_own_glyphs() {
    use planform_viz::color::{BOX_DOCKED, CREATED, DOCK};
    use planform_viz::SokobanLevel;
    let level = SokobanLevel::from_ascii("######\n#@$ .#\n# *  #\n######").unwrap();
    let board = Board::from(level);
    let search = Search::parse(&tokens(
        "create worker 1 1 box 2 1 c0 c2 close worker 1 1 box 2 1 c0 c2 create worker 1 2 box 2 1 c1 c3 plan 1 1 plan 2 1",
    ));
    let svg = render_svg(&board, Some(&search), &SvgOptions::default());
    assert_well_formed(&svg);
    for entry in [">worker<", ">box<", ">dock<", ">box on dock<", ">created<"] {
        assert!(svg.contains(entry), "legend lacks {entry}");
    }
    // Docks are round targets (one free dock on the board, one in the legend), never
    // square outlines like the "created" marker; boxes on docks are gold crates.
    assert_eq!(svg.matches(r#"class="dock""#).count(), 2);
    assert!(!svg.contains(&format!(
        r#"fill="none" stroke="{DOCK}" stroke-width="2.5""#
    )));
    assert!(svg.contains(r#"class="box-on-dock" "#));
    assert!(svg.contains(&format!(r#"fill="{BOX_DOCKED}""#)));
    assert_eq!(
        svg.matches(r#"class="box" "#).count(),
        2,
        "board box + legend"
    );
    assert_ne!(DOCK, CREATED);
    // A maze's legend names start and goal instead.
    let (maze, astar) = example_a();
    let svg = render_svg(&maze, Some(&astar), &SvgOptions::default());
    assert!(svg.contains(">start<") && svg.contains(">goal<") && !svg.contains(">dock<"));
}
