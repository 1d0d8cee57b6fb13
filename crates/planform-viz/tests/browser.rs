//! Loads the viewer in headless Chromium: the JS must run (DOM marker) and
//! the screenshot must show the boards. Skipped when no browser is installed.

mod common;

use std::path::Path;

use common::*;
use planform_viz::browser::{file_url, Chromium};
use planform_viz::color::{RAMP, WALL};
use planform_viz::io::write_atomic;
use planform_viz::{render_viewer, Search, ViewerInput, ViewerTask};

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(&hex[1..], 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Distinct RGB colours of a screenshot, checking its size.
fn colors(png: &Path, size: (u32, u32)) -> std::collections::HashSet<[u8; 3]> {
    let bytes = std::fs::read(png).expect("screenshot written");
    assert!(
        bytes.len() > 10_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    let mut reader = png::Decoder::new(bytes.as_slice()).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), size);
    buf[..info.buffer_size()]
        .chunks(info.color_type.samples())
        .map(|px| [px[0], px[1], px[2]])
        .collect()
}

#[test]
fn viewer_runs_in_chromium() {
    let browser = match Chromium::find() {
        Ok(b) => b,
        Err(why) => {
            println!("SKIPPED viewer_runs_in_chromium: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (maze, astar) = golden_10();
    let mut t = ViewerTask::new("maze 10x10 #0", maze, astar);
    t.model = Some(Search::parse(&broken_model_response()));
    t.correct = Some(false);
    t.optimal = Some(false);
    let (sok, sok_search) = sokoban();
    let sok_steps = sok_search.clauses.len() + sok_search.plan.len();
    let input = ViewerInput {
        title: "browser test".into(),
        tasks: vec![t, ViewerTask::new("sokoban", sok, sok_search)],
    };
    let page = dir.path().join("viewer.html");
    write_atomic(&page, render_viewer(&input).as_bytes()).unwrap();

    // Maze: A* has 30 clauses + 10 plan cells (golden file), the model 3 + 8: 40 steps.
    let golden: serde_json::Value = serde_json::from_str(GOLDEN_10).unwrap();
    let steps = golden["reasoning"].as_array().unwrap().len() / 5
        + golden["plan"].as_array().unwrap().len() / 3;
    assert_eq!(steps, 40);
    let dom = browser
        .dump_dom(&file_url(&page, Some("autoplay-end")))
        .unwrap();
    assert!(
        dom.contains(&format!("<title>planform-viewer:ready:{steps}</title>")),
        "JS marker missing:\n{dom:.2000}"
    );
    assert!(
        dom.contains("plan 10/10 (5,4) ok"),
        "final A* plan step not shown"
    );
    // Grid coordinates around each board: x 0..9 on top, y 0..9 on the left.
    for i in 0..10 {
        assert!(
            dom.contains(&format!(r#"<span class="ax ax-x" data-x="{i}""#)),
            "no x label {i}"
        );
        assert!(
            dom.contains(&format!(r#"<span class="ax ax-y" data-y="{i}""#)),
            "no y label {i}"
        );
    }
    assert!(dom.contains(r#"id="axes-0""#) && dom.contains(r#"id="axes-1""#));
    // The raw tokens, with the last plan step (`plan 5 4`) highlighted at the end.
    assert!(dom.contains(r#"id="tokens-0""#) && dom.contains(r#"id="tokens-1""#));
    let panel = &dom[dom.find(r#"id="tokens-0""#).unwrap()..];
    let panel = &panel[..panel.find("</div>").unwrap()];
    let cur: Vec<&str> = panel
        .split(r#"<span class="tok cur">"#)
        .skip(1)
        .map(|t| t.split('<').next().unwrap())
        .collect();
    assert_eq!(cur, ["plan", "5", "4"], "highlighted tokens");
    assert_eq!(
        panel.matches(r#"class="tok"#).count(),
        150 + 30,
        "every A* token shown"
    );
    assert!(dom.contains("180 raw tokens; shown: tokens 177"));
    // Mid-trace the highlight is the current clause (clause #2: `create 1 … c… c…`).
    let mid = browser.dump_dom(&file_url(&page, Some("step=3"))).unwrap();
    let panel = &mid[mid.find(r#"id="tokens-0""#).unwrap()..];
    let panel = &panel[..panel.find("</div>").unwrap()];
    assert_eq!(
        panel.matches(r#"<span class="tok cur">"#).count(),
        5,
        "one maze clause"
    );
    assert_eq!(
        panel.matches(r#"<span class="tok done">"#).count(),
        10,
        "two clauses before"
    );
    assert!(dom.contains(r#"id="lg-start""#) && dom.contains(r#"id="lg-goal""#));
    let dom = browser
        .dump_dom(&file_url(&page, Some("task=1&autoplay-end")))
        .unwrap();
    assert!(dom.contains(&format!("<title>planform-viewer:ready:{sok_steps}</title>")));
    // The Sokoban legend names the objects with their own glyphs.
    for id in ["lg-worker", "lg-box", "lg-dock", "lg-box-on-dock"] {
        assert!(dom.contains(&format!(r#"id="{id}""#)), "legend lacks {id}");
    }
    // The raw-token panel can be hidden.
    let hidden = browser
        .dump_dom(&file_url(&page, Some("notokens")))
        .unwrap();
    assert!(hidden.contains(r#"<body class="notokens">"#));

    // Screenshot mid-trace: closed cells shaded on the ramp, walls drawn.
    let shot = dir.path().join("shot.png");
    browser
        .screenshot(&file_url(&page, Some("step=14")), &shot, (1200, 700))
        .unwrap();
    let colors = colors(&shot, (1200, 700));
    assert!(
        colors.len() > 50,
        "screenshot looks blank ({} colours)",
        colors.len()
    );
    // The first closed cell uses the first ramp stop exactly; walls use WALL.
    assert!(
        colors.contains(&rgb(RAMP[0])),
        "no closed-cell shading in the screenshot"
    );
    assert!(colors.contains(&rgb(WALL)), "no walls in the screenshot");
    if let Ok(keep) = std::env::var("PLANFORM_VIZ_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn a_missing_browser_is_an_error_not_a_hang() {
    let b = Chromium::new("/nonexistent/chromium".into());
    let err = b.dump_dom("file:///x.html").unwrap_err();
    assert!(err.to_string().contains("cannot start"), "{err}");
}
