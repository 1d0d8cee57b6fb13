//! Integer weight storage for [`crate::Linear`]: codes, scales and zero points, dequantized
//! on the fly (written by `planform quantize`).

use tch::{Kind, Tensor};

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
        })
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
