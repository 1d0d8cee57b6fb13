//! Per-layer updates inside the backward pass give exactly the ordinary step: the same
//! decoder-only model trained both ways, compared bit for bit, including shapes where one
//! parameter is used several times in the graph (tied embeddings, shared blocks).

use planform_model::config::{DecoderPreset, DecoderSpec, LayerSharing};
use planform_model::{seeded, DecoderOnly};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use crate::algorithm::{AdamW8bitConfig, GaloreConfig, LoraConfig, QGaloreConfig};
use crate::{AdamWConfig, Algorithm, Optimizer};

fn model(tied: bool, sharing: LayerSharing) -> (VarStore, DecoderOnly) {
    let spec = DecoderSpec {
        dim: Some(64),
        layers: Some(2),
        tied_embeddings: Some(tied),
        sharing: Some(sharing),
        ..DecoderSpec::preset(DecoderPreset::Tiny)
    };
    let cfg = spec.resolve(32).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let m = seeded(11, || DecoderOnly::new(&vs.root(), &cfg)).unwrap();
    // Weights from the counter-keyed RNG, not libtorch's global generator: other tests of
    // this binary draw from that one concurrently, which would give the two runs compared
    // below different initial weights.
    tch::no_grad(|| {
        for (i, (_, mut p)) in params(&vs).into_iter().enumerate() {
            let u = crate::quant::uniforms(&[11, i as u64], p.numel(), Device::Cpu).unwrap();
            p.copy_(&((u - 0.5) * 0.2).view(p.size().as_slice()));
        }
    });
    (vs, m)
}

fn loss(m: &DecoderOnly, step: i64) -> Tensor {
    let ids = (Tensor::arange(2 * 12, (Kind::Int64, Device::Cpu)) * (3 + step)).remainder(32);
    let ids = ids.view([2, 12]);
    let logits = m.forward(&ids.narrow(1, 0, 11)).unwrap();
    logits
        .reshape([-1, 32])
        .cross_entropy_for_logits(&ids.narrow(1, 1, 11).reshape([-1]))
}

