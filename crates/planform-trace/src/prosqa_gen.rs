//! A ProsQA-style generator (the public repository ships only generated files).
//!
//! The construction follows the paper's appendix (as summarised in
//! `shared/reference/latent_and_efficiency.md` §1.3) and, where that leaves a choice open,
//! what the public valid + test files (800 records) show:
//!
//! 1. Nodes 0 and 1 are two persons; every node carries a *family label*, a bit set:
//!    bit 1 = descends from node 0, bit 2 = descends from node 1 (node 0 has label 1,
//!    node 1 label 2).
//! 2. Nodes `2..nodes` are added one at a time. Each draws Poisson(`in_degree_mean`)
//!    incoming edges. With probability `p_avoid_second` its parents come from node 0's
//!    family only (label 1: the new node does not descend from node 1), with probability
//!    `p_avoid_first` from node 1's family only (label 2), otherwise from all nodes. The
//!    count is capped by the candidates; the parents are drawn without replacement with
//!    weight `depth · depth_weight + 1`, `depth` being the node's shortest distance from a
//!    node without parents. The new node's label is the union of its parents' labels.
//! 3. A node that drew no parent is another person. Persons that got no child are
//!    dropped (the public files have no isolated node), the rest keep their order.
//! 4. For each of nodes 0 and 1, its candidate target is a leaf of its family only (label
//!    = its bit) at the largest breadth-first distance from it (ties uniform) — every
//!    public target is such a leaf. The queried person `root` is the one whose candidate is
//!    farther (node 1 on ties; [`RootRule::LongerPath`]). Its distance must lie in
//!    `min_steps..=max_steps`. The negative target is a uniform leaf of the other person's
//!    family only (hence unreachable from the root). Otherwise the graph is drawn again.
//! 5. Persons get distinct person names, the other nodes distinct concept names (the
//!    public inventory, [`PERSON_NAMES`], [`CONCEPT_NAMES`]).
//! 6. The question is every edge's statement in shuffled order, then "Is Root a A or B?"
//!    with the two options in random order; the steps are one shortest path (uniform over
//!    all shortest paths); the answer "Root is a target.". `edges` are listed by child,
//!    each child's parents in drawing order (as in the public files).
//!
//! Every record `i` of a dataset draws from its own keyed stream `(seed, i)`, so a dataset
//! is byte-identical whatever the thread count ([`generate_records`]).
//!
//! Two readings of the paper's rules were settled by the public files (800 records): the
//! constrained parents come from one family only, not also from the other persons (the
//! public graphs have 2.56 persons on average; parents "from labels 0 and 1" give 4.6),
//! and the root is the person with the longer path (the public files have root = node 1 in
//! 64% of the records, which a fair coin does not give, and with this rule the mean path
//! length moves from 3.54 to the published 3.8). With `nodes = 28` the statistics match
//! the paper's Table 2 (see `docs/coconut.md` for the measured figures). Known remaining
//! difference: the public negative target is the farthest leaf of its family in 69% of
//! the records; here it is a uniform leaf.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::prosqa::{edge_statement, ProsqaGraph, ProsqaRecord, CONCEPT_NAMES, PERSON_NAMES};
use crate::rng::Rng;

/// Generator settings. `Default` is the paper's scale; [`ProsqaGenConfig::small`] a CPU
/// scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProsqaGenConfig {
    /// Nodes built (before dropping childless persons). Default 28 (the public files'
    /// largest graph has 28 nodes).
    pub nodes: u32,
    /// Mean of the Poisson in-degree. Default 1.5.
    pub in_degree_mean: f64,
    /// Parent weight `depth · depth_weight + 1`. Default 1.5.
    pub depth_weight: f64,
    /// Probability that a new node may not descend from node 1. Default 0.35.
    pub p_avoid_second: f64,
    /// Probability that a new node may not descend from node 0. Default 0.35.
    pub p_avoid_first: f64,
    /// Shortest shortest-path root → target accepted. Default 3 (public files: 3–6).
    pub min_steps: u32,
    /// Longest shortest-path accepted. Default 6.
    pub max_steps: u32,
    /// Graphs drawn per record before giving up. Default 10,000.
    pub max_tries: u32,
    /// How the queried person is chosen. Default [`RootRule::LongerPath`].
    pub root_rule: RootRule,
}

