//! The flags of `planform bench gen|train|decode|memory|cuda-check` and their conversion into the
//! `planform-bench` configs.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::{Args, ValueEnum};
use planform_bench::{
    BenchModel, Case, CudaCheckConfig, DecodeBenchConfig, DecodeWeights, GenBenchConfig, Lengths,
    MemoryBenchConfig, MemoryOptimizer, OrderChoice, PromptSource, PyTorchComparison,
    PythonReference, TrainBenchConfig, TrainSource, WeightDtype,
};
use planform_model::{DeviceChoice, Family, Precision};

/// A `bench gen` case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaseArg {
    /// Maze 10×10, deterministic A*.
    Maze10,
    /// Maze 20×20, deterministic A*.
    Maze20,
    /// Maze 30×30, deterministic A*.
    Maze30,
    /// Maze 10×10, nondeterministic A*.
    Maze10Nondet,
    /// Sokoban 7×7, 2 interior walls, 2 boxes, nondeterministic A*, reasoning < 10,000 tokens.
    Sokoban,
}

impl From<CaseArg> for Case {
    fn from(c: CaseArg) -> Self {
        match c {
            CaseArg::Maze10 => Case::MAZE10,
            CaseArg::Maze20 => Case::MAZE20,
            CaseArg::Maze30 => Case::MAZE30,
            CaseArg::Maze10Nondet => Case::MAZE10_NONDET,
            CaseArg::Sokoban => Case::SOKOBAN,
        }
    }
}

/// Arguments of `planform bench gen`.
#[derive(Debug, Args)]
pub struct GenBenchArgs {
    /// Cases to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub cases: Vec<CaseArg>,
    /// Budget per case for each Rust run: CPU seconds of the thread on one thread, wall
    /// seconds on all cores.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// CPU-seconds budget per case for the Python reference (Sokoban gets 3×: its task
    /// costs are heavy-tailed).
    #[arg(long, default_value_t = 5.0)]
    pub py_seconds: f64,
    /// Threads for the all-core run (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the Python reference (e.g. where python3 is absent).
    #[arg(long)]
    pub no_reference: bool,
    /// Python interpreter for the reference.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The reference script (default: `bench/reference_gen.py` under the current directory
    /// or the workspace).
    #[arg(long)]
    pub reference_script: Option<PathBuf>,
    /// Let the reference use numpy in the Sokoban heuristic, like the original code (needs
    /// numpy; the default pure-Python heuristic is faster, i.e. favours the reference).
    #[arg(long)]
    pub reference_numpy: bool,
    /// Tasks for the end-to-end `planform gen` measurement (maze 10×10, Parquet + zstd,
    /// all cores) and the size per million tasks; 0 skips it.
    #[arg(long, default_value_t = 200_000)]
    pub parquet_tasks: u64,
    /// Master seed (layout `i` draws from `Rng::stream(seed, i)`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the markdown report to FILE and the JSON report to FILE with extension
    /// `.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl GenBenchArgs {
    /// The library config.
    pub fn config(&self, command: String) -> GenBenchConfig {
        GenBenchConfig {
            cases: if self.cases.is_empty() {
                Case::STANDARD.to_vec()
            } else {
                self.cases.iter().map(|&c| c.into()).collect()
            },
            seconds: self.seconds,
            py_seconds: self.py_seconds,
            threads: self.threads,
            reference: if self.no_reference {
                PythonReference::Skip
            } else {
                PythonReference::Run {
                    python: self.python.clone(),
                    script: self.reference_script.clone(),
                    numpy: self.reference_numpy,
                }
            },
            parquet_tasks: self.parquet_tasks,
            seed: self.seed,
            command,
        }
    }
}

/// The model family of `bench train` and `bench decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FamilyArg {
    /// The Searchformer encoder–decoder (`--model` tiny, mini, s, m-s, l, xl-2 or
    /// DIMxLAYERSxHEADS for both stacks).
    EncoderDecoder,
    /// The decoder-only model (`--model` tiny, mini, deep-thin, mobilellm-125m,
    /// mobilellm-350m, llama-7b or DIMxLAYERSxHEADS).
    DecoderOnly,
}

impl From<FamilyArg> for Family {
    fn from(f: FamilyArg) -> Self {
        match f {
            FamilyArg::EncoderDecoder => Family::EncoderDecoder,
            FamilyArg::DecoderOnly => Family::DecoderOnly,
        }
    }
}

/// Numeric precision of a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// fp32 everywhere.
    Fp32,
    /// Autocast to bfloat16 (CUDA only).
    Bf16,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Bf16 => Precision::Bf16Autocast,
        }
    }
}

