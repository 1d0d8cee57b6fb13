//! Quantized checkpoints: real low-bit weight storage, written once and loaded for
//! evaluation and decoding, for both model families.
//!
//! [`quantize_checkpoint`] takes a full-precision checkpoint (either family) and a
//! [`QuantSpec`], merges the rotations (as [`QuantSpec::apply`] does), quantizes every block
//! linear for real and writes a checkpoint directory in the usual layout:
//!
//! ```text
//! <out>/model.safetensors   float: embeddings, norms (all ones after folding), output
//!                           projections; per quantized linear `<name>` (e.g.
//!                           layers.0.attention.wq.weight, decoder.layers.0.attention_feat.wv.weight):
//!                             <name>.codes   [out, in]    Int8 / Uint8, one code per byte (5–8 bits)
//!                             <name>.codes4  [out, in/2]  Uint8, two 4-bit (or narrower) codes per
//!                                                         byte: element 2j low nibble, 2j+1 high;
//!                                                         symmetric codes stored + 2^(b−1)
//!                             <name>.scale   [out, G]     f32
//!                             <name>.zero    [out, G]     f32 (asymmetric only)
//! <out>/state.json          the source's fields (step, vocabulary, training config), the
//!                           model config (decoder-only: head untied), digests, and `quant`:
//!                           {"spec": …, "source": dir, "source_step": n, "source_sha256": …}
//! ```
//!
//! [`load_model`] reads either kind of checkpoint: a full-precision one as
//! `planform_model::load_model` does, a quantized one with its linears holding
//! [`QuantizedWeight`]s (dequantized on the fly, one byte per code in memory) and the
//! spec's activation hook installed. Its outputs equal those of the simulated model
//! ([`QuantSpec::apply`] on the source) bit for bit on the same device.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planform_model::checkpoint::{
    check_finite, check_recorded_config, read_header, FileDigest, CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION, MODEL_CONFIG_KEY, MODEL_FILE, QUANT_FIELD, STATE_FILE,
};
use planform_model::tensor_io::{load_tensors, save_tensors, write_atomic, HostTensor};
use planform_model::{resolve_checkpoint, LoadedModel, Model, QuantizedWeight, Weight};
use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::sim::QuantSim;

use crate::error::{QuantError, Result};
use crate::merge::ModelRotations;
use crate::spec::{is_quantized_linear, QuantSpec};

/// The rotation matrices a quantized checkpoint was made with (merged already; kept to
/// reproduce or inspect them).
pub const ROTATIONS_FILE: &str = "rotations.safetensors";

/// The `quant` field of a quantized checkpoint's `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantInfo {
    /// The setting.
    pub spec: QuantSpec,
    /// The full-precision checkpoint it was made from.
    pub source: PathBuf,
    /// Its training step.
    pub source_step: u64,
    /// sha256 of its `model.safetensors`.
    pub source_sha256: String,
    /// For learned rotations: how they were trained ([`crate::learn::LearnReport`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<crate::learn::LearnReport>,
}

/// What [`quantize_checkpoint`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantizeReport {
    /// The checkpoint directory written.
    pub dir: PathBuf,
    /// Bytes of the source's `model.safetensors`.
    pub source_bytes: u64,
    /// Bytes of the new `model.safetensors`.
    pub bytes: u64,
    /// Weights stored as integer codes.
    pub quantized_params: u64,
    /// Weights kept in full precision (embedding, norms, head).
    pub float_params: u64,
}

/// Codes of `bits` ≤ 4 go two to a byte.
fn packs(bits: u32, inputs: i64) -> bool {
    bits <= 4 && inputs % 2 == 0
}

/// `[out, in]` codes → `[out, in/2]` bytes (low nibble first); symmetric codes offset to ≥ 0.
fn pack(q: &QuantizedWeight) -> Tensor {
    let off = if q.zero.is_some() {
        0
    } else {
        1i64 << (q.bits - 1)
    };
    let (out, inp) = (q.codes.size()[0], q.codes.size()[1]);
    let u = (q.codes.to_kind(Kind::Int16) + off).view([out, inp / 2, 2]);
    (u.select(2, 0) + u.select(2, 1) * 16).to_kind(Kind::Uint8)
}

