//! GaLore and Q-GaLore against independent references: the PyTorch re-statement of the
//! reference code (`tests/fixtures/record_galore.py`), closed forms (bias correction, moment
//! recursion, memory formula) and the paper's theory check (plain SGD at full rank).

use serde_json::Value;
use tch::{Device, Kind, Tensor};

use crate::algorithm::{GaloreConfig, ProjType, QGaloreConfig};
use crate::galore::{GaloreRule, Inner, Lazy, ProjQuant, Projector, Side};
use crate::quant_tests::{fixture, floats, values};
use crate::{AdamWConfig, Algorithm, Optimizer, ParamRule, RuleKind};

fn cfg_of(fx: &Value) -> (GaloreConfig, AdamWConfig, f64) {
    let c = &fx["galore"]["config"];
    let g = GaloreConfig {
        rank: c["rank"].as_u64().unwrap() as usize,
        update_proj_gap: Some(c["gap"].as_u64().unwrap()),
        scale: Some(c["scale"].as_f64().unwrap()),
        ..GaloreConfig::default()
    };
    let a = AdamWConfig {
        betas: (
            c["betas"][0].as_f64().unwrap(),
            c["betas"][1].as_f64().unwrap(),
        ),
        eps: c["eps"].as_f64().unwrap(),
        weight_decay: c["wd"].as_f64().unwrap(),
    };
    (g, a, c["lr"].as_f64().unwrap())
}

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}[{i}]: {a} vs {b}"
        );
    }
}

#[test]
fn galore_adamw_matches_the_reference_code() {
    let fx = fixture();
    let (base, adamw, lr) = cfg_of(&fx);
    for case in fx["galore"]["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let shape: Vec<i64> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let proj_type = match case["proj_type"].as_str().unwrap() {
            "std" => ProjType::Std,
            _ => ProjType::Full,
        };
        let cfg = GaloreConfig { proj_type, ..base };
        let mut rule = GaloreRule::new(&cfg, adamw, 0);
        let mut p = Tensor::from_slice(&floats(&case["init"])).view(shape.as_slice());
        for (k, (g, rec)) in case["grads"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["steps"].as_array().unwrap())
            .enumerate()
        {
            let g = Tensor::from_slice(&floats(g)).view(shape.as_slice());
            rule.step(&mut p, &g, lr).unwrap();
            let what = format!("{name} step {k}");
            close(
                &values(&p),
                &floats(&rec["param"]),
                2e-6,
                &format!("{what} param"),
            );
            let (m, v) = rule.moments_f32().unwrap();
            close(
                &values(&m),
                &floats(&rec["exp_avg"]),
                2e-6,
                &format!("{what} exp_avg"),
            );
            close(
                &values(&v),
                &floats(&rec["exp_avg_sq"]),
                2e-6,
                &format!("{what} exp_avg_sq"),
            );
        }
        // T = 2: subspaces at steps 0, 2 and 4.
        assert_eq!(rule.projector().svd_steps(), &[0, 2, 4]);
    }
}

#[test]
fn projector_sides_follow_the_reference_rules() {
    let g = |m: i64, n: i64| Tensor::randn([m, n], (Kind::Float, Device::Cpu));
    let cases = [
        (ProjType::Std, 6, 4, Side::Right, vec![6, 2]),
        (ProjType::Std, 4, 6, Side::Left, vec![2, 6]),
        (ProjType::Std, 5, 5, Side::Right, vec![5, 2]),
        (ProjType::ReverseStd, 6, 4, Side::Left, vec![2, 4]),
        (ProjType::ReverseStd, 4, 6, Side::Right, vec![4, 2]),
        (ProjType::Left, 6, 4, Side::Left, vec![2, 4]),
        (ProjType::Right, 4, 6, Side::Right, vec![4, 2]),
        (ProjType::Full, 4, 6, Side::Both, vec![2, 2]),
    ];
    for (pt, m, n, side, low) in cases {
        let mut p = Projector::new(2, pt, 10, None, None, 0);
        let grad = g(m, n);
        assert!(p.maybe_update(&grad, 0).unwrap());
        assert!(!p.maybe_update(&grad, 1).unwrap(), "not before T");
        assert_eq!(p.side(), Some(side), "{pt:?} {m}x{n}");
        let r = p.project(&grad).unwrap();
        assert_eq!(r.size(), low, "{pt:?} {m}x{n}");
        assert_eq!(p.project_back(&r).unwrap().size(), vec![m, n]);
        if pt == ProjType::Std {
            // The reference's project_back decides by the low-rank shape: the same side.
            let back_right = low[0] >= low[1];
            assert_eq!(back_right, side == Side::Right);
        }
    }
    // The rank is clamped to min(m, n), as U[:, :r] / Vᵀ[:r] do.
    let mut p = Projector::new(64, ProjType::Std, 10, None, None, 0);
    let grad = g(6, 4);
    p.maybe_update(&grad, 0).unwrap();
    assert_eq!(p.project(&grad).unwrap().size(), vec![6, 4]);
}

