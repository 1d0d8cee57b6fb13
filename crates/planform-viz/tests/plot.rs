//! Training-curve plots from metrics JSONL files.

use std::path::{Path, PathBuf};

use planform_core::rng::Rng;
use planform_viz::plot::{curves, read_metrics, run_name};
use planform_viz::ticks::{log_ticks, tick_labels};
use planform_viz::{plot_metrics, Error, PlotFormat, PlotOptions};

/// Two runs: `run-a.jsonl` and `b/metrics.jsonl` (named `b`), train records
/// every 10 steps and eval records every 50.
fn write_runs(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for (name, scale) in [("run-a.jsonl", 1.0), ("b/metrics.jsonl", 1.5)] {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = String::new();
        for step in (0..=200).step_by(10) {
            let s = step as f64;
            text += &format!(
                "{{\"step\":{step},\"loss\":{},\"loss_trace\":{},\"loss_plan\":{},\"lr\":0.001,\"tokens_per_s\":12345.6}}\n",
                scale * 3.0 * (-s / 60.0).exp() + 0.1,
                scale * 2.0 * (-s / 50.0).exp() + 0.05,
                scale * (-s / 80.0).exp() + 0.02
            );
            if step % 50 == 0 {
                text += &format!(
                    "{{\"kind\":\"eval\",\"step\":{step},\"test_loss\":{},\"token_accuracy\":{},\"seq_accuracy\":{}}}\n\n",
                    scale * 3.0 * (-s / 60.0).exp() + 0.2,
                    1.0 - 0.9 * (-s / 70.0).exp(),
                    s / 250.0
                );
            }
        }
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    paths
}

#[test]
fn reads_series_by_field_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_runs(dir.path());
    let a = read_metrics(&paths[0]).unwrap();
    assert_eq!(a.name, "run-a");
    assert_eq!(read_metrics(&paths[1]).unwrap().name, "b");
    assert_eq!(a.series["loss"].len(), 21);
    assert_eq!(a.series["loss"][0], (0.0, 3.1));
    assert_eq!(
        a.series["eval.seq_accuracy"],
        vec![
            (0.0, 0.0),
            (50.0, 0.2),
            (100.0, 0.4),
            (150.0, 0.6),
            (200.0, 0.8)
        ]
    );
    assert!(
        a.series.contains_key("lr"),
        "all numeric fields are read; panels pick theirs"
    );
}

