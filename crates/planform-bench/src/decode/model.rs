//! The model and prompts `bench decode` decodes: random weights (with `eos` made
//! unreachable for full-length rows) or a checkpoint, and maze or dataset prompts.

use planform_data::{Dataset, Split};
use planform_model::{Model, ModelConfig};
use planform_trace::vocab::{VocabularySpec, EOS};
use planform_trace::{MazeGenConfig, MazeGenerator, Rng, SearchMode, Vocabulary};
use tch::nn::VarStore;
use tch::Device;

use super::{DecodeBenchConfig, DecodeWeights, PromptSource, EOS_SCALE};
use crate::error::{BenchError, Result};
use crate::shape::BenchModel;

/// A model ready to decode, with where its weights came from.
pub struct Loaded {
    _vs: VarStore,
    /// The model.
    pub model: Model,
    /// Its configuration.
    pub config: ModelConfig,
    /// Its vocabulary.
    pub vocab: Vocabulary,
    /// Where the weights came from, for the report.
    pub weights: String,
}

fn maze_size(vocab: &Vocabulary) -> Option<u32> {
    match vocab.spec() {
        VocabularySpec::Maze { width, height } if width == height => Some(width),
        _ => None,
    }
}

/// The output head's weight: `[V, D]`, row `v` producing the logit of token `v`.
fn head_name(cfg: &ModelConfig) -> &'static str {
    match cfg {
        ModelConfig::EncoderDecoder(_) => "decoder.output.1.weight",
        ModelConfig::DecoderOnly(c) if c.tied_embeddings => "embedding.weight",
        ModelConfig::DecoderOnly(_) => "output.weight",
    }
}

/// Random weights for `model` over `vocab` (from `tch::manual_seed(seed)`), with `eos` made
/// unreachable when `full`.
pub fn random_model(
    model: BenchModel,
    vocab: Vocabulary,
    device: Device,
    seed: u64,
    full: bool,
) -> Result<Loaded> {
    let config = model.config(vocab.len())?;
    let vs = VarStore::new(device);
    let m = Model::new_seeded(&vs.root(), &config, seed as i64)?;
    if full {
        suppress_eos(&vs, head_name(&config), EOS as i64)?;
    }
    Ok(Loaded {
        _vs: vs,
        model: m,
        config,
        vocab,
        weights: format!(
            "random (seed {seed}){}",
            if full {
                ", output head ×200 with a zero eos row"
            } else {
                ""
            }
        ),
    })
}

/// Scales the output head by [`EOS_SCALE`] and zeroes its `eos` row.
fn suppress_eos(vs: &VarStore, head: &str, eos: i64) -> Result<()> {
    let mut w = vs
        .variables()
        .remove(head)
        .ok_or_else(|| BenchError::Config(format!("the model has no variable {head}")))?;
    tch::no_grad(|| -> Result<()> {
        let _ = w.f_mul_scalar_(EOS_SCALE)?;
        let _ = w.f_get(eos)?.f_zero_()?;
        Ok(())
    })
}

/// The task prompts (without `bos`/`eos`) of the first `n` tasks of `source`.
pub fn task_prompts(
    source: &PromptSource,
    vocab: &Vocabulary,
    n: usize,
    seed: u64,
) -> Result<(Vec<Vec<u32>>, String)> {
    let size = match source {
        PromptSource::Dataset(dir) => {
            let ds = Dataset::open(dir)?;
            if ds.vocabulary().tokens() != vocab.tokens() {
                return Err(BenchError::Config(format!(
                    "{}: its vocabulary differs from the model's",
                    dir.display()
                )));
            }
            let mut rows = ds.read_split(Split::Test)?;
            if rows.len() < n {
                rows = ds.read_split(Split::Train)?;
            }
            if rows.len() < n {
                return Err(BenchError::Config(format!(
                    "{} holds fewer than {n} tasks",
                    dir.display()
                )));
            }
            let p = rows.into_iter().take(n).map(|e| e.prompt).collect();
            return Ok((p, format!("dataset {}", dir.display())));
        }
        PromptSource::Maze(_) => maze_size(vocab).ok_or_else(|| {
            BenchError::Config("not a square-maze vocabulary: pass --data".into())
        })?,
    };
    // The first task of each of the first `n` wall layouts that have one (tasks of one layout
    // share its walls, hence its prompt length).
    let mut gen = MazeGenerator::new(MazeGenConfig::reference(
        size,
        size,
        SearchMode::Deterministic,
    ))?;
    let mut p = Vec::with_capacity(n);
    let mut layout = 0u64;
    while p.len() < n {
        if layout > 100 * n as u64 + 1000 {
            return Err(BenchError::Config(format!(
                "the {size}×{size} maze generator yields too few tasks"
            )));
        }
        let tasks = gen
            .generate_layout(vocab, &mut Rng::stream(seed, layout))?
            .tasks;
        if let Some(t) = tasks.into_iter().next() {
            p.push(t.tokens.prompt);
        }
        layout += 1;
    }
    Ok((
        p,
        format!("{size}×{size} mazes generated in memory (first task of each wall layout)"),
    ))
}