/// A monomial matrix (one non-zero per row and column) with power-of-two magnitudes: its SVD
/// factors are exact signed permutations, so projecting is exact in float arithmetic.
fn monomial(m: i64, n: i64) -> Tensor {
    let k = m.min(n);
    let d = Tensor::zeros([m, n], (Kind::Float, Device::Cpu));
    for t in 0..k {
        // Distinct rows and columns: t·(m−1) is a permutation mod m.
        let (i, j) = ((t * (m - 1) + 1) % m, (t + 2) % n);
        let v = if t % 2 == 0 { 1.0 } else { -1.0 } * 2f64.powi(3 - t as i32);
        let _ = d.get(i).get(j).fill_(v);
    }
    d
}

#[test]
fn galore_sgd_at_full_rank_is_exactly_full_rank_sgd() {
    // Paper §3.3: with r = min(m, n) and an identity optimizer GaLore is the full-rank
    // trajectory. Loss ½‖W − W*‖² with an integer W*, lr ½: the gradient stays the monomial
    // W − W* halved each step, so every sum and product is exact and the comparison can be
    // bit-for-bit.
    for (m, n) in [(6, 4), (4, 6), (5, 5)] {
        let target = Tensor::randint_low(-4, 5, [m, n], (Kind::Float, Device::Cpu));
        let w0 = &target + monomial(m, n);
        let cfg = GaloreConfig {
            rank: (m.min(n)) as usize,
            update_proj_gap: Some(2),
            scale: Some(1.0),
            ..GaloreConfig::default()
        };
        let mut rule = GaloreRule::new(&cfg, AdamWConfig::default(), 0);
        rule.inner = Inner::Sgd;
        let (mut w_galore, mut w_sgd) = (w0.copy(), w0.copy());
        for _ in 0..6 {
            let g = &w_galore - &target;
            rule.step(&mut w_galore, &g, 0.5).unwrap();
            let g = &w_sgd - &target;
            w_sgd -= g * 0.5;
            assert!(w_galore.equal(&w_sgd), "{m}x{n}: trajectories differ");
        }
        assert_eq!(rule.projector().svd_count(), 3);
    }
    // General gradients: equal up to the fp32 orthogonality of the SVD factors.
    let cfg = GaloreConfig {
        rank: 5,
        update_proj_gap: Some(3),
        scale: Some(1.0),
        ..GaloreConfig::default()
    };
    let mut rule = GaloreRule::new(&cfg, AdamWConfig::default(), 0);
    rule.inner = Inner::Sgd;
    let mut w = Tensor::randn([7, 5], (Kind::Float, Device::Cpu));
    let mut w_sgd = w.copy();
    for _ in 0..5 {
        let g = Tensor::randn([7, 5], (Kind::Float, Device::Cpu));
        rule.step(&mut w, &g, 0.1).unwrap();
        w_sgd -= g * 0.1;
    }
    let diff = f64::try_from((&w - &w_sgd).abs().max()).unwrap();
    assert!(diff < 1e-5, "max difference {diff}");
}

