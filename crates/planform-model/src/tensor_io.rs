//! Reading and writing named tensors as safetensors files, with typed errors.
//!
//! Writes are atomic (temporary file in the same directory, then rename). Reads validate
//! the whole file (header, offsets, sizes) before any tensor is built, so a truncated or
//! corrupt file is reported as a [`ModelError::Checkpoint`] naming the file.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};
use tch::{Device, Kind, Tensor};

use crate::error::ModelError;

type Result<T, E = ModelError> = std::result::Result<T, E>;

/// A tensor copied to host memory, ready for serialisation.
#[derive(Debug, Clone)]
pub struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn kind_to_dtype(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Int16 => Dtype::I16,
        Kind::Int8 => Dtype::I8,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

fn dtype_to_kind(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

impl HostTensor {
    /// Copies `t` (any device) into host memory.
    pub fn from_tensor(name: &str, t: &Tensor) -> Result<Self> {
        let kind = t.kind();
        let dtype = kind_to_dtype(kind).ok_or_else(|| {
            ModelError::Config(format!("tensor {name}: kind {kind:?} cannot be saved"))
        })?;
        let t = t.f_to_device(Device::Cpu)?.f_contiguous()?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let numel: usize = shape.iter().product();
        let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, numel)?;
        Ok(HostTensor { dtype, shape, data })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

impl View for &HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Writes `tensors` to `path` atomically, with string `metadata` in the header.
pub fn save_tensors(
    path: &Path,
    tensors: &[(String, HostTensor)],
    metadata: BTreeMap<String, String>,
) -> Result<()> {
    let meta: HashMap<String, String> = metadata.into_iter().collect();
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| ModelError::checkpoint(path, format!("cannot serialise: {e}")))?;
    let bytes = canonical_header(bytes)
        .map_err(|e| ModelError::checkpoint(path, format!("cannot serialise: {e}")))?;
    write_atomic(path, &bytes)
}

/// Rewrites the JSON header of serialised safetensors bytes with sorted keys. `safetensors`
/// takes the metadata as a `HashMap`, whose iteration order differs between processes, so
/// without this the same checkpoint would not always be the same bytes. The header keeps
/// its length (same keys and values, reordered), so the tensor data does not move.
fn canonical_header(mut bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("no header length")?;
    let n = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let header = bytes.get(8..8 + n).ok_or("header past the end")?;
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let text = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    if text.len() > n {
        return Err(format!("canonical header is {} bytes, > {n}", text.len()));
    }
    let slot = &mut bytes[8..8 + n];
    slot[..text.len()].copy_from_slice(text.as_bytes());
    slot[text.len()..].fill(b' ');
    Ok(bytes)
}

/// Tensors and header metadata read from a safetensors file.
pub struct LoadedTensors {
    /// Tensors by name, on the requested device.
    pub tensors: BTreeMap<String, Tensor>,
    /// The `__metadata__` map of the header (empty if absent).
    pub metadata: BTreeMap<String, String>,
}

/// Reads a whole safetensors file, validating it, and moves the tensors to `device`.
pub fn load_tensors(path: &Path, device: Device) -> Result<LoadedTensors> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::checkpoint(path, "file is missing"),
        _ => ModelError::io(path, e),
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        ModelError::checkpoint(path, format!("corrupt or truncated safetensors: {e}"))
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| ModelError::checkpoint(path, format!("corrupt safetensors header: {e}")))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = dtype_to_kind(view.dtype()).ok_or_else(|| {
            ModelError::checkpoint(
                path,
                format!("tensor {name}: unsupported dtype {:?}", view.dtype()),
            )
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)?.f_to_device(device)?;
        tensors.insert(name, t);
    }
    Ok(LoadedTensors { tensors, metadata })
}

/// Writes `bytes` to `path` through a temporary sibling file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    planform_core::fs::write_atomic(path, bytes).map_err(|e| ModelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_tensors_and_metadata_give_the_same_bytes() {
        // The metadata passes through a HashMap; each new one iterates in its own order.
        let dir = tempfile::tempdir().unwrap();
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        let list = vec![("w".to_string(), HostTensor::from_tensor("w", &a).unwrap())];
        let meta: BTreeMap<String, String> = (0..16)
            .map(|i| (format!("key{i}"), format!("value{i}")))
            .collect();
        let mut files = Vec::new();
        for i in 0..8 {
            let p = dir.path().join(format!("t{i}.safetensors"));
            save_tensors(&p, &list, meta.clone()).unwrap();
            files.push(std::fs::read(&p).unwrap());
            let got = load_tensors(&p, Device::Cpu).unwrap();
            assert_eq!(got.metadata, meta);
            assert!(got.tensors["w"].equal(&a));
        }
        assert!(files.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn round_trip_keeps_bits_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        let a = Tensor::from_slice(&[1.5f32, -2.25, 3.0e-8, f32::MAX]).view([2, 2]);
        let b = Tensor::from_slice(&[7i64]).view([] as [i64; 0]);
        let list = vec![
            ("a".to_string(), HostTensor::from_tensor("a", &a).unwrap()),
            ("b".to_string(), HostTensor::from_tensor("b", &b).unwrap()),
        ];
        let mut meta = BTreeMap::new();
        meta.insert("k".to_string(), "v".to_string());
        save_tensors(&p, &list, meta.clone()).unwrap();
        let got = load_tensors(&p, Device::Cpu).unwrap();
        assert_eq!(got.metadata, meta);
        assert_eq!(got.tensors["a"].size(), vec![2, 2]);
        assert!(got.tensors["a"].equal(&a));
        assert_eq!(got.tensors["b"].size(), Vec::<i64>::new());
        assert_eq!(got.tensors["b"].int64_value(&[]), 7);
    }

    #[test]
    fn truncated_file_is_a_checkpoint_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        let a = Tensor::from_slice(&[1.0f32; 64]);
        save_tensors(
            &p,
            &[("a".into(), HostTensor::from_tensor("a", &a).unwrap())],
            BTreeMap::new(),
        )
        .unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        let err = load_tensors(&p, Device::Cpu).err().unwrap();
        assert!(matches!(err, ModelError::Checkpoint { .. }), "{err}");
        std::fs::write(&p, b"garbage").unwrap();
        assert!(matches!(
            load_tensors(&p, Device::Cpu),
            Err(ModelError::Checkpoint { .. })
        ));
        std::fs::remove_file(&p).unwrap();
        let err = load_tensors(&p, Device::Cpu).err().unwrap();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
