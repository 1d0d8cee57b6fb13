//! Loads the viewer in headless Chromium: the JS must run (DOM marker) and
//! the screenshot must show the boards. Skipped when /usr/bin/chromium is absent.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use planform_viz::color::{RAMP, WALL};
use planform_viz::io::write_atomic;
use planform_viz::{render_viewer, Search, ViewerInput, ViewerTask};

/// The browser; `PLANFORM_CHROMIUM` overrides the path (e.g. to check the skip).
fn chromium_path() -> String {
    std::env::var("PLANFORM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Runs headless Chromium with the flags this machine needs; returns stdout.
fn chromium(profile: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new(chromium_path());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(&hex[1..], 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

#[test]
fn viewer_runs_in_chromium() {
    let browser = chromium_path();
    if !Path::new(&browser).exists() {
        println!(
            "SKIPPED viewer_runs_in_chromium: {browser} is absent (apt-get install -y chromium)"
        );
        return;
    }
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
    let url = format!("file://{}", page.display());
    let profile = dir.path().join("profile");

    // Maze: A* has 30 clauses + 10 plan cells (golden file), the model 3 + 8: 40 steps.
    let golden: serde_json::Value = serde_json::from_str(GOLDEN_10).unwrap();
    let steps = golden["reasoning"].as_array().unwrap().len() / 5
        + golden["plan"].as_array().unwrap().len() / 3;
    assert_eq!(steps, 40);
    let dom = chromium(&profile, &["--dump-dom", &format!("{url}#autoplay-end")]);
    assert!(
        dom.contains(&format!("<title>planform-viewer:ready:{steps}</title>")),
        "JS marker missing:\n{dom:.2000}"
    );
    assert!(
        dom.contains("plan 10/10 (5,4) ok"),
        "final A* plan step not shown"
    );
    let dom = chromium(
        &profile,
        &["--dump-dom", &format!("{url}#task=1&autoplay-end")],
    );
    assert!(dom.contains(&format!("<title>planform-viewer:ready:{sok_steps}</title>")));

    // Screenshot mid-trace: closed cells shaded on the ramp, walls drawn.
    let shot = dir.path().join("shot.png");
    chromium(
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,700",
            &format!("{url}#step=14"),
        ],
    );
    let bytes = std::fs::read(&shot).expect("screenshot written");
    assert!(
        bytes.len() > 10_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    let decoder = png::Decoder::new(bytes.as_slice());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 700));
    let ch = info.color_type.samples();
    let mut colors = std::collections::HashSet::new();
    for px in buf[..info.buffer_size()].chunks(ch) {
        colors.insert([px[0], px[1], px[2]]);
    }
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
