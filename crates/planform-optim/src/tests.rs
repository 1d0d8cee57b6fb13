//! AdamW and the LambdaLR cosine schedule against values recorded from PyTorch
//! (`scripts/record_adamw.py` → `tests/fixtures/adamw_torch.json`).

use super::*;
use crate::schedule::LrSchedule;
use serde_json::Value;
use tch::Device;

fn fixture() -> Value {
    let text = include_str!("../tests/fixtures/adamw_torch.json");
    serde_json::from_str(text).expect("fixture is valid JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn tensor(v: &Value, shape: &[i64]) -> Tensor {
    Tensor::from_slice(&floats(v)).view(shape)
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn adamw_matches_torch_bit_for_bit() {
    let fx = fixture();
    let cfg = &fx["config"];
    let betas = floats(&cfg["betas"]);
    let adamw = AdamWConfig {
        betas: (
            cfg["betas"][0].as_f64().unwrap(),
            cfg["betas"][1].as_f64().unwrap(),
        ),
        eps: cfg["eps"].as_f64().unwrap(),
        weight_decay: cfg["weight_decay"].as_f64().unwrap(),
    };
    assert_eq!(betas.len(), 2);
    let sched = LrSchedule::cosine(
        cfg["warmup"].as_u64().unwrap(),
        cfg["total"].as_u64().unwrap(),
        cfg["min_ratio"].as_f64().unwrap(),
    );
    let base_lr = cfg["lr"].as_f64().unwrap();
    let mut shapes = BTreeMap::new();
    let mut params = Vec::new();
    for (name, p) in fx["init"].as_object().unwrap() {
        let shape: Vec<i64> = p["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_i64().unwrap())
            .collect();
        let t = tensor(&p["data"], &shape).set_requires_grad(true);
        shapes.insert(name.clone(), shape);
        params.push((name.clone(), t));
    }
    let handles: BTreeMap<String, Tensor> = params
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    let mut opt = Optimizer::new(Algorithm::AdamW, adamw, params);
    let mut max_rel = 0f64;
    for (k, rec) in fx["steps"].as_array().unwrap().iter().enumerate() {
        let lr = sched.lr_at(base_lr, k as u64);
        assert_eq!(lr, rec["lr"].as_f64().unwrap(), "lr at step {k}");
        opt.zero_grad();
        for (name, p) in &handles {
            // Give each parameter its recorded gradient via a backward pass of <p, g>.
            let g = tensor(&rec["grads"][name], &shapes[name]);
            (p * &g).sum(tch::Kind::Float).backward();
        }
        opt.step(lr).unwrap();
        for (name, p) in &handles {
            let want = floats(&rec["params"][name]);
            let got = values(p);
            for (a, b) in got.iter().zip(&want) {
                max_rel = max_rel.max(((a - b).abs() / b.abs().max(1e-30)) as f64);
            }
            assert_eq!(got, want, "param {name} after step {k}");
        }
        let names: Vec<String> = opt.param_names().map(String::from).collect();
        let slot_state: BTreeMap<String, Vec<(&str, Tensor)>> = names
            .iter()
            .map(|n| (n.clone(), opt.with_rule(n, |r| r.state()).unwrap()))
            .collect();
        for (name, state) in slot_state {
            for (key, t) in state {
                assert_eq!(
                    values(&t),
                    floats(&rec[key][&name]),
                    "{key} of {name} after step {k}"
                );
            }
        }
    }
    assert_eq!(max_rel, 0.0);
    assert_eq!(opt.steps(), fx["steps"].as_array().unwrap().len() as u64);
}

#[test]
fn lambda_lr_cosine_matches_torch() {
    let fx = fixture();
    let s = &fx["schedule"];
    let c = &s["config"];
    let sched = LrSchedule::cosine(
        c["warmup"].as_u64().unwrap(),
        c["total"].as_u64().unwrap(),
        c["min_ratio"].as_f64().unwrap(),
    );
    let base = c["lr"].as_f64().unwrap();
    for (k, want) in s["lr_per_step"].as_array().unwrap().iter().enumerate() {
        let want = want.as_f64().unwrap();
        let got = sched.lr_at(base, k as u64);
        assert!(
            (got - want).abs() <= 1e-18 + 1e-15 * want.abs(),
            "step {k}: {got} vs {want}"
        );
    }
}

fn two_param_optimizer() -> (Optimizer, Vec<Tensor>) {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])
        .view([2, 2])
        .set_requires_grad(true);
    let b = Tensor::from_slice(&[0.5f32, -0.5]).set_requires_grad(true);
    let handles = vec![a.shallow_clone(), b.shallow_clone()];
    let opt = Optimizer::new(
        Algorithm::AdamW,
        AdamWConfig::default(),
        vec![("w.a".into(), a), ("w.b".into(), b)],
    );
    (opt, handles)
}

fn train_steps(opt: &mut Optimizer, handles: &[Tensor], range: std::ops::Range<usize>) {
    for i in range {
        opt.zero_grad();
        let loss = handles[0].pow_tensor_scalar(2).sum(tch::Kind::Float) * (1.0 + i as f64)
            + handles[1].sin().sum(tch::Kind::Float);
        loss.backward();
        opt.step(1e-2).unwrap();
    }
}

#[test]
fn save_load_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    let (mut straight, hs) = two_param_optimizer();
    train_steps(&mut straight, &hs, 0..5);

    let (mut first, h1) = two_param_optimizer();
    train_steps(&mut first, &h1, 0..3);
    first.save(&path).unwrap();
    // A fresh optimizer over parameters holding the same values, then load and continue.
    let (mut second, h2) = two_param_optimizer();
    tch::no_grad(|| {
        for (dst, src) in h2.iter().zip(&h1) {
            dst.shallow_clone().copy_(src);
        }
    });
    second.load(&path).unwrap();
    assert_eq!(second.steps(), 3);
    train_steps(&mut second, &h2, 3..5);
    for (a, b) in hs.iter().zip(&h2) {
        assert!(a.equal(b));
    }
}

#[test]
fn load_rejects_mismatched_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    let (mut opt, hs) = two_param_optimizer();
    train_steps(&mut opt, &hs, 0..1);
    opt.save(&path).unwrap();

    // Different shapes.
    let a = Tensor::zeros([3, 2], (tch::Kind::Float, Device::Cpu)).set_requires_grad(true);
    let b = Tensor::zeros([2], (tch::Kind::Float, Device::Cpu)).set_requires_grad(true);
    let mut other = Optimizer::new(
        Algorithm::AdamW,
        AdamWConfig::default(),
        vec![("w.a".into(), a), ("w.b".into(), b)],
    );
    let err = other.load(&path).err().unwrap();
    assert!(err.to_string().contains("shape"), "{err}");

    // Missing parameter state.
    let c = Tensor::zeros([2], (tch::Kind::Float, Device::Cpu)).set_requires_grad(true);
    let mut renamed = Optimizer::new(
        Algorithm::AdamW,
        AdamWConfig::default(),
        vec![("w.c".into(), c)],
    );
    let err = renamed.load(&path).err().unwrap();
    assert!(err.to_string().contains("missing tensor w.c.step"), "{err}");

    // Not a safetensors file at all.
    std::fs::write(&path, b"{not safetensors").unwrap();
    let (mut fresh, _) = two_param_optimizer();
    assert!(matches!(
        fresh.load(&path),
        Err(OptimError::Model(ModelError::Checkpoint { .. }))
    ));
}
