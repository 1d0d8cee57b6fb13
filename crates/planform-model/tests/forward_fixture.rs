//! Checks the model against `tests/fixtures/forward.json`, recorded by
//! `scripts/record_fixture.py` (an independent PyTorch implementation,
//! itself cross-checked against the reference model code).

use planform_model::{
    generate, load_named, AttentionKernel, DecodeConfig, EncoderAttention, EncoderDecoder,
    EncoderDecoderConfig, Model, ModelError, StopReason,
};
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/forward.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Standard base64 (with padding) decoder, enough for the fixture.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    } as u32;
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | (val(c) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<i64> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let bytes = base64_decode(v["data"].as_str().unwrap());
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Tensor::from_slice(&floats).view(shape.as_slice())
}

fn ids(v: &Value) -> Tensor {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    let (b, l) = (rows.len() as i64, rows[0].len() as i64);
    Tensor::from_slice(&rows.concat()).view([b, l])
}

fn load_cfg(f: &Value) -> EncoderDecoderConfig {
    serde_json::from_value(f["config"].clone()).unwrap()
}

fn load(f: &Value, kernel: AttentionKernel) -> (nn::VarStore, EncoderDecoder) {
    // Tests already run in parallel; intra-op OpenMP threads only spin-wait
    // (10x slower on a busy 2-core machine).
    tch::set_num_threads(1);
    let mut cfg = load_cfg(f);
    cfg.attention_kernel = kernel;
    let vs = nn::VarStore::new(Device::Cpu);
    let model = EncoderDecoder::new(&vs.root(), &cfg).unwrap();
    let named: Vec<(String, Tensor)> = f["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap().to_string(), tensor(w)))
        .collect();
    let report = load_named(&vs, &named).unwrap();
    assert_eq!(report.loaded, named.len());
    (vs, model)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

#[test]
fn variable_names_are_the_reference_state_dict_keys() {
    let f = fixture();
    let (vs, _) = load(&f, AttentionKernel::Sdpa);
    let mut ours: Vec<String> = vs.variables().into_keys().collect();
    let mut theirs: Vec<String> = f["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert_eq!(
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel())
            .sum::<usize>(),
        load_cfg(&f).trainable_parameters()
    );
}

#[test]
fn forward_matches_pytorch_both_kernels() {
    let f = fixture();
    let (enc, dec) = (ids(&f["prompt_ids"]), ids(&f["dec_ids"]));
    let rows: Vec<Vec<bool>> = serde_json::from_value(f["prompt_mask"].clone()).unwrap();
    let mask = Tensor::from_slice(&rows.concat()).view([rows.len() as i64, -1]);
    for kernel in [AttentionKernel::Sdpa, AttentionKernel::Math] {
        let (_vs, model) = load(&f, kernel);
        tch::no_grad(|| {
            // Reference semantics: unmasked encoder self-attention.
            let memory = model.encode(&enc, &mask).unwrap();
            let d = max_diff(&memory, &tensor(&f["memory_unmasked"]));
            assert!(d < TOL, "{kernel:?} memory (unmasked): {d}");
            let logits = model.forward(&enc, &mask, &dec).unwrap();
            let d = max_diff(&logits, &tensor(&f["logits_unmasked"]));
            assert!(d < TOL, "{kernel:?} logits (unmasked): {d}");
            // Padding-masked encoder (used by decoding).
            let memory = model
                .encode_with(&enc, &mask, EncoderAttention::PaddingMasked)
                .unwrap();
            let d = max_diff(&memory, &tensor(&f["memory_masked"]));
            assert!(d < TOL, "{kernel:?} memory (masked): {d}");
            let logits = model.decode(&dec, &memory, &mask).unwrap();
            let d = max_diff(&logits, &tensor(&f["logits_masked"]));
            assert!(d < TOL, "{kernel:?} logits (masked): {d}");
            // Integer masks are accepted too.
            let logits_int = model
                .forward(&enc, &mask.to_kind(Kind::Int64), &dec)
                .unwrap();
            assert_eq!(
                max_diff(&logits_int, &model.forward(&enc, &mask, &dec).unwrap()),
                0.0
            );
        });
    }
}

#[test]
fn batched_greedy_generation_matches_pytorch_rollouts() {
    let f = fixture();
    let (_vs, model) = load(&f, AttentionKernel::Sdpa);
    let model = Model::EncoderDecoder(model);
    let rollouts = f["greedy_rollouts"].as_array().unwrap();
    for prefix in [vec![], vec![4i64]] {
        let cases: Vec<&Value> = rollouts
            .iter()
            .filter(|r| serde_json::from_value::<Vec<i64>>(r["prefix"].clone()).unwrap() == prefix)
            .collect();
        let prompts: Vec<Vec<i64>> = cases
            .iter()
            .map(|r| serde_json::from_value(r["prompt"].clone()).unwrap())
            .collect();
        for max_rows in [1, 2, 8] {
            let mut cfg =
                DecodeConfig::new(f["bos"].as_i64().unwrap(), f["eos"].as_i64().unwrap(), 12);
            cfg.prefix = prefix.clone();
            cfg.max_rows = max_rows;
            // The fixture's encoder inputs are given as they are (the model's context).
            let out = generate(&model, &prompts, &cfg).unwrap();
            for (case, gens) in cases.iter().zip(&out.generations) {
                let want: Vec<i64> = serde_json::from_value(case["tokens"].clone()).unwrap();
                assert_eq!(
                    gens[0].tokens, want,
                    "prefix {prefix:?}, max_rows {max_rows}"
                );
                let stop = if want.last() == Some(&1) {
                    StopReason::Eos
                } else {
                    StopReason::MaxLen
                };
                assert_eq!(gens[0].stop, stop);
            }
        }
    }
}

#[test]
fn loading_reports_bad_keys_and_shapes() {
    let f = fixture();
    let (vs, _model) = load(&f, AttentionKernel::Sdpa);
    let good = |name: &str| {
        let w = f["weights"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap();
        (name.to_string(), tensor(w))
    };
    // RoPE tables are skipped; a missing variable, a stray key and a wrong shape are all reported.
    let named = vec![
        good("encoder.embedding.weight"),
        (
            "encoder.rope.cos_param".to_string(),
            Tensor::zeros([1, 4, 1, 4], (Kind::Float, Device::Cpu)),
        ),
        (
            "decoder.bogus.weight".to_string(),
            Tensor::zeros([3], (Kind::Float, Device::Cpu)),
        ),
        (
            "decoder.output.1.weight".to_string(),
            Tensor::zeros([3, 3], (Kind::Float, Device::Cpu)),
        ),
    ];
    match load_named(&vs, &named) {
        Err(ModelError::StateDict(msg)) => {
            assert!(msg.contains("unexpected key decoder.bogus.weight"), "{msg}");
            assert!(
                msg.contains("decoder.output.1.weight: shape [3, 3]"),
                "{msg}"
            );
            assert!(
                msg.contains("missing key decoder.embedding.weight"),
                "{msg}"
            );
            assert!(!msg.contains("rope"), "{msg}");
        }
        other => panic!("expected a state-dict error, got {other:?}"),
    }
}
