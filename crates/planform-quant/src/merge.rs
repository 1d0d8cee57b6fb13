//! Offline rotations of a decoder-only model (SpinQuant's R1 and R2), merged into its
//! weights so the full-precision outputs do not change.
//!
//! Weights are stored `[out, in]` and a linear computes `y = x·Wᵀ`. With orthogonal `R`,
//! `x·Wᵀ = (x·R)·(W·R)ᵀ`. Steps (`utils/fuse_norm_utils.py`, `eval_utils/rotation_utils.py`):
//!
//! ```text
//! 1. fold each RMSNorm scale g into the linears that read its output:  W ← W·diag(g), g ← 1
//!    (attention_norm → wq, wk, wv; ffn_norm → w1, w3; norm → output head)
//! 2. untie: a tied head becomes its own `output.weight` (= embedding·diag(g_final))
//! 3. R1 (D×D, residual stream):
//!    embedding E ← E·R1 ; readers wq, wk, wv, w1, w3, output W ← W·R1 ;
//!    writers wo, w2  W ← R1ᵀ·W
//! 4. R2 (hd×hd, per stored block, value/output of every head):
//!    wv rows of kv-head j  Wv_j ← R2ᵀ·Wv_j ;  wo columns of head h  Wo_h ← Wo_h·R2
//! 5. R4 (optional): w2 ← w2·Ĥᵀ, undoing the online Hadamard on its input
//! ```
//!
//! RMSNorm without its scale commutes with R1 (`‖x·R‖ = ‖x‖`), and attention scores do not
//! see R2 (values only). The result is a new set of named weights for a config with
//! `tied_embeddings = false`; load it with [`load_into`].

use std::collections::BTreeMap;

use planform_model::{DecoderConfig, DecoderOnly};
use tch::{nn, Kind, Tensor};

use crate::error::{shape_err, QuantError, Result};
use crate::hadamard;

/// Named weights (`DecoderOnly::named_parameters` names).
pub type Weights = BTreeMap<String, Tensor>;

/// The weights of `model` as an owned map (copies, so the model is untouched).
pub fn weights_of(model: &DecoderOnly) -> Weights {
    model
        .named_parameters()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

fn get<'a>(w: &'a Weights, name: &str) -> Result<&'a Tensor> {
    w.get(name)
        .ok_or_else(|| QuantError::Missing(name.to_string()))
}

fn check_square(r: &Tensor, n: i64, what: &str) -> Result<()> {
    if r.size() != [n, n] {
        return Err(shape_err(what, &format!("[{n}, {n}]"), r));
    }
    Ok(())
}

/// Which rotations to merge: `r1` `[D, D]` and one `r2` `[hd, hd]` per stored block (an
/// empty list skips R2). Any float kind; the arithmetic is done in f64.
#[derive(Debug)]
pub struct Rotations {
    /// Residual-stream rotation.
    pub r1: Tensor,
    /// Per stored block, value/output rotation.
    pub r2: Vec<Tensor>,
    /// Merge R4's inverse into every `w2` (`W2 ← W2·Ĥᵀ`, Ĥ the orthonormal Hadamard of the
    /// FFN width), for the online Hadamard [`crate::sim::QuantSim::r4`] on its input.
    pub r4: bool,
}

