//! Quantized checkpoints: the stored model computes exactly what the simulated one does.
//! A small decoder-only checkpoint (GQA, block sharing, norm scales away from 1) and a small
//! encoder–decoder are written by hand, quantized with several settings (packed 2–4-bit
//! codes, byte codes, groups, asymmetric, rotations with the online R3/R4), loaded back,
//! and their logits compared with `QuantSpec::apply` on the source model: equal bit for bit.

use std::path::Path;

use planform_model::checkpoint::{save_weights_with_config, FileDigest};
use planform_model::{
    DecoderConfig, DecoderPreset, EncoderDecoderConfig, LayerSharing, Model, ModelConfig,
    ModelInput, ModelSize,
};
use planform_quant::store::{load_model, quantize_checkpoint};
use planform_quant::QuantSpec;
use planform_trace::vocab::{Vocabulary, VocabularySpec};
use tch::{nn, Device, Kind, Tensor};

fn vocab() -> Vocabulary {
    Vocabulary::new(VocabularySpec::Maze {
        width: 3,
        height: 3,
    })
    .unwrap()
}

fn decoder_only() -> ModelConfig {
    ModelConfig::DecoderOnly(config())
}

fn encoder_decoder() -> ModelConfig {
    let mut c = EncoderDecoderConfig::from_size(ModelSize::Tiny, vocab().len());
    c.decoder.dim = 32; // the streams differ in width
    ModelConfig::EncoderDecoder(c)
}

fn config() -> DecoderConfig {
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = vocab().len();
    c.dim = 32;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.ffn_hidden = 48;
    c.tied_embeddings = true;
    c.sharing = LayerSharing::Immediate;
    c.init_std = 0.2;
    c
}

/// Writes a checkpoint directory as planform-train would (the fields a model needs).
fn write_checkpoint(dir: &Path, model: &ModelConfig) -> (nn::VarStore, Model) {
    tch::set_num_threads(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Model::new_seeded(&vs.root(), model, 5).unwrap();
    tch::no_grad(|| {
        for (name, p) in m.named_parameters() {
            if name.contains("norm") || name.contains("output.0") {
                let n = p.size()[0];
                let g = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.7).sin() * 0.5 + 1.0;
                p.shallow_clone().copy_(&g);
            }
        }
    });
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("model.safetensors");
    save_weights_with_config(&vs, &file, model).unwrap();
    let state = serde_json::json!({
        "format": "planform-train-checkpoint",
        "version": 2,
        "step": 7,
        "model": model,
        "vocab": planform_model::VocabInfo::of(&vocab()),
        "files": { "model.safetensors": FileDigest::of(&file).unwrap() },
        "config": { "note": "written by the test" },
    });
    std::fs::write(dir.join("state.json"), serde_json::to_vec(&state).unwrap()).unwrap();
    (vs, m)
}

fn ids(b: i64, t: i64, step: i64) -> Tensor {
    let v = vocab().len() as i64;
    let ids: Vec<i64> = (0..b * t).map(|i| (i * step + 2) % v).collect();
    Tensor::from_slice(&ids).view([b, t])
}

fn input(model: &Model) -> ModelInput {
    match model {
        Model::DecoderOnly(_) => ModelInput::DecoderOnly { ids: ids(2, 10, 5) },
        Model::EncoderDecoder(_) => {
            let enc_ids = ids(2, 9, 3);
            let enc_mask = Tensor::ones([2, 9], (Kind::Bool, Device::Cpu));
            let _ = enc_mask.narrow(1, 7, 2).get(1).fill_(0); // row 1 padded
            ModelInput::EncoderDecoder {
                enc_ids,
                enc_mask,
                dec_in: ids(2, 8, 7),
            }
        }
    }
}

#[test]
fn stored_quantization_equals_the_simulation_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let specs = [
        ("w4a4kv4", "hadamard+online", None, false),
        ("w3a8", "random", Some(16), true),
        ("w2", "none", None, true),
        ("w6a6kv8", "hadamard", Some(8), false),
        ("w8a16kv4", "none", None, false),
    ];
    for (family, cfg) in [
        ("decoder-only", decoder_only()),
        ("encoder-decoder", encoder_decoder()),
    ] {
        let src = tmp.path().join(family);
        let (_vs, model) = write_checkpoint(&src, &cfg);
        for (i, (bits, rot, group, asym)) in specs.into_iter().enumerate() {
            let spec = QuantSpec {
                bits: bits.parse().unwrap(),
                rotation: rot.parse().unwrap(),
                seed: 9,
                weight_group: group,
                weight_asymmetric: asym,
            };
            let what = format!("{family} {spec}");
            let out = tmp.path().join(format!("{family}-q{i}"));
            let report = quantize_checkpoint(&src, &spec, &out, false).unwrap();
            assert!(report.bytes < report.source_bytes, "{what}: {report:?}");
            let loaded = load_model(&out, Device::Cpu).unwrap();
            assert_eq!(loaded.quant.as_ref().unwrap().spec, spec);
            assert_eq!(loaded.model.step, 7);
            // The quantized linears are not float variables any more.
            let vars = loaded.model.vs.variables();
            assert!(
                !vars.keys().any(|k| k.contains("attention.wq")),
                "{what}: float copies kept: {:?}",
                vars.keys().collect::<Vec<_>>()
            );
            let stored = &loaded.model.model;
            let sim_vs = nn::VarStore::new(Device::Cpu);
            let simulated = spec.apply(&model, &sim_vs).unwrap();
            let x = input(&model);
            let (a, b, fp) = tch::no_grad(|| {
                (
                    stored.forward(&x).unwrap(),
                    simulated.forward(&x).unwrap(),
                    model.forward(&x).unwrap(),
                )
            });
            assert!(a.equal(&b), "{what}: stored and simulated logits differ");
            assert!(!a.equal(&fp), "{what}: equal to full precision");
        }
    }
}

#[test]
fn damaged_quantized_checkpoints_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_checkpoint(&src, &decoder_only());
    let spec = QuantSpec {
        bits: "w4".parse().unwrap(),
        ..QuantSpec::default()
    };
    let out = tmp.path().join("q");
    quantize_checkpoint(&src, &spec, &out, false).unwrap();
    // The plain loader refuses it rather than building a wrong model.
    let err = planform_model::load_model(&out, Device::Cpu).err().unwrap();
    assert!(err.to_string().contains("quantized checkpoint"), "{err}");
    // A second quantization into the same directory needs `overwrite`.
    let err = quantize_checkpoint(&src, &spec, &out, false).unwrap_err();
    assert!(err.to_string().contains("--overwrite"), "{err}");
    quantize_checkpoint(&src, &spec, &out, true).unwrap();
    // A flipped byte in the weights: the digest check names the file.
    let file = out.join("model.safetensors");
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&file, bytes).unwrap();
    let err = load_model(&out, Device::Cpu).err().unwrap();
    assert!(err.to_string().contains("sha256"), "{err}");
}