/// Which of nodes 0 and 1 is the queried person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootRule {
    /// The one whose farthest family leaf is farther (node 1 on ties).
    #[default]
    LongerPath,
    /// A fair coin.
    Coin,
}

impl Default for ProsqaGenConfig {
    fn default() -> Self {
        ProsqaGenConfig {
            nodes: 28,
            in_degree_mean: 1.5,
            depth_weight: 1.5,
            p_avoid_second: 0.35,
            p_avoid_first: 0.35,
            min_steps: 3,
            max_steps: 6,
            max_tries: 10_000,
            root_rule: RootRule::LongerPath,
        }
    }
}

impl ProsqaGenConfig {
    /// CPU scale: 14 nodes built.
    pub fn small() -> Self {
        ProsqaGenConfig {
            nodes: 14,
            ..Self::default()
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(Error::Config { field, reason });
        let most = (PERSON_NAMES.len() + CONCEPT_NAMES.len()) as u32;
        if !(4..=most).contains(&self.nodes) {
            return bad(
                "nodes",
                format!("must be in 4..={most}, got {}", self.nodes),
            );
        }
        if !(self.in_degree_mean.is_finite()
            && self.in_degree_mean > 0.0
            && self.in_degree_mean <= 20.0)
        {
            return bad(
                "in_degree_mean",
                format!("must be in (0, 20], got {}", self.in_degree_mean),
            );
        }
        if !(self.depth_weight.is_finite() && self.depth_weight >= 0.0) {
            return bad(
                "depth_weight",
                format!("must be >= 0, got {}", self.depth_weight),
            );
        }
        let p_ok = |p: f64| (0.0..=1.0).contains(&p);
        if !p_ok(self.p_avoid_first)
            || !p_ok(self.p_avoid_second)
            || self.p_avoid_first + self.p_avoid_second > 1.0
        {
            return bad(
                "p_avoid_first",
                format!(
                    "p_avoid_first ({}) and p_avoid_second ({}) must be probabilities summing to <= 1",
                    self.p_avoid_first, self.p_avoid_second
                ),
            );
        }
        if self.min_steps == 0 || self.min_steps > self.max_steps || self.max_steps >= self.nodes {
            return bad(
                "min_steps",
                format!(
                    "need 1 <= min_steps ({}) <= max_steps ({}) < nodes ({})",
                    self.min_steps, self.max_steps, self.nodes
                ),
            );
        }
        if self.max_tries == 0 {
            return bad("max_tries", "must be > 0".into());
        }
        Ok(())
    }
}

/// Stream tag of ProsQA records (`Rng::keyed([seed, TAG, index])`).
const STREAM_TAG: u64 = 0x5072_6f73_5141; // "ProsQA"

/// Knuth's Poisson sampler (fine for small means).
fn poisson(rng: &mut Rng, mean: f64) -> usize {
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.f64();
    while p > limit {
        k += 1;
        p *= rng.f64();
    }
    k
}

/// `k` of `candidates`, without replacement, each draw proportional to `weights`.
fn weighted_sample(rng: &mut Rng, candidates: &[usize], weights: &[f64], k: usize) -> Vec<usize> {
    let mut pool: Vec<(usize, f64)> = candidates.iter().map(|&c| (c, weights[c])).collect();
    let mut out = Vec::with_capacity(k);
    for _ in 0..k.min(pool.len()) {
        let total: f64 = pool.iter().map(|p| p.1).sum();
        let mut x = rng.f64() * total;
        let mut pick = pool.len() - 1;
        for (i, &(_, w)) in pool.iter().enumerate() {
            if x < w {
                pick = i;
                break;
            }
            x -= w;
        }
        out.push(pool.remove(pick).0);
    }
    out
}

/// A drawn DAG before names: parents per node in drawing order, and family labels.
struct Dag {
    parents: Vec<Vec<usize>>,
    labels: Vec<u8>,
}

fn draw_dag(cfg: &ProsqaGenConfig, rng: &mut Rng) -> Dag {
    let n = cfg.nodes as usize;
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(), Vec::new()];
    let mut labels: Vec<u8> = vec![1, 2];
    let mut depth: Vec<f64> = vec![0.0, 0.0];
    let mut weights: Vec<f64> = vec![1.0, 1.0];
    for i in 2..n {
        let k = poisson(rng, cfg.in_degree_mean);
        let u = rng.f64();
        let allowed = |l: u8| {
            if u < cfg.p_avoid_second {
                l == 1
            } else if u < cfg.p_avoid_second + cfg.p_avoid_first {
                l == 2
            } else {
                true
            }
        };
        let candidates: Vec<usize> = (0..i).filter(|&j| allowed(labels[j])).collect();
        let ps = weighted_sample(rng, &candidates, &weights, k);
        let label = ps.iter().fold(0u8, |acc, &p| acc | labels[p]);
        let d = ps
            .iter()
            .map(|&p| depth[p] + 1.0)
            .fold(f64::INFINITY, f64::min);
        let d = if ps.is_empty() { 0.0 } else { d };
        parents.push(ps);
        labels.push(label);
        depth.push(d);
        weights.push(d * cfg.depth_weight + 1.0);
    }
    Dag { parents, labels }
}

