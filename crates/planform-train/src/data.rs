//! The examples a run trains and evaluates on, and the decoder sequences built from them.
//!
//! [`TrainData`] holds the selected training and held-out test examples in memory (token
//! ids only) plus the vocabulary. [`SequenceBuilder`] turns an example into the encoder
//! input `bos prompt eos` and the decoder sequence `bos [reasoning] plan eos` for the
//! configured [`TraceVariant`]; Dualformer dropping is drawn from a generator keyed by
//! `(seed, example id, epoch)` (or `(seed, example id)` for fixed-per-example resampling),
//! so the same epoch always yields the same sequences — which makes resume exact.

use std::path::Path;

use planform_data::{Dataset, Example, Split};
use planform_trace::dropping::{DroppingConfig, Level3, Resample};
use planform_trace::task::Domain;
use planform_trace::tokens::{TokenSequence, TraceVariant};
use planform_trace::vocab::Vocabulary;

use crate::config::{DataConfig, Level3Choice, ResampleChoice, SubsetOrder, TraceConfig};
use crate::error::{Result, TrainError};

/// One example as training sees it: its dataset id and its tokens (no `bos`/`eos`).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenExample {
    /// Dataset row id (keys the Dualformer dropping generator).
    pub id: u64,
    /// Prompt, reasoning and plan token ids.
    pub tokens: TokenSequence,
}

impl From<Example> for TokenExample {
    fn from(e: Example) -> Self {
        TokenExample {
            id: e.id,
            tokens: TokenSequence {
                prompt: e.prompt,
                reasoning: e.reasoning,
                plan: e.plan,
            },
        }
    }
}

/// Training and held-out examples plus their vocabulary.
#[derive(Clone, Debug)]
pub struct TrainData {
    /// Token vocabulary (also defines the domain).
    pub vocab: Vocabulary,
    /// Training examples, in subset order.
    pub train: Vec<TokenExample>,
    /// Held-out test examples for the periodic test loss.
    pub test: Vec<TokenExample>,
}

/// Selects examples as the reference does: length filter, then order, then the first `n`.
pub fn select(
    mut rows: Vec<TokenExample>,
    lengths: &[u32],
    cfg: &DataConfig,
    n: Option<usize>,
) -> Vec<TokenExample> {
    debug_assert_eq!(rows.len(), lengths.len());
    let keep = |len: u32| {
        cfg.min_reasoning_len.is_none_or(|lo| len >= lo)
            && cfg.max_reasoning_len.is_none_or(|hi| len < hi)
    };
    let mut i = 0;
    rows.retain(|_| {
        let k = keep(lengths[i]);
        i += 1;
        k
    });
    if cfg.subset == SubsetOrder::Hashed {
        rows.sort_by_key(|r| (id_hash(r.id), r.id));
    }
    if let Some(n) = n {
        rows.truncate(n);
    }
    rows
}

pub use planform_core::rng::id_hash;

impl TrainData {
    /// Builds from in-memory examples (e.g. in tests), applying the selection of `cfg`.
    pub fn from_examples(
        vocab: Vocabulary,
        train: Vec<Example>,
        test: Vec<Example>,
        cfg: &DataConfig,
    ) -> Self {
        let pick = |rows: Vec<Example>, n| {
            let lengths: Vec<u32> = rows.iter().map(|e| e.reasoning.len() as u32).collect();
            select(
                rows.into_iter().map(TokenExample::from).collect(),
                &lengths,
                cfg,
                n,
            )
        };
        TrainData {
            vocab,
            train: pick(train, cfg.train_examples),
            test: pick(test, Some(cfg.eval_examples)),
        }
    }

    /// Opens the planform-data dataset at `dir` and selects the examples of `cfg`.
    pub fn load(dir: &Path, cfg: &DataConfig) -> Result<Self> {
        let data_err =
            |e: planform_data::DataError| TrainError::Data(format!("{}: {e}", dir.display()));
        let ds = Dataset::open(dir).map_err(data_err)?;
        let vocab = ds.vocabulary().clone();
        let train = ds.read_split(Split::Train).map_err(data_err)?;
        let test = ds.read_split(Split::Test).map_err(data_err)?;
        let data = Self::from_examples(vocab, train, test, cfg);
        if data.train.is_empty() {
            return Err(TrainError::Data(format!(
                "{}: no training examples left after the length filters",
                dir.display()
            )));
        }
        Ok(data)
    }

    /// The task domain.
    pub fn domain(&self) -> Domain {
        self.vocab.domain()
    }

