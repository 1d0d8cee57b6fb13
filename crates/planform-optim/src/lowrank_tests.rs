//! LoRA and plain low-rank rules against autograd through the factorized model.

use tch::{Device, Kind, Tensor};

use crate::algorithm::LoraConfig;
use crate::lowrank::LowRankRule;
use crate::{AdamWConfig, AdamWRule, ParamRule};

#[test]
fn lora_rule_follows_autograd_through_w0_plus_scaled_ba() {
    for lora in [true, false] {
        let cfg = LoraConfig {
            rank: 3,
            alpha: 6.0,
            ..LoraConfig::default()
        };
        let adamw = AdamWConfig::default();
        let mut w = Tensor::randn([5, 7], (Kind::Float, Device::Cpu));
        let w_init = w.copy();
        let mut rule = LowRankRule::new(&cfg, adamw, &w, lora, 9);
        let (a0, b0) = rule.factors();
        // The reference model: leaves A, B (and a constant W0), W = W0 + s·B·A by autograd.
        let a = a0.copy().set_requires_grad(true);
        let b = b0.copy().set_requires_grad(true);
        let s = if lora { 6.0 / 3.0 } else { 1.0 };
        let w0 = if lora {
            w_init.copy()
        } else {
            Tensor::zeros([5, 7], (Kind::Float, Device::Cpu))
        };
        let make_w = |a: &Tensor, b: &Tensor| &w0 + b.matmul(a) * s;
        if lora {
            assert!(w.equal(&w_init), "LoRA starts from W0 (B = 0)");
        } else {
            let back = make_w(&a, &b).detach();
            assert!(w.allclose(&back, 1e-5, 1e-6, false), "low-rank writes B·A");
        }
        let (mut ref_a, mut ref_b) = (AdamWRule::new(adamw), AdamWRule::new(adamw));
        for step in 0..3 {
            let c = Tensor::randn([5, 7], (Kind::Float, Device::Cpu));
            // Rule: from ∂L/∂W = C.
            rule.step(&mut w, &c, 0.05).unwrap();
            // Reference: autograd of L = <W(A, B), C>, then AdamW on the leaves.
            let l = (make_w(&a, &b) * &c).sum(Kind::Float);
            let grads = Tensor::run_backward(&[l], &[&a, &b], false, false);
            tch::no_grad(|| {
                ref_a.step(&mut a.shallow_clone(), &grads[0], 0.05).unwrap();
                ref_b.step(&mut b.shallow_clone(), &grads[1], 0.05).unwrap();
            });
            let (ra, rb) = rule.factors();
            assert!(
                ra.allclose(&a, 1e-5, 1e-6, false),
                "A after step {step} (lora={lora})"
            );
            assert!(
                rb.allclose(&b, 1e-5, 1e-6, false),
                "B after step {step} (lora={lora})"
            );
            assert!(w.allclose(&make_w(&a, &b).detach(), 1e-5, 1e-6, false));
        }
        // LoRA's optimizer state: A, B, W0 and two moments per factor.
        let (m, n, r) = (5, 7, 3);
        let w0_floats = if lora { m * n } else { 0 };
        assert_eq!(rule.state_bytes(), 4 * (3 * (m * r + r * n) + w0_floats));
    }
}
