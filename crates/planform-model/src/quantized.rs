//! Integer weight storage for [`crate::Linear`]: codes, scales and zero points, dequantized
//! on the fly (written by `planform quantize`), or multiplied as integers
//! ([`QuantizedWeight::enable_int8_matmul`]).

use tch::{Device, Kind, Tensor};

/// Round-to-nearest codes of each row of `rows` (`[R, n]`, f32), SpinQuant's quantizer:
///
/// ```text
/// lo = min(min(row), 0) ; hi = max(max(row), 0)                 (the range always holds 0)
/// symmetric:  q_max = 2^(b−1) − 1 ; s = max(|lo|, hi) / q_max ; q = clamp(round(x / s), −(q_max + 1), q_max)
/// asymmetric: q_max = 2^b − 1 ; s = (hi − lo) / q_max ; z = round(−lo / s) ; q = clamp(round(x / s) + z, 0, q_max)
/// an all-zero row gets s = 1 (the reference's guard)
/// ```
///
/// `round` is round-half-to-even (`torch.round`); `x̂ = s·(q − z)` (or `s·q`). The codes
/// are f32 integer values `[R, n]`, scales and zero points `[R, 1]`.
pub fn rtn_codes(rows: &Tensor, bits: u32, asymmetric: bool) -> RtnCodes {
    let zero = Tensor::zeros([1], (Kind::Float, rows.device()));
    let lo = rows.amin([1i64].as_slice(), true).minimum(&zero);
    let hi = rows.amax([1i64].as_slice(), true).maximum(&zero);
    let guard = |s: Tensor| s.where_scalarother(&s.gt(0.0), 1.0);
    if asymmetric {
        let q_max = ((1u32 << bits) - 1) as f64;
        let s = guard((&hi - &lo) / q_max);
        let z = (-&lo / &s).round();
        let q = ((rows / &s).round() + &z).clamp(0.0, q_max);
        RtnCodes {
            codes: q,
            scale: s,
            zero: Some(z),
        }
    } else {
        let q_max = ((1u32 << (bits - 1)) - 1) as f64;
        let s = guard(lo.abs().maximum(&hi) / q_max);
        RtnCodes {
            codes: (rows / &s).round().clamp(-(q_max + 1.0), q_max),
            scale: s,
            zero: None,
        }
    }
}

/// Codes with their scales and zero points: see [`rtn_codes`].
#[derive(Debug)]
pub struct RtnCodes {
    /// `[R, n]`, f32 integer values.
    pub codes: Tensor,
    /// `[R, 1]`, f32.
    pub scale: Tensor,
    /// `[R, 1]`, f32 integer values (asymmetric only).
    pub zero: Option<Tensor>,
}

/// The integer product of an 8-bit symmetric per-row weight with 8-bit per-token
/// activations (see [`QuantizedWeight::enable_int8_matmul`]).
#[derive(Debug)]
struct Int8Matmul {
    /// `[in, out]`, Int8, contiguous (the right operand of `_int_mm`).
    codes_t: Tensor,
    /// `[1, out]`, Int (int32): each row's sum of codes (the zero-point correction).
    row_sum: Tensor,
    /// `[1, out]`, f32: each row's scale.
    scale: Tensor,
    /// Bits of the activation codes (as the activation quantizer in front).
    act_bits: u32,
    /// Activations quantized with a zero point (as the activation quantizer in front).
    asymmetric: bool,
}

/// A weight `[out, in]` held as `bits`-bit integer codes per group of `in / G` consecutive
/// inputs of a row, with one scale (and, asymmetric, one zero point) per group:
///
/// ```text
/// symmetric:  W[r, j] = scale[r, g] · codes[r, j]                 codes ∈ [−2^(b−1), 2^(b−1) − 1], Int8
/// asymmetric: W[r, j] = scale[r, g] · (codes[r, j] − zero[r, g])   codes ∈ [0, 2^b − 1], Uint8
///             (g = j / (in / G))
/// ```
///
/// Codes take one byte each in memory (checkpoints pack 4-bit codes two to a byte).
/// [`QuantizedWeight::dequantize`] does the arithmetic in the same order, in f32, as
/// planform-quant's fake quantizer, so a model with these weights computes bit for bit what
/// the simulated one does.
#[derive(Debug)]
pub struct QuantizedWeight {
    /// `[out, in]`, Int8 (symmetric) or Uint8 (asymmetric).
    pub codes: Tensor,
    /// `[out, G]`, f32.
    pub scale: Tensor,
    /// `[out, G]`, f32 integer-valued zero points; `None` when symmetric.
    pub zero: Option<Tensor>,
    /// Bits per code, 2..=8.
    pub bits: u32,
    /// Integer matmul state, when enabled.
    int8: Option<Int8Matmul>,
}

