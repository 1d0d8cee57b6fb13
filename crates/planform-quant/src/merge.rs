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

use planform_model::{DecoderConfig, DecoderOnly, EncoderDecoderConfig, Model, ModelConfig};
use tch::{nn, Kind, Tensor};

use crate::error::{shape_err, QuantError, Result};
use crate::hadamard;

/// Named weights (`DecoderOnly::named_parameters` names).
pub type Weights = BTreeMap<String, Tensor>;

/// The weights of `model` as an owned map (copies, so the model is untouched).
pub fn weights_of(model: &DecoderOnly) -> Weights {
    copies(model.named_parameters())
}

/// [`weights_of`] for either family.
pub fn weights_of_model(model: &Model) -> Weights {
    copies(model.named_parameters())
}

fn copies(named: Vec<(String, Tensor)>) -> Weights {
    named
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

fn dbl(t: &Tensor) -> Tensor {
    t.to_kind(Kind::Double)
}

/// New weights, each stored in the kind of the weight it replaces.
struct Merged<'a> {
    src: &'a Weights,
    out: Weights,
}

impl<'a> Merged<'a> {
    fn get(&self, name: &str) -> Result<&'a Tensor> {
        get(self.src, name)
    }

    fn put(&mut self, name: &str, t: Tensor) -> Result<()> {
        let like = self.get(name)?.kind();
        self.out.insert(name.to_string(), t.to_kind(like));
        Ok(())
    }

    /// A reader of a normed stream: the norm's scale folded in, R1 on its input side
    /// (`W·diag(g)·R1`; `g` = None for an input without a norm).
    fn reader(&self, w: &str, g: Option<&str>, r1: &Tensor) -> Result<Tensor> {
        // Out of place throughout: `dbl` of an f64 weight is the weight itself.
        let t = match g {
            Some(g) => dbl(self.get(w)?) * dbl(self.get(g)?).unsqueeze(0),
            None => dbl(self.get(w)?),
        };
        Ok(t.matmul(r1))
    }

    /// A norm whose scale was folded into its readers: all ones.
    fn unit(&mut self, g: &str) -> Result<()> {
        let ones = Tensor::ones_like(self.get(g)?);
        self.put(g, ones)
    }

    /// One attention (`{p}.wq/wk/wv/wo.weight`): queries (and, for self-attention, keys
    /// and values) read the stream through norm `g` (R1 folded), the output writes to it
    /// (`R1ᵀ·Wo`), R2 turns each value head (`Wv_j ← R2ᵀ·Wv_j`) and the matching columns
    /// of `wo` (`Wo_h ← Wo_h·R2`). Cross-attention keys and values read the encoder's
    /// memory, which no R1 rotates.
    fn attention(
        &mut self,
        p: &str,
        g: &str,
        r1: &Tensor,
        r2: Option<&Tensor>,
        heads: Heads,
        cross: bool,
    ) -> Result<()> {
        let name = |w: &str| format!("{p}.{w}.weight");
        let q = self.reader(&name("wq"), Some(g), r1)?;
        self.put(&name("wq"), q)?;
        let (k, mut v) = if cross {
            (dbl(self.get(&name("wk"))?), dbl(self.get(&name("wv"))?))
        } else {
            (
                self.reader(&name("wk"), Some(g), r1)?,
                self.reader(&name("wv"), Some(g), r1)?,
            )
        };
        self.put(&name("wk"), k)?;
        let mut o = r1.tr().matmul(&dbl(self.get(&name("wo"))?)); // [D, H·hd]
        if let Some(r2) = r2 {
            let r2 = dbl(r2);
            let Heads {
                heads,
                kv_heads,
                hd,
            } = heads;
            let din = v.size()[1];
            let dout = o.size()[0];
            v = r2
                .tr()
                .matmul(&v.view([kv_heads, hd, din]))
                .view([kv_heads * hd, din]);
            o = o
                .view([dout, heads, hd])
                .matmul(&r2)
                .view([dout, heads * hd]);
        }
        self.put(&name("wv"), v)?;
        self.put(&name("wo"), o)?;
        self.unit(g)
    }

    /// The feed-forward block `{p}.feed_forward`: `w1`/`w3` read through norm `g`, `w2`
    /// writes (`R1ᵀ·W2`, then `·Ĥᵀ` for R4).
    fn feed_forward(&mut self, p: &str, g: &str, r1: &Tensor, r4: bool) -> Result<()> {
        let name = |w: &str| format!("{p}.feed_forward.{w}.weight");
        for w in ["w1", "w3"] {
            if self.src.contains_key(&name(w)) {
                let t = self.reader(&name(w), Some(g), r1)?;
                self.put(&name(w), t)?;
            }
        }
        let mut down = r1.tr().matmul(&dbl(self.get(&name("w2"))?)); // [D, h]
        if r4 {
            down = hadamard::transform(&down)?;
        }
        self.put(&name("w2"), down)?;
        self.unit(g)
    }
}

