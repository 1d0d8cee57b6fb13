//! Quantized storage for optimizer state and weights.
//!
//! - [`Blockwise8`]: bitsandbytes' block-wise *dynamic* 8-bit quantization of Adam moments
//!   (Dettmers et al. 2022, `bitsandbytes.optim.Optimizer2State` with `block_wise=True`):
//!   each block of [`BNB_BLOCK_SIZE`] = 2048 consecutive elements is divided by its absolute
//!   maximum and every value is rounded to the nearest of 256 codes of the dynamic map
//!   ([`dynamic_map`]; signed for the first moment, unsigned for the second). Storage: one
//!   byte per element plus one f32 `absmax` per block.
//! - [`GroupQuant`]: Q-GaLore's group-wise *asymmetric* integer quantization (weights: 8 bits,
//!   groups of 256; projectors: 4 bits, groups of 256) exactly as its code: per group
//!   `scale = max(max − min, 1e-5) / (2^b − 1)`, `zero = clamp(−round(min / scale), 0, 2^b − 1)`,
//!   `q = clamp(round(w / scale) + zero, 0, 2^b − 1)` (unsigned codes with a zero point, not the
//!   paper's signed clamp), dequantized as `(q − zero) · scale`. Rounding is to nearest
//!   ([`Rounding::Nearest`], `torch.round`: half to even) or stochastic
//!   ([`Rounding::Stochastic`]: `⌊w/scale⌋ + 1` with probability `w/scale − ⌊w/scale⌋`, from a
//!   seeded generator, so `E[dequantize] = w` away from the clamp). 4-bit codes are packed two
//!   per byte (as GaLore's `proj_quant`; Q-GaLore's own projector keeps one per byte).

use planform_core::rng::Rng;
use tch::{Device, Kind, Tensor};

use crate::{OptimError, Result};

/// Elements per block of the 8-bit optimizer states (bitsandbytes' `Optimizer2State`).
pub const BNB_BLOCK_SIZE: usize = 2048;
/// Tensors with fewer elements keep 32-bit states (bitsandbytes' `min_8bit_size`).
pub const BNB_MIN_8BIT_SIZE: usize = 4096;

/// `torch.linspace(start, end, steps)` for float32 (the CPU kernel's scalar formula: from the
/// start for the first half, from the end for the second).
fn linspace(start: f32, end: f32, steps: usize) -> Vec<f32> {
    let step = (end - start) / (steps - 1) as f32;
    (0..steps)
        .map(|i| {
            if i < steps / 2 {
                start + step * i as f32
            } else {
                end - step * (steps - 1 - i) as f32
            }
        })
        .collect()
}

/// bitsandbytes' `create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)`: 256 codes
/// in `[-1, 1]` (signed) or `[0, 1]` (unsigned), sorted. For exponent `i = 0..7` the interval
/// `[0.1, 1]` is split into `2^i` (signed) or `2^(i+1)` (unsigned) equal parts whose midpoints
/// are scaled by `10^(i−6)`; `0` and `1` complete the table.
pub fn dynamic_map(signed: bool) -> [f32; 256] {
    let max_exponent_bits = 7i32;
    let non_sign_bits = 7i32; // total_bits − 1 in both cases, as the reference
    let mut data: Vec<f32> = Vec::with_capacity(256);
    for i in 0..max_exponent_bits {
        let fraction_items = if signed {
            (1usize << (i + non_sign_bits - max_exponent_bits)) + 1
        } else {
            (1usize << (i + non_sign_bits - max_exponent_bits + 1)) + 1
        };
        let b = linspace(0.1, 1.0, fraction_items);
        let scale = 10f64.powi(-(max_exponent_bits - 1) + i) as f32;
        for w in b.windows(2) {
            let mean = (w[0] + w[1]) / 2.0;
            data.push(scale * mean);
            if signed {
                data.push(-scale * mean);
            }
        }
    }
    data.push(0.0);
    data.push(1.0);
    while data.len() < 256 {
        data.push(0.0);
    }
    data.sort_by(|a, b| a.total_cmp(b));
    let mut out = [0f32; 256];
    out.copy_from_slice(&data[..256]);
    out
}

