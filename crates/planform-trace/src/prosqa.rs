//! ProsQA records (Coconut, Hao et al. 2024): the public JSON format, the graph behind a
//! record, statement parsing and the dataset statistics of the paper's Table 2.
//!
//! A record (one object of the JSON array the public files `prosqa_{train,valid,test}.json`
//! hold; field order as there):
//!
//! ```json
//! {"question": "Every gerpus is a terpus. ... Sally is a scrompus. ... Is Sally a hilpus or sterpus?",
//!  "answer": "Sally is a sterpus.",
//!  "steps": ["Sally is a scrompus.", "Every scrompus is a rempus.", "Every rempus is a sterpus."],
//!  "idx_to_symbol": ["Bob", "Sally", "..."],
//!  "edges": [[0, 2], [1, 3]],
//!  "root": 1, "target": 21, "neg_target": 25}
//! ```
//!
//! `edges` are `[parent, child]` node indices; a parent without parents of its own is a
//! person ("Sally is a scrompus."), every other edge is "Every X is a Y.". The files are
//! written exactly as Python's `json.dumps` writes them ([`write_records`]; the public files
//! round-trip byte for byte).
//!
//! The generator is [`generator`] (file `prosqa_gen.rs`).

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::json::PythonFormatter;

#[path = "prosqa_gen.rs"]
pub mod generator;

pub use generator::{generate_records, ProsqaGenConfig, ProsqaGenerator, RootRule};

/// The 17 person names of the public files (valid + test).
pub const PERSON_NAMES: [&str; 17] = [
    "Alex", "Bob", "Carol", "Davis", "Eva", "Fae", "Gabriel", "Jack", "Max", "Oliver", "Polly",
    "Rex", "Sally", "Sam", "Stella", "Tom", "Wren",
];

/// The 38 concept names of the public files (valid + test).
pub const CONCEPT_NAMES: [&str; 38] = [
    "bompus", "boompus", "brimpus", "chorpus", "dumpus", "felpus", "fompus", "gerpus", "gorpus",
    "grimpus", "gwompus", "hilpus", "impus", "jelpus", "jompus", "kerpus", "lempus", "lorpus",
    "numpus", "quimpus", "rempus", "rompus", "rorpus", "scrompus", "shumpus", "sterpus", "storpus",
    "terpus", "timpus", "tumpus", "vumpus", "worpus", "wumpus", "yerpus", "yimpus", "yumpus",
    "zhorpus", "zumpus",
];

/// One ProsQA question with its graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProsqaRecord {
    /// Statements (shuffled) and the query "Is Name a A or B?".
    pub question: String,
    /// "Name is a target."
    pub answer: String,
    /// One shortest path root → target, one statement per edge.
    pub steps: Vec<String>,
    /// Node index → name.
    pub idx_to_symbol: Vec<String>,
    /// `[parent, child]` node indices.
    pub edges: Vec<[usize; 2]>,
    /// The queried person.
    pub root: usize,
    /// The correct concept (reachable from `root`).
    pub target: usize,
    /// The wrong option (not reachable from `root`).
    pub neg_target: usize,
}

/// A parsed statement: "Every X is a Y." (`every`) or "Name is a Y.".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// `X` or the name.
    pub subject: &'a str,
    /// `Y`.
    pub object: &'a str,
    /// Whether the statement starts with "Every".
    pub every: bool,
}

/// Parses "Every X is a Y." or "Name is a Y." (surrounding whitespace ignored).
pub fn parse_statement(s: &str) -> Option<Statement<'_>> {
    let s = s.trim().strip_suffix('.')?;
    let (every, rest) = match s.strip_prefix("Every ") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (subject, object) = rest.split_once(" is a ")?;
    let word = |w: &str| !w.is_empty() && !w.contains(char::is_whitespace);
    (word(subject) && word(object)).then_some(Statement {
        subject,
        object,
        every,
    })
}