fn params(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn run(
    algorithm: Algorithm,
    per_layer: bool,
    tied: bool,
    sharing: LayerSharing,
) -> Vec<(String, Tensor)> {
    let (vs, m) = model(tied, sharing);
    let mut opt = Optimizer::try_new(algorithm, AdamWConfig::default(), params(&vs)).unwrap();
    opt.set_per_layer(per_layer).unwrap();
    for step in 0..3 {
        opt.zero_grad();
        let l = loss(&m, step);
        if per_layer {
            opt.begin_per_layer_step(1e-2).unwrap();
            l.backward();
            let updated = opt.end_per_layer_step().unwrap();
            assert_eq!(updated, params(&vs).len(), "every parameter updated once");
            for (name, p) in params(&vs) {
                assert!(!p.grad().defined(), "{name}: gradient freed");
            }
        } else {
            l.backward();
            opt.step(1e-2).unwrap();
        }
    }
    assert_eq!(opt.steps(), 3);
    params(&vs)
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}

#[test]
fn per_layer_updates_equal_the_ordinary_step() {
    let galore8 = GaloreConfig {
        rank: 16,
        update_proj_gap: Some(2),
        eight_bit: true,
        min_8bit_size: 256,
        ..GaloreConfig::default()
    };
    let q = QGaloreConfig {
        rank: 16,
        update_proj_gap: Some(2),
        min_8bit_size: 256,
        ..QGaloreConfig::default()
    };
    let algorithms = [
        Algorithm::AdamW,
        Algorithm::AdamW8bit(AdamW8bitConfig {
            min_8bit_size: 256,
            ..AdamW8bitConfig::default()
        }),
        Algorithm::Galore(GaloreConfig::code(16)),
        Algorithm::Galore(galore8),
        Algorithm::QGalore(q),
        Algorithm::Lora(LoraConfig {
            rank: 8,
            ..LoraConfig::default()
        }),
    ];
    let shapes = [
        (false, LayerSharing::None),
        (true, LayerSharing::None),
        (false, LayerSharing::Immediate),
    ];
    for a in algorithms {
        for (tied, sharing) in shapes {
            let plain = run(a, false, tied, sharing);
            let fused = run(a, true, tied, sharing);
            for ((n, x), (_, y)) in plain.iter().zip(&fused) {
                assert!(x.equal(y), "{a:?} tied={tied} {sharing:?}: {n} differs");
            }
            // The steps did train.
            let (vs, _) = model(tied, sharing);
            let moved = params(&vs)
                .iter()
                .zip(&plain)
                .filter(|((_, a), (_, b))| !a.equal(b))
                .count();
            assert!(moved > 0);
        }
    }
}

#[test]
fn per_layer_hooks_are_idle_outside_a_step_and_report_errors() {
    let (vs, m) = model(false, LayerSharing::None);
    let mut opt = Optimizer::try_new(
        Algorithm::Galore(GaloreConfig {
            per_layer: true,
            ..GaloreConfig::code(16)
        }),
        AdamWConfig::default(),
        params(&vs),
    )
    .unwrap();
    assert!(
        opt.per_layer(),
        "the algorithm's per_layer turns the hooks on"
    );
    // Not armed: an ordinary backward keeps its gradients and the ordinary step works.
    loss(&m, 0).backward();
    assert!(params(&vs).iter().all(|(_, p)| p.grad().defined()));
    opt.step(1e-3).unwrap();
    opt.zero_grad();
    // A failing rule aborts the backward pass with the parameter's name.
    let (vs2, m2) = model(false, LayerSharing::None);
    let bad = Algorithm::QGalore(QGaloreConfig {
        rank: 16,
        weight_group_size: 1000, // no matrix splits into groups of 1000
        per_layer: true,
        ..QGaloreConfig::default()
    });
    let mut opt2 = Optimizer::try_new(bad, AdamWConfig::default(), params(&vs2)).unwrap();
    opt2.begin_per_layer_step(1e-3).unwrap();
    let r = loss(&m2, 0).f_backward();
    let e = opt2.end_per_layer_step().unwrap_err().to_string();
    assert!(r.is_err(), "the backward pass fails");
    assert!(e.contains("weight") && e.contains("1000"), "{e}");
    // Per-layer mode off: begin is refused.
    opt.set_per_layer(false).unwrap();
    assert!(opt.begin_per_layer_step(1e-3).is_err());
}

/// One run of Q-GaLore (per-layer) for 3 steps, computing from the float copies (`int8`
/// 0), from the int8 codes taken over after construction (1, `take_int8_weights`) or
/// during it (2, `try_new_int8`): the losses, every linear weight (dequantized) and the
/// other parameters, by name.
fn q_galore_run(int8: u8) -> (Vec<f64>, Vec<(String, Tensor)>) {
    let a = Algorithm::QGalore(QGaloreConfig {
        rank: 16,
        update_proj_gap: Some(2),
        min_8bit_size: 256,
        per_layer: true,
        ..QGaloreConfig::default()
    });
    let (vs, mut m) = model(false, LayerSharing::None);
    let before = loss(&m, 0).double_value(&[]);
    let mut opt = if int8 == 2 {
        Optimizer::try_new_int8(a, AdamWConfig::default(), params(&vs), m.linears_mut()).unwrap()
    } else {
        Optimizer::try_new(a, AdamWConfig::default(), params(&vs)).unwrap()
    };
    if int8 == 1 {
        let taken = opt.take_int8_weights(m.linears_mut()).unwrap();
        assert_eq!(
            taken,
            2 * 7,
            "q, k, v, o and the three FFN matrices of 2 blocks"
        );
    }
    if int8 > 0 {
        let emptied = params(&vs).iter().filter(|(_, p)| p.numel() == 0).count();
        assert_eq!(
            emptied,
            2 * 7,
            "the float tensors of the 14 block matrices are emptied"
        );
        assert!(opt.set_per_layer(false).is_err(), "per-layer mode stays on");
    }
    let start = loss(&m, 0).double_value(&[]);
    assert!(
        (start - before).abs() < 1e-3,
        "int8 weights change the loss a little only"
    );
    let mut losses = Vec::new();
    for step in 0..3 {
        opt.zero_grad();
        let l = loss(&m, step);
        losses.push(l.double_value(&[]));
        opt.begin_per_layer_step(1e-2).unwrap();
        l.backward();
        let updated = opt.end_per_layer_step().unwrap();
        assert_eq!(updated, params(&vs).len(), "every parameter updated once");
    }
    let mut out: Vec<(String, Tensor)> = m
        .linears_mut()
        .into_iter()
        .map(|(n, l)| (n, l.weight_tensor().detach().copy()))
        .collect();
    let linear_names: Vec<String> = out.iter().map(|(n, _)| n.clone()).collect();
    out.extend(
        params(&vs)
            .into_iter()
            .filter(|(n, _)| !linear_names.contains(n))
            .map(|(n, t)| (n, t.detach().copy())),
    );
    (losses, out)
}

#[test]
fn q_galore_from_int8_weights_equals_the_float_copy_mode() {
    let (l_float, w_float) = q_galore_run(0);
    for mode in [1, 2] {
        let (l_int8, w_int8) = q_galore_run(mode);
        assert_eq!(l_float, l_int8, "mode {mode}: losses");
        assert_eq!(w_float.len(), w_int8.len());
        for ((n, x), (m, y)) in w_float.iter().zip(&w_int8) {
            assert_eq!(n, m);
            assert!(x.equal(y), "mode {mode}: {n} differs");
        }
    }
    // The steps did train.
    assert!(
        l_float[2] < l_float[0] || l_float[1] < l_float[0],
        "{l_float:?}"
    );
}

#[test]
fn int8_weights_need_a_per_layer_step() {
    let q = QGaloreConfig {
        rank: 16,
        min_8bit_size: 256,
        ..QGaloreConfig::default()
    };
    // Without per-layer mode the weights cannot be taken over.
    let (vs, mut m) = model(false, LayerSharing::None);
    let mut opt =
        Optimizer::try_new(Algorithm::QGalore(q), AdamWConfig::default(), params(&vs)).unwrap();
    let e = opt
        .take_int8_weights(m.linears_mut())
        .unwrap_err()
        .to_string();
    assert!(e.contains("per-layer"), "{e}");
    let (vs2, mut m2) = model(false, LayerSharing::None);
    let e = Optimizer::try_new_int8(
        Algorithm::QGalore(q),
        AdamWConfig::default(),
        params(&vs2),
        m2.linears_mut(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("per-layer Q-GaLore"), "{e}");
    // With it, a backward pass outside a per-layer step fails and names the layer.
    opt.set_per_layer(true).unwrap();
    opt.take_int8_weights(m.linears_mut()).unwrap();
    let r = loss(&m, 0).f_backward();
    let e = r.unwrap_err().to_string();
    assert!(e.contains("per-layer step") && e.contains("layers."), "{e}");
}