/// Batch orders to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// Length-bucketed batches (planform's default).
    Bucketed,
    /// Shuffled consecutive batches padded to the longest sequence (the reference).
    Random,
    /// Both.
    Both,
}

/// Parses `A,B` into two counts.
pub fn parse_pair(s: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("expected two counts `A,B`, got {s:?}");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

/// Arguments of `planform bench train`.
#[derive(Debug, Args)]
pub struct TrainBenchArgs {
    /// Model family.
    #[arg(long, value_enum, default_value = "encoder-decoder")]
    pub family: FamilyArg,
    /// Model: encoder-decoder tiny, mini, s, m-s, l, xl-2; decoder-only tiny, mini,
    /// deep-thin, mobilellm-125m, mobilellm-350m, llama-7b; or DIMxLAYERSxHEADS (e.g. 192x3x3;
    /// both stacks of the encoder-decoder).
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// Sequences from a dataset directory written by `planform gen` (training split,
    /// search-augmented traces: `bos reasoning plan eos`).
    #[arg(long, conflicts_with_all = ["maze", "fixed"])]
    pub data: Option<PathBuf>,
    /// Sequences from N×N maze tasks generated in memory (reference generator rules,
    /// deterministic A*). The default source: 10.
    #[arg(long, conflicts_with = "fixed")]
    pub maze: Option<u32>,
    /// Fixed synthetic lengths `ENC,DEC` (encoder and decoder tokens of every sequence,
    /// `bos`/`eos` included; random ids, 10×10 maze vocabulary); one batch repeated.
    #[arg(long, value_parser = parse_pair)]
    pub fixed: Option<(usize, usize)>,
    /// Examples to generate (`--maze`) or to read at most (`--data`).
    #[arg(long, default_value_t = 4000)]
    pub examples: usize,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Batch orders to measure (real data only).
    #[arg(long, value_enum, default_value = "both")]
    pub order: OrderArg,
    /// Bucketing pool, in batches (planform default 50).
    #[arg(long, default_value_t = 50)]
    pub pool_batches: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Stop a timed loop after this many seconds (at least one step), for slow machines.
    #[arg(long)]
    pub max_seconds: Option<f64>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Precision (bf16 = autocast, CUDA only).
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: PrecisionArg,
    /// libtorch intra-op threads, also given to PyTorch (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the PyTorch-eager comparison (encoder-decoder only; skipped for decoder-only).
    #[arg(long)]
    pub no_pytorch: bool,
    /// Python interpreter with torch (default: python3 with the workspace's `.torch` on
    /// PYTHONPATH when present).
    #[arg(long)]
    pub python: Option<String>,
    /// Seed of weights, token ids and batch order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the markdown report to FILE and the JSON report next to it (`.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn pytorch(skip: bool, python: &Option<String>) -> PyTorchComparison {
    if skip {
        PyTorchComparison::Skip
    } else {
        PyTorchComparison::Run {
            python: python.clone(),
        }
    }
}

fn model(family: FamilyArg, model: &str) -> Result<BenchModel> {
    BenchModel::parse(family.into(), model).map_err(|e| anyhow!("--model: {e}"))
}

impl TrainBenchArgs {
    /// The library config.
    pub fn config(&self, command: String) -> Result<TrainBenchConfig> {
        let source = match (&self.data, self.maze, self.fixed) {
            (Some(dir), _, _) => TrainSource::Dataset {
                dir: dir.clone(),
                examples: self.examples,
            },
            (None, _, Some((enc, dec))) => TrainSource::Fixed { enc, dec },
            (None, size, None) => TrainSource::Maze {
                size: size.unwrap_or(10),
                examples: self.examples,
            },
        };
        Ok(TrainBenchConfig {
            model: model(self.family, &self.model)?,
            source,
            batch: self.batch,
            orders: match self.order {
                OrderArg::Bucketed => OrderChoice::Bucketed,
                OrderArg::Random => OrderChoice::Random,
                OrderArg::Both => OrderChoice::Both,
            },
            pool_batches: self.pool_batches,
            warmup: self.warmup,
            steps: self.steps,
            max_seconds: self.max_seconds,
            device: self.device,
            precision: self.precision.into(),
            threads: self.threads,
            pytorch: pytorch(self.no_pytorch, &self.python),
            seed: self.seed,
            command,
        })
    }
}

/// How long the sampled sequences are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LengthsArg {
    /// Every row decodes `max_len` tokens: the random output head is scaled by 200 and its
    /// `eos` row zeroed, so the `eos` logit (0) sits far below the largest logit and is never
    /// drawn. Same work for every stack. Random weights only.
    Full,
    /// Rows stop at their first sampled `eos` (random weights: about 1 in `vocab` per step).
    Natural,
}