/// A tensor stored with bitsandbytes' block-wise dynamic 8-bit quantization.
#[derive(Debug)]
pub struct Blockwise8 {
    /// One code per element, `Uint8`, flat.
    pub codes: Tensor,
    /// One absolute maximum per block, f32.
    pub absmax: Tensor,
    shape: Vec<i64>,
    signed: bool,
    block: usize,
}

/// The 256 codes of the dynamic map on `device`, and the 255 midpoints between neighbours.
fn map_tensors(signed: bool, device: Device) -> (Tensor, Tensor) {
    let map = dynamic_map(signed);
    let mids: Vec<f32> = map.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    (
        Tensor::from_slice(&map).to(device),
        Tensor::from_slice(&mids).to(device),
    )
}

/// Codes and block maxima of `flat` (1-D f32; its length need not be a multiple of
/// `block`: the last block is padded with zeros, which never change its maximum).
fn quantize_flat(flat: &Tensor, signed: bool, block: i64) -> Result<(Tensor, Tensor)> {
    let n = flat.numel() as i64;
    let blocks = (n + block - 1) / block;
    let padded = if blocks * block > n {
        Tensor::f_cat(
            &[
                flat.shallow_clone(),
                Tensor::f_zeros([blocks * block - n], (Kind::Float, flat.device()))?,
            ],
            0,
        )?
    } else {
        flat.shallow_clone()
    };
    let rows = padded.f_view([blocks, block])?;
    let absmax = rows.f_abs()?.f_amax([1i64].as_slice(), false)?;
    let safe = absmax.f_where_scalarother(&absmax.f_gt(0.0)?, 1.0)?;
    let normed = rows.f_div(&safe.f_unsqueeze(1)?)?.f_reshape([-1])?;
    let (_, mids) = map_tensors(signed, flat.device());
    // Index of the nearest code: the number of midpoints below the value.
    let codes = normed
        .f_bucketize(&mids, false, false)?
        .f_narrow(0, 0, n)?
        .f_to_kind(Kind::Uint8)?;
    Ok((codes, absmax))
}

/// The f32 values (1-D) of `codes` with block maxima `absmax`.
fn dequantize_flat(codes: &Tensor, absmax: &Tensor, signed: bool, block: i64) -> Result<Tensor> {
    let n = codes.numel() as i64;
    let blocks = absmax.numel() as i64;
    let (map, _) = map_tensors(signed, codes.device());
    let vals = map.f_index_select(0, &codes.f_to_kind(Kind::Int)?)?;
    let padded = if blocks * block > n {
        Tensor::f_cat(
            &[
                vals,
                Tensor::f_zeros([blocks * block - n], (Kind::Float, map.device()))?,
            ],
            0,
        )?
    } else {
        vals
    };
    Ok(padded
        .f_view([blocks, block])?
        .f_mul(&absmax.f_unsqueeze(1)?)?
        .f_reshape([-1])?
        .f_narrow(0, 0, n)?)
}

impl Blockwise8 {
    /// Quantizes `x` (any float kind) in blocks of `block` elements.
    pub fn quantize(x: &Tensor, signed: bool, block: usize) -> Result<Self> {
        if block == 0 {
            return Err(OptimError::Config("8-bit block size must be > 0".into()));
        }
        let flat = x.f_to_kind(Kind::Float)?.f_reshape([-1])?;
        let (codes, absmax) = quantize_flat(&flat, signed, block as i64)?;
        Ok(Blockwise8 {
            codes,
            absmax,
            shape: x.size(),
            signed,
            block,
        })
    }