/// Inverse of [`pack`].
fn unpack(bytes: &Tensor, bits: u32, asymmetric: bool) -> Tensor {
    let p = bytes.to_kind(Kind::Int16);
    let codes = Tensor::stack(&[p.remainder(16), p.floor_divide_scalar(16)], 2);
    let (out, half) = (bytes.size()[0], bytes.size()[1]);
    let codes = codes.view([out, 2 * half]);
    if asymmetric {
        codes.to_kind(Kind::Uint8)
    } else {
        (codes - (1i64 << (bits - 1))).to_kind(Kind::Int8)
    }
}

/// Quantizes the checkpoint at `src` (a run, checkpoints or checkpoint directory) with
/// `spec` (rotations drawn from its seed; learned rotations go through
/// [`write_quantized`]) and writes a quantized checkpoint directory `out` (refused if it
/// exists, unless `overwrite`). The directory appears whole or not at all.
pub fn quantize_checkpoint(
    src: &Path,
    spec: &QuantSpec,
    out: &Path,
    overwrite: bool,
) -> Result<QuantizeReport> {
    refuse_existing(out, overwrite)?;
    let loaded = planform_model::load_model(src, Device::Cpu)?;
    if spec.rotation.kind == crate::Rotation::Learned {
        return Err(QuantError::Config(
            "learned rotations are trained on data: pass --data (planform quantize)".into(),
        ));
    }
    let rot = spec.draw_rotations(&loaded.model.config())?;
    write_quantized(&loaded, spec, &rot, None, out, overwrite)
}

fn refuse_existing(out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() && !overwrite {
        return Err(QuantError::Config(format!(
            "{} exists; pass --overwrite to replace it",
            out.display()
        )));
    }
    Ok(())
}

/// Writes the quantized checkpoint of `loaded` (a full-precision model) with `spec` and the
/// given rotations (drawn or learned; `learned` records how) to `out`, with the rotation
/// matrices in `rotations.safetensors` beside it.
pub fn write_quantized(
    loaded: &LoadedModel,
    spec: &QuantSpec,
    rotations: &ModelRotations,
    learned: Option<crate::learn::LearnReport>,
    out: &Path,
    overwrite: bool,
) -> Result<QuantizeReport> {
    refuse_existing(out, overwrite)?;
    let model = &loaded.model;
    let source_file = loaded.dir.join(MODEL_FILE);
    let source_digest = FileDigest::of(&source_file)?;
    let (weights, model_config) = tch::no_grad(|| {
        let base = crate::merge::weights_of_model(model);
        rotations.merge(&base, &model.config())
    })?;
    let mut rot_host = Vec::new();
    let mut rot_copy = rotations.clone_detached();
    for (name, r) in rot_copy.matrices_mut() {
        rot_host.push((
            name,
            HostTensor::from_tensor("rotation", &r.to_device(Device::Cpu))?,
        ));
    }
    let quantizer = spec.weight_quantizer();
    let (mut quantized_params, mut float_params) = (0u64, 0u64);
    let mut host = Vec::new();
    let mut put = |name: String, t: &Tensor| -> Result<()> {
        let h = HostTensor::from_tensor(&name, t)?;
        host.push((name, h));
        Ok(())
    };
    for (name, w) in &weights {
        match quantizer {
            Some(rtn) if is_quantized_linear(name) => {
                let q = rtn.quantize_weight(w)?;
                quantized_params += w.numel() as u64;
                if packs(q.bits, w.size()[1]) {
                    put(format!("{name}.codes4"), &pack(&q))?;
                } else {
                    put(format!("{name}.codes"), &q.codes)?;
                }
                put(format!("{name}.scale"), &q.scale)?;
                if let Some(z) = &q.zero {
                    put(format!("{name}.zero"), z)?;
                }
            }
            _ => {
                float_params += w.numel() as u64;
                put(name.clone(), w)?;
            }
        }
    }
    host.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "planform-model".to_string());
    meta.insert(
        MODEL_CONFIG_KEY.to_string(),
        json(&model_config)?.to_string(),
    );
    meta.insert(QUANT_FIELD.to_string(), json(spec)?.to_string());

    let tmp = planform_core::fs::temp_sibling(out);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    let write = || -> Result<u64> {
        let model_path = tmp.join(MODEL_FILE);
        save_tensors(&model_path, &host, meta)?;
        let digest = FileDigest::of(&model_path)?;
        save_tensors(&tmp.join(ROTATIONS_FILE), &rot_host, BTreeMap::new())?;
        let info = QuantInfo {
            spec: *spec,
            source: loaded.dir.clone(),
            source_step: loaded.step,
            source_sha256: source_digest.sha256.clone(),
            learned: learned.clone(),
        };
        let state = serde_json::json!({
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": loaded.step,
            "model": json(&model_config)?,
            "vocab": json(&loaded.vocab)?,
            "files": { MODEL_FILE: json(&digest)? },
            "config": loaded.train_config,
            QUANT_FIELD: json(&info)?,
        });
        let text =
            serde_json::to_vec_pretty(&state).map_err(|e| QuantError::Config(e.to_string()))?;
        write_atomic(&tmp.join(STATE_FILE), &text)?;
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| io_err(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| io_err(out, e))?;
        Ok(digest.bytes)
    };
    let bytes = write().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&tmp);
    })?;
    Ok(QuantizeReport {
        dir: out.to_path_buf(),
        source_bytes: source_digest.bytes,
        bytes,
        quantized_params,
        float_params,
    })
}