/// The statement of edge `parent → child`: "Name is a C." when the parent is a person (has
/// no parents), else "Every P is a C.".
pub fn edge_statement(parent: &str, child: &str, parent_is_person: bool) -> String {
    if parent_is_person {
        format!("{parent} is a {child}.")
    } else {
        format!("Every {parent} is a {child}.")
    }
}

/// The directed graph of a record: children and parents per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProsqaGraph {
    /// Children per node, in edge order.
    pub children: Vec<Vec<usize>>,
    /// Parents per node, in edge order.
    pub parents: Vec<Vec<usize>>,
}

impl ProsqaGraph {
    /// The graph of `n` nodes with `edges` (`[parent, child]`); an index `>= n` or a self
    /// loop is an error.
    pub fn new(n: usize, edges: &[[usize; 2]]) -> Result<Self> {
        let mut g = ProsqaGraph {
            children: vec![Vec::new(); n],
            parents: vec![Vec::new(); n],
        };
        for &[p, c] in edges {
            if p >= n || c >= n || p == c {
                return Err(Error::Malformed(format!(
                    "edge [{p}, {c}] is not an edge between two of the {n} nodes"
                )));
            }
            g.children[p].push(c);
            g.parents[c].push(p);
        }
        Ok(g)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    /// Whether the graph has no directed cycle (Kahn's algorithm).
    pub fn is_acyclic(&self) -> bool {
        let mut indeg: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut queue: VecDeque<usize> = (0..self.len()).filter(|&i| indeg[i] == 0).collect();
        let mut seen = 0;
        while let Some(x) = queue.pop_front() {
            seen += 1;
            for &c in &self.children[x] {
                indeg[c] -= 1;
                if indeg[c] == 0 {
                    queue.push_back(c);
                }
            }
        }
        seen == self.len()
    }

    /// Breadth-first distances (edges) from `src`; `None` where unreachable.
    pub fn distances_from(&self, src: usize) -> Vec<Option<usize>> {
        let mut dist = vec![None; self.len()];
        let mut queue = VecDeque::from([src]);
        dist[src] = Some(0);
        while let Some(x) = queue.pop_front() {
            let d = dist[x].unwrap_or(0);
            for &c in &self.children[x] {
                if dist[c].is_none() {
                    dist[c] = Some(d + 1);
                    queue.push_back(c);
                }
            }
        }
        dist
    }

    /// Whether `dst` is reachable from `src` (a node reaches itself).
    pub fn reaches(&self, src: usize, dst: usize) -> bool {
        self.distances_from(src)[dst].is_some()
    }

    /// Number of shortest paths from `src` to every node (0 where unreachable), saturating.
    pub fn shortest_path_counts(&self, src: usize) -> Vec<u64> {
        let dist = self.distances_from(src);
        let mut order: Vec<usize> = (0..self.len()).filter(|&i| dist[i].is_some()).collect();
        order.sort_by_key(|&i| dist[i]);
        let mut count = vec![0u64; self.len()];
        count[src] = 1;
        for &x in &order {
            if x == src {
                continue;
            }
            count[x] = self.parents[x]
                .iter()
                .filter(|&&p| dist[p].is_some() && dist[p].map(|d| d + 1) == dist[x])
                .fold(0u64, |acc, &p| acc.saturating_add(count[p]));
        }
        count
    }

    /// Nodes without children.
    pub fn is_leaf(&self, i: usize) -> bool {
        self.children[i].is_empty()
    }

    /// The height of every node: its shortest distance to a leaf (the paper's §5.3
    /// definition; a leaf has height 0).
    pub fn heights(&self) -> Vec<usize> {
        let n = self.len();
        let mut h = vec![usize::MAX; n];
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| self.is_leaf(i)).collect();
        for &i in &queue {
            h[i] = 0;
        }
        while let Some(x) = queue.pop_front() {
            for &p in &self.parents[x] {
                if h[p] == usize::MAX {
                    h[p] = h[x] + 1;
                    queue.push_back(p);
                }
            }
        }
        h
    }
}

