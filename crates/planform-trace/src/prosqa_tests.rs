//! Tests of the ProsQA format and generator: every guarantee checked on each record against
//! an independent recomputation from the JSON fields, statistics against the paper's
//! Table 2, determinism and thread-count independence.

use std::collections::BTreeSet;

use super::*;

fn records(cfg: ProsqaGenConfig, seed: u64, n: usize) -> Vec<ProsqaRecord> {
    generate_records(cfg, seed, 0, n, 2).unwrap()
}

/// Independent reachability: repeated relaxation over the edge list (no BFS code shared).
fn reachable(n: usize, edges: &[[usize; 2]], src: usize) -> Vec<bool> {
    let mut r = vec![false; n];
    r[src] = true;
    loop {
        let mut changed = false;
        for &[p, c] in edges {
            if r[p] && !r[c] {
                r[c] = true;
                changed = true;
            }
        }
        if !changed {
            return r;
        }
    }
}

/// Independent shortest distance by Bellman–Ford relaxation.
fn distance(n: usize, edges: &[[usize; 2]], src: usize, dst: usize) -> Option<usize> {
    let mut d = vec![usize::MAX; n];
    d[src] = 0;
    for _ in 0..n {
        for &[p, c] in edges {
            if d[p] != usize::MAX && d[p] + 1 < d[c] {
                d[c] = d[p] + 1;
            }
        }
    }
    (d[dst] != usize::MAX).then_some(d[dst])
}

#[test]
fn every_record_keeps_the_guarantees() {
    for (cfg, seed) in [
        (ProsqaGenConfig::default(), 7),
        (ProsqaGenConfig::small(), 8),
    ] {
        for r in records(cfg, seed, 400) {
            r.validate().unwrap();
            let n = r.nodes();
            // Path to the target, none to the negative target (independent check).
            let reach = reachable(n, &r.edges, r.root);
            assert!(reach[r.target] && !reach[r.neg_target]);
            assert_eq!(distance(n, &r.edges, r.root, r.target), Some(r.steps.len()));
            assert!((cfg.min_steps as usize..=cfg.max_steps as usize).contains(&r.steps.len()));
            // A DAG: no node reaches one of its parents.
            for &[p, c] in &r.edges {
                assert!(!reachable(n, &r.edges, c)[p], "cycle through {p} -> {c}");
                assert!(p < c, "nodes are numbered in construction order");
            }
            // Targets are leaves; the negative target is in the other person's family.
            let is_leaf = |i: usize| !r.edges.iter().any(|e| e[0] == i);
            assert!(is_leaf(r.target) && is_leaf(r.neg_target));
            assert!(r.root < 2 && reachable(n, &r.edges, 1 - r.root)[r.neg_target]);
            // Names: persons exactly the nodes without parents, all from the inventory.
            for (i, name) in r.idx_to_symbol.iter().enumerate() {
                let person = !r.edges.iter().any(|e| e[1] == i);
                if person {
                    assert!(PERSON_NAMES.contains(&name.as_str()), "{name}");
                } else {
                    assert!(CONCEPT_NAMES.contains(&name.as_str()), "{name}");
                }
                assert!(i < 2 || !person || !is_leaf(i), "isolated person {i}");
            }
            // The question: one statement per edge, then the query with both options.
            let body = r.question.rsplit_once(" Is ").unwrap().0;
            let stated: BTreeSet<(String, String)> = body
                .split_inclusive('.')
                .map(|s| {
                    let st = parse_statement(s).unwrap();
                    (st.subject.to_string(), st.object.to_string())
                })
                .collect();
            let edges: BTreeSet<(String, String)> = r
                .edges
                .iter()
                .map(|&[p, c]| (r.idx_to_symbol[p].clone(), r.idx_to_symbol[c].clone()))
                .collect();
            assert_eq!(stated, edges);
            assert_eq!(body.matches('.').count(), r.edges.len());
            let (a, b) = r.options().unwrap();
            let mut opts = [a, b];
            opts.sort();
            let mut want = [
                r.idx_to_symbol[r.target].as_str(),
                r.idx_to_symbol[r.neg_target].as_str(),
            ];
            want.sort();
            assert_eq!(opts, want);
            assert!(r.question.ends_with('?'));
            // Edges listed by child.
            assert!(r.edges.windows(2).all(|w| w[0][1] <= w[1][1]));
        }
    }
}

#[test]
fn statistics_match_the_paper_at_its_scale() {
    // 3,000 records of the default configuration against Table 2 (23.0 nodes, 36.0 edges,
    // 3.8 path length, 1.6 shortest paths) and the public test split's ranges.
    let s = stats(&records(ProsqaGenConfig::default(), 0, 3000)).unwrap();
    let close = |got: f64, want: f64, tol: f64| {
        assert!((got - want).abs() <= tol, "{got} vs {want} ± {tol}\n{s}");
    };
    close(s.nodes.mean, 23.0, 0.6);
    close(s.edges.mean, 36.0, 1.5);
    close(s.path_len.mean, 3.8, 0.15);
    close(s.shortest_paths.mean, 1.6, 0.15);
    close(s.persons.mean, 2.56, 0.4);
    close(s.target_first, 0.5, 0.05);
    assert!(s.nodes.max <= 28.0 && s.path_len.min >= 3.0 && s.path_len.max <= 6.0);
    let text = s.to_string();
    assert!(
        text.contains("| paper Table 2 (mean) | 23 | 36 | 3.8 | 1.6 |"),
        "{text}"
    );
}

