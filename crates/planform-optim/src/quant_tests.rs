//! 8-bit states and Q-GaLore quantization against independent references: the PyTorch
//! re-statement of bitsandbytes' map and of Q-GaLore's `_quantize`
//! (`tests/fixtures/record_galore.py` → `galore_torch.json`), the rounding guarantee of
//! nearest-code quantization, and the expectation of stochastic rounding.

use serde_json::Value;
use tch::{Device, Kind, Tensor};

use crate::quant::{dynamic_map, uniforms, Blockwise8, GroupQuant, Rounding};

pub(crate) fn fixture() -> Value {
    serde_json::from_str(include_str!("../tests/fixtures/galore_torch.json")).expect("fixture")
}

pub(crate) fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

pub(crate) fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap()
}

#[test]
fn dynamic_maps_match_bitsandbytes() {
    let fx = fixture();
    for (signed, key) in [(true, "dynamic_signed"), (false, "dynamic_unsigned")] {
        let want = floats(&fx[key]);
        let got = dynamic_map(signed);
        assert_eq!(want.len(), 256);
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            // torch's vectorized linspace may round the last bit differently.
            assert!(
                (a - b).abs() <= 2.0 * f32::EPSILON * b.abs(),
                "{key}[{i}]: {a} vs {b}"
            );
        }
        assert_eq!(got[255], 1.0);
        assert!(got.windows(2).all(|w| w[0] <= w[1]), "sorted");
        if signed {
            assert_eq!(got[0], -got[254], "symmetric around 0");
        } else {
            assert!(got.iter().all(|&x| x >= 0.0));
        }
    }
}

/// The error nearest-code rounding makes on `x` (normalized to the block's absmax): the
/// distance to the nearest code of the map.
fn nearest(map: &[f32; 256], x: f32) -> f32 {
    map.iter()
        .map(|c| (x - c).abs())
        .fold(f32::INFINITY, f32::min)
}

/// The worst case over `[lo, 1]`: half the widest gap between neighbouring codes, or the
/// distance from `lo` to the smallest code (the signed map has +1 but not −1).
fn worst(map: &[f32; 256], lo: f32) -> f32 {
    let gaps = map
        .windows(2)
        .map(|w| 0.5 * (w[1] - w[0]))
        .fold(0.0, f32::max);
    gaps.max(map[0] - lo).max(1.0 - map[255])
}

#[test]
fn blockwise_8bit_round_trip_is_within_half_a_code_gap() {
    tch::manual_seed(3);
    for (signed, n) in [(true, 5000), (false, 4096 + 17)] {
        let x = Tensor::randn([n], (Kind::Float, Device::Cpu));
        let x = if signed { x } else { x.square() };
        // One block with a large outlier: the others are unaffected (block-wise).
        let _ = x.narrow(0, 10, 1).fill_(40.0);
        let _ = x.narrow(0, 11, 1).fill_(if signed { -40.0 } else { 0.0 });
        let q = Blockwise8::quantize(&x, signed, 2048).unwrap();
        assert_eq!(q.codes.numel(), n as usize);
        assert_eq!(q.absmax.numel(), (n as usize).div_ceil(2048));
        assert_eq!(q.bytes(), n as usize + 4 * (n as usize).div_ceil(2048));
        let y = q.dequantize().unwrap();
        let map = dynamic_map(signed);
        let bound = worst(&map, if signed { -1.0 } else { 0.0 });
        let (xs, ys, am) = (values(&x), values(&y), values(&q.absmax));
        let mut rel = Vec::new();
        for (i, (a, b)) in xs.iter().zip(&ys).enumerate() {
            let m = am[i / 2048];
            // Each element goes to its nearest code, and that is within the map's worst case.
            let own =
                m * nearest(&map, a / m) * (1.0 + 1e-5) + 4.0 * f32::EPSILON * a.abs() + 1e-12;
            assert!(
                (a - b).abs() <= own,
                "elem {i}: {a} -> {b}, nearest-code error {own}"
            );
            assert!(
                (a - b).abs() <= m * bound * (1.0 + 1e-5),
                "elem {i}: beyond the bound"
            );
            rel.push(((a - b).abs() / m) as f64);
        }
        // The dynamic map is fine near zero: the mean error is well below one linear step.
        let mean = rel.iter().sum::<f64>() / rel.len() as f64;
        assert!(mean < 1.0 / 256.0, "mean normalized error {mean}");
        // Block-wise: the outlier scales its own block only, and +absmax round-trips exactly
        // (the map holds 1.0; the signed map's most negative code is −0.993: −40 → −39.72).
        assert_eq!(am[0], 40.0);
        assert_eq!(ys[10], 40.0);
        if am.len() > 1 {
            assert!(am[1] < 25.0, "the second block has its own maximum");
        }
    }
}