/// Folds the norms, unties the head and merges `rot` into `weights` of a model with config
/// `cfg`. Returns the new weights (same kinds as the inputs) and the config to build the
/// model they belong to.
pub fn rotate(
    weights: &Weights,
    cfg: &DecoderConfig,
    rot: &Rotations,
) -> Result<(Weights, DecoderConfig)> {
    let d = cfg.dim as i64;
    let hd = (cfg.dim / cfg.heads) as i64;
    let (heads, kv_heads) = (cfg.heads as i64, cfg.kv_heads as i64);
    check_square(&rot.r1, d, "R1")?;
    if !rot.r2.is_empty() && rot.r2.len() != cfg.layers {
        return Err(QuantError::Config(format!(
            "{} R2 rotations for {} stored blocks",
            rot.r2.len(),
            cfg.layers
        )));
    }
    for r in &rot.r2 {
        check_square(r, hd, "R2")?;
    }
    let f = |t: &Tensor| t.to_kind(Kind::Double);
    let r1 = f(&rot.r1);
    let mut out = Weights::new();
    let mut put = |name: &str, t: Tensor, like: &Tensor| {
        out.insert(name.to_string(), t.to_kind(like.kind()));
    };
    // Scale folded into a reader, then R1 on its input side: W·diag(g)·R1.
    let reader = |w: &Tensor, g: &Tensor| (f(w) * f(g).unsqueeze(0)).matmul(&r1);

    let emb = get(weights, "embedding.weight")?;
    put("embedding.weight", f(emb).matmul(&r1), emb);
    for i in 0..cfg.layers {
        let name = |s: &str| format!("layers.{i}.{s}.weight");
        let g_attn = get(weights, &name("attention_norm"))?;
        let g_ffn = get(weights, &name("ffn_norm"))?;
        for p in ["attention.wq", "attention.wk"] {
            let w = get(weights, &name(p))?;
            put(&name(p), reader(w, g_attn), w);
        }
        let wv = get(weights, &name("attention.wv"))?;
        let mut v = reader(wv, g_attn); // [Hkv·hd, D]
        let wo = get(weights, &name("attention.wo"))?;
        let mut o = r1.tr().matmul(&f(wo)); // [D, H·hd]
        if let Some(r2) = rot.r2.get(i) {
            let r2 = f(r2);
            // v_j' = v_j·R2  ⇔  Wv_j ← R2ᵀ·Wv_j  (rows of kv-head j)
            v = r2
                .tr()
                .matmul(&v.view([kv_heads, hd, d]))
                .view([kv_heads * hd, d]);
            // o_h' = o_h·R2 reaches wo through Wo_h ← Wo_h·R2 (columns of head h)
            o = o.view([d, heads, hd]).matmul(&r2).view([d, heads * hd]);
        }
        put(&name("attention.wv"), v, wv);
        put(&name("attention.wo"), o, wo);
        let ones = |g: &Tensor| Tensor::ones_like(g);
        put(&name("attention_norm"), ones(g_attn), g_attn);
        put(&name("ffn_norm"), ones(g_ffn), g_ffn);
        for p in ["feed_forward.w1", "feed_forward.w3"] {
            if let Some(w) = weights.get(&name(p)) {
                put(&name(p), reader(w, g_ffn), w);
            }
        }
        let w2 = get(weights, &name("feed_forward.w2"))?;
        let mut down = r1.tr().matmul(&f(w2)); // [D, h]
        if rot.r4 {
            down = hadamard::transform(&down)?;
        }
        put(&name("feed_forward.w2"), down, w2);
    }
    let g = get(weights, "norm.weight")?;
    let head = match weights.get("output.weight") {
        Some(o) => o,
        None => emb, // tied: the head is the embedding
    };
    put("output.weight", reader(head, g), head);
    put("norm.weight", Tensor::ones_like(g), g);
    let mut cfg = cfg.clone();
    cfg.tied_embeddings = false;
    Ok((out, cfg))
}

/// Builds a model for `cfg` on `vs` and copies `weights` into it (every variable must be
/// present with its shape).
pub fn load_into(vs: &nn::VarStore, cfg: &DecoderConfig, weights: &Weights) -> Result<DecoderOnly> {
    let model = DecoderOnly::new(&vs.root(), cfg).map_err(|e| QuantError::Config(e.to_string()))?;
    tch::no_grad(|| -> Result<()> {
        for (name, var) in model.named_parameters() {
            let w = get(weights, &name)?;
            if w.size() != var.size() {
                return Err(shape_err(&name, &format!("{:?}", var.size()), w));
            }
            var.shallow_clone().f_copy_(w)?;
        }
        Ok(())
    })?;
    Ok(model)
}