impl ProsqaRecord {
    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.idx_to_symbol.len()
    }

    /// The record's graph.
    pub fn graph(&self) -> Result<ProsqaGraph> {
        ProsqaGraph::new(self.nodes(), &self.edges)
    }

    /// Node index of a name.
    pub fn node_of(&self, name: &str) -> Option<usize> {
        self.idx_to_symbol.iter().position(|s| s == name)
    }

    /// The name of the queried person.
    pub fn root_name(&self) -> &str {
        &self.idx_to_symbol[self.root]
    }

    /// Checks the guarantees of the format: indices in range, distinct names, a DAG, a path
    /// root → target and none root → neg_target, steps that are a shortest path root →
    /// target with edges of the graph, and the answer "Name is a target.".
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Malformed(format!("ProsQA record: {m}")));
        let n = self.nodes();
        for (what, i) in [
            ("root", self.root),
            ("target", self.target),
            ("neg_target", self.neg_target),
        ] {
            if i >= n {
                return bad(format!("{what} {i} is not one of the {n} nodes"));
            }
        }
        let mut names: Vec<&String> = self.idx_to_symbol.iter().collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad("idx_to_symbol names a symbol twice".into());
        }
        let g = self.graph()?;
        if !g.is_acyclic() {
            return bad("the graph has a cycle".into());
        }
        let dist = g.distances_from(self.root);
        let Some(shortest) = dist[self.target] else {
            return bad("no path from root to target".into());
        };
        if dist[self.neg_target].is_some() {
            return bad("neg_target is reachable from root".into());
        }
        if self.steps.len() != shortest {
            return bad(format!(
                "{} steps, the shortest path has {shortest} edges",
                self.steps.len()
            ));
        }
        let path = self.step_path()?;
        if path.first() != Some(&self.root) || path.last() != Some(&self.target) {
            return bad("the steps do not lead from root to target".into());
        }
        for w in path.windows(2) {
            if !g.children[w[0]].contains(&w[1]) {
                return bad(format!(
                    "step {} is a {} is not an edge of the graph",
                    self.idx_to_symbol[w[0]], self.idx_to_symbol[w[1]]
                ));
            }
        }
        let want = format!(
            "{} is a {}.",
            self.root_name(),
            self.idx_to_symbol[self.target]
        );
        if self.answer != want {
            return bad(format!("answer {:?}, expected {want:?}", self.answer));
        }
        Ok(())
    }

    /// The nodes the steps visit (root first), parsed from the statements.
    pub fn step_path(&self) -> Result<Vec<usize>> {
        let mut path = Vec::with_capacity(self.steps.len() + 1);
        for (i, s) in self.steps.iter().enumerate() {
            let st = parse_statement(s)
                .ok_or_else(|| Error::Malformed(format!("step {i} {s:?} is not a statement")))?;
            let node = |name: &str| {
                self.node_of(name)
                    .ok_or_else(|| Error::Malformed(format!("step {i} names unknown {name:?}")))
            };
            let (a, b) = (node(st.subject)?, node(st.object)?);
            if path.last().is_some_and(|&last| last != a) {
                return Err(Error::Malformed(format!(
                    "step {i} {s:?} does not continue the previous step"
                )));
            }
            if path.is_empty() {
                path.push(a);
            }
            path.push(b);
        }
        Ok(path)
    }

    /// The two options of the query "Is Name a A or B?", in question order.
    pub fn options(&self) -> Option<(&str, &str)> {
        let q = self.question.trim_end().strip_suffix('?')?;
        let start = q.rfind("Is ")?;
        let rest = &q[start + 3..];
        let (_, opts) = rest.split_once(" a ")?;
        opts.split_once(" or ")
    }
}

/// Parses a JSON array of records (the public files' format).
pub fn parse_records(text: &str) -> Result<Vec<ProsqaRecord>> {
    serde_json::from_str(text).map_err(|e| Error::Json(format!("ProsQA file: {e}")))
}