    /// Zeros of `shape` (what [`Blockwise8::quantize`] gives for a zero tensor, without
    /// building that tensor in f32).
    pub fn zeros(shape: &[i64], signed: bool, block: usize, device: Device) -> Result<Self> {
        if block == 0 {
            return Err(OptimError::Config("8-bit block size must be > 0".into()));
        }
        let n: i64 = shape.iter().product();
        let blocks = (n + block as i64 - 1) / block as i64;
        let (zero_code, _) = quantize_flat(
            &Tensor::f_zeros([1], (Kind::Float, device))?,
            signed,
            block as i64,
        )?;
        Ok(Blockwise8 {
            codes: zero_code.f_expand([n], false)?.f_contiguous()?,
            absmax: Tensor::f_zeros([blocks], (Kind::Float, device))?,
            shape: shape.to_vec(),
            signed,
            block,
        })
    }

    /// The float32 values, in the original shape.
    pub fn dequantize(&self) -> Result<Tensor> {
        let out = dequantize_flat(&self.codes, &self.absmax, self.signed, self.block as i64)?;
        Ok(out.f_reshape(self.shape.as_slice())?)
    }

    /// Number of elements.
    pub fn numel(&self) -> i64 {
        self.codes.numel() as i64
    }

    /// The f32 values (1-D) of elements `start .. start + len`; `start` must be a multiple
    /// of the block size. The same values [`Blockwise8::dequantize`] gives for them.
    pub fn dequantize_range(&self, start: i64, len: i64) -> Result<Tensor> {
        let b = self.block as i64;
        debug_assert_eq!(start % b, 0);
        let codes = self.codes.f_narrow(0, start, len)?;
        let absmax = self.absmax.f_narrow(0, start / b, (len + b - 1) / b)?;
        dequantize_flat(&codes, &absmax, self.signed, b)
    }

    /// Re-quantizes elements `start .. start + values.numel()` (1-D f32) in place; `start`
    /// must be a multiple of the block size and the range must end at a block end or at
    /// the last element. Blocks are independent, so quantizing a tensor range by range
    /// gives the same codes and maxima as [`Blockwise8::quantize`] of the whole.
    pub fn requantize_range(&mut self, start: i64, values: &Tensor) -> Result<()> {
        let b = self.block as i64;
        debug_assert_eq!(start % b, 0);
        let (codes, absmax) = quantize_flat(values, self.signed, b)?;
        self.codes
            .f_narrow(0, start, codes.numel() as i64)?
            .f_copy_(&codes)?;
        self.absmax
            .f_narrow(0, start / b, absmax.numel() as i64)?
            .f_copy_(&absmax)?;
        Ok(())
    }

    /// Elements per block.
    pub fn block(&self) -> usize {
        self.block
    }

    /// Bytes held: the codes and the block maxima.
    pub fn bytes(&self) -> usize {
        self.codes.numel() + 4 * self.absmax.numel()
    }

    /// Rebuilds from saved codes and maxima (checked against `shape`).
    pub fn from_parts(
        codes: Tensor,
        absmax: Tensor,
        shape: &[i64],
        signed: bool,
        block: usize,
    ) -> std::result::Result<Self, String> {
        let n: i64 = shape.iter().product();
        let blocks = (n + block as i64 - 1) / block as i64;
        if codes.kind() != Kind::Uint8 || codes.numel() as i64 != n {
            return Err(format!(
                "8-bit codes: expected {n} uint8 values, found {} {:?}",
                codes.numel(),
                codes.kind()
            ));
        }
        if absmax.kind() != Kind::Float || absmax.numel() as i64 != blocks {
            return Err(format!(
                "8-bit absmax: expected {blocks} f32 values, found {} {:?}",
                absmax.numel(),
                absmax.kind()
            ));
        }
        Ok(Blockwise8 {
            codes: codes.reshape([-1]),
            absmax: absmax.reshape([-1]),
            shape: shape.to_vec(),
            signed,
            block,
        })
    }
}

/// How values are rounded to integer codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// Round to nearest (`torch.round`, half to even): Q-GaLore's ablation.
    Nearest,
    /// Stochastic rounding from a seeded generator: Q-GaLore's default.
    Stochastic,
}

