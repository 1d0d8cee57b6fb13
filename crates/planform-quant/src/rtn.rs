//! Round-to-nearest fake quantization: quantize, then dequantize, so a full-precision model
//! computes with the values a low-bit one would hold. This is SpinQuant's (and QuaRot's)
//! quantizer:
//!
//! ```text
//! per row (or group of G consecutive elements of a row):
//!   lo = min(min(x), 0) ; hi = max(max(x), 0)                  (the range always holds 0)
//!   symmetric:  q_max = 2^(b−1) − 1 ; s = max(|lo|, hi) / q_max
//!               x̂ = s · clamp(round(x / s), −(q_max + 1), q_max)
//!   asymmetric: q_max = 2^b − 1 ; s = (hi − lo) / q_max ; z = round(−lo / s)
//!               x̂ = s · (clamp(round(x / s) + z, 0, q_max) − z)
//!   an all-zero row gets s = 1 (the reference's guard), so it stays zero
//! ```
//!
//! `round` is round-half-to-even (`torch.round`). Weights are quantized per output row
//! (or group), activations per token, keys and values per head-group of 128.

use planform_model::quantized::{rtn_codes, RtnCodes};
use planform_model::QuantizedWeight;
use tch::{Kind, Tensor};

use crate::error::{shape_err, QuantError, Result};

/// A quantizer's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtn {
    /// Bits per value, 2..=8.
    pub bits: u32,
    /// Asymmetric (with a zero point) or symmetric.
    pub asymmetric: bool,
    /// Elements per group along the last dimension; `None` = the whole last dimension
    /// (per output row for weights, per token for activations).
    pub group: Option<usize>,
}

impl Rtn {
    /// Checks the settings against a last dimension of `n`.
    fn check(&self, n: i64) -> Result<()> {
        if !(2..=8).contains(&self.bits) {
            return Err(QuantError::Config(format!(
                "{} bits: round-to-nearest quantization supports 2 to 8",
                self.bits
            )));
        }
        if let Some(g) = self.group {
            if g == 0 || n % g as i64 != 0 {
                return Err(QuantError::Config(format!(
                    "a last dimension of {n} cannot be split into groups of {g}"
                )));
            }
        }
        Ok(())
    }

    /// Quantize-dequantize `x` (any float kind, at least 1-D) along its last dimension;
    /// returns the same shape and kind.
    pub fn fake_quant(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.codes(x)?;
        let out = match &c.zero {
            Some(z) => (c.codes - z) * c.scale,
            None => c.codes * c.scale,
        };
        Ok(out.reshape(x.size().as_slice()).to_kind(x.kind()))
    }

