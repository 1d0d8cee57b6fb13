//! Tiny end-to-end runs of the training and decoding benchmarks on the CPU, for both model
//! families, and the proof that the training benchmark steps with the one training step.

use std::sync::Mutex;

use planform_bench::train::LR;
use planform_bench::{
    run_decode, run_train, synthetic_sequences, BenchModel, DecodeBenchConfig, DecodeWeights,
    OrderChoice, PyTorchComparison, TrainBenchConfig, TrainSource,
};
use planform_model::{DeviceChoice, Family, Model, Precision};
use planform_optim::{AdamWConfig, Algorithm, Optimizer};
use planform_train::batch::Batch;
use planform_train::train_step;
use tch::nn::VarStore;
use tch::Device;

/// `tch::manual_seed` is process-wide: tests that seed weights run one at a time.
static SEEDED: Mutex<()> = Mutex::new(());

const FAMILIES: [Family; 2] = [Family::EncoderDecoder, Family::DecoderOnly];

fn tiny_train(family: Family, seed: u64) -> TrainBenchConfig {
    TrainBenchConfig {
        model: BenchModel::parse(family, "16x1x2").unwrap(),
        source: TrainSource::Fixed { enc: 12, dec: 24 },
        batch: 4,
        orders: OrderChoice::Both,
        warmup: 0,
        steps: 2,
        device: DeviceChoice::Cpu,
        threads: 1,
        pytorch: PyTorchComparison::Skip,
        seed,
        command: "test".into(),
        ..TrainBenchConfig::default()
    }
}

#[test]
fn the_training_benchmark_steps_with_planform_train_step() {
    let _guard = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    for family in FAMILIES {
        let seed = 5;
        let cfg = tiny_train(family, seed);
        let report = run_train(&cfg, &mut |_| {}).unwrap();
        assert_eq!(report.orders.len(), 1, "fixed lengths: one batch order");
        let run = &report.orders[0].planform;
        assert_eq!(run.steps, 2);
        assert!(run.seconds > 0.0 && run.real_per_s().is_finite() && run.real_per_s() > 0.0);
        assert!(run.loss.unwrap().is_finite());
        assert!(report.markdown().contains("planform (tch), fixed batch"));

        // The same batch and seed through `train_step` directly.
        let vocab = report.vocab;
        let model_cfg = cfg.model.config(vocab).unwrap();
        let vs = VarStore::new(Device::Cpu);
        let model = Model::new_seeded(&vs.root(), &model_cfg, seed as i64).unwrap();
        let mut opt = Optimizer::for_var_store(Algorithm::AdamW, AdamWConfig::default(), &vs);
        let seqs = synthetic_sequences(vocab, 4, 12, 24, seed);
        let batch = Batch::collate(&seqs, family, Device::Cpu).unwrap();
        let stats = train_step(&model, &mut opt, &[batch], LR, Precision::Fp32).unwrap();
        let loss = stats.sums[0].double_value(&[0]) / stats.rows as f64;
        assert_eq!(run.first_loss, Some(loss), "{family:?}");
        // Real tokens of the two timed steps, as the family collates them.
        let per_seq = match family {
            Family::EncoderDecoder => 12 + 24,
            Family::DecoderOnly => 12 + 24 - 2,
        };
        assert_eq!(run.real_tokens, 2 * 4 * per_seq);
        assert_eq!(
            run.padded_tokens, run.real_tokens,
            "equal lengths: no padding"
        );
    }
}

#[test]
fn a_tiny_decode_benchmark_reports_positive_rates_for_both_families() {
    let _guard = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    for family in FAMILIES {
        let cfg = DecodeBenchConfig {
            weights: DecodeWeights::Random(BenchModel::parse(family, "16x1x2").unwrap()),
            prompts: 2,
            samples: 2,
            max_len: 10,
            max_rows: 4,
            serial_prompts: 1,
            threads: 1,
            pytorch: PyTorchComparison::Skip,
            seed: 1,
            ..DecodeBenchConfig::default()
        };
        let report = run_decode(&cfg, &mut |_| {}).unwrap();
        assert_eq!(report.runs.len(), 2);
        // Full lengths: every row samples max_len − 1 tokens.
        assert_eq!(report.runs[0].generated_tokens, 2 * 2 * 9);
        assert_eq!(report.runs[1].generated_tokens, 2 * 9);
        for r in &report.runs {
            assert!(
                r.tokens_per_s().is_finite() && r.tokens_per_s() > 0.0,
                "{r:?}"
            );
        }
        assert!(report.anchor.is_none(), "no anchor on the CPU");
        assert!(report.markdown().contains("planform, all prompts batched"));
    }
}