#[test]
fn generation_is_deterministic_and_thread_independent() {
    let cfg = ProsqaGenConfig::small();
    let one = generate_records(cfg, 5, 0, 60, 1).unwrap();
    let three = generate_records(cfg, 5, 0, 60, 3).unwrap();
    assert_eq!(write_records(&one), write_records(&three));
    // A slice of the dataset is the same records.
    let tail = generate_records(cfg, 5, 40, 20, 2).unwrap();
    assert_eq!(&one[40..], &tail[..]);
    // Another seed differs.
    assert_ne!(one, generate_records(cfg, 6, 0, 60, 1).unwrap());
}

#[test]
fn json_round_trips_in_the_public_format() {
    let recs = records(ProsqaGenConfig::small(), 1, 5);
    let text = write_records(&recs);
    assert!(text.starts_with("[{\"question\": \"") && text.ends_with("}]"));
    assert!(text.contains("\"edges\": [[0, "), "{}", &text[..200]);
    assert_eq!(parse_records(&text).unwrap(), recs);
    assert_eq!(write_records(&parse_records(&text).unwrap()), text);
    // Python's ensure_ascii.
    let mut r = recs[0].clone();
    r.answer = "Zoë is a 𝔁.".into();
    let t = write_records(&[r]);
    assert!(
        t.contains(r#""answer": "Zo\u00eb is a \ud835\udd01.""#),
        "{t}"
    );
    assert!(parse_records("[{\"question\": 1}]").is_err());
}

#[test]
fn hand_built_record_and_graph_queries() {
    // 0 Tom -> 2 a -> 3 b ; 0 -> 4 c -> 3 ; 1 Sam -> 5 d
    let names = ["Tom", "Sam", "wumpus", "yumpus", "zumpus", "dumpus"];
    let r = ProsqaRecord {
        question: "Tom is a wumpus. Every wumpus is a yumpus. Tom is a zumpus. \
                   Every zumpus is a yumpus. Sam is a dumpus. Is Tom a dumpus or yumpus?"
            .into(),
        answer: "Tom is a yumpus.".into(),
        steps: vec![
            "Tom is a zumpus.".into(),
            "Every zumpus is a yumpus.".into(),
        ],
        idx_to_symbol: names.iter().map(|s| s.to_string()).collect(),
        edges: vec![[0, 2], [2, 3], [0, 4], [4, 3], [1, 5]],
        root: 0,
        target: 3,
        neg_target: 5,
    };
    r.validate().unwrap();
    let g = r.graph().unwrap();
    assert_eq!(g.shortest_path_counts(0)[3], 2);
    assert_eq!(g.heights(), vec![2, 1, 1, 0, 1, 0]);
    assert_eq!(r.options(), Some(("dumpus", "yumpus")));
    assert_eq!(r.step_path().unwrap(), vec![0, 4, 3]);
    let mut bad = r.clone();
    bad.neg_target = 3;
    assert!(bad
        .validate()
        .unwrap_err()
        .to_string()
        .contains("reachable"));
    let mut bad = r.clone();
    bad.edges.push([3, 0]);
    assert!(bad.validate().unwrap_err().to_string().contains("cycle"));
    let mut bad = r.clone();
    bad.steps = vec![
        "Tom is a wumpus.".into(),
        "Every zumpus is a yumpus.".into(),
    ];
    assert!(bad.validate().is_err());
    assert!(ProsqaGraph::new(2, &[[0, 2]]).is_err());
    assert_eq!(
        parse_statement("Every a is a b."),
        Some(Statement {
            subject: "a",
            object: "b",
            every: true
        })
    );
    assert_eq!(parse_statement("Tom is a b").map(|s| s.every), None);
}

#[test]
fn bad_configs_are_refused_with_the_field() {
    let bad = |f: fn(&mut ProsqaGenConfig)| {
        let mut c = ProsqaGenConfig::default();
        f(&mut c);
        ProsqaGenerator::new(c).unwrap_err().to_string()
    };
    assert!(bad(|c| c.nodes = 3).contains("nodes"));
    assert!(bad(|c| c.nodes = 80).contains("nodes"));
    assert!(bad(|c| c.p_avoid_first = 0.8).contains("p_avoid"));
    assert!(bad(|c| c.min_steps = 0).contains("min_steps"));
    assert!(bad(|c| c.in_degree_mean = f64::NAN).contains("in_degree_mean"));
    // An impossible request fails with the reason instead of looping forever.
    let c = ProsqaGenConfig {
        nodes: 8,
        min_steps: 6,
        max_steps: 7,
        max_tries: 50,
        ..ProsqaGenConfig::default()
    };
    let e = ProsqaGenerator::new(c).unwrap().record(0, 0);
    assert!(
        matches!(e, Err(Error::GenerationFailed { tries: 50, .. })),
        "{e:?}"
    );
}