#[test]
fn group_quant_matches_q_galore_rtn_and_packs_int4() {
    let fx = fixture();
    let q = &fx["quant"];
    let ints = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    let w = Tensor::from_slice(&floats(&q["w"])).view([4, 256]);
    let g = GroupQuant::quantize(&w, 8, 256, Rounding::Nearest, None).unwrap();
    let codes: Vec<i64> = Vec::<i64>::try_from(g.codes().unwrap().to_kind(Kind::Int64)).unwrap();
    assert_eq!(codes, ints(&q["codes8"]));
    assert_eq!(values(&g.scales), floats(&q["scales8"]));
    assert_eq!(values(&g.zeros), floats(&q["zeros8"]));
    assert_eq!(g.bytes(), 1024 + 4 * 2 * 4);
    // Dequantization error of round-to-nearest: at most half a step.
    let back = g.dequantize(Kind::Float).unwrap();
    let err = (&back - &w).abs().view([4, 256]);
    let half = g.scales.shallow_clone() * 0.5 * (1.0 + 1e-5);
    assert!(bool::try_from(err.le_tensor(&half).all()).unwrap());

    let p = Tensor::from_slice(&floats(&q["p"])).view([8, 64]);
    let g4 = GroupQuant::quantize(&p, 4, 256, Rounding::Nearest, None).unwrap();
    assert_eq!(g4.codes.numel(), 256, "two 4-bit codes per byte");
    let codes4: Vec<i64> = Vec::<i64>::try_from(g4.codes().unwrap().to_kind(Kind::Int64)).unwrap();
    assert_eq!(codes4, ints(&q["codes4"]));
    assert_eq!(values(&g4.scales), floats(&q["scales4"]));
    assert_eq!(values(&g4.zeros), floats(&q["zeros4"]));
    // Not divisible into groups: a typed error, as the reference's assertion.
    let odd = Tensor::ones([3, 100], (Kind::Float, Device::Cpu));
    assert!(GroupQuant::quantize(&odd, 8, 256, Rounding::Nearest, None).is_err());
}

#[test]
fn stochastic_rounding_is_unbiased() {
    // Values spread over one group, with fractional positions; many independent draws.
    let w = (Tensor::arange(256, (Kind::Float, Device::Cpu)) * 0.0137).sin() * 0.05;
    let draws = 2000;
    let mut sum = Tensor::zeros([256], (Kind::Double, Device::Cpu));
    for k in 0..draws {
        let u = uniforms(&[42, 7, k], 256, Device::Cpu).unwrap();
        let q = GroupQuant::quantize(&w, 8, 256, Rounding::Stochastic, Some(&u)).unwrap();
        sum += q.dequantize(Kind::Double).unwrap();
    }
    let mean = sum / draws as f64;
    let q = GroupQuant::quantize(&w, 8, 256, Rounding::Nearest, None).unwrap();
    let step = f64::try_from(q.scales.reshape([-1])).unwrap();
    let bias = (&mean - w.to_kind(Kind::Double)).abs();
    // One draw's error is within a step with variance ≤ step²/4; the mean of 2000 draws has
    // standard deviation ≤ step/(2·√2000) ≈ 0.011 step. Allow 5 σ per element. Elements within
    // one step of the group's minimum or maximum can round past the code range and are
    // clamped (the reference clamps after rounding), so they are checked separately.
    let tol = 5.0 * step / (2.0 * (draws as f64).sqrt());
    let wd = Vec::<f64>::try_from(w.to_kind(Kind::Double)).unwrap();
    let (lo, hi) = wd
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let bias = Vec::<f64>::try_from(bias).unwrap();
    let mut inner = 0;
    for (x, b) in wd.iter().zip(&bias) {
        if *x > lo + step && *x < hi - step {
            inner += 1;
            assert!(*b < tol, "|E[q(w)] − w| = {b} at w = {x}, tolerance {tol}");
        } else {
            assert!(*b <= 0.5 * step, "edge element {x}: bias {b}");
        }
    }
    assert!(inner > 200, "{inner} elements away from the clamp");
    // Round-to-nearest is biased by up to half a step on the same values.
    let rtn_bias = f64::try_from(
        (q.dequantize(Kind::Double).unwrap() - w.to_kind(Kind::Double))
            .abs()
            .max(),
    )
    .unwrap();
    assert!(rtn_bias > 5.0 * tol, "RTN bias {rtn_bias}");
    // Seeded: the same key gives the same codes.
    let u1 = uniforms(&[1, 2, 3], 256, Device::Cpu).unwrap();
    let u2 = uniforms(&[1, 2, 3], 256, Device::Cpu).unwrap();
    assert!(u1.equal(&u2));
}