    /// Checks that every token id is inside the vocabulary (a model input outside it would
    /// otherwise fail deep inside libtorch).
    pub fn check_tokens(&self) -> Result<()> {
        let v = self.vocab.len() as u32;
        for (split, rows) in [("train", &self.train), ("test", &self.test)] {
            for r in rows.iter() {
                let t = &r.tokens;
                if let Some(&bad) = t
                    .prompt
                    .iter()
                    .chain(&t.reasoning)
                    .chain(&t.plan)
                    .find(|&&x| x >= v)
                {
                    return Err(TrainError::Data(format!(
                        "{split} example {}: token id {bad} outside the vocabulary of {v}",
                        r.id
                    )));
                }
                if t.plan.is_empty() {
                    return Err(TrainError::Data(format!(
                        "{split} example {}: empty plan",
                        r.id
                    )));
                }
            }
        }
        Ok(())
    }
}

/// An example as model sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// `bos prompt eos`.
    pub enc: Vec<u32>,
    /// `bos [reasoning] plan eos`.
    pub dec: Vec<u32>,
    /// Index in `dec` of the first plan token (`1 + reasoning length`).
    pub plan_start: usize,
}

/// Builds model sequences for one trace variant.
#[derive(Clone, Debug)]
pub struct SequenceBuilder {
    variant: TraceVariant,
    seed: u64,
}

impl SequenceBuilder {
    /// For `trace` on a dataset of `domain`; `seed` keys Dualformer dropping.
    pub fn new(trace: &TraceConfig, domain: Domain, seed: u64) -> Result<Self> {
        let variant = match trace {
            TraceConfig::SolutionOnly => TraceVariant::SolutionOnly,
            TraceConfig::SearchAugmented => TraceVariant::SearchAugmented,
            TraceConfig::Dualformer {
                probabilities,
                level3,
                level3_drop_probability,
                resample,
            } => {
                let level3 = match level3 {
                    Level3Choice::ReferenceCode => Level3::ReferenceCode,
                    Level3Choice::Paper => Level3::Paper {
                        drop_probability: *level3_drop_probability,
                    },
                };
                let resample = match resample.unwrap_or(default_resample(domain)) {
                    ResampleChoice::EveryEpoch => Resample::EveryEpoch,
                    ResampleChoice::FixedPerExample => Resample::FixedPerExample,
                };
                let cfg = DroppingConfig::new(*probabilities, level3, resample)
                    .map_err(|e| TrainError::invalid("trace", e.to_string()))?;
                TraceVariant::Dualformer(cfg)
            }
        };
        Ok(SequenceBuilder { variant, seed })
    }

    /// The variant.
    pub fn variant(&self) -> &TraceVariant {
        &self.variant
    }

    /// Whether sequence lengths depend on the epoch (Dualformer with per-epoch re-draws).
    pub fn varies_by_epoch(&self) -> bool {
        matches!(&self.variant, TraceVariant::Dualformer(c) if c.resample == Resample::EveryEpoch)
    }

    /// The sequences of `record` in `epoch`.
    pub fn prepare(
        &self,
        record: &TokenExample,
        vocab: &Vocabulary,
        epoch: u64,
    ) -> Result<Prepared> {
        let mut rng = match &self.variant {
            TraceVariant::Dualformer(c) => c.rng_for(self.seed, record.id, epoch),
            _ => planform_core::rng::Rng::new(0),
        };
        let target = record
            .tokens
            .decoder_target(&self.variant, vocab, &mut rng)
            .map_err(|e| TrainError::Data(format!("example {}: {e}", record.id)))?;
        Ok(Prepared {
            enc: record.tokens.encoder_input(),
            dec: target.tokens,
            plan_start: target.plan_start,
        })
    }

    /// `(encoder length, decoder length)` of `record` in `epoch`, without building the
    /// sequences when they do not depend on random dropping.
    pub fn lengths(
        &self,
        record: &TokenExample,
        vocab: &Vocabulary,
        epoch: u64,
    ) -> Result<(usize, usize)> {
        let t = &record.tokens;
        let enc = t.prompt.len() + 2;
        Ok(match &self.variant {
            TraceVariant::SolutionOnly => (enc, t.plan.len() + 2),
            TraceVariant::SearchAugmented => (enc, t.reasoning.len() + t.plan.len() + 2),
            TraceVariant::Dualformer(_) => (enc, self.prepare(record, vocab, epoch)?.dec.len()),
        })
    }
}

