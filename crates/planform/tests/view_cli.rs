//! `planform view` end to end through the binary: tiny generated datasets, a tiny model
//! trained for two steps, responses saved by `planform eval`, the no-model mode (maze and
//! Sokoban), bad inputs, and the written page loaded in headless Chromium (the JS must run
//! and the screenshot must show the boards). The browser part is skipped, with a printed
//! reason, when no browser is installed (planform-viz's `browser` finds it).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use planform_viz::browser::{file_url, Chromium};
use planform_viz::color::{RAMP, WALL};

fn planform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planform"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run planform")
}

/// Runs the binary, asserting success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = planform(args);
    assert!(
        out.status.success(),
        "planform {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs the binary, asserting a non-zero exit whose stderr contains `needle`.
fn fails(args: &[&str], needle: &str) {
    let out = planform(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "planform {args:?} should fail");
    assert!(
        err.contains(needle),
        "planform {args:?}: stderr lacks {needle:?}:\n{err}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The `key=value` fields of each summary line.
fn summary(stdout: &str) -> Vec<BTreeMap<String, String>> {
    stdout
        .lines()
        .filter(|l| l.starts_with("task="))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(line: &BTreeMap<String, String>, key: &str) -> usize {
    line[key].parse().expect("numeric field")
}

/// Summary lines without the `task=K` field (the position in the page).
fn without_task(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("task="))
        .map(|l| l.split_once(' ').map_or("", |(_, rest)| rest).to_string())
        .collect()
}

fn gen_maze(dir: &Path, size: &str, n: &str, seed: &str) {
    ok(&[
        "gen",
        "--width",
        size,
        "-n",
        n,
        "--test-fraction",
        "0.25",
        "--seed",
        seed,
        "-j",
        "1",
        "-o",
        s(dir),
    ]);
}

/// The shared headless browser (planform-viz), or `None` with a printed reason.
fn browser() -> Option<Chromium> {
    match Chromium::find() {
        Ok(b) => Some(b),
        Err(why) => {
            println!("SKIPPED browser checks: {why}");
            None
        }
    }
}

/// Loads `page#task=K&autoplay-end` and checks the JS marker for `steps`; returns the DOM.
fn check_marker(browser: &Chromium, page: &Path, task: usize, steps: usize) -> String {
    let url = file_url(page, Some(&format!("task={task}&autoplay-end")));
    let dom = browser.dump_dom(&url).expect("chromium --dump-dom");
    assert!(
        dom.contains(&format!("<title>planform-viewer:ready:{steps}</title>")),
        "{}: task {task}: JS marker for {steps} steps missing:\n{dom:.3000}",
        page.display()
    );
    dom
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(&hex[1..], 16).expect("hex colour");
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Screenshots `page#fragment` and checks that it shows boards: many colours, walls, and
/// closed cells shaded with the first ramp colour. Copies it to `$PLANFORM_VIEW_SHOTS/name`
/// when that variable is set (to look at it).
fn check_screenshot(browser: &Chromium, page: &Path, fragment: &str, name: &str) {
    let shot = page.with_file_name(name);
    browser
        .screenshot(&file_url(page, Some(fragment)), &shot, (1200, 760))
        .expect("chromium --screenshot");
    let bytes = std::fs::read(&shot).expect("screenshot written");
    assert!(bytes.len() > 10_000, "{name}: only {} bytes", bytes.len());
    let mut reader = png::Decoder::new(bytes.as_slice())
        .read_info()
        .expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    assert_eq!((info.width, info.height), (1200, 760));
    let colors: std::collections::HashSet<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(info.color_type.samples())
        .map(|px| [px[0], px[1], px[2]])
        .collect();
    assert!(
        colors.len() > 50,
        "{name} looks blank ({} colours)",
        colors.len()
    );
    assert!(colors.contains(&rgb(WALL)), "{name}: no walls drawn");
    assert!(
        colors.contains(&rgb(RAMP[0])),
        "{name}: no closed cells shaded"
    );
    if let Ok(dir) = std::env::var("PLANFORM_VIEW_SHOTS") {
        std::fs::copy(&shot, Path::new(&dir).join(name)).expect("copy screenshot");
    }
}

#[test]
fn model_and_saved_responses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = tmp.path().join("run");
    gen_maze(&data, "5", "40", "1");
    ok(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(&run),
        "--model",
        "tiny",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--batch",
        "4",
        "--device",
        "cpu",
        "--seed",
        "3",
        "--set",
        "threads=1",
        "--set",
        "log.eval_at_start=false",
        "--set",
        "data.eval_examples=4",
    ]);

    // The model's response for the first 3 test tasks.
    let page = tmp.path().join("model.html");
    let common = ["--data", s(&data), "--seed", "5"];
    let model = ok(&[
        &[
            "view",
            "--checkpoint",
            s(&run),
            "--tasks",
            "3",
            "--device",
            "cpu",
            "-o",
            s(&page),
        ],
        &common[..],
    ]
    .concat());
    let lines = summary(&model);
    assert_eq!(lines.len(), 3, "{model}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("model step 2"), "label missing");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(num(l, "task"), i);
        assert_eq!(num(l, "row"), i);
        // A maze clause is 5 tokens; the page runs to the longer side.
        assert!(num(l, "steps") >= num(l, "astar_trace") / 5 + num(l, "astar_plan"));
        assert!(num(l, "astar_plan") >= 2);
        assert!(num(l, "length") >= 2);
    }

    // Rows picked by --index (positions in the same --tasks selection) draw the same
    // sampler streams.
    let picked = ok(&[
        &[
            "view",
            "--checkpoint",
            s(&run),
            "--tasks",
            "3",
            "--index",
            "2,0",
            "--device",
            "cpu",
        ],
        &["-o", s(&tmp.path().join("picked.html"))][..],
        &common[..],
    ]
    .concat());
    let all = without_task(&model);
    assert_eq!(without_task(&picked), vec![all[2].clone(), all[0].clone()]);

    // Greedy, forced fast mode: the note says so.
    let fast_page = tmp.path().join("fast.html");
    ok(&[
        "view",
        "--checkpoint",
        s(&run),
        "--data",
        s(&data),
        "--index",
        "1",
        "--greedy",
        "--mode",
        "fast",
        "--device",
        "cpu",
        "-o",
        s(&fast_page),
    ]);
    let fast = std::fs::read_to_string(&fast_page).unwrap();
    assert!(fast.contains("fast mode, greedy"), "note missing");

    // The same responses, saved by `planform eval --tasks 3` (sample 0 of each task), are
    // for the same tasks and give the same scores and trace lengths.
    let eval = tmp.path().join("eval");
    ok(&[
        &[
            "eval",
            "--checkpoint",
            s(&run),
            "--tasks",
            "3",
            "-k",
            "2",
            "--device",
            "cpu",
        ],
        &["--save-responses", "--tstar-runs", "2", "-o", s(&eval)][..],
        &common[..],
    ]
    .concat());
    let responses = eval.join("responses.jsonl");
    let saved_page = tmp.path().join("saved.html");
    let saved = ok(&[
        "view",
        "--responses",
        s(&responses),
        "--data",
        s(&data),
        "--tasks",
        "3",
        "-o",
        s(&saved_page),
    ]);
    assert_eq!(without_task(&saved), all);
    let eval_ids: std::collections::BTreeSet<String> = std::fs::read_to_string(&responses)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
        .collect();
    let view_ids: std::collections::BTreeSet<String> =
        lines.iter().map(|l| l["id"].clone()).collect();
    assert_eq!(
        view_ids, eval_ids,
        "view --tasks 3 shows eval --tasks 3's tasks"
    );
    // Sample 1 of task row 1 exists too.
    ok(&[
        "view",
        "--responses",
        s(&responses),
        "--data",
        s(&data),
        "--tasks",
        "3",
        "--index",
        "1",
        "--sample",
        "1",
        "-o",
        s(&tmp.path().join("s1.html")),
    ]);

    // Bad inputs: clear errors, non-zero exit.
    let out = tmp.path().join("bad.html");
    let o = s(&out);
    let missing = tmp.path().join("no-such-run");
    fails(
        &[
            "view",
            "--checkpoint",
            s(&missing),
            "--data",
            s(&data),
            "-o",
            o,
        ],
        "no checkpoint at",
    );
    let other = tmp.path().join("maze6");
    gen_maze(&other, "6", "8", "1");
    fails(
        &[
            "view",
            "--checkpoint",
            s(&run),
            "--data",
            s(&other),
            "--device",
            "cpu",
            "-o",
            o,
        ],
        "does not fit dataset",
    );
    fails(
        &[
            "view",
            "--checkpoint",
            s(&run),
            "--data",
            s(&data),
            "--index",
            "0,99",
            "-o",
            o,
        ],
        "--index 99: the evaluation selection (--tasks 10) of split `test`",
    );
    fails(
        &[
            "view",
            "--responses",
            s(&responses),
            "--data",
            s(&other),
            "-o",
            o,
        ],
        "is not in split `test`",
    );
    fails(
        &[
            "view",
            "--responses",
            s(&responses),
            "--data",
            s(&data),
            "--sample",
            "7",
            "-o",
            o,
        ],
        "no sample 7",
    );
    let text = std::fs::read_to_string(&responses).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let bad = tmp.path().join("bad.jsonl");
    let write_bad = |content: String| std::fs::write(&bad, content).unwrap();
    let view_bad = ["view", "--responses", s(&bad), "--data", s(&data), "-o", o];
    write_bad(format!("{}\nnot json\n", text.lines().next().unwrap()));
    fails(&view_bad, "bad.jsonl:2: not a responses.jsonl line");
    let mut flipped = first.clone();
    flipped["correct"] = serde_json::json!(!first["correct"].as_bool().unwrap());
    write_bad(flipped.to_string());
    fails(&view_bad, "the file says correct=");
    let mut foreign = first.clone();
    foreign["tokens"] = serde_json::json!("bos create 0 0 zzz eos");
    write_bad(foreign.to_string());
    fails(
        &view_bad,
        "token \"zzz\" is not in the dataset's vocabulary",
    );
    // A response with clauses but no readable plan: the scorer reads 0 and 0 (as eval),
    // the summary line gives the page's counts too.
    let mut broken = first.clone();
    broken["tokens"] = serde_json::json!("bos create 0 0 c0 c2 close 0 0 c0 c2 plan 0 eos");
    broken["correct"] = serde_json::json!(false);
    broken["optimal"] = serde_json::json!(false);
    broken["sample"] = serde_json::json!(0);
    write_bad(broken.to_string());
    let out_broken = tmp.path().join("broken.html");
    let shown = ok(&[
        "view",
        "--responses",
        s(&bad),
        "--data",
        s(&data),
        "-o",
        s(&out_broken),
    ]);
    let l = &summary(&shown)[0];
    assert_eq!(
        (num(l, "trace"), num(l, "clauses"), num(l, "plan")),
        (10, 2, 0),
        "{shown}"
    );
    assert_eq!(
        (num(l, "scored_trace"), num(l, "scored_plan")),
        (0, 0),
        "{shown}"
    );
    let broken_page = std::fs::read_to_string(&out_broken).unwrap();
    assert!(
        broken_page.contains(r#""trace_tokens":10"#),
        "the page shows the same 10 tokens"
    );
    write_bad(String::new());
    fails(&view_bad, "no responses in the file");
    assert!(!out.exists(), "no page written on errors");

    let Some(browser) = browser() else {
        return;
    };
    for (task, l) in lines.iter().enumerate() {
        let dom = check_marker(&browser, &page, task, num(l, "steps"));
        let flag = |name: &str, v: &str| {
            format!(
                "{name}<span class=\"badge {}\">",
                if v == "true" { "yes" } else { "no" }
            )
        };
        assert!(
            dom.contains(&flag("correct", &l["correct"])),
            "correct flag"
        );
        assert!(
            dom.contains(&flag("optimal", &l["optimal"])),
            "optimal flag"
        );
        assert!(dom.contains("model step 2"), "model label not shown");
    }
    check_screenshot(&browser, &page, "step=12", "model.png");
}

#[test]
fn astar_only_maze_and_sokoban() {
    let tmp = tempfile::tempdir().unwrap();
    let maze = tmp.path().join("maze");
    gen_maze(&maze, "5", "30", "2");
    let page = tmp.path().join("astar.html");
    let args = [
        "view",
        "--data",
        s(&maze),
        "--tasks",
        "4",
        "--seed",
        "9",
        "-o",
        s(&page),
    ];
    let out = ok(&args);
    let lines = summary(&out);
    assert_eq!(lines.len(), 4, "{out}");
    // The tasks `planform eval --tasks 4` evaluates, in id order.
    let ds = planform_data::Dataset::open(&maze).unwrap();
    let want: Vec<String> = planform_eval::hashed_examples(&ds, planform_data::Split::Test, 4)
        .unwrap()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    let got: Vec<String> = lines.iter().map(|l| l["id"].clone()).collect();
    assert_eq!(got, want);
    for l in &lines {
        // Nondeterministic A* is optimal, like the deterministic run.
        assert_eq!(
            (&l["correct"][..], &l["optimal"][..]),
            ("true", "true"),
            "{l:?}"
        );
        assert_eq!(l["plan"], l["astar_plan"]);
        assert_eq!(l["stop"], "eos");
        // Maze clauses are 5 tokens: the page runs to the longer of the two searches.
        let det = num(l, "astar_trace") / 5 + num(l, "astar_plan");
        let nondet = num(l, "trace") / 5 + num(l, "plan");
        assert_eq!(num(l, "steps"), det.max(nondet), "{l:?}");
        assert_eq!(num(l, "clauses") * 5, num(l, "trace"), "{l:?}");
        assert_eq!(num(l, "astar_clauses") * 5, num(l, "astar_trace"), "{l:?}");
        // A* responses parse both ways alike.
        assert_eq!(
            (l["trace"].clone(), l["plan"].clone()),
            (l["scored_trace"].clone(), l["scored_plan"].clone())
        );
    }
    // Deterministic for a seed: the same bytes again.
    let first = std::fs::read(&page).unwrap();
    ok(&args);
    assert_eq!(std::fs::read(&page).unwrap(), first);

    let sok = tmp.path().join("sokoban");
    ok(&[
        "gen",
        "--domain",
        "sokoban",
        "--width",
        "6",
        "--boxes",
        "1",
        "--walls",
        "1",
        "-n",
        "20",
        "--test-fraction",
        "0.25",
        "--seed",
        "1",
        "-j",
        "1",
        "-o",
        s(&sok),
    ]);
    let sok_page = tmp.path().join("sokoban.html");
    let sok_out = ok(&[
        "view",
        "--data",
        s(&sok),
        "--tasks",
        "2",
        "-o",
        s(&sok_page),
    ]);
    let sok_lines = summary(&sok_out);
    assert_eq!(sok_lines.len(), 2, "{sok_out}");
    for l in &sok_lines {
        assert_eq!(
            (&l["correct"][..], &l["optimal"][..]),
            ("true", "true"),
            "{l:?}"
        );
        assert_eq!(l["plan"], l["astar_plan"]);
    }

    // Model-only flags need a checkpoint; missing inputs name themselves.
    let out_html = tmp.path().join("x.html");
    let o = s(&out_html);
    fails(
        &["view", "--data", s(&maze), "--greedy", "-o", o],
        "--checkpoint",
    );
    fails(
        &["view", "--data", s(&maze), "--index", "1000", "-o", o],
        "--index 1000",
    );
    // A write that fails (the output is a non-empty directory) leaves no temporary file,
    // for `view` and for `show --svg`.
    let blocked = tmp.path().join("blocked");
    std::fs::create_dir_all(blocked.join("inner")).unwrap();
    fails(
        &[
            "view",
            "--data",
            s(&maze),
            "--tasks",
            "1",
            "-o",
            s(&blocked),
        ],
        "writing",
    );
    fails(
        &["show", "--data", s(&maze), "--svg", s(&blocked)],
        "writing",
    );
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let nowhere = tmp.path().join("nowhere");
    fails(&["view", "--data", s(&nowhere), "-o", o], "opening dataset");
    let missing = tmp.path().join("missing.jsonl");
    fails(
        &[
            "view",
            "--data",
            s(&maze),
            "--responses",
            s(&missing),
            "-o",
            o,
        ],
        "missing.jsonl",
    );

    let Some(browser) = browser() else {
        return;
    };
    check_marker(&browser, &page, 3, num(&lines[3], "steps"));
    let dom = check_marker(&browser, &sok_page, 1, num(&sok_lines[1], "steps"));
    assert!(
        dom.contains("A* nondeterministic (seed 0)"),
        "label not shown"
    );
    check_screenshot(&browser, &page, "step=9", "astar.png");
    check_screenshot(&browser, &sok_page, "step=6", "sokoban.png");
}