/// The 8-bit Adam step runs chunk by chunk; it must equal the same arithmetic done on the
/// whole tensor (dequantize all, update, quantize all), codes, maxima and direction, for a
/// tensor spanning several chunks whose length is not a multiple of the block.
#[test]
fn chunked_8bit_step_equals_whole_tensor_step() {
    use crate::adamw::{BnbMoments, EightBit, CHUNK_ELEMENTS};
    use crate::AdamWConfig;
    let n = 2 * CHUNK_ELEMENTS + 3 * 256 + 77;
    let block = 256;
    let cfg = AdamWConfig::default();
    let spec = EightBit {
        block,
        min_size: 4096,
    };
    let like = Tensor::zeros([n], (Kind::Float, Device::Cpu));
    let mut moments = BnbMoments::zeros(&like, spec).unwrap();
    // The direct zero constructor equals quantizing zeros.
    for signed in [true, false] {
        let a = Blockwise8::zeros(&[n], signed, block, Device::Cpu).unwrap();
        let b = Blockwise8::quantize(&like, signed, block).unwrap();
        assert!(a.codes.equal(&b.codes) && a.absmax.equal(&b.absmax));
    }
    // Whole-tensor reference state.
    let mut m_ref = Blockwise8::quantize(&like, true, block).unwrap();
    let mut v_ref = Blockwise8::quantize(&like, false, block).unwrap();
    let (beta1, beta2) = cfg.betas;
    for t in 1..=3u64 {
        let g = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * (0.001 * t as f64)).sin()
            * (1.0 + t as f64);
        let dir = moments.step(&g, t, &cfg).unwrap();
        let m = m_ref.dequantize().unwrap() * beta1 + &g * (1.0 - beta1);
        let v = v_ref.dequantize().unwrap() * beta2 + (&g * (1.0 - beta2)) * &g;
        let c2 = (1.0 - beta2.powf(t as f64)).sqrt();
        let dir_ref = &m / (v.sqrt() + cfg.eps * c2);
        m_ref = Blockwise8::quantize(&m, true, block).unwrap();
        v_ref = Blockwise8::quantize(&v, false, block).unwrap();
        assert!(dir.equal(&dir_ref), "step {t}: directions differ");
        match &moments {
            BnbMoments::Int8 { m, v } => {
                assert!(m.codes.equal(&m_ref.codes) && m.absmax.equal(&m_ref.absmax));
                assert!(v.codes.equal(&v_ref.codes) && v.absmax.equal(&v_ref.absmax));
            }
            BnbMoments::Fp32 { .. } => panic!("expected 8-bit moments"),
        }
    }
}

/// Q-GaLore's int8 weight update runs chunk by chunk: round-to-nearest codes equal one pass
/// over the whole matrix, stochastic rounding of a one-chunk tensor draws the same
/// uniforms as before chunking, and `dequantize_into` writes `dequantize`'s values.
#[test]
fn chunked_int8_weight_requantization_matches_whole_tensor() {
    use crate::adamw::CHUNK_ELEMENTS;
    use crate::algorithm::QGaloreConfig;
    use crate::qgalore::{QGaloreRule, WEIGHT_BITS};
    use crate::AdamWConfig;
    let cols = 256;
    let rows = (2 * CHUNK_ELEMENTS) / cols + 3;
    // Every group spans zero, as trained weights do (the reference's zero point is clamped
    // to the code range, so a group far from zero saturates by design).
    let w = (Tensor::arange(rows * cols, (Kind::Float, Device::Cpu)) * 0.37)
        .sin()
        .view([rows, cols]);
    for rounding in [Rounding::Nearest, Rounding::Stochastic] {
        let cfg = QGaloreConfig {
            rank: 8,
            rounding,
            ..QGaloreConfig::default()
        };
        let rule = QGaloreRule::new(&cfg, AdamWConfig::default(), &w, 5);
        let q = rule.requantize(&w, 3).unwrap();
        if rounding == Rounding::Nearest {
            let whole =
                GroupQuant::quantize(&w, WEIGHT_BITS, 256, Rounding::Nearest, None).unwrap();
            assert!(q.codes.equal(&whole.codes));
            assert!(q.scales.equal(&whole.scales) && q.zeros.equal(&whole.zeros));
        }
        let out = Tensor::zeros([rows, cols], (Kind::BFloat16, Device::Cpu));
        q.dequantize_into(&out).unwrap();
        assert!(out.equal(&q.dequantize(Kind::BFloat16).unwrap()));
        // Stochastic rounding stays within one step of the value.
        let err = (q.dequantize(Kind::Float).unwrap() - &w)
            .abs()
            .max()
            .double_value(&[]);
        let step = q.scales.max().double_value(&[]);
        assert!(err <= step + 1e-6, "{rounding:?}: {err} vs step {step}");
    }
    // A tensor of one chunk draws its uniforms from the key [seed, tensor, step].
    let small = w.narrow(0, 0, 8).contiguous();
    let cfg = QGaloreConfig {
        rank: 8,
        ..QGaloreConfig::default()
    };
    let rule = QGaloreRule::new(&cfg, AdamWConfig::default(), &small, 5);
    let u = uniforms(&[cfg.seed, 5, 3], small.numel(), Device::Cpu).unwrap();
    let want =
        GroupQuant::quantize(&small, WEIGHT_BITS, 256, Rounding::Stochastic, Some(&u)).unwrap();
    assert!(rule.requantize(&small, 3).unwrap().codes.equal(&want.codes));
}
