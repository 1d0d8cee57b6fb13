//! Argument checks shared by the model's entry points: shapes, dtypes,
//! devices and token ranges become [`ModelError`]s instead of libtorch panics.

use tch::{Device, Kind, Tensor};

use crate::config::ModelConfig;
use crate::error::ModelError;

/// `ids` must be a non-empty `[B,L]` Int64 tensor on `device` with ids in
/// `0..V` (range checked for CPU tensors only, to avoid a device sync).
pub(crate) fn check_ids(
    cfg: &ModelConfig,
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
    check_len(cfg, name, l)?;
    if ids.device() == Device::Cpu {
        let (lo, hi) = (ids.min().int64_value(&[]), ids.max().int64_value(&[]));
        let vocab = cfg.vocab_size;
        if let Some(id) = [lo, hi].into_iter().find(|&t| t < 0 || t as usize >= vocab) {
            return Err(ModelError::TokenOutOfRange { name, id, vocab });
        }
    }
    Ok((b, l))
}

/// Sequence lengths must stay below `max_positions` (reference `RoPE.forward`
/// asserts `offset + len < max_seq_len`).
pub(crate) fn check_len(cfg: &ModelConfig, name: &'static str, len: i64) -> Result<(), ModelError> {
    if len as usize >= cfg.max_positions {
        return Err(ModelError::TooLong {
            name,
            len: len as usize,
            max: cfg.max_positions,
        });
    }
    Ok(())
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
