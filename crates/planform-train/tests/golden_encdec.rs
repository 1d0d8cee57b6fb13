//! The encoder–decoder's results must not change when the code around it does.
//!
//! A short seeded CPU training run (tiny Searchformer encoder–decoder, Dualformer traces on
//! 5×5 mazes, gradient accumulation, periodic held-out loss and checkpoints, one intra-op
//! thread) is compared with values recorded from the code *before* the core reshape of
//! issue 8 (commit 88e6509): every metrics field, bit for bit, and a sha256 of every weight
//! tensor's shape and bytes. `tests/fixtures/golden_encdec.json` holds them; to re-record
//! (only after a deliberate change of the numerics, stated in the commit), run this test
//! with `PLANFORM_RECORD_GOLDEN=1`.
//!
//! libtorch picks its CPU kernels by the instruction sets it finds (AVX-512 or AVX2), and
//! the two differ in the last bits (a held-out loss by 1e-7 on an AVX-512 machine). The
//! values were recorded with the AVX2 kernels, so the test asks for those
//! (`ATEN_CPU_CAPABILITY=avx2`) before its first tensor operation; this file holds one test,
//! so no other thread of the process has touched libtorch yet.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use planform_train::config::{Level3Choice, ModelSpec, ResampleChoice, TraceConfig};
use planform_train::load_model as load_model_from_checkpoint;
use planform_train::metrics::{read_records, METRICS_FILE};
use planform_train::testutil::maze_examples;
use planform_train::{DeviceChoice, StartMode, TrainConfig, TrainData, Trainer};
use serde_json::Value;
use sha2::{Digest, Sha256};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/golden_encdec.json"
);

fn config(out: &Path) -> TrainConfig {
    let mut c = TrainConfig::new(
        "unused",
        out,
        ModelSpec::Size(planform_model::ModelSize::Tiny),
    );
    c.device = DeviceChoice::Cpu;
    c.threads = Some(1);
    c.seed = 17;
    c.trace = TraceConfig::Dualformer {
        probabilities: [0.4, 0.15, 0.15, 0.15, 0.15],
        level3: Level3Choice::ReferenceCode,
        level3_drop_probability: 0.3,
        resample: Some(ResampleChoice::EveryEpoch),
    };
    c.batch.sequences = 8;
    c.batch.accumulation = 2;
    c.optim.lr = 3e-3;
    c.optim.warmup_steps = 5;
    c.optim.total_steps = 40;
    c.log.log_every = 5;
    c.log.eval_every = 20;
    c.log.checkpoint_every = 20;
    c
}

/// Every record with its wall-clock fields removed.
fn records(dir: &Path) -> Vec<Value> {
    read_records(&dir.join(METRICS_FILE))
        .unwrap()
        .into_iter()
        .map(|(r, _)| {
            let mut v = serde_json::to_value(&r).unwrap();
            let o = v.as_object_mut().unwrap();
            for k in ["tokens_per_sec", "elapsed_secs", "secs", "eta_secs"] {
                o.remove(k);
            }
            v
        })
        .collect()
}

/// sha256 of each weight's shape and little-endian f32 bytes, by name.
fn weight_digests(dir: &Path) -> BTreeMap<String, String> {
    let m = load_model_from_checkpoint(dir, tch::Device::Cpu).unwrap();
    m.vs.variables()
        .into_iter()
        .map(|(name, t)| {
            let mut h = Sha256::new();
            h.update(format!("{:?}", t.size()).as_bytes());
            let v = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
            for x in v {
                h.update(x.to_le_bytes());
            }
            let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            (name, hex)
        })
        .collect()
}

#[test]
fn short_seeded_run_is_bit_identical_to_the_recorded_one() {
    // The process's only test, before any other thread reads the environment (libtorch
    // reads this variable at its first kernel dispatch).
    std::env::set_var("ATEN_CPU_CAPABILITY", "avx2");
    let (vocab, train, test) = maze_examples(5, 200, 24, 3).unwrap();
    let data = TrainData::from_examples(vocab, train, test, &Default::default());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let summary = Trainer::new(config(&out), data, StartMode::Fresh)
        .unwrap()
        .run(&mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert!(summary.completed);
    let got = serde_json::json!({
        "records": records(&out),
        "weights": weight_digests(&out),
    });
    if std::env::var_os("PLANFORM_RECORD_GOLDEN").is_some() {
        std::fs::write(FIXTURE, serde_json::to_string_pretty(&got).unwrap()).unwrap();
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    // Every recorded field must be there with the same value (new fields may be added).
    let (got_r, want_r) = (
        got["records"].as_array().unwrap(),
        want["records"].as_array().unwrap(),
    );
    assert_eq!(got_r.len(), want_r.len(), "number of metrics records");
    for (g, w) in got_r.iter().zip(want_r) {
        for (k, wv) in w.as_object().unwrap() {
            assert_eq!(g.get(k), Some(wv), "field {k} of record {w}");
        }
    }
    assert_eq!(got["weights"], want["weights"], "weights differ");
}
