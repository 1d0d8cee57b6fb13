//! A decoder-only model exported as a Hugging Face Llama folder loads with
//! `transformers.LlamaForCausalLM.from_pretrained` and gives planform's logits (to 1e-4),
//! for grouped-query attention with tied embeddings and immediate block sharing, and for a
//! plain untied model; the word-level tokenizer maps token strings to planform's ids.
//!
//! Needs `python3` with `torch` and `transformers` (`make setup` installs them into
//! `.torch`). Without them the test is skipped with a printed reason — unless
//! `PLANFORM_REQUIRE_PYTHON=1` (set by `make test` / CI), which turns the skip into a failure.

use std::path::PathBuf;
use std::process::Command;

use planform_model::hf::{export_hf, ExportInfo};
use planform_model::{DecoderOnly, DecoderPreset, LayerSharing};
use tch::{nn, Device, Tensor};

const V: usize = 23;

fn pythonpath() -> String {
    let torch = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.torch");
    match std::env::var("PYTHONPATH") {
        Ok(extra) => format!("{}:{extra}", torch.display()),
        Err(_) => torch.display().to_string(),
    }
}

fn python_ready() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import torch, transformers"])
        .env("PYTHONPATH", pythonpath())
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "torch/transformers not importable: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

fn check(tied: bool, sharing: LayerSharing, kv_heads: usize) {
    tch::set_num_threads(1);
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = V;
    c.dim = 32;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = kv_heads;
    c.ffn_hidden = 48;
    c.tied_embeddings = tied;
    c.sharing = sharing;
    c.init_std = 0.2;
    c.max_positions = 512;
    let vs = nn::VarStore::new(Device::Cpu);
    let model = planform_model::seeded(11, || DecoderOnly::new(&vs.root(), &c)).unwrap();
    let tokens: Vec<String> = (0..V)
        .map(|i| match i {
            0 => "bos".to_string(),
            1 => "eos".to_string(),
            i => format!("t{i}"),
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hf");
    let info = ExportInfo {
        tokens: &tokens,
        bos: 0,
        eos: 1,
        source: "test".into(),
        step: 0,
    };
    export_hf(&model, &info, &dir).unwrap();
    let ids: Vec<Vec<i64>> = vec![
        vec![0, 3, 5, 7, 2, 9, 11, 4, 22, 13],
        vec![0, 21, 20, 19, 18, 17, 16, 15, 14, 1],
    ];
    let x = Tensor::from_slice(&ids.concat()).view([2, 10]);
    let logits = tch::no_grad(|| model.forward(&x).unwrap());
    let logits: Vec<Vec<Vec<f32>>> = (0..2)
        .map(|b| {
            (0..10)
                .map(|t| Vec::<f32>::try_from(logits.get(b).get(t)).unwrap())
                .collect()
        })
        .collect();
    let case = tmp.path().join("case.json");
    let text = "bos t3 t5 t7 eos";
    std::fs::write(
        &case,
        serde_json::json!({"ids": ids, "logits": logits, "text": text}).to_string(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/hf_check.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .arg(&case)
        .env("PYTHONPATH", pythonpath())
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hf_check.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let r: serde_json::Value = serde_json::from_str(last).unwrap();
    let diff = r["max_abs_diff"].as_f64().unwrap();
    assert!(diff < 1e-4, "tied={tied} {sharing:?}: max |Δlogit| {diff}");
    assert_eq!(r["tokenizer_ids"], serde_json::json!([0, 3, 5, 7, 1]));
    assert_eq!(r["layers"].as_u64().unwrap() as usize, model.depth());
}

#[test]
fn transformers_loads_the_export_and_gives_the_same_logits() {
    if let Err(why) = python_ready() {
        if std::env::var("PLANFORM_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
            panic!("PLANFORM_REQUIRE_PYTHON=1 but {why}");
        }
        println!("SKIPPED transformers_loads_the_export_and_gives_the_same_logits: {why}");
        return;
    }
    check(true, LayerSharing::Immediate, 2);
    check(false, LayerSharing::None, 4);
    check(true, LayerSharing::Reverse, 1);
}

#[test]
fn gelu_models_are_refused() {
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = V;
    c.activation = planform_model::Activation::Gelu;
    let vs = nn::VarStore::new(Device::Cpu);
    let model = DecoderOnly::new(&vs.root(), &c).unwrap();
    let tokens: Vec<String> = (0..V).map(|i| format!("t{i}")).collect();
    let info = ExportInfo {
        tokens: &tokens,
        bos: 0,
        eos: 1,
        source: "test".into(),
        step: 0,
    };
    let tmp = tempfile::tempdir().unwrap();
    let e = export_hf(&model, &info, tmp.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("SwiGLU"), "{e}");
}
