//! The figures to beat: `anchors.toml` (next to this crate's `Cargo.toml`, embedded at build
//! time), parsed into [`Anchors`]. Every figure carries a comment there saying where it was
//! measured; the reports look them up here and never hard-code one.

use planform_model::{ModelSize, Precision, StackConfig};
use planform_trace::SearchMode;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};

/// The text of `anchors.toml`.
pub const ANCHORS_TOML: &str = include_str!("../anchors.toml");

/// Every recorded figure.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchors {
    /// Trace generation.
    pub gen: GenAnchors,
    /// Training.
    pub train: TrainAnchors,
    /// Decoding.
    pub decode: DecodeAnchors,
}

/// Trace-generation figures.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenAnchors {
    /// The goal: planform per core ≥ this multiple of the reference.
    pub goal_factor: f64,
    /// The reference generation loop, per maze case.
    pub reference: Vec<GenAnchor>,
}

/// A* mode as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorSearch {
    /// Deterministic A*.
    Deterministic,
    /// Nondeterministic A*.
    Nondeterministic,
}

impl From<SearchMode> for AnchorSearch {
    fn from(m: SearchMode) -> Self {
        match m {
            SearchMode::Deterministic => AnchorSearch::Deterministic,
            SearchMode::Nondeterministic => AnchorSearch::Nondeterministic,
        }
    }
}

/// The reference's trace generation on one maze case, per core.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenAnchor {
    /// Maze side length.
    pub size: u32,
    /// A* mode.
    pub mode: AnchorSearch,
    /// Tasks per second.
    pub tasks_per_s: f64,
    /// Tokens per second (prompt + reasoning + plan).
    pub tokens_per_s: f64,
}

/// Training figures.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainAnchors {
    /// The reference Searchformer training on a GPU.
    pub reference: Vec<TrainReferenceAnchor>,
    /// Two stacks training the same small transformer.
    pub stacks: Vec<StacksAnchor>,
}

/// The reference Searchformer training, matched on CUDA runs of a named encoder–decoder size.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainReferenceAnchor {
    /// What was measured.
    pub what: String,
    /// The named size.
    pub model: ModelSize,
    /// Maze side length of the sequences.
    pub maze: u32,
    /// Sequences per batch.
    pub batch: usize,
    /// Precision.
    pub precision: Precision,
    /// Real (non-padding) tokens per second.
    pub real_tokens_per_s: f64,
    /// Padding fraction of its batches.
    pub padding: f64,
    /// The goal: planform ≥ this multiple.
    pub goal_factor: f64,
}

/// Where a stacks comparison ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnchorDevice {
    /// The CPU.
    Cpu,
    /// A CUDA GPU.
    Cuda,
}

/// PyTorch eager against tch on the same model, matched on encoder–decoder runs of one stack
/// shape on fixed synthetic lengths.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StacksAnchor {
    /// What was measured.
    pub what: String,
    /// Device.
    pub device: AnchorDevice,
    /// Stack shape (`--model DIMxLAYERSxHEADS`).
    pub shape: StackConfig,
    /// Sequences per batch.
    pub batch: usize,
    /// PyTorch eager tokens per second.
    pub pytorch_tokens_per_s: f64,
    /// tch tokens per second.
    pub tch_tokens_per_s: f64,
}

/// Decoding figures.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeAnchors {
    /// The reference rollout on a GPU, per named size.
    pub rollout: Vec<RolloutAnchor>,
}

/// The reference rollout (64 samples of one prompt) on a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutAnchor {
    /// The named encoder–decoder size.
    pub model: ModelSize,
    /// Decoding steps of the measurement.
    pub steps: usize,
    /// Generated tokens per second.
    pub tokens_per_s: f64,
    /// The goal: planform ≥ this multiple.
    pub goal_factor: f64,
}

impl Anchors {
    /// Parses `text` (the format of `anchors.toml`) and checks that every figure is a
    /// positive finite number.
    pub fn parse(text: &str) -> Result<Self> {
        let a: Anchors = toml::from_str(text).map_err(|e| BenchError::Anchors(e.to_string()))?;
        let mut figures = vec![("gen.goal_factor", a.gen.goal_factor)];
        for g in &a.gen.reference {
            figures.extend([
                ("gen tasks_per_s", g.tasks_per_s),
                ("gen tokens_per_s", g.tokens_per_s),
            ]);
        }
        for t in &a.train.reference {
            figures.extend([
                ("train real_tokens_per_s", t.real_tokens_per_s),
                ("train goal_factor", t.goal_factor),
            ]);
            if !(0.0..1.0).contains(&t.padding) {
                return Err(BenchError::Anchors(format!(
                    "{}: padding {} is not a fraction",
                    t.what, t.padding
                )));
            }
        }
        for s in &a.train.stacks {
            figures.extend([
                ("pytorch_tokens_per_s", s.pytorch_tokens_per_s),
                ("tch_tokens_per_s", s.tch_tokens_per_s),
            ]);
        }
        for d in &a.decode.rollout {
            figures.extend([
                ("decode tokens_per_s", d.tokens_per_s),
                ("decode goal_factor", d.goal_factor),
            ]);
        }
        if let Some((name, x)) = figures.iter().find(|(_, x)| !(x.is_finite() && *x > 0.0)) {
            return Err(BenchError::Anchors(format!(
                "{name} = {x} is not a positive number"
            )));
        }
        Ok(a)
    }