/// `numel` uniforms in `[0, 1)` (24 random bits each) keyed by `key`, on `device`.
pub fn uniforms(key: &[u64], numel: usize, device: Device) -> Result<Tensor> {
    let mut rng = Rng::keyed(key);
    let scale = 1.0 / (1u64 << 24) as f32;
    let v: Vec<f32> = (0..numel)
        .map(|_| (rng.next_u64() >> 40) as f32 * scale)
        .collect();
    Ok(Tensor::f_from_slice(&v)?.f_to(device)?)
}

/// A tensor stored with group-wise asymmetric integer quantization (Q-GaLore).
#[derive(Debug)]
pub struct GroupQuant {
    /// Codes, `Uint8`, flat; two 4-bit codes per byte when `bits == 4`.
    pub codes: Tensor,
    /// `[groups, 1]` scales.
    pub scales: Tensor,
    /// `[groups, 1]` zero points (integers stored as floats, as the reference).
    pub zeros: Tensor,
    shape: Vec<i64>,
    bits: u32,
    group: usize,
}

impl GroupQuant {
    /// Quantizes `w` with `bits` (4 or 8) in groups of `group` elements; `uniform` (same
    /// element count as `w`) drives stochastic rounding and must be given exactly when
    /// `rounding` is [`Rounding::Stochastic`]. Scales and zero points are f32.
    pub fn quantize(
        w: &Tensor,
        bits: u32,
        group: usize,
        rounding: Rounding,
        uniform: Option<&Tensor>,
    ) -> Result<Self> {
        if !(bits == 4 || bits == 8) {
            return Err(OptimError::Config(format!(
                "quantization to {bits} bits: only 4 and 8 are supported"
            )));
        }
        let n = w.numel();
        if group == 0 || n % group != 0 {
            return Err(OptimError::Config(format!(
                "a tensor of {n} elements ({:?}) cannot be split into quantization groups of \
                 {group} (the reference requires numel % group_size == 0)",
                w.size()
            )));
        }
        let max_int = ((1u32 << bits) - 1) as f64;
        let g = w.f_to_kind(Kind::Float)?.f_reshape([-1, group as i64])?;
        let maxv = g.f_amax([1i64].as_slice(), true)?;
        let minv = g.f_amin([1i64].as_slice(), true)?;
        let scales = maxv
            .f_sub(&minv)?
            .f_clamp_min(1e-5)?
            .f_div_scalar(max_int)?;
        let zeros = minv
            .f_div(&scales)?
            .f_round()?
            .f_neg()?
            .f_clamp(0.0, max_int)?;
        let x = g.f_div(&scales)?;
        let rounded = match (rounding, uniform) {
            (Rounding::Nearest, None) => x.f_round()?,
            (Rounding::Stochastic, Some(u)) => {
                if u.numel() != n {
                    return Err(OptimError::Config(format!(
                        "stochastic rounding: {} uniforms for {n} values",
                        u.numel()
                    )));
                }
                let down = x.f_floor()?;
                let frac = x.f_sub(&down)?;
                let up = u.f_view_as(&frac)?.f_lt_tensor(&frac)?;
                down.f_add(&up.f_to_kind(Kind::Float)?)?
            }
            _ => {
                return Err(OptimError::Config(
                    "uniforms are given exactly for stochastic rounding".into(),
                ))
            }
        };
        let q = rounded
            .f_add(&zeros)?
            .f_clamp(0.0, max_int)?
            .f_to_kind(Kind::Uint8)?
            .f_reshape([-1])?;
        let codes = if bits == 4 { pack4(&q)? } else { q };
        Ok(GroupQuant {
            codes,
            scales,
            zeros,
            shape: w.size(),
            bits,
            group,
        })
    }

    /// The dequantized values `(q − zero) · scale` as `kind`, in the original shape.
    pub fn dequantize(&self, kind: Kind) -> Result<Tensor> {
        let q = if self.bits == 4 {
            unpack4(&self.codes)?
        } else {
            self.codes.shallow_clone()
        };
        let out = q
            .f_to_kind(Kind::Float)?
            .f_view([-1, self.group as i64])?
            .f_sub(&self.zeros)?
            .f_mul(&self.scales)?
            .f_reshape(self.shape.as_slice())?;
        Ok(out.f_to_kind(kind)?)
    }