/// Arguments of `planform bench decode`.
#[derive(Debug, Args)]
pub struct DecodeBenchArgs {
    /// Model family of the random weights (a checkpoint brings its own).
    #[arg(long, value_enum, default_value = "encoder-decoder")]
    pub family: FamilyArg,
    /// Model with random weights: encoder-decoder tiny, mini, s, m-s, l, xl-2; decoder-only
    /// tiny, mini, deep-thin, mobilellm-125m, mobilellm-350m, llama-7b; or DIMxLAYERSxHEADS.
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// Trained weights instead: a run, checkpoints or checkpoint directory of either family
    /// (`--family` and `--model` are then ignored; the PyTorch comparison, which needs random
    /// weights, is skipped).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Prompts from N×N maze tasks generated in memory (default 10, or the checkpoint's maze
    /// size); the vocabulary of random weights is that maze's.
    #[arg(long, conflicts_with = "data")]
    pub maze: Option<u32>,
    /// Prompts from a dataset directory (test split, else training split) instead.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Prompts decoded together in the batched run.
    #[arg(long, default_value_t = 16)]
    pub prompts: usize,
    /// Samples per prompt (paper: 64).
    #[arg(long, default_value_t = 64)]
    pub samples: usize,
    /// Maximum decoder length including `bos` (the anchors: 500 for `s`, 1000 for `m-s`).
    #[arg(long, default_value_t = 500)]
    pub max_len: usize,
    /// Most rows decoded at once in the batched run.
    #[arg(long, default_value_t = 1024)]
    pub max_rows: usize,
    /// Prompts decoded one at a time (the reference's scheme), by planform and by the
    /// PyTorch rollout: the first N prompts.
    #[arg(long, default_value_t = 2)]
    pub serial_prompts: usize,
    /// Sequence lengths (default: full with random weights, natural with a checkpoint).
    #[arg(long, value_enum)]
    pub lengths: Option<LengthsArg>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: DeviceChoice,
    /// Precision of planform's decoder steps (bf16 = autocast, CUDA only). The PyTorch
    /// rollout runs fp32, as the reference.
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: PrecisionArg,
    /// libtorch intra-op threads, also given to PyTorch (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the PyTorch reference-style rollout (encoder-decoder with random weights only;
    /// skipped otherwise).
    #[arg(long)]
    pub no_pytorch: bool,
    /// Python interpreter with torch (default: python3 with the workspace's `.torch`).
    #[arg(long)]
    pub python: Option<String>,
    /// planform's decoding self-attention: `lsh:K,L[,SINK,LOCAL[,DENSE_BLOCKS]]` samples
    /// each cached step's keys by MagicPIG's LSH rule (as `planform eval --attention`);
    /// default exact. The PyTorch rollout stays exact.
    #[arg(long, value_parser = crate::commands::eval::parse_attention)]
    pub attention: Option<planform_quant::lsh_attention::LshAttention>,
    #[command(flatten)]
    pub int8: crate::commands::eval::Int8Flag,
    /// Seed of weights, prompts and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the markdown report to FILE and the JSON report next to it (`.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl DecodeBenchArgs {
    /// The library config.
    pub fn config(&self, command: String) -> Result<DecodeBenchConfig> {
        Ok(DecodeBenchConfig {
            weights: match &self.checkpoint {
                Some(path) => DecodeWeights::Checkpoint(path.clone()),
                None => DecodeWeights::Random(model(self.family, &self.model)?),
            },
            prompt_source: match &self.data {
                Some(dir) => PromptSource::Dataset(dir.clone()),
                None => PromptSource::Maze(self.maze),
            },
            prompts: self.prompts,
            samples: self.samples,
            max_len: self.max_len,
            max_rows: self.max_rows,
            serial_prompts: self.serial_prompts,
            lengths: self.lengths.map(|l| match l {
                LengthsArg::Full => Lengths::Full,
                LengthsArg::Natural => Lengths::Natural,
            }),
            device: self.device,
            precision: self.precision.into(),
            threads: self.threads,
            pytorch: pytorch(self.no_pytorch, &self.python),
            attention: self.attention,
            int8_matmul: self.int8.int8_matmul,
            seed: self.seed,
            command,
        })
    }
}