    /// The embedded `anchors.toml`.
    pub fn embedded() -> Result<Self> {
        Self::parse(ANCHORS_TOML)
    }

    /// The reference generation figures of a maze case.
    pub fn gen_reference(&self, size: u32, mode: SearchMode) -> Option<&GenAnchor> {
        let mode = AnchorSearch::from(mode);
        self.gen
            .reference
            .iter()
            .find(|g| g.size == size && g.mode == mode)
    }

    /// The reference training figure of a named size, maze, batch and precision (CUDA).
    pub fn train_reference(
        &self,
        model: ModelSize,
        maze: u32,
        batch: usize,
        precision: Precision,
    ) -> Option<&TrainReferenceAnchor> {
        self.train
            .reference
            .iter()
            .find(|t| (t.model, t.maze, t.batch, t.precision) == (model, maze, batch, precision))
    }

    /// The stacks comparison of a shape and batch on a device.
    pub fn train_stacks(
        &self,
        device: AnchorDevice,
        shape: StackConfig,
        batch: usize,
    ) -> Option<&StacksAnchor> {
        self.train
            .stacks
            .iter()
            .find(|s| (s.device, s.shape, s.batch) == (device, shape, batch))
    }

    /// The reference rollout figure of a named size (CUDA).
    pub fn rollout(&self, model: ModelSize) -> Option<&RolloutAnchor> {
        self.decode.rollout.iter().find(|d| d.model == model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_holds_every_figure_the_reports_use() {
        let a = Anchors::embedded().unwrap();
        assert_eq!(a.gen.goal_factor, 300.0);
        // `bench gen`: the four maze cases.
        let g = |size, mode| {
            a.gen_reference(size, mode)
                .map(|g| (g.tasks_per_s, g.tokens_per_s))
        };
        assert_eq!(g(10, SearchMode::Deterministic), Some((334.0, 137_000.0)));
        assert_eq!(
            g(10, SearchMode::Nondeterministic),
            Some((326.0, 134_000.0))
        );
        assert_eq!(g(20, SearchMode::Deterministic), Some((75.0, 98_000.0)));
        assert_eq!(g(30, SearchMode::Deterministic), Some((15.0, 39_000.0)));
        assert_eq!(g(20, SearchMode::Nondeterministic), None);
        // `bench train`: the four GPU configurations of scripts/gpu-check.sh.
        let (fp32, bf16) = (Precision::Fp32, Precision::Bf16Autocast);
        let t = |m, maze, batch, p| {
            a.train_reference(m, maze, batch, p)
                .map(|t| (t.real_tokens_per_s, t.padding, t.goal_factor))
        };
        assert_eq!(t(ModelSize::S, 10, 64, fp32), Some((495_000.0, 0.37, 1.5)));
        assert_eq!(t(ModelSize::S, 10, 64, bf16), Some((447_000.0, 0.41, 1.5)));
        assert_eq!(t(ModelSize::MS, 20, 16, fp32), Some((128_000.0, 0.32, 1.5)));
        assert_eq!(t(ModelSize::MS, 20, 16, bf16), Some((331_000.0, 0.33, 1.5)));
        assert_eq!(t(ModelSize::S, 10, 16, fp32), None);
        let shape = StackConfig {
            dim: 192,
            layers: 3,
            heads: 3,
        };
        let s = |d, b| {
            a.train_stacks(d, shape, b)
                .map(|s| (s.pytorch_tokens_per_s, s.tch_tokens_per_s))
        };
        assert_eq!(s(AnchorDevice::Cpu, 16), Some((9_500.0, 8_800.0)));
        assert_eq!(s(AnchorDevice::Cuda, 64), Some((814_000.0, 1_130_000.0)));
        // `bench decode`: `s` and `m-s`.
        let d = |m| {
            a.rollout(m)
                .map(|d| (d.tokens_per_s, d.steps, d.goal_factor))
        };
        assert_eq!(d(ModelSize::S), Some((8_600.0, 500, 10.0)));
        assert_eq!(d(ModelSize::MS), Some((7_800.0, 1000, 10.0)));
        assert_eq!(d(ModelSize::Tiny), None);
    }

    #[test]
    fn malformed_files_are_rejected() {
        let bad = ANCHORS_TOML.replace("tasks_per_s = 334.0", "tasks_per_s = -334.0");
        assert!(Anchors::parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("positive"));
        let unknown =
            ANCHORS_TOML.replace("goal_factor = 300.0", "goal_factor = 300.0\ncolour = 1");
        assert!(Anchors::parse(&unknown).is_err());
        assert!(Anchors::parse("").is_err());
    }
}