    /// Writes the dequantized values into `out` (same number of elements, any float kind),
    /// a chunk of whole groups at a time for 8-bit codes (4-bit codes in one pass), so no
    /// whole-tensor f32 temporary is made. The values equal [`GroupQuant::dequantize`]'s.
    pub fn dequantize_into(&self, out: &Tensor) -> Result<()> {
        let flat = out.f_view([-1])?;
        if self.bits == 4 {
            flat.shallow_clone()
                .f_copy_(&self.dequantize(out.kind())?.f_reshape([-1])?)?;
            return Ok(());
        }
        let g = self.group as i64;
        let n = self.codes.numel() as i64;
        let chunk = crate::adamw::chunk_len(self.group);
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let (g0, gl) = (start / g, len / g);
            let vals = self
                .codes
                .f_narrow(0, start, len)?
                .f_to_kind(Kind::Float)?
                .f_view([gl, g])?
                .f_sub(&self.zeros.f_narrow(0, g0, gl)?)?
                .f_mul(&self.scales.f_narrow(0, g0, gl)?)?
                .f_reshape([-1])?;
            flat.f_narrow(0, start, len)?.f_copy_(&vals)?;
            start += len;
        }
        Ok(())
    }

    /// The unpacked integer codes (one per element, flat).
    pub fn codes(&self) -> Result<Tensor> {
        if self.bits == 4 {
            unpack4(&self.codes)
        } else {
            Ok(self.codes.shallow_clone())
        }
    }

    /// Bytes held: codes plus f32 scales and zero points.
    pub fn bytes(&self) -> usize {
        self.codes.numel() + 4 * (self.scales.numel() + self.zeros.numel())
    }

    /// Original shape.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }

    /// Rebuilds from saved parts (checked against `shape`, `bits` and `group`).
    pub fn from_parts(
        codes: Tensor,
        scales: Tensor,
        zeros: Tensor,
        shape: &[i64],
        bits: u32,
        group: usize,
    ) -> std::result::Result<Self, String> {
        let n: i64 = shape.iter().product();
        let want_codes = if bits == 4 { n / 2 } else { n };
        let groups = n / group as i64;
        if codes.kind() != Kind::Uint8 || codes.numel() as i64 != want_codes {
            return Err(format!(
                "{bits}-bit codes: expected {want_codes} bytes, found {} {:?}",
                codes.numel(),
                codes.kind()
            ));
        }
        for (what, t) in [("scales", &scales), ("zeros", &zeros)] {
            if t.kind() != Kind::Float || t.numel() as i64 != groups {
                return Err(format!(
                    "{what}: expected {groups} f32 values, found {} {:?}",
                    t.numel(),
                    t.kind()
                ));
            }
        }
        Ok(GroupQuant {
            codes: codes.reshape([-1]),
            scales: scales.reshape([-1, 1]),
            zeros: zeros.reshape([-1, 1]),
            shape: shape.to_vec(),
            bits,
            group,
        })
    }
}

/// Packs 4-bit codes two per byte: element `2k` in the low nibble, `2k + 1` in the high one.
fn pack4(q: &Tensor) -> Result<Tensor> {
    let pairs = q.f_view([-1, 2])?;
    let lo = pairs.f_select(1, 0)?.f_bitwise_and(0x0F)?;
    let hi = pairs
        .f_select(1, 1)?
        .f_bitwise_and(0x0F)?
        .f_bitwise_left_shift_tensor_scalar(4)?;
    Ok(lo.f_bitwise_or_tensor(&hi)?)
}

/// Inverse of [`pack4`].
fn unpack4(p: &Tensor) -> Result<Tensor> {
    let lo = p.f_bitwise_and(0x0F)?;
    let hi = p
        .f_bitwise_right_shift_tensor_scalar(4)?
        .f_bitwise_and(0x0F)?;
    Ok(Tensor::f_stack(&[lo, hi], 1)?.f_reshape([-1])?)
}
