//! The HTML viewer page: determinism, embedded data, self-containment.

mod common;

use common::*;
use planform_viz::{render_viewer, Search, ViewerInput, ViewerTask};

fn embedded_json(html: &str) -> serde_json::Value {
    let start = html
        .find(r#"<script type="application/json" id="pf-data">"#)
        .expect("data element");
    let body = &html[start..];
    let body = &body[body.find('>').unwrap() + 1..];
    let end = body.find("</script>").unwrap();
    serde_json::from_str(&body[..end]).expect("embedded data is JSON")
}

fn input() -> ViewerInput {
    let (maze, astar) = golden_10();
    let mut t = ViewerTask::new("maze #0 </script><b>x</b>", maze, astar);
    t.model = Some(Search::parse(&broken_model_response()));
    t.model_label = "model (slow)".into();
    t.correct = Some(false);
    t.optimal = Some(false);
    t.note = Some("sample 3 of 64".into());
    let (sok, sok_search) = sokoban();
    ViewerInput {
        title: "runs <&> co".into(),
        tasks: vec![t, ViewerTask::new("sokoban", sok, sok_search)],
    }
}

#[test]
fn page_is_deterministic_self_contained_and_holds_the_data() {
    let html = render_viewer(&input());
    assert_eq!(html, render_viewer(&input()));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>runs &lt;&amp;&gt; co</title>"));
    // Self-contained: nothing loaded from elsewhere.
    for bad in ["http://", "https://", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(bad), "page references {bad}");
    }
    // The hostile task name cannot close the data element early.
    assert_eq!(html.matches("</script>").count(), 2);

    let data = embedded_json(&html);
    assert_eq!(data["title"], "runs <&> co");
    let tasks = data["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    let maze = &tasks[0];
    assert_eq!(maze["name"], "maze #0 </script><b>x</b>");
    assert_eq!(maze["domain"], "maze");
    assert_eq!(
        (maze["width"].as_u64(), maze["height"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(maze["start"], serde_json::json!([5, 7]));
    assert_eq!(maze["goal"], serde_json::json!([5, 4]));
    assert_eq!(maze["walls"].as_array().unwrap().len(), 35);
    assert_eq!(maze["correct"], false);
    let astar = &maze["sides"][0];
    let golden: serde_json::Value = serde_json::from_str(GOLDEN_10).unwrap();
    let reasoning = golden["reasoning"].as_array().unwrap();
    assert_eq!(
        astar["clauses"].as_array().unwrap().len(),
        reasoning.len() / 5
    );
    assert_eq!(astar["trace_tokens"].as_u64(), Some(reasoning.len() as u64));
    assert_eq!(
        astar["plan"].as_array().unwrap().len(),
        golden["plan"].as_array().unwrap().len() / 3
    );
    // First clause: create 5 7 c0 c3.
    assert_eq!(astar["clauses"][0], serde_json::json!([0, 5, 7, 0, 3, []]));
    assert_eq!(astar["solved"], true);
    let model = &maze["sides"][1];
    assert_eq!(model["label"], "model (slow)");
    assert_eq!(
        model["clauses"][1],
        serde_json::json!([0, 5, 8, null, null, []])
    );
    assert_eq!(
        model["status"],
        serde_json::json!(["ok", "ok", "ok", "ok", "ok", "wall", "off_board", "jump"])
    );
    assert_eq!(model["issues"].as_array().unwrap().len(), 1);
    let sok = &tasks[1];
    assert_eq!(sok["domain"], "sokoban");
    assert_eq!(sok["boxes"], serde_json::json!([[2, 4], [3, 4]]));
    assert_eq!(sok["docks"], serde_json::json!([[3, 1], [4, 4]]));
    // The simulated plan ends with both boxes on the docks.
    let frames = sok["sides"][0]["box_frames"].as_array().unwrap();
    assert_eq!(frames.last().unwrap(), &serde_json::json!([[3, 1], [4, 4]]));
    assert_eq!(sok["sides"].as_array().unwrap().len(), 1);
}

#[test]
fn empty_task_list_renders() {
    let html = render_viewer(&ViewerInput {
        title: "none".into(),
        tasks: vec![],
    });
    assert_eq!(embedded_json(&html)["tasks"], serde_json::json!([]));
}