/// Arguments of `planform bench cuda-check`.
#[derive(Debug, Args)]
pub struct CudaCheckArgs {
    /// Device to check against the CPU (`cpu` = dry run).
    #[arg(long, default_value = "cuda")]
    pub device: DeviceChoice,
    /// libtorch intra-op threads for the CPU side (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl CudaCheckArgs {
    /// The library config.
    pub fn config(&self) -> CudaCheckConfig {
        CudaCheckConfig {
            device: self.device,
            threads: self.threads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse() {
        assert_eq!(parse_pair("64, 256").unwrap(), (64, 256));
        assert!(parse_pair("64").is_err());
        assert!(parse_pair("a,1").is_err());
    }

    #[test]
    fn every_gen_case_maps_to_a_standard_case() {
        let all = [
            CaseArg::Maze10,
            CaseArg::Maze10Nondet,
            CaseArg::Maze20,
            CaseArg::Maze30,
            CaseArg::Sokoban,
        ];
        let cases: Vec<Case> = all.iter().map(|&c| c.into()).collect();
        assert_eq!(cases, Case::STANDARD.to_vec());
    }
}

/// The weight dtype of `bench memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// float32 weights (planform's training default).
    Fp32,
    /// bfloat16 weights and compute (the GaLore paper's memory setting).
    Bf16,
}

/// Arguments of `planform bench memory`.
#[derive(Debug, Args)]
pub struct MemoryBenchArgs {
    /// Models, comma-separated: llama-60m, llama-130m, llama-350m, llama-1b, llama-7b (the
    /// GaLore paper's LLaMA shapes, vocabulary 32,000), llama-7b:<layers> (LLaMA-7B's width
    /// with fewer layers), decoder:<preset|DxLxH>,
    /// encoder-decoder:<size|DxLxH> (planform's models, vocabulary 118).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "encoder-decoder:tiny,decoder:tiny,llama-60m"
    )]
    pub models: Vec<String>,
    /// Optimizers, comma-separated (default: all): adamw, adamw8bit, galore, galore8bit,
    /// galore8bit-per-layer, q-galore.
    #[arg(long, value_delimiter = ',')]
    pub optimizers: Vec<String>,
    /// Weight dtype.
    #[arg(long, value_enum, default_value = "fp32")]
    pub dtype: DtypeArg,
    /// Sequences per step.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    pub tokens: usize,
    /// Training steps per configuration (the first computes GaLore's projectors).
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// GaLore rank (default: a quarter of the model width, as the paper).
    #[arg(long)]
    pub rank: Option<usize>,
    /// Real SVDs per configuration; later projectors are stand-ins of the same size (QR of
    /// seeded random matrices), for models whose SVDs would take hours on a CPU.
    #[arg(long)]
    pub svd_budget: Option<u64>,
    /// libtorch threads per configuration.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// GB of memory to leave free: a configuration predicted to need more than the memory
    /// available less this is not run, and one that grows past it is killed.
    #[arg(long, default_value_t = 1.5)]
    pub margin_gb: f64,
    /// Seed of the weights and data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// glibc's mmap threshold for the configurations' processes, bytes
    /// (MALLOC_MMAP_THRESHOLD_; the trim threshold is then 0): blocks this large or larger
    /// are mapped and given back when freed. glibc's own threshold grows up to 32 MiB as
    /// large blocks are freed and their reuse fragments the heap (LLaMA-7B, 8-bit GaLore
    /// per-layer: killed at 23.8 GB without it, 20.9 GB peak with 65536; docs/benchmarks.md).
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(4096..=(1 << 30)))]
    pub malloc_mmap_threshold: Option<u64>,
    /// Also write the markdown report to FILE and the JSON report next to it.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Internal: run one configuration (JSON) in this process and print its measurement.
    #[arg(long, hide = true)]
    pub child: Option<String>,
}

impl MemoryBenchArgs {
    /// The library config.
    pub fn config(&self, command: String) -> Result<MemoryBenchConfig> {
        let optimizers = if self.optimizers.is_empty() {
            MemoryOptimizer::ALL.to_vec()
        } else {
            self.optimizers
                .iter()
                .map(|s| MemoryOptimizer::parse(s))
                .collect::<Result<_, _>>()?
        };
        Ok(MemoryBenchConfig {
            models: self.models.clone(),
            optimizers,
            dtype: match self.dtype {
                DtypeArg::Fp32 => WeightDtype::Fp32,
                DtypeArg::Bf16 => WeightDtype::Bf16,
            },
            batch: self.batch,
            tokens: self.tokens,
            steps: self.steps,
            rank: self.rank,
            svd_budget: self.svd_budget,
            threads: self.threads,
            margin_gb: self.margin_gb,
            seed: self.seed,
            malloc_mmap_threshold: self.malloc_mmap_threshold,
            command,
        })
    }
}
