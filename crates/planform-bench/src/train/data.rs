//! The sequences `bench train` trains on ([`TrainSource`], [`Sequences`]), the batch
//! schedule it follows and the padding of batches as either family collates them.

use std::path::PathBuf;

use planform_model::Family;
use planform_trace::vocab::VocabularySpec;
use planform_trace::Vocabulary;
use planform_train::config::{DataConfig, TraceConfig};
use planform_train::data::{Prepared, SequenceBuilder};
use planform_train::sampler::{plan_epoch, PaddingStats};
use planform_train::{BatchConfig, TrainData};

use crate::error::{BenchError, Result};
use crate::synthetic::synthetic_sequences;

/// Where the sequences come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainSource {
    /// A dataset directory written by `planform gen` (training split, search-augmented
    /// traces), at most `examples` examples (the reference's hashed subset order).
    Dataset {
        /// The dataset directory.
        dir: PathBuf,
        /// Examples to read at most.
        examples: usize,
    },
    /// `examples` N×N maze tasks generated in memory (reference generator rules,
    /// deterministic A*).
    Maze {
        /// Side length N.
        size: u32,
        /// Examples to generate.
        examples: usize,
    },
    /// Fixed synthetic lengths (`bos`/`eos` included; random ids, 10×10 maze vocabulary): one
    /// batch repeated.
    Fixed {
        /// Encoder (prompt) tokens of every sequence.
        enc: usize,
        /// Decoder (response) tokens of every sequence.
        dec: usize,
    },
}

/// The sequences of a run.
#[derive(Debug, Clone)]
pub struct Sequences {
    /// Vocabulary size.
    pub vocab: usize,
    /// Where they came from, for the report.
    pub label: String,
    /// Maze side length, when the sequences are square-maze tasks.
    pub maze: Option<u32>,
    /// Real data (batch order matters) or one fixed batch.
    pub real: bool,
    /// The sequences.
    pub seqs: Vec<Prepared>,
}

impl Sequences {
    /// Loads or generates the sequences of `source` (`batch` rows for fixed lengths).
    pub fn load(source: &TrainSource, batch: usize, seed: u64) -> Result<Self> {
        let (data, label) = match source {
            TrainSource::Fixed { enc, dec } => {
                let vocab = Vocabulary::maze(10, 10)?.len();
                if *enc < 2 || *dec < 2 {
                    return Err(BenchError::Config(format!(
                        "--fixed {enc},{dec}: both lengths must be >= 2"
                    )));
                }
                return Ok(Sequences {
                    vocab,
                    label: format!("fixed lengths: encoder {enc}, decoder {dec} tokens"),
                    maze: None,
                    real: false,
                    seqs: synthetic_sequences(vocab, batch, *enc, *dec, seed),
                });
            }
            TrainSource::Maze { size, examples } => {
                let (vocab, train, _) =
                    planform_train::testutil::maze_examples(*size, *examples, 0, seed)?;
                let data = TrainData::from_examples(vocab, train, Vec::new(), &data_config(None));
                (
                    data,
                    format!("{size}×{size} maze tasks generated in memory"),
                )
            }
            TrainSource::Dataset { dir, examples } => {
                let data = TrainData::load(dir, &data_config(Some(*examples)))?;
                (data, format!("dataset {}", dir.display()))
            }
        };
        let builder = SequenceBuilder::new(&TraceConfig::SearchAugmented, data.domain(), seed)?;
        let seqs = data
            .train
            .iter()
            .map(|r| builder.prepare(r, &data.vocab, 0))
            .collect::<planform_train::Result<Vec<_>>>()?;
        if seqs.is_empty() {
            return Err(BenchError::Config(format!(
                "{label}: no training sequences"
            )));
        }
        let maze = match data.vocab.spec() {
            VocabularySpec::Maze { width, height } if width == height => Some(width),
            _ => None,
        };
        Ok(Sequences {
            vocab: data.vocab.len(),
            label: format!("{label}, search-augmented traces, {} sequences", seqs.len()),
            maze,
            real: true,
            seqs,
        })
    }