/// Generates ProsQA records.
#[derive(Debug, Clone)]
pub struct ProsqaGenerator {
    config: ProsqaGenConfig,
}

impl ProsqaGenerator {
    /// Validates `config`.
    pub fn new(config: ProsqaGenConfig) -> Result<Self> {
        config.validate()?;
        Ok(ProsqaGenerator { config })
    }

    /// The configuration.
    pub fn config(&self) -> &ProsqaGenConfig {
        &self.config
    }

    /// Record `index` of the dataset seeded with `seed` (its own stream).
    pub fn record(&self, seed: u64, index: u64) -> Result<ProsqaRecord> {
        self.generate(&mut Rng::keyed(&[seed, STREAM_TAG, index]))
    }

    /// One record from `rng` (graphs are drawn until one is accepted).
    pub fn generate(&self, rng: &mut Rng) -> Result<ProsqaRecord> {
        let mut reason = String::new();
        for _ in 0..self.config.max_tries {
            match self.try_generate(rng) {
                Ok(r) => return Ok(r),
                Err(why) => reason = why,
            }
        }
        Err(Error::GenerationFailed {
            tries: self.config.max_tries as usize,
            reason,
        })
    }

    fn try_generate(&self, rng: &mut Rng) -> std::result::Result<ProsqaRecord, String> {
        let cfg = &self.config;
        let dag = draw_dag(cfg, rng);
        let n0 = dag.parents.len();
        let mut has_child = vec![false; n0];
        for ps in &dag.parents {
            for &p in ps {
                has_child[p] = true;
            }
        }
        // Drop persons other than nodes 0 and 1 that got no child; keep the order.
        let keep: Vec<usize> = (0..n0)
            .filter(|&i| i < 2 || !dag.parents[i].is_empty() || has_child[i])
            .collect();
        let mut new_index = vec![usize::MAX; n0];
        for (k, &i) in keep.iter().enumerate() {
            new_index[i] = k;
        }
        let n = keep.len();
        let labels: Vec<u8> = keep.iter().map(|&i| dag.labels[i]).collect();
        let mut edges: Vec<[usize; 2]> = Vec::new();
        for &i in &keep {
            for &p in &dag.parents[i] {
                edges.push([new_index[p], new_index[i]]);
            }
        }
        let g = ProsqaGraph::new(n, &edges).map_err(|e| e.to_string())?;
        let family = |who: usize| -> Vec<usize> {
            let bit = 1u8 << who;
            (0..n)
                .filter(|&i| g.is_leaf(i) && !g.parents[i].is_empty() && labels[i] == bit)
                .collect()
        };
        // Each person's farthest family leaves and their distance.
        let farthest = |who: usize| -> (Option<usize>, Vec<usize>) {
            let dist = g.distances_from(who);
            let leaves = family(who);
            let far = leaves.iter().filter_map(|&t| dist[t]).max();
            let at: Vec<usize> = leaves.into_iter().filter(|&t| dist[t] == far).collect();
            (far, at)
        };
        let root = match cfg.root_rule {
            RootRule::Coin => usize::from(rng.coin()),
            RootRule::LongerPath => {
                let (f0, f1) = (farthest(0).0, farthest(1).0);
                usize::from(f1 >= f0)
            }
        };
        let other = 1 - root;
        let dist = g.distances_from(root);
        let (far, candidates) = farthest(root);
        let far = far.ok_or("no target leaf")?;
        if far < cfg.min_steps as usize || far > cfg.max_steps as usize {
            return Err(format!("shortest path {far} outside the allowed steps"));
        }
        let target = candidates[rng.below_usize(candidates.len())];
        let negs = family(other);
        if negs.is_empty() {
            return Err("no negative target leaf".into());
        }
        let neg_target = negs[rng.below_usize(negs.len())];
        // Names.
        let persons: Vec<usize> = (0..n).filter(|&i| g.parents[i].is_empty()).collect();
        if persons.len() > PERSON_NAMES.len() || n - persons.len() > CONCEPT_NAMES.len() {
            return Err("more nodes than names".into());
        }
        let person_names = rng.choose_k(PERSON_NAMES.len(), persons.len());
        let concept_names = rng.choose_k(CONCEPT_NAMES.len(), n - persons.len());
        let (mut pi, mut ci) = (0, 0);
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            if g.parents[i].is_empty() {
                names.push(PERSON_NAMES[person_names[pi]].to_string());
                pi += 1;
            } else {
                names.push(CONCEPT_NAMES[concept_names[ci]].to_string());
                ci += 1;
            }
        }
        let statement =
            |[p, c]: [usize; 2]| edge_statement(&names[p], &names[c], g.parents[p].is_empty());
        let mut order = edges.clone();
        rng.shuffle(&mut order);
        let mut question: Vec<String> = order.into_iter().map(statement).collect();
        let (a, b) = if rng.coin() {
            (target, neg_target)
        } else {
            (neg_target, target)
        };
        question.push(format!(
            "Is {} a {} or {}?",
            names[root], names[a], names[b]
        ));
        // One shortest path, uniform over all: walk back from the target.
        let count = g.shortest_path_counts(root);
        let mut path = vec![target];
        let mut x = target;
        while x != root {
            let d = dist[x].unwrap_or(0);
            let ps: Vec<usize> = g.parents[x]
                .iter()
                .copied()
                .filter(|&p| dist[p] == Some(d.wrapping_sub(1)))
                .collect();
            let total: u64 = ps.iter().map(|&p| count[p]).sum();
            let mut r = rng.below(total);
            let mut pick = ps[ps.len() - 1];
            for &p in &ps {
                if r < count[p] {
                    pick = p;
                    break;
                }
                r -= count[p];
            }
            path.push(pick);
            x = pick;
        }
        path.reverse();
        let steps = path.windows(2).map(|w| statement([w[0], w[1]])).collect();
        Ok(ProsqaRecord {
            question: question.join(" "),
            answer: format!("{} is a {}.", names[root], names[target]),
            steps,
            idx_to_symbol: names,
            edges,
            root,
            target,
            neg_target,
        })
    }
}

/// Records `first..first + count` of the dataset seeded with `seed`, generated on
/// `threads` threads (the output does not depend on `threads`).
pub fn generate_records(
    config: ProsqaGenConfig,
    seed: u64,
    first: u64,
    count: usize,
    threads: usize,
) -> Result<Vec<ProsqaRecord>> {
    let generator = ProsqaGenerator::new(config)?;
    let threads = threads.clamp(1, count.max(1));
    let chunk = count.div_ceil(threads);
    let parts: Vec<Result<Vec<ProsqaRecord>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let generator = &generator;
                s.spawn(move || {
                    let lo = (t * chunk).min(count);
                    let hi = ((t + 1) * chunk).min(count);
                    (lo..hi)
                        .map(|i| generator.record(seed, first + i as u64))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Malformed("generator thread panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}