/// Loads or creates the model of `cfg`.
pub(super) fn load(cfg: &DecodeBenchConfig, device: Device, full: bool) -> Result<Loaded> {
    match &cfg.weights {
        DecodeWeights::Checkpoint(path) => {
            let mut stored = planform_quant::store::load_model(path, device)
                .map_err(|e| BenchError::Config(e.to_string()))?;
            if cfg.int8_matmul {
                stored
                    .enable_int8_matmul()
                    .map_err(|e| BenchError::Config(format!("--int8-matmul: {e}")))?;
            }
            let l = stored.model;
            let vocab = l
                .vocab
                .vocabulary()
                .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
            if let PromptSource::Maze(Some(size)) = cfg.prompt_source {
                if maze_size(&vocab) != Some(size) {
                    return Err(BenchError::Config(format!(
                        "--maze {size} does not match the checkpoint's vocabulary"
                    )));
                }
            }
            Ok(Loaded {
                weights: format!(
                    "trained: {} (step {}){}",
                    l.dir.display(),
                    l.step,
                    if cfg.int8_matmul {
                        ", integer matmul"
                    } else {
                        ""
                    }
                ),
                _vs: l.vs,
                model: l.model,
                config: l.config,
                vocab,
            })
        }
        DecodeWeights::Random(model) => {
            if cfg.int8_matmul {
                return Err(BenchError::Config(
                    "--int8-matmul needs a stored 8-bit checkpoint (`planform quantize`)".into(),
                ));
            }
            let vocab = match &cfg.prompt_source {
                PromptSource::Dataset(dir) => Dataset::open(dir)?.vocabulary().clone(),
                PromptSource::Maze(size) => {
                    let n = size.unwrap_or(10);
                    Vocabulary::maze(n, n)?
                }
            };
            random_model(*model, vocab, device, cfg.seed, full)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::Family;

    fn framed(m: &Model, tasks: &[Vec<u32>]) -> Vec<Vec<i64>> {
        tasks
            .iter()
            .map(|p| {
                let p: Vec<i64> = p.iter().map(|&t| t as i64).collect();
                m.frame_prompt(&p, 0, 1)
            })
            .collect()
    }

    #[test]
    fn maze_prompts_are_framed_for_the_family() {
        let vocab = Vocabulary::maze(10, 10).unwrap();
        let (tasks, label) = task_prompts(&PromptSource::Maze(None), &vocab, 3, 3).unwrap();
        assert!(label.contains("10×10"));
        assert_eq!(tasks.len(), 3);
        for family in [Family::EncoderDecoder, Family::DecoderOnly] {
            let model = BenchModel::parse(family, "tiny").unwrap();
            let m = random_model(model, vocab.clone(), Device::Cpu, 0, false).unwrap();
            for (q, t) in framed(&m.model, &tasks).iter().zip(&tasks) {
                assert_eq!(q[0], 0);
                // Prompts are 94–154 tokens; the encoder–decoder's ends in eos.
                match family {
                    Family::EncoderDecoder => {
                        assert_eq!((q.len(), q[q.len() - 1]), (t.len() + 2, 1))
                    }
                    Family::DecoderOnly => assert_eq!(q.len(), t.len() + 1),
                }
                assert!((94..=154).contains(&t.len()), "{}", t.len());
            }
        }
    }
}
