//! Learning-rate schedules, exactly as the reference `searchformer/transformer/optim.py`.
//!
//! The reference wraps AdamW in `torch.optim.lr_scheduler.LambdaLR` and calls
//! `scheduler.step()` *after* every `optimizer.step()`. `LambdaLR` sets the learning rate to
//! `lr · f(0)` at construction, so the optimizer step with 0-based index `k` (the number of
//! steps already taken) runs with `lr · f(k)`. In particular the very first update runs with
//! learning rate `0` (Adam's moments still advance). [`LrSchedule::lr_at`] follows that
//! convention: pass the number of optimizer steps already completed.

use serde::{Deserialize, Serialize};

/// A learning-rate multiplier as a function of the optimizer step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LrSchedule {
    /// Reference `lr_constant`: linear warm-up to 1, then constant.
    Constant {
        /// Warm-up steps.
        warmup: u64,
    },
    /// Reference `lr_cosine`: linear warm-up `step / warmup` for `step <= warmup`, then
    /// `min + ½(1 − min)(cos(π·s^θ / cycle) + 1)` with `s = (step − warmup)/(total − warmup)`
    /// up to `total`, then `min`.
    Cosine {
        /// Warm-up steps (reference 2000).
        warmup: u64,
        /// Step at which the cosine reaches its minimum (the run's total steps).
        total: u64,
        /// Minimum multiplier (reference 0.1).
        min_ratio: f64,
        /// Cosine cycle length as a fraction of the decay phase (reference 1.0).
        cycle_length: f64,
        /// Exponent applied to the decay progress (reference 1.0).
        theta: f64,
    },
}

impl LrSchedule {
    /// The reference cosine schedule with `cycle_length = θ = 1`.
    pub fn cosine(warmup: u64, total: u64, min_ratio: f64) -> Self {
        LrSchedule::Cosine {
            warmup,
            total,
            min_ratio,
            cycle_length: 1.0,
            theta: 1.0,
        }
    }

    /// The multiplier `f(step)`.
    ///
    /// With `warmup = 0` the reference divides by zero at step 0; here the warm-up branch is
    /// skipped instead (multiplier 1 at step 0 for both schedules).
    pub fn factor(&self, step: u64) -> f64 {
        match *self {
            LrSchedule::Constant { warmup } => {
                if step < warmup {
                    step as f64 / warmup as f64
                } else {
                    1.0
                }
            }
            LrSchedule::Cosine {
                warmup,
                total,
                min_ratio,
                cycle_length,
                theta,
            } => {
                if warmup > 0 && step <= warmup {
                    step as f64 / warmup as f64
                } else if step <= total {
                    // total > warmup is validated by the config; guard anyway.
                    let span = total.saturating_sub(warmup).max(1) as f64;
                    let s = (step - warmup) as f64 / span;
                    min_ratio
                        + 0.5
                            * (1.0 - min_ratio)
                            * ((std::f64::consts::PI * s.powf(theta) / cycle_length).cos() + 1.0)
                } else {
                    min_ratio
                }
            }
        }
    }

    /// The learning rate used by the optimizer step that follows `completed_steps` steps.
    pub fn lr_at(&self, base_lr: f64, completed_steps: u64) -> f64 {
        base_lr * self.factor(completed_steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_matches_hand_values() {
        let s = LrSchedule::cosine(2000, 10_000, 0.1);
        assert_eq!(s.factor(0), 0.0);
        assert_eq!(s.factor(1), 1.0 / 2000.0);
        assert_eq!(s.factor(1000), 0.5);
        assert_eq!(s.factor(2000), 1.0);
        // halfway through decay: cos(pi/2) = 0 -> 0.1 + 0.45 = 0.55
        assert!((s.factor(6000) - 0.55).abs() < 1e-15);
        // a quarter: 0.1 + 0.45 (cos(pi/4) + 1)
        let q = 0.1 + 0.45 * ((std::f64::consts::FRAC_PI_4).cos() + 1.0);
        assert!((s.factor(4000) - q).abs() < 1e-15);
        assert!((s.factor(10_000) - 0.1).abs() < 1e-15);
        assert_eq!(s.factor(10_001), 0.1);
        assert_eq!(s.factor(1_000_000), 0.1);
        assert_eq!(s.lr_at(2.5e-4, 1000), 1.25e-4);
    }

    #[test]
    fn constant_matches_hand_values() {
        let s = LrSchedule::Constant { warmup: 4 };
        let got: Vec<f64> = (0..6).map(|k| s.factor(k)).collect();
        assert_eq!(got, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.0]);
    }

    #[test]
    fn zero_warmup_starts_at_full_rate() {
        let s = LrSchedule::cosine(0, 100, 0.1);
        assert_eq!(s.factor(0), 1.0);
        assert!((s.factor(50) - 0.55).abs() < 1e-15);
    }
}