/// The reference's re-draw policy per domain: mazes re-draw every epoch; Sokoban caches the
/// dropped trace per example id.
pub fn default_resample(domain: Domain) -> ResampleChoice {
    match domain {
        Domain::Maze => ResampleChoice::EveryEpoch,
        Domain::Sokoban => ResampleChoice::FixedPerExample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64) -> TokenExample {
        TokenExample {
            id,
            tokens: TokenSequence {
                prompt: vec![2],
                reasoning: vec![],
                plan: vec![3],
            },
        }
    }

    #[test]
    fn hashed_subsets_are_nested_and_spread_out() {
        let rows: Vec<TokenExample> = (0..1000).map(rec).collect();
        let lens = vec![0u32; 1000];
        let cfg = DataConfig::default();
        let small = select(rows.clone(), &lens, &cfg, Some(50));
        let big = select(rows.clone(), &lens, &cfg, Some(100));
        assert_eq!(&big[..50], &small[..]);
        // Spread over the whole id range (file order would give ids 0..50).
        assert!(small.iter().any(|r| r.id >= 500));
        let first = select(
            rows,
            &lens,
            &DataConfig {
                subset: SubsetOrder::FileOrder,
                ..cfg
            },
            Some(50),
        );
        assert_eq!(
            first.iter().map(|r| r.id).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
    }

    #[test]
    fn reasoning_length_filter_is_half_open_and_applied_first() {
        let rows: Vec<TokenExample> = (0..10).map(rec).collect();
        let lens: Vec<u32> = (0..10).map(|i| i * 10).collect(); // 0, 10, …, 90
        let cfg = DataConfig {
            min_reasoning_len: Some(20),
            max_reasoning_len: Some(60),
            subset: SubsetOrder::FileOrder,
            ..DataConfig::default()
        };
        let ids: Vec<u64> = select(rows.clone(), &lens, &cfg, None)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![2, 3, 4, 5]);
        let ids: Vec<u64> = select(rows, &lens, &cfg, Some(2))
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![2, 3]);
    }

    fn dualformer(resample: Option<ResampleChoice>) -> TraceConfig {
        TraceConfig::Dualformer {
            probabilities: [0.2, 0.2, 0.2, 0.2, 0.2],
            level3: Level3Choice::ReferenceCode,
            level3_drop_probability: 0.3,
            resample,
        }
    }

    #[test]
    fn dropping_is_keyed_by_seed_example_and_epoch() {
        let (vocab, train, _) = crate::testutil::maze_examples(5, 30, 0, 1).unwrap();
        let recs: Vec<TokenExample> = train.into_iter().map(TokenExample::from).collect();
        let per_epoch = SequenceBuilder::new(&dualformer(None), Domain::Maze, 9).unwrap();
        assert!(per_epoch.varies_by_epoch(), "maze default: every epoch");
        let fixed = SequenceBuilder::new(&dualformer(None), Domain::Sokoban, 9).unwrap();
        assert!(
            !fixed.varies_by_epoch(),
            "Sokoban default: fixed per example"
        );
        let seqs = |b: &SequenceBuilder, epoch| -> Vec<Prepared> {
            recs.iter()
                .map(|r| b.prepare(r, &vocab, epoch).unwrap())
                .collect()
        };
        assert_eq!(seqs(&per_epoch, 3), seqs(&per_epoch, 3));
        assert_ne!(seqs(&per_epoch, 3), seqs(&per_epoch, 4));
        assert_eq!(seqs(&fixed, 3), seqs(&fixed, 4));
        let other_seed = SequenceBuilder::new(&dualformer(None), Domain::Maze, 10).unwrap();
        assert_ne!(seqs(&per_epoch, 3), seqs(&other_seed, 3));
        // The plan is never touched; plan_start points at it; lengths() agrees.
        for (r, p) in recs.iter().zip(seqs(&per_epoch, 5)) {
            assert_eq!(
                &p.dec[p.plan_start..p.dec.len() - 1],
                r.tokens.plan.as_slice()
            );
            assert_eq!(
                per_epoch.lengths(r, &vocab, 5).unwrap(),
                (p.enc.len(), p.dec.len())
            );
        }
        // Search-augmented and solution-only.
        let sa = SequenceBuilder::new(&TraceConfig::SearchAugmented, Domain::Maze, 0).unwrap();
        let so = SequenceBuilder::new(&TraceConfig::SolutionOnly, Domain::Maze, 0).unwrap();
        let r = &recs[0];
        let p = sa.prepare(r, &vocab, 0).unwrap();
        assert_eq!(
            p.dec.len(),
            r.tokens.reasoning.len() + r.tokens.plan.len() + 2
        );
        assert_eq!(p.plan_start, 1 + r.tokens.reasoning.len());
        let p = so.prepare(r, &vocab, 0).unwrap();
        assert_eq!((p.dec.len(), p.plan_start), (r.tokens.plan.len() + 2, 1));
        assert_eq!(p.enc, r.tokens.encoder_input());
    }
}
