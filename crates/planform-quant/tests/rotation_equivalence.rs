//! SpinQuant's first promise: a rotated full-precision model computes the same function.
//! Norm scales folded, head untied, R1 and per-block R2 merged; the logits of the rotated
//! model equal the original's to 1e-5, with random (non-unit) norm scales, tied and untied
//! heads, grouped-query attention and block sharing.

use planform_model::{DecoderConfig, DecoderOnly, DecoderPreset, LayerSharing};
use planform_quant::merge::{load_into, rotate, weights_of, Rotations};
use planform_quant::rotation::{random_hadamard, random_orthogonal};
use planform_quant::rtn::Rtn;
use planform_quant::sim::QuantSim;
use tch::{nn, Device, Kind, Tensor};

fn config(tied: bool, sharing: LayerSharing) -> DecoderConfig {
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = 23;
    c.dim = 32;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.ffn_hidden = 48;
    c.tied_embeddings = tied;
    c.sharing = sharing;
    c.init_std = 0.2;
    c
}

fn build(c: &DecoderConfig) -> (nn::VarStore, DecoderOnly) {
    tch::set_num_threads(1);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let m = planform_model::seeded(11, || DecoderOnly::new(&vs.root(), c)).unwrap();
    // Norm scales away from 1, so that folding them is exercised.
    tch::no_grad(|| {
        for (name, p) in m.named_parameters() {
            if name.contains("norm") {
                let n = p.size()[0];
                let g = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.7).sin() * 0.5 + 1.0;
                p.shallow_clone().copy_(&g);
            }
        }
    });
    // f64, so that the comparison measures the rotation, not f32 rounding.
    vs.double();
    assert_eq!(m.embedding().kind(), Kind::Double);
    (vs, m)
}

fn ids() -> Tensor {
    let v: Vec<i64> = (0..3 * 12).map(|i| (i * 5 + 2) % 23).collect();
    Tensor::from_slice(&v).view([3, 12])
}

#[test]
fn rotated_model_computes_the_same_logits() {
    for (tied, sharing) in [
        (false, LayerSharing::None),
        (true, LayerSharing::None),
        (true, LayerSharing::Immediate),
    ] {
        let cfg = config(tied, sharing);
        let (_vs, model) = build(&cfg);
        let before = tch::no_grad(|| model.forward(&ids()).unwrap());
        for (label, rot) in [
            (
                "random orthogonal",
                Rotations {
                    r1: random_orthogonal(32, 1),
                    r2: vec![random_orthogonal(8, 2), random_orthogonal(8, 3)],
                    r4: false,
                },
            ),
            (
                "random Hadamard, no R2",
                Rotations {
                    r1: random_hadamard(32, 4).unwrap(),
                    r2: vec![],
                    r4: false,
                },
            ),
        ] {
            let (w, cfg2) = rotate(&weights_of(&model), &cfg, &rot).unwrap();
            assert!(!cfg2.tied_embeddings);
            let mut vs2 = nn::VarStore::new(Device::Cpu);
            let rotated = load_into(&vs2, &cfg2, &w).unwrap();
            vs2.double();
            assert_eq!(rotated.embedding().kind(), Kind::Double);
            let after = tch::no_grad(|| rotated.forward(&ids()).unwrap());
            let diff = (&after - &before).abs().max().double_value(&[]);
            let scale = before.abs().max().double_value(&[]);
            assert!(
                diff < 1e-5,
                "tied={tied} {sharing:?} {label}: max |Δlogit| = {diff} (logits up to {scale})"
            );
            eprintln!("tied={tied} {sharing:?} {label}: max |Δlogit| = {diff:.2e}");
            // The weights really changed (not an identity rotation).
            let e0 = model.embedding();
            assert!((rotated.embedding() - e0).abs().max().double_value(&[]) > 1e-2);
        }
    }
}

#[test]
fn wrong_rotation_shapes_are_refused() {
    let cfg = config(false, LayerSharing::None);
    let (_vs, model) = build(&cfg);
    let w = weights_of(&model);
    let bad = Rotations {
        r1: random_orthogonal(16, 1),
        r2: vec![],
        r4: false,
    };
    assert!(rotate(&w, &cfg, &bad)
        .unwrap_err()
        .to_string()
        .contains("R1"));
    let bad = Rotations {
        r1: random_orthogonal(32, 1),
        r2: vec![random_orthogonal(8, 1)],
        r4: false,
    };
    assert!(rotate(&w, &cfg, &bad)
        .unwrap_err()
        .to_string()
        .contains("R2"));
}

fn rotated(model: &DecoderOnly, cfg: &DecoderConfig, r4: bool) -> (nn::VarStore, DecoderOnly) {
    let rot = Rotations {
        r1: random_hadamard(32, 7).unwrap(),
        r2: vec![
            random_hadamard(8, 8).unwrap(),
            random_hadamard(8, 9).unwrap(),
        ],
        r4,
    };
    let (w, cfg2) = rotate(&weights_of(model), cfg, &rot).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let m = load_into(&vs, &cfg2, &w).unwrap();
    vs.double();
    (vs, m)
}

