//! Sokoban datasets: one level per layout, duplicate levels rejected, reference prompt
//! length and reasoning filter, determinism, t*.

mod common;

use std::collections::HashSet;

use planform_data::{Dataset, Domain, GenerateConfig, Split, TStarConfig};
use planform_trace::task::Task;

#[test]
fn paper_setting_small() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = GenerateConfig::new(Domain::sokoban_paper(), 40);
    c.seed = 3;
    c.shard_rows = 16;
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let m = common::gen(&c, &a, 1);
    common::gen(&c, &b, 3);
    for f in [
        "manifest.json",
        "train-00000.parquet",
        "train-00002.parquet",
        "test-00000.parquet",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(m.vocabulary.len(), 40_016);
    assert_eq!((m.train.tasks, m.test.tasks), (36, 4));
    assert_eq!((m.train.layouts, m.test.layouts), (36, 4));
    let ds = Dataset::open(&a).unwrap();
    let mut levels = HashSet::new();
    for split in Split::ALL {
        for e in ds.read_split(split).unwrap() {
            // 2 boxes, 2 interior walls: worker 3 + boxes 6 + docks 6 + 26 walls * 3 = 93.
            assert_eq!(e.prompt.len(), 93);
            assert!(e.reasoning.len() < 10_000);
            assert_eq!(e.plan.len(), 3 * e.plan_length as usize);
            let Task::Sokoban(level) = e.parse_task().unwrap() else {
                panic!("not a Sokoban task: {}", e.task)
            };
            assert_eq!(
                Task::Sokoban(level.clone())
                    .prompt(ds.vocabulary())
                    .unwrap(),
                e.prompt
            );
            assert!(levels.insert(level.state_string()), "duplicate level");
        }
    }
}

#[test]
fn duplicate_levels_rejected_and_tstar() {
    // 5x5 with one box: the box is always at (2, 2), so only a few dozen levels exist.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = GenerateConfig::new(
        Domain::Sokoban {
            width: 5,
            height: 5,
            walls: 0,
            boxes: 1,
        },
        20,
    );
    c.test_fraction = 0.25;
    c.tstar = Some(TStarConfig { runs: 4 });
    let out = tmp.path().join("ds");
    let m = common::gen(&c, &out, 2);
    assert!(m.generation.duplicate_layouts > 0, "{:?}", m.generation);
    let ds = Dataset::open(&out).unwrap();
    let mut seen = HashSet::new();
    let mut layouts = Vec::new();
    for split in Split::ALL {
        for e in ds.read_split(split).unwrap() {
            assert!(seen.insert(e.task.clone()), "duplicate level {}", e.task);
            layouts.push(e.layout);
            match split {
                Split::Train => assert!(e.astar_mean_reasoning.is_none()),
                Split::Test => {
                    let t = e.astar_mean_reasoning.unwrap();
                    assert!(t > 0.0 && (t * 4.0 - (t * 4.0).round()).abs() < 1e-9, "{t}");
                }
            }
        }
    }
    // Rejected duplicates leave gaps in the layout indices; the first copy is kept.
    assert!(layouts.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        m.generation.layouts_consumed,
        20 + m.generation.duplicate_layouts + m.generation.empty_layouts
    );
}
