//! A run's data: the vocabulary and the train / valid / test items, each an [`Example`]
//! plus what scoring needs (the ProsQA record or the maze task).
//!
//! Generated ProsQA is cached in the public JSON format as
//! `<data_dir>/<name>-{train,valid,test}.json` next to `<name>.config.json` (the generator
//! settings, seed and sizes); a cache made with other settings is an error rather than
//! silently reused. Records `0..train` are the training split, the next `valid` the
//! validation split, then `test` (one keyed stream per record, so the files do not depend
//! on the thread count).

use std::borrow::Cow;
use std::path::Path;

use planform_core::fs::write_atomic;
use planform_trace::dropping::DroppingConfig;
use planform_trace::prosqa::{generate_records, parse_records, write_records, ProsqaRecord};
use planform_trace::Vocabulary;
use serde_json::json;

use crate::config::DataConfig;
use crate::error::{CoconutError, Result};
use crate::maze::{dropped_trace, generate_mazes, maze_example, MazeItem};
use crate::vocab::{CoconutVocab, Example, VocabKind};

/// What an item is scored against.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    /// A ProsQA question.
    Prosqa(Box<ProsqaRecord>),
    /// A maze task.
    Maze(Box<MazeItem>),
}

/// One question.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Token ids.
    pub example: Example,
    /// The source.
    pub meta: Meta,
}

/// Vocabulary and splits.
#[derive(Debug)]
pub struct Dataset {
    /// The vocabulary.
    pub vocab: CoconutVocab,
    /// Training items.
    pub train: Vec<Item>,
    /// Validation items.
    pub valid: Vec<Item>,
    /// Test items.
    pub test: Vec<Item>,
    dualformer: Option<(DroppingConfig, Vocabulary, u64)>,
}

/// ProsQA records as items (each validated; the message names the record).
pub fn prosqa_items(
    vocab: &CoconutVocab,
    records: Vec<ProsqaRecord>,
    what: &str,
) -> Result<Vec<Item>> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.validate()
                .map_err(|e| CoconutError::Data(format!("{what} record {i}: {e}")))?;
            let example = vocab
                .prosqa_example(&r)
                .map_err(|e| CoconutError::Data(format!("{what} record {i}: {e}")))?;
            Ok(Item {
                example,
                meta: Meta::Prosqa(Box::new(r)),
            })
        })
        .collect()
}

/// Reads a ProsQA file in the public format.
pub fn read_prosqa(path: &Path) -> Result<Vec<ProsqaRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| CoconutError::io(path, e))?;
    parse_records(&text).map_err(|e| CoconutError::Data(format!("{}: {e}", path.display())))
}

impl Dataset {
    /// Loads (generating and caching under `data_dir` where needed) the data of `cfg`.
    pub fn load(cfg: &DataConfig, data_dir: &Path) -> Result<Self> {
        match cfg {
            DataConfig::Prosqa {
                name,
                train,
                valid,
                test,
                seed,
                generator,
            } => {
                let vocab = CoconutVocab::prosqa();
                let meta_path = data_dir.join(format!("{name}.config.json"));
                let meta = json!({"generator": generator, "seed": seed,
                    "train": train, "valid": valid, "test": test});
                let splits = [
                    ("train", 0, *train),
                    ("valid", *train, *valid),
                    ("test", train + valid, *test),
                ];
                let paths: Vec<_> = splits
                    .iter()
                    .map(|(s, _, _)| data_dir.join(format!("{name}-{s}.json")))
                    .collect();
                let cached = meta_path.is_file() && paths.iter().all(|p| p.is_file());
                if cached {
                    let text = std::fs::read_to_string(&meta_path)
                        .map_err(|e| CoconutError::io(&meta_path, e))?;
                    let old: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| CoconutError::run(&meta_path, e.to_string()))?;
                    if old != meta {
                        return Err(CoconutError::run(
                            &meta_path,
                            format!("dataset {name:?} was generated with other settings ({old}); use another data.name"),
                        ));
                    }
                } else {
                    std::fs::create_dir_all(data_dir).map_err(|e| CoconutError::io(data_dir, e))?;
                    for ((_, first, n), path) in splits.iter().zip(&paths) {
                        let recs = generate_records(*generator, *seed, *first as u64, *n, 2)?;
                        write_atomic(path, write_records(&recs).as_bytes())
                            .map_err(|e| CoconutError::io(path, e))?;
                    }
                    write_atomic(&meta_path, meta.to_string().as_bytes())
                        .map_err(|e| CoconutError::io(&meta_path, e))?;
                }
                let mut items = Vec::new();
                for ((split, _, _), path) in splits.iter().zip(&paths) {
                    items.push(prosqa_items(&vocab, read_prosqa(path)?, split)?);
                }
                let test = items.pop().unwrap_or_default();
                let valid = items.pop().unwrap_or_default();
                let train = items.pop().unwrap_or_default();
                Ok(Dataset {
                    vocab,
                    train,
                    valid,
                    test,
                    dualformer: None,
                })
            }
            DataConfig::ProsqaFiles { train, valid, test } => {
                let vocab = CoconutVocab::prosqa();
                let load = |p: &Path, w: &str| prosqa_items(&vocab, read_prosqa(p)?, w);
                Ok(Dataset {
                    train: load(train, "train")?,
                    valid: load(valid, "valid")?,
                    test: load(test, "test")?,
                    vocab,
                    dualformer: None,
                })
            }
            DataConfig::Maze(m) => {
                let vocab = CoconutVocab::new(VocabKind::Maze {
                    width: m.width,
                    height: m.height,
                })?;
                let maze_vocab = Vocabulary::maze(m.width, m.height)?;
                let mut items: Vec<Item> = generate_mazes(m)?
                    .into_iter()
                    .map(|it| Item {
                        example: maze_example(&it, &maze_vocab, m.trace_steps, None),
                        meta: Meta::Maze(Box::new(it)),
                    })
                    .collect();
                let test = items.split_off(m.train + m.valid);
                let valid = items.split_off(m.train);
                let dualformer = m.dropping().transpose()?.map(|d| (d, maze_vocab, m.seed));
                Ok(Dataset {
                    vocab,
                    train: items,
                    valid,
                    test,
                    dualformer,
                })
            }
        }
    }

    /// Training example `i` in `epoch` (Dualformer re-drops the trace every epoch).
    pub fn train_example(&self, i: usize, epoch: usize) -> Result<Cow<'_, Example>> {
        let item = &self.train[i];
        match (&self.dualformer, &item.meta) {
            (Some((drop, vocab, seed)), Meta::Maze(m)) => {
                let reduced = dropped_trace(m, vocab, drop, *seed, i as u64, epoch as u64)?;
                Ok(Cow::Owned(maze_example(m, vocab, 1, Some(&reduced))))
            }
            _ => Ok(Cow::Borrowed(&item.example)),
        }
    }
}