    /// `(encoder, decoder)` lengths of every sequence.
    pub fn lengths(&self) -> Vec<(usize, usize)> {
        self.seqs
            .iter()
            .map(|s| (s.enc.len(), s.dec.len()))
            .collect()
    }
}

/// All training examples (or the first `train_examples` in the reference's hashed subset
/// order); no held-out examples.
fn data_config(train_examples: Option<usize>) -> DataConfig {
    DataConfig {
        train_examples,
        eval_examples: 0,
        ..DataConfig::default()
    }
}

/// The first `n` batches (indices into the sequences) of the epoch plans for `cfg`,
/// continuing into the next epochs when one epoch has fewer batches.
pub fn schedule(
    lengths: &[(usize, usize)],
    cfg: &BatchConfig,
    seed: u64,
    n: usize,
) -> Vec<Vec<usize>> {
    let mut out = Vec::with_capacity(n);
    let mut epoch = 0;
    while out.len() < n {
        let plan = plan_epoch(lengths, cfg, seed, epoch);
        if plan.is_empty() {
            break;
        }
        out.extend(plan.into_iter().take(n - out.len()));
        epoch += 1;
    }
    out
}

/// Real tokens and allocated slots of `batches` as [`Batch::collate`] pads them for `family`:
/// encoder–decoder rows × (longest encoder + longest decoder sequence) (= [`PaddingStats`]),
/// decoder-only rows × longest `bos prompt response eos`.
pub fn padding_of(
    batches: &[Vec<usize>],
    lengths: &[(usize, usize)],
    family: Family,
) -> PaddingStats {
    match family {
        Family::EncoderDecoder => PaddingStats::of_plan(batches, lengths),
        Family::DecoderOnly => {
            let len = |i: usize| lengths[i].0 + lengths[i].1 - 2;
            let mut s = PaddingStats::default();
            for b in batches {
                let longest = b.iter().map(|&i| len(i)).max().unwrap_or(0);
                s.real += b.iter().map(|&i| len(i) as u64).sum::<u64>();
                s.padded += (b.len() * longest) as u64;
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_train::BatchOrder;

    #[test]
    fn schedules_continue_into_the_next_epoch_and_cover_an_epoch_once() {
        let lengths: Vec<(usize, usize)> = (0..10).map(|i| (5 + i, 20 + 3 * i)).collect();
        let cfg = BatchConfig {
            sequences: 4,
            max_tokens: None,
            accumulation: 1,
            order: BatchOrder::Bucketed { pool_batches: 2 },
        };
        // 10 examples in batches of at most 4: 3 batches per epoch (pools of 8 + 2).
        let s = schedule(&lengths, &cfg, 1, 5);
        assert_eq!(s.len(), 5);
        let mut first: Vec<usize> = s[..3].iter().flatten().copied().collect();
        first.sort();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        assert_eq!(&s[..3], plan_epoch(&lengths, &cfg, 1, 0).as_slice());
        assert_eq!(&s[3..], &plan_epoch(&lengths, &cfg, 1, 1)[..2]);
    }

    #[test]
    fn maze_sequences_are_search_augmented_with_bos_and_eos() {
        let source = TrainSource::Maze {
            size: 10,
            examples: 30,
        };
        let d = Sequences::load(&source, 4, 0).unwrap();
        assert_eq!(d.seqs.len(), 30);
        assert_eq!(d.maze, Some(10));
        assert_eq!(d.vocab, Vocabulary::maze(10, 10).unwrap().len());
        for s in &d.seqs {
            assert_eq!((s.enc[0], *s.enc.last().unwrap()), (0, 1));
            assert_eq!((s.dec[0], *s.dec.last().unwrap()), (0, 1));
            // Reference 10×10 lengths: prompt 96–156, decoder 130–860 (bos/eos included).
            assert!((96..=156).contains(&s.enc.len()), "{}", s.enc.len());
            assert!(s.plan_start > 1 && s.dec.len() <= 860, "{}", s.dec.len());
        }
        let f = Sequences::load(&TrainSource::Fixed { enc: 64, dec: 256 }, 16, 0).unwrap();
        assert_eq!(f.lengths(), vec![(64, 256); 16]);
        assert!(Sequences::load(&TrainSource::Fixed { enc: 1, dec: 256 }, 16, 0).is_err());
    }
}
