//! Argument checks shared by the models' entry points: shapes, dtypes, devices and token
//! ranges become [`ModelError`]s instead of libtorch panics.

use tch::{Device, Kind, Tensor};

use crate::config::{DecoderConfig, EncoderDecoderConfig};
use crate::error::ModelError;

/// What an input is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub vocab: usize,
    pub max_positions: usize,
}

impl Limits {
    pub(crate) fn of_encoder_decoder(c: &EncoderDecoderConfig) -> Self {
        Limits {
            vocab: c.vocab_size,
            max_positions: c.max_positions,
        }
    }

    pub(crate) fn of_decoder(c: &DecoderConfig) -> Self {
        Limits {
            vocab: c.vocab_size,
            max_positions: c.max_positions,
        }
    }
}

/// `ids` must be a non-empty `[B,L]` Int64 tensor on `device` with ids in `0..V` (range
/// checked for CPU tensors only, to avoid a device sync).
pub(crate) fn check_ids(
    lim: &Limits,
    device: Device,
    name: &'static str,
    ids: &Tensor,
) -> Result<(i64, i64), ModelError> {
    let (b, l) = ids
        .size2()
        .map_err(|_| shape_err(name, "[B,L] int64", ids))?;
    if ids.kind() != Kind::Int64 || ids.device() != device || b == 0 || l == 0 {
        return Err(shape_err(
            name,
            &format!("non-empty [B,L] int64 on {device:?}"),
            ids,
        ));
    }
    check_len(lim, name, l)?;
    if ids.device() == Device::Cpu {
        let (lo, hi) = (ids.min().int64_value(&[]), ids.max().int64_value(&[]));
        let vocab = lim.vocab;
        if let Some(id) = [lo, hi].into_iter().find(|&t| t < 0 || t as usize >= vocab) {
            return Err(ModelError::TokenOutOfRange { name, id, vocab });
        }
    }
    Ok((b, l))
}

/// Sequence lengths must stay below `max_positions` (reference `RoPE.forward` asserts
/// `offset + len < max_seq_len`).
pub(crate) fn check_len(lim: &Limits, name: &'static str, len: i64) -> Result<(), ModelError> {
    if len as usize >= lim.max_positions {
        return Err(ModelError::TooLong {
            name,
            len: len as usize,
            max: lim.max_positions,
        });
    }
    Ok(())
}

/// Arguments of one cached decoding step over `rows` cache rows; returns the largest
/// position.
pub(crate) fn check_step(
    lim: &Limits,
    rows: i64,
    tokens: &[i64],
    positions: &[i64],
) -> Result<i64, ModelError> {
    if tokens.len() as i64 != rows || positions.len() as i64 != rows {
        return Err(ModelError::Shape {
            name: "tokens/positions",
            expected: format!("{rows} entries each (cache rows)"),
            got: format!("{} tokens, {} positions", tokens.len(), positions.len()),
        });
    }
    let vocab = lim.vocab;
    if let Some(&id) = tokens.iter().find(|&&t| t < 0 || t as usize >= vocab) {
        return Err(ModelError::TokenOutOfRange {
            name: "tokens",
            id,
            vocab,
        });
    }
    if let Some(&p) = positions.iter().find(|&&p| p < 0) {
        return Err(ModelError::Shape {
            name: "positions",
            expected: "non-negative positions".into(),
            got: p.to_string(),
        });
    }
    let max_pos = positions.iter().copied().max().unwrap_or(0);
    if max_pos as usize + 1 >= lim.max_positions {
        return Err(ModelError::TooLong {
            name: "decoder position",
            len: max_pos as usize + 1,
            max: lim.max_positions,
        });
    }
    Ok(max_pos)
}

/// `mask [B,L]` (bool, or integer 0/1) on `device` -> keep mask `[B,1,1,L]` bool.
pub(crate) fn check_mask(
    device: Device,
    mask: &Tensor,
    b: i64,
    l: i64,
) -> Result<Tensor, ModelError> {
    if mask.size() != [b, l] || mask.device() != device || mask.is_floating_point() {
        return Err(shape_err(
            "enc_mask",
            &format!("[{b},{l}] bool on {device:?}"),
            mask,
        ));
    }
    let keep = if mask.kind() == Kind::Bool {
        mask.shallow_clone()
    } else {
        mask.ne(0)
    };
    Ok(keep.view([b, 1, 1, l]))
}

/// A [`ModelError::Shape`] describing `got`.
pub(crate) fn shape_err(name: &'static str, expected: &str, got: &Tensor) -> ModelError {
    ModelError::Shape {
        name,
        expected: expected.to_string(),
        got: format!("{:?} {:?} on {:?}", got.size(), got.kind(), got.device()),
    }
}