    /// [`Self::fake_quant`] with the straight-through estimator: the forward value is the
    /// quantized one, the gradient passes as if quantization were the identity
    /// (`x + (q(x) − x).detach()`), as SpinQuant's rotation training does.
    pub fn fake_quant_ste(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x + (self.fake_quant(x)? - x).detach())
    }

    /// The integer codes of `x` (as f32 values, `[rows·G, g]`), with scales and zero points
    /// `[rows·G, 1]`; `x̂ = s·(codes − z)` (asymmetric) or `s·codes`.
    fn codes(&self, x: &Tensor) -> Result<RtnCodes> {
        let n = *x.size().last().ok_or_else(|| shape_err("x", "[…, n]", x))?;
        self.check(n)?;
        let g = self.group.map_or(n, |g| g as i64);
        let rows = x.to_kind(Kind::Float).reshape([-1, g]);
        Ok(rtn_codes(&rows, self.bits, self.asymmetric))
    }

    /// Quantizes a weight `[out, in]` for real: the codes a [`Self::fake_quant`] of it
    /// dequantizes, stored as bytes (Int8 symmetric, Uint8 asymmetric), with f32 scales
    /// (and zero points) `[out, G]`. `dequantize()` of the result equals `fake_quant(w)`
    /// bit for bit (in f32).
    pub fn quantize_weight(&self, w: &Tensor) -> Result<QuantizedWeight> {
        if w.dim() != 2 {
            return Err(shape_err("weight", "[out, in]", w));
        }
        let (out, _) = (w.size()[0], w.size()[1]);
        let c = self.codes(w)?;
        let kind = if self.asymmetric {
            Kind::Uint8
        } else {
            Kind::Int8
        };
        let codes = c.codes.to_kind(kind).reshape(w.size().as_slice());
        let scale = c.scale.reshape([out, -1]);
        let zero = c.zero.map(|z| z.reshape([out, -1]));
        QuantizedWeight::new(codes, scale, zero, self.bits).map_err(QuantError::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::from_slice(v)
    }

    fn vals(x: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(x.reshape([-1])).unwrap()
    }

    /// Hand-worked examples.
    #[test]
    fn hand_worked_values() {
        // Symmetric 4 bits: q_max = 7, s = 1.4 / 7 = 0.2.
        let x = t(&[1.4, -0.5, 0.29, 0.0]).view([1, 4]);
        let sym = Rtn {
            bits: 4,
            asymmetric: false,
            group: None,
        };
        let y = vals(&sym.fake_quant(&x).unwrap());
        // 1.4/0.2 = 7 → 1.4; −0.5/0.2 = −2.5 → −2 (half to even) → −0.4; 0.29/0.2 = 1.45 → 1 → 0.2.
        for (a, b) in y.iter().zip([1.4f32, -0.4, 0.2, 0.0]) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
        // Asymmetric 2 bits on [−1, 2]: q_max = 3, s = 1, z = 1; values snap to −1, 0, 1, 2.
        let x = t(&[-1.0, 2.0, 0.4, 1.6]).view([1, 4]);
        let asym = Rtn {
            bits: 2,
            asymmetric: true,
            group: None,
        };
        assert_eq!(vals(&asym.fake_quant(&x).unwrap()), [-1.0, 2.0, 0.0, 2.0]);
        // The range holds zero: an all-positive row [2, 4] in 2 bits asymmetric has lo = 0,
        // s = 4/3, z = 0; 2 → round(1.5) = 2 → 8/3.
        let y = vals(&asym.fake_quant(&t(&[2.0, 4.0]).view([1, 2])).unwrap());
        assert!((y[0] - 8.0 / 3.0).abs() < 1e-6 && (y[1] - 4.0).abs() < 1e-6);
        // All zeros stay zero.
        let z = Tensor::zeros([2, 8], (Kind::Float, Device::Cpu));
        assert_eq!(vals(&asym.fake_quant(&z).unwrap()), vec![0.0; 16]);
    }

    /// Groups quantize independently; every value lands within half a step of itself, and
    /// 8 bits is far closer than 4.
    #[test]
    fn groups_and_error_bounds() {
        let x = (Tensor::arange(4 * 256, (Kind::Float, Device::Cpu)) * 0.37)
            .sin()
            .view([4, 256]);
        let mut err = Vec::new();
        for bits in [4, 8] {
            let q = Rtn {
                bits,
                asymmetric: true,
                group: Some(128),
            };
            let y = q.fake_quant(&x).unwrap();
            assert_eq!(y.size(), x.size());
            // Per group: a step is (hi − lo)/q_max ≤ 2/q_max.
            let e = (&y - &x).abs().max().double_value(&[]);
            assert!(
                e <= 0.5 * 2.0 / ((1u32 << bits) - 1) as f64 + 1e-6,
                "{bits} bits: {e}"
            );
            err.push(e);
            // Quantizing group by group gives the same as a [8, 128] view.
            let by_rows = Rtn { group: None, ..q }
                .fake_quant(&x.view([8, 128]))
                .unwrap()
                .view([4, 256]);
            assert!(y.equal(&by_rows));
        }
        assert!(err[1] < err[0] / 8.0);
        let bad = Rtn {
            bits: 4,
            asymmetric: false,
            group: Some(100),
        };
        assert!(bad.fake_quant(&x).is_err());
        let bad = Rtn {
            bits: 1,
            asymmetric: false,
            group: None,
        };
        assert!(bad.fake_quant(&x).is_err());
    }

    /// Real codes dequantize to exactly the fake-quantized weight (both forms, with and
    /// without groups), and the codes sit in the documented ranges.
    #[test]
    fn quantized_weights_dequantize_to_the_fake_quantized_ones() {
        let w = (Tensor::arange(6 * 64, (Kind::Float, Device::Cpu)) * 0.73)
            .sin()
            .view([6, 64])
            * 0.3;
        for bits in [2, 4, 8] {
            for asymmetric in [false, true] {
                for group in [None, Some(16)] {
                    let r = Rtn {
                        bits,
                        asymmetric,
                        group,
                    };
                    let q = r.quantize_weight(&w).unwrap();
                    assert!(q.dequantize().equal(&r.fake_quant(&w).unwrap()));
                    assert_eq!(q.scale.size(), [6, group.map_or(1, |g| 64 / g as i64)]);
                    let codes = q.codes.to_kind(Kind::Int64);
                    let (lo, hi) = if asymmetric {
                        (0, (1i64 << bits) - 1)
                    } else {
                        (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
                    };
                    assert!(codes.min().int64_value(&[]) >= lo);
                    assert!(codes.max().int64_value(&[]) <= hi);
                }
            }
        }
        assert!(Rtn {
            bits: 4,
            asymmetric: false,
            group: None
        }
        .quantize_weight(&w.view([-1]))
        .is_err());
    }

    /// Why SpinQuant rotates: a row with an outlier channel loses most of its resolution to
    /// the outlier; after a Hadamard rotation the energy is spread and 4-bit error drops.
    /// The rotation is exact, so the error is measured back in the original basis.
    #[test]
    fn hadamard_rotation_spreads_outliers_and_cuts_4bit_error() {
        let n = 64;
        let base = (Tensor::arange(8 * n, (Kind::Double, Device::Cpu)) * 0.91).sin() * 0.1;
        let w = base.view([8, n]);
        let _ = w.narrow(1, 5, 1).fill_(4.0); // one outlier channel
        let q = Rtn {
            bits: 4,
            asymmetric: false,
            group: None,
        };
        let plain = (q.fake_quant(&w).unwrap() - &w).square().mean(Kind::Double);
        let h = crate::hadamard::matrix(n as usize, Kind::Double, Device::Cpu).unwrap()
            / (n as f64).sqrt();
        let wr = w.matmul(&h); // rotate, quantize, rotate back
        let back = q.fake_quant(&wr).unwrap().matmul(&h.tr());
        let rotated = (back - &w).square().mean(Kind::Double);
        let (plain, rotated) = (plain.double_value(&[]), rotated.double_value(&[]));
        assert!(
            rotated < plain / 4.0,
            "MSE plain {plain}, rotated {rotated}"
        );
    }

    /// The integer W8A8 (and W8A4, W8A3) product equals the simulated one (fake-quantized
    /// activations times the dequantized weight, in f32) to f32 rounding, for activations
    /// of either symmetry, 2-D and 3-D inputs, an outlier channel and an all-zero token.
    #[test]
    fn int8_matmul_equals_the_simulated_product() {
        let opts = (Kind::Float, Device::Cpu);
        let w = (Tensor::arange(48 * 64, opts) * 0.731).sin().view([48, 64]);
        let weights = Rtn {
            bits: 8,
            asymmetric: false,
            group: None,
        };
        let x = (Tensor::arange(5 * 7 * 64, opts) * 0.377)
            .cos()
            .view([5, 7, 64])
            * 3.0;
        let _ = x.narrow(2, 3, 1).g_mul_scalar_(40.0); // an outlier channel
        let _ = x.narrow(1, 2, 1).narrow(0, 1, 1).zero_(); // an all-zero token
        for asymmetric in [true, false] {
            for bits in [8, 4, 3] {
                let act = Rtn {
                    bits,
                    asymmetric,
                    group: None,
                };
                let mut qw = weights.quantize_weight(&w).unwrap();
                for xs in [x.shallow_clone(), x.view([35, 64])] {
                    let xq = act.fake_quant(&xs).unwrap();
                    let want = xq.linear(&qw.dequantize(), None::<Tensor>);
                    qw.enable_int8_matmul(bits, asymmetric).unwrap();
                    assert!(qw.int8_matmul());
                    let got = qw.forward(&xq);
                    assert_eq!(got.size(), want.size());
                    let err = f64::try_from((&got - &want).abs().max()).unwrap();
                    let scale = f64::try_from(want.abs().max()).unwrap();
                    assert!(err <= 1e-6 * scale, "{asymmetric} {bits}: {err} of {scale}");
                    // Not the float path by accident: unquantized inputs give another result.
                    let raw = qw.forward(&xs);
                    assert!(
                        f64::try_from(
                            (&raw - &xs.linear(&qw.dequantize(), None::<Tensor>))
                                .abs()
                                .max()
                        )
                        .unwrap()
                            > 1e-4
                    );
                }
            }
        }
        // Only 8-bit symmetric per-row weights have an integer product.
        for (bits, asymmetric, group) in [(4, false, None), (8, true, None), (8, false, Some(16))] {
            let mut q = Rtn {
                bits,
                asymmetric,
                group,
            }
            .quantize_weight(&w)
            .unwrap();
            assert!(
                q.enable_int8_matmul(8, true).is_err(),
                "{bits} {asymmetric} {group:?}"
            );
        }
    }
}