#[test]
fn bias_correction_and_moments_follow_the_closed_form() {
    // Two steps on a 4×6 weight (left projection, rank 2), f64 arithmetic as the check.
    let adamw = AdamWConfig {
        betas: (0.9, 0.999),
        eps: 0.0,
        weight_decay: 0.0,
    };
    let cfg = GaloreConfig {
        rank: 2,
        update_proj_gap: Some(100),
        scale: Some(0.25),
        ..GaloreConfig::default()
    };
    let mut rule = GaloreRule::new(&cfg, adamw, 0);
    let w0 = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
    let g1 = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
    let g2 = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
    let mut w = w0.copy();
    let lr = 0.01;
    rule.step(&mut w, &g1, lr).unwrap();
    // First step: the bias-corrected Adam direction is sign(R) (ε = 0), whatever |R|.
    let (_u, _s, _v) = g1.svd(true, true);
    let p = _u.narrow(1, 0, 2).to_kind(Kind::Double);
    let r1 = p.transpose(0, 1).matmul(&g1.to_kind(Kind::Double));
    let want1 = w0.to_kind(Kind::Double) - p.matmul(&r1.sign()) * (lr * 0.25);
    let d1 = f64::try_from((w.to_kind(Kind::Double) - &want1).abs().max()).unwrap();
    assert!(d1 < 1e-6, "step 1: {d1}");
    // Second step: m2 = β1 m1 + (1−β1) R2, v2 = β2 v1 + (1−β2) R2², step size
    // lr √(1−β2²)/(1−β1²).
    let w1 = w.to_kind(Kind::Double);
    rule.step(&mut w, &g2, lr).unwrap();
    let r2 = p.transpose(0, 1).matmul(&g2.to_kind(Kind::Double));
    let m2 = &r1 * (0.9 * 0.1) + &r2 * 0.1;
    let v2 = r1.square() * (0.999 * 0.001) + r2.square() * 0.001;
    let step = lr * (1.0f64 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
    let want2 = &w1 - p.matmul(&(&m2 / v2.sqrt())) * (0.25 * step);
    let d2 = f64::try_from((w.to_kind(Kind::Double) - &want2).abs().max()).unwrap();
    assert!(d2 < 1e-6, "step 2: {d2}");
    let (m, v) = rule.moments_f32().unwrap();
    let dm = f64::try_from((m.to_kind(Kind::Double) - &m2).abs().max()).unwrap();
    let dv = f64::try_from((v.to_kind(Kind::Double) - &v2).abs().max()).unwrap();
    assert!(dm < 1e-6 && dv < 1e-7, "moments {dm} {dv}");
}

#[test]
fn moments_are_kept_on_a_subspace_switch_unless_reset() {
    for reset in [false, true] {
        let adamw = AdamWConfig {
            betas: (0.9, 0.999),
            eps: 1e-6,
            weight_decay: 0.0,
        };
        let cfg = GaloreConfig {
            rank: 3,
            update_proj_gap: Some(2),
            reset_moments_on_switch: reset,
            ..GaloreConfig::default()
        };
        let mut rule = GaloreRule::new(&cfg, adamw, 0);
        let mut w = Tensor::randn([8, 5], (Kind::Float, Device::Cpu));
        let grads: Vec<Tensor> = (0..3)
            .map(|_| Tensor::randn([8, 5], (Kind::Float, Device::Cpu)))
            .collect();
        rule.step(&mut w, &grads[0], 0.01).unwrap();
        rule.step(&mut w, &grads[1], 0.01).unwrap();
        let (m1, v1) = rule.moments_f32().unwrap();
        let (m1, v1) = (m1.copy(), v1.copy());
        rule.step(&mut w, &grads[2], 0.01).unwrap(); // t = 2: new projector
        assert_eq!(rule.projector().svd_steps(), &[0, 2]);
        // The new basis, independently: right projection, Vᵀ[:3] of the new gradient.
        let (_, _, v) = grads[2].svd(true, true);
        let vh = v.transpose(0, 1);
        let r2 = grads[2].matmul(&vh.narrow(0, 0, 3).transpose(0, 1));
        let (m2, v2) = rule.moments_f32().unwrap();
        let (want_m, want_v) = if reset {
            (&r2 * 0.1, r2.square() * 0.001)
        } else {
            // Old moments reused as they are, as if they lived in the new basis.
            (&m1 * 0.9 + &r2 * 0.1, &v1 * 0.999 + r2.square() * 0.001)
        };
        close(&values(&m2), &values(&want_m), 1e-6, "exp_avg");
        close(&values(&v2), &values(&want_v), 1e-6, "exp_avg_sq");
    }
}

fn one_step(algorithm: Algorithm, shape: [i64; 2]) -> Optimizer {
    let w = Tensor::randn(shape, (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let mut opt = Optimizer::try_new(
        algorithm,
        AdamWConfig::default(),
        vec![("layers.0.feed_forward.w1.weight".into(), w.shallow_clone())],
    )
    .unwrap();
    (&w * Tensor::randn(shape, (Kind::Float, Device::Cpu)))
        .sum(Kind::Float)
        .backward();
    opt.step(1e-3).unwrap();
    opt
}

#[test]
fn optimizer_state_bytes_follow_the_memory_formula() {
    // Paper Table 1, W ∈ R^{m×n}, m ≤ n: GaLore holds mn (weights) + mr (P) + 2nr (moments).
    for shape in [[32i64, 48], [48, 32]] {
        let (m, n) = (
            shape[0].min(shape[1]) as usize,
            shape[0].max(shape[1]) as usize,
        );
        let r = 8;
        let g = one_step(Algorithm::Galore(GaloreConfig::code(r)), shape);
        assert_eq!(g.rules().next().unwrap().1, RuleKind::Galore);
        assert_eq!(
            m * n + g.state_bytes() / 4,
            m * n + m * r + 2 * n * r,
            "{shape:?}"
        );
        // Full Adam: 2mn.
        let a = one_step(Algorithm::AdamW, shape);
        assert_eq!(a.state_bytes(), 4 * 2 * m * n);
        // 8-bit GaLore: P in f32 (the gradient's dtype), 1 byte per moment element plus one
        // f32 maximum per 2048-element block and moment (8-bit from 4096 elements: lowered).
        let c8 = GaloreConfig {
            eight_bit: true,
            min_8bit_size: 0,
            ..GaloreConfig::code(r)
        };
        let g8 = one_step(Algorithm::Galore(c8), shape);
        let blocks = (n * r).div_ceil(2048);
        assert_eq!(g8.state_bytes(), 4 * m * r + 2 * n * r + 2 * 4 * blocks);
        // Q-GaLore: int4 P (½ byte per element + f32 scale and zero per 256) and 8-bit moments;
        // the lazy rule also keeps the previous first singular vector (m floats).
        let q = QGaloreConfig {
            rank: r,
            min_8bit_size: 0,
            ..QGaloreConfig::default()
        };
        let qg = one_step(Algorithm::QGalore(q), shape);
        let stats = qg.stats();
        assert_eq!(
            stats.state_bytes,
            m * r / 2 + 2 * 4 * (m * r / 256) + 2 * n * r + 2 * 4 * blocks + 4 * m
        );
        // ... and its int8 weight: 1 byte per element + f32 scale and zero per 256.
        assert_eq!(stats.master_weight_bytes, m * n + 2 * 4 * (m * n / 256));
        assert_eq!(stats.svd_count, 1);
    }
}

fn lcg_matrix(seed: u64, rows: usize, cols: usize) -> Vec<f64> {
    let mut state = seed;
    (0..rows * cols)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 2001) as f64 / 1000.0 - 1.0
        })
        .collect()
}