/// The online Hadamards R3 (queries and keys after RoPE) and R4 (down-projection input,
/// inverse merged into w2) leave full-precision logits unchanged too.
#[test]
fn online_r3_r4_are_exact_in_full_precision() {
    let cfg = config(false, LayerSharing::None);
    let (_vs, model) = build(&cfg);
    let before = tch::no_grad(|| model.forward(&ids()).unwrap());
    let (_vs2, mut m) = rotated(&model, &cfg, true);
    let sim = QuantSim {
        r3: true,
        r4: true,
        ..QuantSim::default()
    };
    sim.check(8, 48).unwrap();
    m.set_activation_hook(Some(sim.hook()));
    let after = tch::no_grad(|| m.forward(&ids()).unwrap());
    let diff = (&after - &before).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "max |Δlogit| = {diff}");
    // Without R4 merged into w2, the online R4 changes the function.
    let (_vs3, mut m) = rotated(&model, &cfg, false);
    m.set_activation_hook(Some(sim.hook()));
    let wrong = tch::no_grad(|| m.forward(&ids()).unwrap());
    assert!((&wrong - &before).abs().max().double_value(&[]) > 1e-3);
    assert!(QuantSim { r4: true, ..sim }.check(8, 36).is_err());
}

/// Simulated activation and KV quantization perturbs the logits, 4 bits much more than 8, and
/// removing the hook restores the full-precision function.
#[test]
fn activation_and_kv_quantization_error_shrinks_with_bits() {
    let cfg = config(false, LayerSharing::None);
    let (_vs, mut model) = build(&cfg);
    let fp = tch::no_grad(|| model.forward(&ids()).unwrap());
    let mut err = Vec::new();
    for bits in [4, 8] {
        let rtn = Rtn {
            bits,
            asymmetric: true,
            group: None,
        };
        let sim = QuantSim {
            act: Some(rtn),
            kv: Some(rtn),
            ..QuantSim::default()
        };
        model.set_activation_hook(Some(sim.hook()));
        let q = tch::no_grad(|| model.forward(&ids()).unwrap());
        err.push((&q - &fp).abs().max().double_value(&[]));
    }
    assert!(err[0] > 0.0 && err[1] > 0.0, "{err:?}");
    assert!(
        err[1] < err[0] / 4.0,
        "4-bit {} vs 8-bit {}",
        err[0],
        err[1]
    );
    model.set_activation_hook(None);
    let back = tch::no_grad(|| model.forward(&ids()).unwrap());
    assert!(back.equal(&fp));
}

/// The encoder–decoder: two residual streams of different widths (R1 each), R2 on the
/// self- and cross-attention value heads, norms folded into the readers (the cross-
/// attention's keys and values read the unrotated memory), and the online R3/R4: the
/// full-precision logits do not change (to f32 rounding: the encoder hands the decoder an
/// f32 memory, so this family cannot run in f64), for Haar-random and Hadamard rotations,
/// with a padded prompt.
#[test]
fn rotated_encoder_decoder_computes_the_same_logits() {
    use planform_model::{EncoderDecoderConfig, Model, ModelConfig, ModelInput, ModelSize};
    use planform_quant::QuantSpec;
    tch::set_num_threads(1);
    let mut c = EncoderDecoderConfig::from_size(ModelSize::Tiny, 23);
    c.decoder.dim = 32;
    let cfg = ModelConfig::EncoderDecoder(c);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new_seeded(&vs.root(), &cfg, 3).unwrap();
    tch::no_grad(|| {
        for (name, p) in model.named_parameters() {
            if name.contains("norm") || name.contains("output.0") {
                let n = p.size()[0];
                let g = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.9).cos() * 0.5 + 1.0;
                p.shallow_clone().copy_(&g);
            }
        }
    });
    // f32 throughout: the encoder hands the decoder an f32 memory.
    // Every variable is a named parameter, under the same name.
    let mut names: Vec<String> = model.named_parameters().into_iter().map(|p| p.0).collect();
    let mut vars: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    vars.sort();
    assert_eq!(names, vars);
    let mask = Tensor::ones([3, 12], (Kind::Bool, Device::Cpu));
    let _ = mask.get(2).narrow(0, 9, 3).fill_(0);
    let x = ModelInput::EncoderDecoder {
        enc_ids: ids(),
        enc_mask: mask,
        dec_in: ids().flip([1]),
    };
    let before = tch::no_grad(|| model.forward(&x).unwrap());
    for rotation in ["random", "random+online", "hadamard+online"] {
        let spec = QuantSpec {
            rotation: rotation.parse().unwrap(),
            seed: 4,
            ..QuantSpec::default()
        };
        let vs2 = nn::VarStore::new(Device::Cpu);
        let m = spec.apply(&model, &vs2).unwrap();
        let after = tch::no_grad(|| m.forward(&x).unwrap());
        let diff = (&after - &before).abs().max().double_value(&[]);
        let scale = before.abs().max().double_value(&[]);
        assert!(
            diff < 1e-5,
            "{rotation}: max |Δlogit| = {diff} (logits up to {scale})"
        );
        eprintln!("{rotation}: max |Δlogit| = {diff:.2e}, max |logit| = {scale:.2}");
        // The rotation really changed the weights.
        let w0 = &model.named_parameters()[0].1;
        let w1 = &m.named_parameters()[0].1;
        assert!((w0 - w1).abs().max().double_value(&[]) > 1e-3);
    }
}