#[test]
fn writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_runs(dir.path());
    let opts = PlotOptions {
        width: 900,
        height: 640,
        title: Some("two runs".into()),
        ..Default::default()
    };

    let png_path = dir.path().join("curves.png");
    plot_metrics(&paths, &png_path, PlotFormat::Png, &opts).unwrap();
    let bytes = std::fs::read(&png_path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (900, 640));
    let mut reader = png::Decoder::new(bytes.as_slice()).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let colors: std::collections::HashSet<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    assert!(colors.len() > 20, "PNG looks blank");
    // First series colour (tab:blue) is drawn.
    assert!(colors.contains(&[31u8, 119, 180][..]));

    let svg_path = dir.path().join("curves.svg");
    plot_metrics(&paths, &svg_path, PlotFormat::Svg, &opts).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.contains("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    // 2 runs x (3 train losses + eval.test_loss) + 2 runs x 2 accuracies = 12 line series.
    assert!(
        svg.matches("<polyline").count() >= 12,
        "{}",
        svg.matches("<polyline").count()
    );
    for label in [
        ">\nrun-a\n</text>",
        ">\nb\n</text>",
        "all runs: loss_plan",
        "all runs: eval.test_loss",
        "all runs: eval.seq_accuracy",
        "two runs",
    ] {
        assert!(svg.contains(label), "legend misses {label}");
    }
    assert!(
        !svg.contains("tokens_per_s"),
        "non-panel fields are not plotted"
    );
    // Same input, same bytes; no temporary files left behind.
    plot_metrics(
        &paths,
        &dir.path().join("again.svg"),
        PlotFormat::Svg,
        &opts,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again.svg")).unwrap(),
        svg
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn malformed_lines_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.svg");
    for (body, line, what) in [
        (
            "{\"step\":1,\"loss\":2}\n\n{\"step\":2,\"loss\":\n",
            3,
            "invalid JSON",
        ),
        (
            "{\"step\":1,\"loss\":2}\n{\"loss\":1}\n",
            2,
            "missing `step`",
        ),
        ("[1,2]\n", 1, "not a JSON object"),
        (
            "{\"step\":\"ten\",\"loss\":1}\n",
            1,
            "`step` is not a number",
        ),
    ] {
        let path = dir.path().join("bad.jsonl");
        std::fs::write(&path, body).unwrap();
        let err =
            plot_metrics(&[&path], &out, PlotFormat::Svg, &PlotOptions::default()).unwrap_err();
        match &err {
            Error::Metrics {
                path: p,
                line: l,
                reason,
            } => {
                assert_eq!((p, *l), (&path, line));
                assert!(reason.contains(what), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err
            .to_string()
            .starts_with(&format!("{}:{line}: ", path.display())));
    }
    assert!(!out.exists());
    let missing = dir.path().join("missing.jsonl");
    assert!(matches!(
        plot_metrics(&[&missing], &out, PlotFormat::Png, &PlotOptions::default()),
        Err(Error::Io { .. })
    ));
}

#[test]
fn nothing_to_plot_and_log_scale_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    std::fs::write(&path, "{\"step\":1,\"lr\":0.1}\n").unwrap();
    let out = dir.path().join("x.svg");
    assert!(matches!(
        plot_metrics(&[&path], &out, PlotFormat::Svg, &PlotOptions::default()),
        Err(Error::NoData(_))
    ));
    std::fs::write(
        &path,
        "{\"step\":1,\"loss\":0.0}\n{\"step\":2,\"loss\":1.0}\n",
    )
    .unwrap();
    assert!(matches!(
        plot_metrics(&[&path], &out, PlotFormat::Svg, &PlotOptions::default()),
        Err(Error::NoData(_))
    ));
    let linear = PlotOptions {
        log_loss: false,
        ..Default::default()
    };
    plot_metrics(&[&path], &out, PlotFormat::Svg, &linear).unwrap();
    // A loss that is 0 throughout (`loss_trace` of a solution-only run) is left out of the
    // log-scale panel; the other series still plot.
    std::fs::write(
        &path,
        "{\"step\":1,\"loss\":2.0,\"loss_trace\":0.0}\n{\"step\":2,\"loss\":1.0,\"loss_trace\":0.0}\n",
    )
    .unwrap();
    plot_metrics(&[&path], &out, PlotFormat::Svg, &PlotOptions::default()).unwrap();
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("loss") && !svg.contains("loss_trace"));
    // A single record still plots (degenerate ranges are widened).
    std::fs::write(&path, "{\"step\":5,\"seq_accuracy\":0.5}\n").unwrap();
    plot_metrics(
        &[&path],
        &dir.path().join("one.png"),
        PlotFormat::Png,
        &PlotOptions::default(),
    )
    .unwrap();
}

#[test]
fn log_axes_get_three_labelled_ticks_for_any_range() {
    let mut rng = Rng::new(12);
    for i in 0..20_000 {
        // lo from 1e-8 to 1e8, hi/lo from 1 + 1e-6 to 1e12.
        let lo = 10f64.powf(rng.f64() * 16.0 - 8.0);
        let hi = lo * (1.0 + 10f64.powf(rng.f64() * 18.0 - 6.0));
        let t = log_ticks(lo, hi);
        assert!(t.len() >= 3, "#{i}: [{lo}, {hi}] has ticks {t:?}");
        assert!(t.len() <= 12, "#{i}: [{lo}, {hi}] has {} ticks", t.len());
        assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
        let tol = 1e-9 * hi;
        assert!(
            t[0] >= lo - tol && t[t.len() - 1] <= hi + tol,
            "[{lo}, {hi}]: {t:?}"
        );
        let labels = tick_labels(&t);
        assert!(labels.windows(2).all(|w| w[0] != w[1]), "{labels:?}");
        assert!(
            labels.iter().all(|l| !l.is_empty() && l.len() <= 12),
            "{labels:?}"
        );
    }
}

/// One metrics file per run under `runs/<name>/train/metrics.jsonl` (as recipes lay them out).
fn write_train_runs(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("r{i:02}/train/metrics.jsonl"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let mut text = String::new();
            for step in (0..=100).step_by(10) {
                let loss = 2.66 + 2.26 * (-(step as f64) / (20.0 + i as f64)).exp();
                text += &format!("{{\"step\":{step},\"loss\":{loss}}}\n");
                text += &format!(
                    "{{\"kind\":\"eval\",\"step\":{step},\"test_loss\":{}}}\n",
                    loss + 0.1
                );
            }
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

#[test]
fn many_runs_have_their_own_colours_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_train_runs(dir.path(), 12);
    assert_eq!(
        run_name(&paths[3]),
        "r03",
        "not the stage directory `train`"
    );
    let runs: Vec<_> = paths.iter().map(|p| read_metrics(p).unwrap()).collect();
    let (loss, acc) = curves(&runs);
    assert!(acc.is_empty());
    assert_eq!(loss.len(), 24);
    for c in &loss {
        let run: usize = c.name[1..3].parse().unwrap();
        assert_eq!(c.color, run % 10, "{}", c.name);
        assert_eq!(c.marker, run / 10, "{}", c.name);
        // Fields in name order: eval.test_loss dashed, loss solid.
        assert_eq!(
            c.dash,
            usize::from(c.name.ends_with("test_loss")),
            "{}",
            c.name
        );
    }

    let out = dir.path().join("runs.svg");
    plot_metrics(&paths, &out, PlotFormat::Svg, &PlotOptions::default()).unwrap();
    let svg = std::fs::read_to_string(&out).unwrap();
    // The legend names each run once (its colour) and each field once (its dashes).
    for i in 0..12 {
        assert!(
            svg.contains(&format!(">\nr{i:02}\n</text>")),
            "legend misses run {i}"
        );
    }
    assert!(svg.contains("all runs: loss") && svg.contains("all runs: eval.test_loss"));
    assert!(
        !svg.contains(">train"),
        "a curve is named after the stage directory"
    );
    // Ten distinct run colours on the solid lines.
    let strokes: std::collections::BTreeSet<&str> = svg
        .match_indices("<polyline")
        .filter_map(|(i, _)| svg[i..].split("stroke=\"").nth(1))
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(strokes.len() >= 10, "{strokes:?}");
    // Runs 11 and 12 carry triangle markers.
    assert!(
        svg.contains("<polygon"),
        "no markers for runs past the palette"
    );
    // The log axis of a loss between 2.66 and 4.92 has labelled ticks 3, 4, 5.
    for label in [">\n3\n</text>", ">\n4\n</text>", ">\n5\n</text>"] {
        assert!(svg.contains(label), "y axis lacks {label}");
    }
    // A label per file: the recipe passes run names.
    let labeled: Vec<(String, &PathBuf)> = paths
        .iter()
        .take(2)
        .map(|p| (format!("recipe {}", p.display().to_string().len()), p))
        .collect();
    planform_viz::plot_labeled(&labeled, &out, PlotFormat::Svg, &PlotOptions::default()).unwrap();
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains(&format!(">\n{}\n</text>", labeled[0].0)));
}