fn io_err(path: &Path, e: std::io::Error) -> QuantError {
    QuantError::Config(format!("{}: {e}", path.display()))
}

fn json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| QuantError::Config(e.to_string()))
}

/// A model loaded by [`load_model`].
pub struct Loaded {
    /// The model, its store, config, vocabulary and provenance.
    pub model: LoadedModel,
    /// The quantization of a quantized checkpoint; `None` for a full-precision one.
    pub quant: Option<QuantInfo>,
}

impl Loaded {
    /// Switches the stored 8-bit weights to integer matmul on the CPU
    /// ([`QuantizedWeight::enable_int8_matmul`]), with the checkpoint's activation
    /// quantizer; returns how many linears now multiply as integers. Refused unless the
    /// checkpoint holds 8-bit symmetric weights with one scale per row and quantized
    /// activations (`w8a8…`, `w8a4…`), otherwise the integer product would not be the
    /// model's arithmetic, and unless the model is on the CPU.
    pub fn enable_int8_matmul(&mut self) -> Result<usize> {
        let refuse = |why: String| {
            QuantError::Config(format!(
                "integer matmul needs a checkpoint quantized with 8-bit symmetric per-row \
                 weights and quantized activations (`planform quantize --quant w8a8`); {why}"
            ))
        };
        let Some(info) = &self.quant else {
            return Err(refuse("this one is in full precision".into()));
        };
        let device = self.model.vs.device();
        if device != Device::Cpu {
            return Err(QuantError::Config(format!(
                "integer matmul runs on the CPU (libtorch's `_int_mm`); the model is on \
                 {device:?}, where its weights are dequantized: drop --int8-matmul or use \
                 --device cpu"
            )));
        }
        let act = info.spec.int8_matmul_activations().map_err(refuse)?;
        let mut n = 0;
        for (name, linear) in self.model.model.linears_mut() {
            if let Weight::Quantized(q) = &mut linear.weight {
                q.enable_int8_matmul(act.bits, act.asymmetric)
                    .map_err(|e| QuantError::Config(format!("`{name}`: {e}")))?;
                n += 1;
            }
        }
        // The integer linears quantize their inputs themselves: the hook no longer does.
        let sim = QuantSim {
            integer_linears: true,
            ..info.spec.sim()
        };
        self.model.model.set_activation_hook(Some(sim.hook()));
        Ok(n)
    }
}