/// Head counts of one attention.
#[derive(Clone, Copy)]
struct Heads {
    heads: i64,
    kv_heads: i64,
    hd: i64,
}

fn check_r2(r2: &[Tensor], layers: usize, hd: i64, what: &str) -> Result<()> {
    if !r2.is_empty() && r2.len() != layers {
        return Err(QuantError::Config(format!(
            "{} {what} rotations for {layers} blocks",
            r2.len()
        )));
    }
    r2.iter().try_for_each(|r| check_square(r, hd, what))
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
    let heads = Heads {
        heads: cfg.heads as i64,
        kv_heads: cfg.kv_heads as i64,
        hd: (cfg.dim / cfg.heads) as i64,
    };
    check_square(&rot.r1, d, "R1")?;
    check_r2(&rot.r2, cfg.layers, heads.hd, "R2")?;
    let r1 = dbl(&rot.r1);
    let mut m = Merged {
        src: weights,
        out: Weights::new(),
    };
    let emb = m.get("embedding.weight")?;
    m.put("embedding.weight", dbl(emb).matmul(&r1))?;
    for i in 0..cfg.layers {
        let p = format!("layers.{i}");
        let g = |n: &str| format!("{p}.{n}.weight");
        m.attention(
            &format!("{p}.attention"),
            &g("attention_norm"),
            &r1,
            rot.r2.get(i),
            heads,
            false,
        )?;
        m.feed_forward(&p, &g("ffn_norm"), &r1, rot.r4)?;
    }
    // Tied: the head is the embedding; untied here, it becomes `output.weight`.
    let head = weights.get("output.weight").unwrap_or(emb);
    let folded = (dbl(head) * dbl(m.get("norm.weight")?).unsqueeze(0)).matmul(&r1);
    m.out
        .insert("output.weight".into(), folded.to_kind(head.kind()));
    m.unit("norm.weight")?;
    let mut cfg = cfg.clone();
    cfg.tied_embeddings = false;
    Ok((m.out, cfg))
}

/// The rotations of an encoder–decoder: one R1 per residual stream (encoder width,
/// decoder width) and one R2 per attention (encoder self-attention, decoder
/// self-attention, decoder cross-attention; empty lists skip them).
#[derive(Debug)]
pub struct EncDecRotations {
    /// Encoder residual stream `[De, De]`.
    pub enc_r1: Tensor,
    /// Decoder residual stream `[D, D]`.
    pub dec_r1: Tensor,
    /// Per encoder block `[hd_e, hd_e]`.
    pub enc_r2: Vec<Tensor>,
    /// Per decoder block, self-attention `[hd, hd]`.
    pub dec_r2: Vec<Tensor>,
    /// Per decoder block, cross-attention `[hd, hd]`.
    pub cross_r2: Vec<Tensor>,
    /// Merge R4's inverse into every `w2`.
    pub r4: bool,
}