fn lazy_grad(t: u64, stable: bool) -> Tensor {
    let noise = lcg_matrix(1000 + t, 32, 32);
    let vals: Vec<f32> = if stable {
        let base = lcg_matrix(7, 32, 32);
        base.iter()
            .zip(&noise)
            .map(|(b, n)| (b + 0.05 * n) as f32)
            .collect()
    } else {
        noise.iter().map(|&x| x as f32).collect()
    };
    Tensor::from_slice(&vals).view([32, 32])
}

#[test]
fn lazy_subspace_schedule_matches_q_galore() {
    let fx = fixture();
    let lazy = Lazy {
        cos_threshold: 0.4,
        gamma: 2.0,
        queue_size: 5,
    };
    for (key, stable) in [("stable", true), ("moving", false)] {
        let rec = &fx["lazy"][key];
        let quant = Some(ProjQuant {
            bits: 4,
            group: 256,
        });
        let mut p = Projector::new(8, ProjType::Std, 2, quant, Some(lazy), 0);
        for (t, step) in rec["steps"].as_array().unwrap().iter().enumerate() {
            let g = lazy_grad(t as u64, stable);
            p.maybe_update(&g, t as u64).unwrap();
            let low = p.project(&g).unwrap();
            assert_eq!(p.gap(), step["gap"].as_u64().unwrap(), "{key} gap at {t}");
            let sum = f64::try_from(low.to_kind(Kind::Double).sum(Kind::Double)).unwrap();
            let want = step["low_sum"].as_f64().unwrap();
            assert!(
                (sum - want).abs() < 1e-4 * (1.0 + want.abs()),
                "{key} {t}: {sum} vs {want}"
            );
            let full = floats(&step["low"]);
            if !full.is_empty() {
                close(
                    &values(&low),
                    &full,
                    1e-5,
                    &format!("{key} low-rank gradient at {t}"),
                );
            }
        }
        let want: Vec<u64> = rec["svd_steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(p.svd_steps(), want.as_slice(), "{key}");
    }
}

#[test]
fn lazy_gap_doubles_while_the_subspace_holds() {
    // The same gradient every step: cosine 1 at every SVD. The queue is full at the 6th SVD
    // (5 similarities); from then on every scheduled SVD doubles the gap, checked against the
    // absolute step (t % T == 0) as the reference does.
    let g = Tensor::randn([16, 32], (Kind::Float, Device::Cpu));
    let lazy = Lazy {
        cos_threshold: 0.4,
        gamma: 2.0,
        queue_size: 5,
    };
    let mut lazy_p = Projector::new(4, ProjType::Std, 2, None, Some(lazy), 0);
    let mut plain = Projector::new(4, ProjType::Std, 2, None, None, 0);
    for t in 0..70 {
        lazy_p.maybe_update(&g, t).unwrap();
        plain.maybe_update(&g, t).unwrap();
    }
    assert_eq!(lazy_p.svd_steps(), &[0, 2, 4, 6, 8, 10, 12, 16, 32, 64]);
    assert_eq!(lazy_p.gap(), 64);
    assert_eq!(plain.svd_count(), 35, "GaLore: every T = 2 steps");
}

#[test]
fn rules_are_chosen_per_parameter() {
    let names: [(&str, &[i64]); 5] = [
        ("layers.0.attention.wq.weight", &[8, 8]),
        ("layers.0.feed_forward.w2.weight", &[8, 16]),
        ("embedding.weight", &[10, 8]),
        ("layers.0.ffn_norm.weight", &[8]),
        ("output.weight", &[10, 8]),
    ];
    let kinds = |a: Algorithm| -> Vec<RuleKind> {
        names
            .iter()
            .map(|(n, s)| {
                a.rule_for(&crate::ParamInfo {
                    name: n,
                    shape: s,
                    role: planform_model::param_role(n, s),
                })
            })
            .collect()
    };
    use RuleKind::*;
    assert_eq!(
        kinds(Algorithm::Galore(GaloreConfig::code(4))),
        vec![Galore, Galore, AdamW, AdamW, AdamW]
    );
    let eight = GaloreConfig {
        eight_bit: true,
        targets: crate::MatrixTargets::Attention,
        ..GaloreConfig::code(4)
    };
    assert_eq!(
        kinds(Algorithm::Galore(eight)),
        vec![Galore, AdamW8bit, AdamW8bit, AdamW8bit, AdamW8bit]
    );
    assert_eq!(
        kinds(Algorithm::QGalore(QGaloreConfig::default())),
        vec![QGalore, QGalore, AdamW8bit, AdamW8bit, AdamW8bit]
    );
}

#[test]
fn algorithms_parse_from_toml_with_both_default_sets() {
    #[derive(serde::Deserialize)]
    struct Optim {
        algorithm: Algorithm,
    }
    let parse = |s: &str| toml::from_str::<Optim>(s).map(|o| o.algorithm);
    assert_eq!(parse("algorithm = \"adamw\"").unwrap(), Algorithm::AdamW);
    let Algorithm::Galore(code) = parse("algorithm = { galore = { rank = 32 } }").unwrap() else {
        panic!("galore")
    };
    assert_eq!((code.rank, code.gap(), code.scale()), (32, 50, 1.0));
    let Algorithm::Galore(paper) =
        parse("algorithm = { galore = { rank = 32, defaults = \"paper\" } }").unwrap()
    else {
        panic!("galore")
    };
    assert_eq!((paper.gap(), paper.scale()), (200, 0.25));
    let Algorithm::Galore(own) = parse(
        "algorithm = { galore = { defaults = \"paper\", update_proj_gap = 10, eight_bit = true, per_layer = true } }",
    )
    .unwrap() else {
        panic!("galore")
    };
    assert_eq!(
        (own.gap(), own.scale(), own.eight_bit, own.per_layer),
        (10, 0.25, true, true)
    );
    let Algorithm::QGalore(q) =
        parse("algorithm = { q-galore = { rounding = \"nearest\" } }").unwrap()
    else {
        panic!("q-galore")
    };
    assert_eq!(
        (q.gap_and_scale(), q.rounding),
        ((200, 0.25), crate::Rounding::Nearest)
    );
    assert!(parse("algorithm = { galore = { rnak = 3 } }").is_err());
    assert!(parse("algorithm = { adamw-8bit = {} }").is_ok());
    assert!(parse("algorithm = { lora = { rank = 4, alpha = 8.0 } }").is_ok());
    assert!(Algorithm::Galore(GaloreConfig {
        rank: 0,
        ..GaloreConfig::default()
    })
    .validate()
    .is_err());
}
