//! Optimizer memory by formula: the bytes each rule holds after its first step, predicted
//! from the parameter's shape and dtype alone (no tensors allocated), so that a
//! configuration too large to run — AdamW on a 7B-parameter model — still gets its exact
//! requirement. `tests` check the prediction against the rules' own accounting.

use tch::Kind;

use crate::algorithm::{Algorithm, ProjType, RuleKind};
use crate::galore::Side;
use crate::{ParamInfo, RuleStats};

/// Predicted bytes of one parameter's rule after at least one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictedBytes {
    /// Optimizer state ([`crate::ParamRule::state_bytes`]).
    pub state: usize,
    /// Master weights kept by the rule ([`RuleStats::master_weight_bytes`]).
    pub master_weights: usize,
}

fn bnb(numel: usize, block: usize, min_size: usize) -> usize {
    if numel >= min_size {
        2 * numel + 2 * 4 * numel.div_ceil(block)
    } else {
        2 * 4 * numel
    }
}

/// The bytes `algorithm`'s rule for `p` holds after a step, for a parameter (and gradient)
/// of dtype `kind`.
pub fn predict(algorithm: &Algorithm, p: &ParamInfo, kind: Kind) -> PredictedBytes {
    let numel: usize = p.shape.iter().product::<i64>() as usize;
    let elt = kind.elt_size_in_bytes();
    let (block, min_size) = match algorithm {
        Algorithm::AdamW8bit(c) => (c.block_size, c.min_8bit_size),
        Algorithm::Galore(c) => (c.block_size, c.min_8bit_size),
        Algorithm::QGalore(c) => (c.block_size, c.min_8bit_size),
        _ => (
            crate::quant::BNB_BLOCK_SIZE,
            crate::quant::BNB_MIN_8BIT_SIZE,
        ),
    };
    let state = |s| PredictedBytes {
        state: s,
        master_weights: 0,
    };
    let galore_parts = |rank: usize, proj_type: ProjType| {
        let (m, n) = (p.shape[0] as usize, p.shape[1] as usize);
        let r = rank.min(m.min(n));
        let side = proj_type.side(m as i64, n as i64);
        let (proj, low, first) = match side {
            Side::Right => (r * n, m * r, n),
            Side::Left => (m * r, r * n, m),
            Side::Both => (m * r + r * n, r * r, 0),
        };
        (proj, low, first)
    };
    match algorithm.rule_for(p) {
        RuleKind::AdamW => state(2 * numel * elt),
        RuleKind::AdamW8bit => state(bnb(numel, block, min_size)),
        RuleKind::Galore => {
            let Algorithm::Galore(c) = algorithm else {
                return PredictedBytes::default();
            };
            let (proj, low, _) = galore_parts(c.rank, c.proj_type);
            let moments = if c.eight_bit {
                bnb(low, block, min_size)
            } else {
                2 * low * elt
            };
            state(proj * elt + moments)
        }
        RuleKind::QGalore => {
            let Algorithm::QGalore(c) = algorithm else {
                return PredictedBytes::default();
            };
            let (proj, low, first) = galore_parts(c.rank, ProjType::Std);
            let proj_bytes = if c.proj_quant {
                let codes = if c.proj_bits == 4 { proj / 2 } else { proj };
                codes + 2 * 4 * (proj / c.proj_group_size.max(1))
            } else {
                proj * elt
            };
            let moments = if c.eight_bit {
                bnb(low, block, min_size)
            } else {
                2 * low * elt
            };
            let past = if c.lazy { 4 * first } else { 0 };
            PredictedBytes {
                state: proj_bytes + moments + past,
                master_weights: numel + 2 * 4 * (numel / c.weight_group_size.max(1)),
            }
        }
        RuleKind::Lora | RuleKind::LowRank => {
            let (Algorithm::Lora(c) | Algorithm::LowRank(c)) = algorithm else {
                return PredictedBytes::default();
            };
            let (m, n) = (p.shape[0] as usize, p.shape[1] as usize);
            let r = c.rank.min(m.min(n));
            let factors = m * r + r * n;
            let w0 = if matches!(algorithm, Algorithm::Lora(_)) {
                numel
            } else {
                0
            };
            state((3 * factors + w0) * elt)
        }
    }
}

/// Adds a prediction to a running total.
pub fn add(total: &mut PredictedBytes, p: PredictedBytes) {
    total.state += p.state;
    total.master_weights += p.master_weights;
}

/// The prediction as the rule reports it.
pub fn measured(state_bytes: usize, stats: &RuleStats) -> PredictedBytes {
    PredictedBytes {
        state: state_bytes,
        master_weights: stats.master_weight_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::{AdamW8bitConfig, GaloreConfig, LoraConfig, QGaloreConfig};
    use crate::{AdamWConfig, Optimizer};
    use tch::{Device, Tensor};

    #[test]
    fn predictions_equal_the_rules_accounting() {
        let names = [
            ("layers.0.attention.wq.weight", vec![64i64, 64]),
            ("layers.0.feed_forward.w1.weight", vec![176, 64]),
            ("layers.0.feed_forward.w2.weight", vec![64, 176]),
            ("embedding.weight", vec![40, 64]),
            ("layers.0.ffn_norm.weight", vec![64]),
        ];
        let algorithms = [
            Algorithm::AdamW,
            Algorithm::AdamW8bit(AdamW8bitConfig::default()),
            Algorithm::Galore(GaloreConfig::code(16)),
            Algorithm::Galore(GaloreConfig {
                eight_bit: true,
                min_8bit_size: 512,
                ..GaloreConfig::code(16)
            }),
            Algorithm::Galore(GaloreConfig {
                proj_type: ProjType::Full,
                ..GaloreConfig::code(8)
            }),
            Algorithm::QGalore(QGaloreConfig {
                rank: 16,
                min_8bit_size: 512,
                ..QGaloreConfig::default()
            }),
            Algorithm::Lora(LoraConfig::default()),
            Algorithm::LowRank(LoraConfig {
                rank: 8,
                ..LoraConfig::default()
            }),
        ];
        for kind in [Kind::Float, Kind::BFloat16] {
            for a in algorithms {
                let params: Vec<(String, Tensor)> = names
                    .iter()
                    .map(|(n, s)| {
                        let t = Tensor::randn(s.as_slice(), (kind, Device::Cpu))
                            .set_requires_grad(true);
                        (n.to_string(), t)
                    })
                    .collect();
                let handles: Vec<Tensor> = params.iter().map(|(_, t)| t.shallow_clone()).collect();
                let mut opt = Optimizer::try_new(a, AdamWConfig::default(), params).unwrap();
                let loss = handles
                    .iter()
                    .map(|t| t.to_kind(Kind::Float).square().sum(Kind::Float))
                    .fold(Tensor::from(0f32), |a, b| a + b);
                loss.backward();
                opt.step(1e-3).unwrap();
                for (name, shape) in &names {
                    let info = ParamInfo {
                        name,
                        shape,
                        role: planform_model::param_role(name, shape),
                    };
                    let want = predict(&a, &info, kind);
                    let got = opt
                        .with_rule(name, |r| measured(r.state_bytes(), &r.stats()))
                        .unwrap();
                    assert_eq!(got, want, "{a:?} {kind:?} {name}");
                }
            }
        }
    }
}