/// [`rotate`] for the Searchformer encoder–decoder (reference names):
///
/// ```text
/// encoder: embedding·R1e; blocks as the decoder-only model's with R1e; the output norm folds
///          into the output projection, which reads R1e and writes the memory (unrotated)
/// decoder: embedding·R1d; self-attention and FFN as above with R1d; cross-attention: wq reads
///          the stream through attention_feat_norm (folded, ·R1d), wk/wv read the memory (no
///          R1), R2 on its value heads and wo's columns, wo writes (R1dᵀ·Wo); the output norm
///          folds into the head (·R1d)
/// ```
///
/// The config does not change (no tying in this family).
pub fn rotate_encoder_decoder(
    weights: &Weights,
    cfg: &EncoderDecoderConfig,
    rot: &EncDecRotations,
) -> Result<Weights> {
    let stack = |s: &planform_model::StackConfig| Heads {
        heads: s.heads as i64,
        kv_heads: s.heads as i64,
        hd: s.head_dim() as i64,
    };
    let (enc, dec) = (stack(&cfg.encoder), stack(&cfg.decoder));
    check_square(&rot.enc_r1, cfg.encoder.dim as i64, "encoder R1")?;
    check_square(&rot.dec_r1, cfg.decoder.dim as i64, "decoder R1")?;
    check_r2(&rot.enc_r2, cfg.encoder.layers, enc.hd, "encoder R2")?;
    check_r2(&rot.dec_r2, cfg.decoder.layers, dec.hd, "decoder R2")?;
    check_r2(
        &rot.cross_r2,
        cfg.decoder.layers,
        dec.hd,
        "cross-attention R2",
    )?;
    let (r1e, r1d) = (dbl(&rot.enc_r1), dbl(&rot.dec_r1));
    let mut m = Merged {
        src: weights,
        out: Weights::new(),
    };
    for (side, r1) in [("encoder", &r1e), ("decoder", &r1d)] {
        let name = format!("{side}.embedding.weight");
        let e = dbl(m.get(&name)?).matmul(r1);
        m.put(&name, e)?;
        let head = format!("{side}.output.1.weight");
        let h = m.reader(&head, Some(&format!("{side}.output.0.weight")), r1)?;
        m.put(&head, h)?;
        m.unit(&format!("{side}.output.0.weight"))?;
    }
    for i in 0..cfg.encoder.layers {
        let p = format!("encoder.layers.{i}");
        let g = |n: &str| format!("{p}.{n}.weight");
        m.attention(
            &format!("{p}.attention"),
            &g("attention_norm"),
            &r1e,
            rot.enc_r2.get(i),
            enc,
            false,
        )?;
        m.feed_forward(&p, &g("ffn_norm"), &r1e, rot.r4)?;
    }
    for i in 0..cfg.decoder.layers {
        let p = format!("decoder.layers.{i}");
        let g = |n: &str| format!("{p}.{n}.weight");
        m.attention(
            &format!("{p}.attention"),
            &g("attention_norm"),
            &r1d,
            rot.dec_r2.get(i),
            dec,
            false,
        )?;
        m.attention(
            &format!("{p}.attention_feat"),
            &g("attention_feat_norm"),
            &r1d,
            rot.cross_r2.get(i),
            dec,
            true,
        )?;
        m.feed_forward(&p, &g("ffn_norm"), &r1d, rot.r4)?;
    }
    if let Some(missing) = weights.keys().find(|k| !m.out.contains_key(*k)) {
        return Err(QuantError::Config(format!(
            "`{missing}` is not a weight of the encoder–decoder this config describes"
        )));
    }
    Ok(m.out)
}

/// The rotations of either family.
#[derive(Debug)]
pub enum ModelRotations {
    /// R1, R2 per block.
    DecoderOnly(Rotations),
    /// R1 per stream, R2 per attention.
    EncoderDecoder(EncDecRotations),
}