/// Writes records as one JSON array exactly as Python's `json.dumps` does (separators
/// `", "` / `": "`, non-ASCII as `\uXXXX`), so the public files round-trip byte for byte.
pub fn write_records(records: &[ProsqaRecord]) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Plain strings and integers: serialisation cannot fail.
    if records.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Mean, minimum and maximum of a quantity over records.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Moments {
    /// Mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Moments {
    fn of(values: &[f64]) -> Moments {
        if values.is_empty() {
            return Moments::default();
        }
        Moments {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// Dataset statistics (the paper's Table 2 and a few more).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ProsqaStats {
    /// Records.
    pub records: usize,
    /// Nodes per graph.
    pub nodes: Moments,
    /// Edges per graph.
    pub edges: Moments,
    /// Shortest-path length root → target (= steps).
    pub path_len: Moments,
    /// Number of shortest paths root → target.
    pub shortest_paths: Moments,
    /// Persons (nodes without parents) per graph.
    pub persons: Moments,
    /// Fraction of records whose target is listed first in the query.
    pub target_first: f64,
    /// Records by number of steps: `(steps, count)`.
    pub steps_histogram: Vec<(usize, usize)>,
}

/// Paper Table 2: nodes, edges, shortest-path length, shortest paths (means).
pub const PAPER_TABLE2: [f64; 4] = [23.0, 36.0, 3.8, 1.6];
/// The public test split (500 records) measured: nodes, edges, path length means.
pub const PUBLIC_TEST: [f64; 3] = [22.8, 35.8, 3.78];

/// Statistics of `records` (each must have a valid graph).
pub fn stats(records: &[ProsqaRecord]) -> Result<ProsqaStats> {
    let (mut nodes, mut edges, mut len, mut sp, mut persons) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut first = 0usize;
    let mut hist = std::collections::BTreeMap::new();
    for r in records {
        let g = r.graph()?;
        let dist = g.distances_from(r.root);
        let d = dist[r.target]
            .ok_or_else(|| Error::Malformed("ProsQA record: no path from root to target".into()))?;
        nodes.push(r.nodes() as f64);
        edges.push(r.edges.len() as f64);
        len.push(d as f64);
        sp.push(g.shortest_path_counts(r.root)[r.target] as f64);
        persons.push(g.parents.iter().filter(|p| p.is_empty()).count() as f64);
        if r.options().map(|(a, _)| a) == Some(r.idx_to_symbol[r.target].as_str()) {
            first += 1;
        }
        *hist.entry(r.steps.len()).or_insert(0usize) += 1;
    }
    Ok(ProsqaStats {
        records: records.len(),
        nodes: Moments::of(&nodes),
        edges: Moments::of(&edges),
        path_len: Moments::of(&len),
        shortest_paths: Moments::of(&sp),
        persons: Moments::of(&persons),
        target_first: first as f64 / records.len().max(1) as f64,
        steps_histogram: hist.into_iter().collect(),
    })
}

impl fmt::Display for ProsqaStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = |x: &Moments| format!("{:.2} ({}–{})", x.mean, x.min, x.max);
        writeln!(f, "records: {}", self.records)?;
        writeln!(
            f,
            "| | nodes | edges | shortest-path length | shortest paths |"
        )?;
        writeln!(f, "|---|---|---|---|---|")?;
        let p = PAPER_TABLE2;
        writeln!(
            f,
            "| paper Table 2 (mean) | {} | {} | {} | {} |",
            p[0], p[1], p[2], p[3]
        )?;
        let t = PUBLIC_TEST;
        writeln!(
            f,
            "| public test split (mean) | {} | {} | {} | – |",
            t[0], t[1], t[2]
        )?;
        writeln!(
            f,
            "| this file: mean (min–max) | {} | {} | {} | {} |",
            m(&self.nodes),
            m(&self.edges),
            m(&self.path_len),
            m(&self.shortest_paths)
        )?;
        writeln!(f, "persons per graph: {}", m(&self.persons))?;
        writeln!(f, "target listed first: {:.3}", self.target_first)?;
        let h: Vec<String> = self
            .steps_histogram
            .iter()
            .map(|(s, c)| format!("{s}: {c}"))
            .collect();
        writeln!(f, "records by steps: {}", h.join(", "))
    }
}

#[cfg(test)]
#[path = "prosqa_tests.rs"]
mod tests;
