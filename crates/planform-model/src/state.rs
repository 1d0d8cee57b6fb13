//! Loading named weights (e.g. a converted reference `state_dict`) into a
//! VarStore that holds an [`crate::EncoderDecoder`] built on its root.

use std::collections::{BTreeSet, HashMap};

use tch::{nn, Tensor};

use crate::error::ModelError;

/// True for the reference's RoPE tables (`encoder.rope.cos_param`,
/// `decoder.layers.3.attention.rope.sin_param`, ...). PyTorch's
/// `state_dict()` lists the shared RoPE module under every attention that
/// holds it; planform computes the angles on the fly, so these keys have no
/// variable and are skipped by [`load_named`].
pub fn is_rope_table_key(key: &str) -> bool {
    key.ends_with("rope.cos_param") || key.ends_with("rope.sin_param")
}

/// What [`load_named`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    /// Variables overwritten.
    pub loaded: usize,
    /// RoPE table entries ignored.
    pub skipped_rope: usize,
}

/// Copies `named` tensors into the variables of `vs` with the same names,
/// converting dtype and device. Every variable must be given exactly once
/// with the right shape; RoPE table keys are skipped; any other unknown key
/// is an error (all problems are listed in one message).
pub fn load_named(vs: &nn::VarStore, named: &[(String, Tensor)]) -> Result<LoadReport, ModelError> {
    let vars: HashMap<String, Tensor> = vs.variables();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut skipped_rope = 0;
    tch::no_grad(|| {
        for (name, src) in named {
            if is_rope_table_key(name) {
                skipped_rope += 1;
                continue;
            }
            match vars.get(name) {
                None => problems.push(format!("unexpected key {name}")),
                Some(dst) if dst.size() != src.size() => problems.push(format!(
                    "{name}: shape {:?}, variable has {:?}",
                    src.size(),
                    dst.size()
                )),
                Some(dst) => {
                    let mut dst = dst.shallow_clone();
                    dst.copy_(&src.to_kind(dst.kind()).to(dst.device()));
                    if !seen.insert(name.clone()) {
                        problems.push(format!("duplicate key {name}"));
                    }
                }
            }
        }
    });
    let missing: BTreeSet<&String> = vars.keys().filter(|k| !seen.contains(*k)).collect();
    problems.extend(missing.into_iter().map(|k| format!("missing key {k}")));
    if problems.is_empty() {
        Ok(LoadReport {
            loaded: seen.len(),
            skipped_rope,
        })
    } else {
        Err(ModelError::StateDict(problems.join("; ")))
    }
}