impl ModelRotations {
    /// Merges the rotations into `weights` of a model with config `cfg` (see [`rotate`] and
    /// [`rotate_encoder_decoder`]); differentiable in the rotation matrices.
    pub fn merge(&self, weights: &Weights, cfg: &ModelConfig) -> Result<(Weights, ModelConfig)> {
        match (self, cfg) {
            (ModelRotations::DecoderOnly(r), ModelConfig::DecoderOnly(c)) => {
                let (w, c2) = rotate(weights, c, r)?;
                Ok((w, ModelConfig::DecoderOnly(c2)))
            }
            (ModelRotations::EncoderDecoder(r), ModelConfig::EncoderDecoder(c)) => {
                Ok((rotate_encoder_decoder(weights, c, r)?, cfg.clone()))
            }
            _ => Err(QuantError::Config(
                "rotations of one model family given to the other".into(),
            )),
        }
    }

    /// A copy with every matrix detached from any graph.
    pub fn clone_detached(&self) -> ModelRotations {
        let d = |v: &[Tensor]| v.iter().map(|t| t.detach().copy()).collect::<Vec<_>>();
        match self {
            ModelRotations::DecoderOnly(r) => ModelRotations::DecoderOnly(Rotations {
                r1: r.r1.detach().copy(),
                r2: d(&r.r2),
                r4: r.r4,
            }),
            ModelRotations::EncoderDecoder(r) => ModelRotations::EncoderDecoder(EncDecRotations {
                enc_r1: r.enc_r1.detach().copy(),
                dec_r1: r.dec_r1.detach().copy(),
                enc_r2: d(&r.enc_r2),
                dec_r2: d(&r.dec_r2),
                cross_r2: d(&r.cross_r2),
                r4: r.r4,
            }),
        }
    }

    /// The learnable matrices (R1s and R2s) by name: `r1`, `r2.{i}` (decoder-only);
    /// `encoder.r1`, `decoder.r1`, `encoder.r2.{i}`, `decoder.r2.{i}`, `cross.r2.{i}`.
    pub fn matrices_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut out: Vec<(String, &mut Tensor)> = Vec::new();
        match self {
            ModelRotations::DecoderOnly(r) => {
                out.push(("r1".into(), &mut r.r1));
                out.extend(
                    r.r2.iter_mut()
                        .enumerate()
                        .map(|(i, t)| (format!("r2.{i}"), t)),
                );
            }
            ModelRotations::EncoderDecoder(r) => {
                out.push(("encoder.r1".into(), &mut r.enc_r1));
                out.push(("decoder.r1".into(), &mut r.dec_r1));
                for (prefix, v) in [
                    ("encoder.r2", &mut r.enc_r2),
                    ("decoder.r2", &mut r.dec_r2),
                    ("cross.r2", &mut r.cross_r2),
                ] {
                    out.extend(
                        v.iter_mut()
                            .enumerate()
                            .map(|(i, t)| (format!("{prefix}.{i}"), t)),
                    );
                }
            }
        }
        out
    }
}

/// Builds a model for `cfg` on `vs` and copies `weights` into it (every variable must be
/// present with its shape).
pub fn load_into(vs: &nn::VarStore, cfg: &DecoderConfig, weights: &Weights) -> Result<DecoderOnly> {
    let model = planform_model::zero_filled(|| DecoderOnly::new(&vs.root(), cfg))
        .map_err(|e| QuantError::Config(e.to_string()))?;
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

/// [`load_into`] for either family: builds a model for `cfg` on `vs` and copies `weights`
/// into it (every parameter present with its shape, nothing else).
pub fn load_model_into(vs: &nn::VarStore, cfg: &ModelConfig, weights: &Weights) -> Result<Model> {
    let model =
        Model::new_zero_filled(&vs.root(), cfg).map_err(|e| QuantError::Config(e.to_string()))?;
    let named: Vec<(String, Tensor)> = weights
        .iter()
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    planform_model::load_named(vs, &named).map_err(|e| QuantError::Config(e.to_string()))?;
    Ok(model)
}