impl QuantizedWeight {
    /// Checks shapes and kinds: codes `[out, in]` Int8 (symmetric) or Uint8 (asymmetric),
    /// scale (and zero) `[out, G]` f32 with `G` dividing `in`, bits 2..=8.
    pub fn new(
        codes: Tensor,
        scale: Tensor,
        zero: Option<Tensor>,
        bits: u32,
    ) -> Result<Self, String> {
        if !(2..=8).contains(&bits) {
            return Err(format!("{bits} bits; quantized weights hold 2 to 8"));
        }
        let want_kind = if zero.is_some() {
            Kind::Uint8
        } else {
            Kind::Int8
        };
        if codes.kind() != want_kind || codes.dim() != 2 {
            return Err(format!(
                "codes are {:?} {:?}; expected a 2-D {want_kind:?} tensor",
                codes.kind(),
                codes.size()
            ));
        }
        let (out, inp) = (codes.size()[0], codes.size()[1]);
        let groups = scale.size().get(1).copied().unwrap_or(0);
        let scale_ok = scale.kind() == Kind::Float
            && scale.dim() == 2
            && scale.size()[0] == out
            && groups > 0
            && inp % groups == 0;
        if !scale_ok {
            return Err(format!(
                "scale is {:?} {:?}; expected f32 [{out}, G] with G dividing {inp}",
                scale.kind(),
                scale.size()
            ));
        }
        if let Some(z) = &zero {
            if z.kind() != Kind::Float || z.size() != scale.size() {
                return Err(format!(
                    "zero is {:?} {:?}; expected f32 {:?}",
                    z.kind(),
                    z.size(),
                    scale.size()
                ));
            }
        }
        Ok(QuantizedWeight {
            codes,
            scale,
            zero,
            bits,
            int8: None,
        })
    }

    /// Computes `x Wᵀ` as an integer product on the CPU from now on: each token of `x` is
    /// quantized to `act_bits` (per token, with a zero point when `asymmetric`;
    /// [`rtn_codes`]), multiplied with the weight codes by `torch._int_mm` (int32
    /// accumulation and zero-point correction), and the result is scaled in f32:
    /// `y = s_x · s_w · (q_x · q_wᵀ − z_x · Σ_j q_w)`.
    ///
    /// This is the simulated model's arithmetic when the activation quantizer in front of
    /// the layer (the model's activation hook) has the same settings: re-quantizing its
    /// already quantized output gives back its codes (the scales to a few ulps), so the
    /// outputs agree to f32 rounding. Needs 8-bit symmetric weight codes with one scale per
    /// row and `act_bits` in 2..=8; on other devices the layer keeps dequantizing.
    pub fn enable_int8_matmul(&mut self, act_bits: u32, asymmetric: bool) -> Result<(), String> {
        if !(2..=8).contains(&act_bits) {
            return Err(format!(
                "integer matmul needs activations of 2 to 8 bits, not {act_bits}"
            ));
        }
        if self.bits != 8 || self.zero.is_some() || self.scale.size()[1] != 1 {
            return Err(format!(
                "integer matmul needs 8-bit symmetric weights with one scale per row; this \
                 weight has {} bits, {}, {} scale(s) per row",
                self.bits,
                if self.zero.is_some() {
                    "asymmetric"
                } else {
                    "symmetric"
                },
                self.scale.size()[1]
            ));
        }
        self.int8 = Some(Int8Matmul {
            codes_t: self.codes.tr().contiguous(),
            row_sum: self
                .codes
                .to_kind(Kind::Int)
                .sum_dim_intlist([1i64].as_slice(), false, Kind::Int)
                .reshape([1, -1]),
            scale: self.scale.reshape([1, -1]),
            act_bits,
            asymmetric,
        });
        Ok(())
    }

    /// Whether [`Self::enable_int8_matmul`] is on.
    pub fn int8_matmul(&self) -> bool {
        self.int8.is_some()
    }

    /// `[.., in] -> [.., out]`: `x Wᵀ` by the integer product when enabled and `x` is on
    /// the CPU, otherwise with the dequantized weight.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match &self.int8 {
            Some(m) if x.device() == Device::Cpu => {
                let mut shape = x.size();
                let n = *shape.last().unwrap_or(&1);
                let rows = x.to_kind(Kind::Float).reshape([-1, n]);
                let c = rtn_codes(&rows, m.act_bits, m.asymmetric);
                // Codes 0..=2^b − 1 with zero point z are codes − 128 with zero point z − 128.
                let (q, z) = match &c.zero {
                    Some(z) => (c.codes - 128.0, Some(z - 128.0)),
                    None => (c.codes, None),
                };
                // Integer accumulation and correction (int32 is exact: |z · Σ q_w| ≤ 2^7 ·
                // 2^7 · in), then one rounding to f32 and the two scales.
                let acc = q.to_kind(Kind::Int8).internal_int_mm(&m.codes_t);
                let acc = match z {
                    Some(z) => acc - z.to_kind(Kind::Int) * &m.row_sum,
                    None => acc,
                };
                let y = acc.to_kind(Kind::Float) * c.scale * &m.scale;
                if let Some(last) = shape.last_mut() {
                    *last = m.codes_t.size()[1];
                }
                y.to_kind(x.kind()).reshape(shape.as_slice())
            }
            _ => x.linear(&self.dequantize().to_kind(x.kind()), None::<Tensor>),
        }
    }

    /// The f32 weight `[out, in]`.
    pub fn dequantize(&self) -> Tensor {
        let shape = self.codes.size();
        let rows = self.scale.numel() as i64;
        let q = self.codes.to_kind(Kind::Float).reshape([rows, -1]);
        let s = self.scale.reshape([rows, 1]);
        let w = match &self.zero {
            Some(z) => (q - z.reshape([rows, 1])) * s,
            None => q * s,
        };
        w.reshape(shape.as_slice())
    }
}