/// Loads a full-precision or quantized checkpoint (a run, checkpoints or checkpoint
/// directory) onto `device`.
pub fn load_model(path: &Path, device: Device) -> Result<Loaded> {
    let dir = resolve_checkpoint(path)?;
    let header = read_header(&dir, &[MODEL_FILE])?;
    let Some(info) = header.json.get(QUANT_FIELD) else {
        let model = planform_model::load_model(&dir, device)?;
        return Ok(Loaded { model, quant: None });
    };
    let state = dir.join(STATE_FILE);
    let bad = |reason: String| QuantError::Config(format!("{}: {reason}", state.display()));
    let info: QuantInfo = serde_json::from_value(info.clone())
        .map_err(|e| bad(format!("field `{QUANT_FIELD}`: {e}")))?;
    info.spec
        .check(&header.model)
        .map_err(|e| bad(format!("field `{QUANT_FIELD}`: {e}")))?;
    let path = dir.join(MODEL_FILE);
    let mut tensors = load_tensors(&path, device)?;
    check_recorded_config(&dir, &tensors.metadata, &header.model)?;
    check_finite(&path, &tensors.tensors)?;
    let vs = VarStore::new(device);
    let mut m = Model::new_zero_filled(&vs.root(), &header.model)?;
    let bits = info.spec.bits.weights;
    let asymmetric = info.spec.weight_asymmetric;
    let mut swapped = Vec::new();
    for (name, linear) in m.linears_mut() {
        let Some(bits) = bits.filter(|_| is_quantized_linear(&name)) else {
            continue;
        };
        let mut take = |suffix: &str| tensors.tensors.remove(&format!("{name}.{suffix}"));
        let missing = |what: &str| bad(format!("{MODEL_FILE} lacks `{name}.{what}`"));
        let codes = match (take("codes"), take("codes4")) {
            (Some(c), None) => c,
            (None, Some(p)) => {
                if p.kind() != Kind::Uint8 || p.dim() != 2 {
                    return Err(bad(format!("`{name}.codes4` is not a 2-D Uint8 tensor")));
                }
                unpack(&p, bits, asymmetric)
            }
            _ => return Err(missing("codes` or `codes4")),
        };
        let scale = take("scale").ok_or_else(|| missing("scale"))?;
        let zero = take("zero");
        if zero.is_some() != asymmetric {
            return Err(bad(format!(
                "`{name}`: the spec says {} weights, the file {} zero points",
                if asymmetric {
                    "asymmetric"
                } else {
                    "symmetric"
                },
                if zero.is_some() { "has" } else { "lacks" }
            )));
        }
        let want = linear.weight_tensor().size();
        if codes.size() != want {
            return Err(bad(format!(
                "`{name}`: codes {:?}, the model needs {want:?}",
                codes.size()
            )));
        }
        let q = QuantizedWeight::new(codes, scale, zero, bits)
            .map_err(|e| bad(format!("`{name}`: {e}")))?;
        linear.weight = Weight::Quantized(q);
        swapped.push(name);
    }
    // The float variables the quantized linears replaced leave the store (and memory).
    {
        let mut vars = vs.variables_.lock().expect("variable store lock");
        for name in &swapped {
            if let Some(t) = vars.named_variables.remove(name) {
                vars.trainable_variables
                    .retain(|v| v.tensor.data_ptr() != t.data_ptr());
            }
        }
    }
    let rest: Vec<(String, Tensor)> = tensors.tensors.into_iter().collect();
    planform_model::load_named(&vs, &rest).map_err(|e| bad(format!("{MODEL_FILE}: {e}")))?;
    info.spec.install_hook(&mut m);
    let model = LoadedModel {
        vs,
        model: m,
        config: header.model.clone(),
        vocab: header.vocab,
        step: header.step,
        train_config: header.json.get("config").cloned().unwrap_or_default(),
        dir,
    };
    Ok(Loaded {
        model,
        quant: Some(info),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtn::Rtn;

    #[test]
    fn nibble_packing_round_trips() {
        let w = (Tensor::arange(4 * 32, (Kind::Float, Device::Cpu)) * 0.61).sin();
        let w = w.view([4, 32]);
        for bits in [2, 3, 4] {
            for asymmetric in [false, true] {
                let q = Rtn {
                    bits,
                    asymmetric,
                    group: Some(8),
                }
                .quantize_weight(&w)
                .unwrap();
                let p = pack(&q);
                assert_eq!(p.size(), [4, 16]);
                assert_eq!(p.kind(), Kind::Uint8);
                assert!(
                    unpack(&p, bits, asymmetric).equal(&q.codes),
                    "{bits} {asymmetric}"
                );
            }
        }
    }
}
