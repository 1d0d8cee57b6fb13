//! The Searchformer encoder–decoder, top to bottom (reference:
//! `searchformer/transformer/model.py` and `rotary.py`).
//!
//! Notation: `B` batch, `Lp` prompt (encoder) length, `Ld` decoder length,
//! `De`/`D` encoder/decoder width, `H` heads, `hd = D / H`, `V` vocabulary.
//!
//! ```text
//! enc_ids [B,Lp] -> embedding [B,Lp,De] -> N x EncoderBlock -> RMSNorm -> Linear(De->D) = memory [B,Lp,D]
//! dec_ids [B,Ld] -> embedding [B,Ld,D]  -> N x DecoderBlock(memory, enc_mask) -> RMSNorm -> Linear(D->V) = logits
//! EncoderBlock:  h = x + SelfAttn(RMSNorm(x)) [RoPE, unmasked];            out = h + SwiGLU(RMSNorm(h))
//! DecoderBlock:  h = x + SelfAttn(RMSNorm(x)) [RoPE, causal];
//!                h = h + CrossAttn(RMSNorm(h), memory) [no RoPE, key padding mask]; out = h + SwiGLU(RMSNorm(h))
//! ```
//!
//! Variable names follow the reference `state_dict` keys exactly when the
//! model is built on a VarStore's root path: `encoder.embedding.weight`,
//! `encoder.layers.{i}.attention.{wq,wk,wv,wo}.weight`,
//! `encoder.layers.{i}.feed_forward.{w1,w2,w3}.weight`,
//! `encoder.layers.{i}.{attention_norm,ffn_norm}.weight`, `encoder.output.0.weight` (norm),
//! `encoder.output.1.weight` (Linear), and for the decoder additionally
//! `decoder.layers.{i}.attention_feat.*` and `decoder.layers.{i}.attention_feat_norm.weight`.
//! The reference's RoPE tables (`*.rope.cos_param`, `*.rope.sin_param`) are not
//! variables here: angles are computed on the fly (see [`crate::state`]).
//!
//! The blocks are made of [`crate::layers`] (shared with the decoder-only model).

use tch::{nn, Device, Kind, Tensor};

use crate::cache::{CrossKv, KvCache};
use crate::checks::{check_ids, check_len, check_mask, check_step, shape_err, Limits};
use crate::config::{EncoderAttention, EncoderDecoderConfig, StackConfig};
use crate::error::ModelError;
use crate::layers::{
    at, rope_inv_freq, Activation, ActivationHook, Attention, AttnMask, FeedForward, Init, Linear,
    RmsNorm, RopeAngles, Site, StepInputs,
};
use crate::model::drawn;

/// Encoder block (reference `SelfAttentionBlock`).
#[derive(Debug)]
struct EncoderBlock {
    attention_norm: RmsNorm,
    attention: Attention,
    ffn_norm: RmsNorm,
    feed_forward: FeedForward,
}

impl EncoderBlock {
    fn new(p: nn::Path, s: &StackConfig, cfg: &EncoderDecoderConfig) -> Self {
        let (d, eps) = (s.dim as i64, cfg.norm_eps);
        EncoderBlock {
            attention_norm: RmsNorm::new(&p / "attention_norm", d, eps),
            attention: Attention::new(
                &p / "attention",
                d,
                (s.heads as i64, s.heads as i64),
                cfg.attention_kernel,
                Init::Torch,
            ),
            ffn_norm: RmsNorm::new(&p / "ffn_norm", d, eps),
            feed_forward: FeedForward::new(
                &p / "feed_forward",
                d,
                cfg.ffn_hidden(s) as i64,
                Activation::Swiglu,
                Init::Torch,
            ),
        }
    }

    /// `[B,Lp,De] -> [B,Lp,De]`.
    fn forward(&self, x: &Tensor, rope: &RopeAngles, mask: AttnMask) -> Tensor {
        let h = x + self
            .attention
            .self_attention(&self.attention_norm.forward(x), rope, mask);
        &h + self.feed_forward.forward(&self.ffn_norm.forward(&h))
    }
}

/// Decoder block (reference `FeatureConditionedBlock`).
#[derive(Debug)]
struct DecoderBlock {
    attention_norm: RmsNorm,
    attention: Attention,
    attention_feat_norm: RmsNorm,
    attention_feat: Attention,
    ffn_norm: RmsNorm,
    feed_forward: FeedForward,
}

impl DecoderBlock {
    fn new(p: nn::Path, s: &StackConfig, cfg: &EncoderDecoderConfig) -> Self {
        let (d, h, eps) = (s.dim as i64, s.heads as i64, cfg.norm_eps);
        DecoderBlock {
            attention_norm: RmsNorm::new(&p / "attention_norm", d, eps),
            attention: Attention::new(
                &p / "attention",
                d,
                (h, h),
                cfg.attention_kernel,
                Init::Torch,
            ),
            attention_feat_norm: RmsNorm::new(&p / "attention_feat_norm", d, eps),
            attention_feat: Attention::new(
                &p / "attention_feat",
                d,
                (h, h),
                cfg.attention_kernel,
                Init::Torch,
            ),
            ffn_norm: RmsNorm::new(&p / "ffn_norm", d, eps),
            feed_forward: FeedForward::new(
                &p / "feed_forward",
                d,
                cfg.ffn_hidden(s) as i64,
                Activation::Swiglu,
                Init::Torch,
            ),
        }
    }

    /// Cross-attention and feed-forward half, shared by full and cached paths.
    fn cross_and_ffn(
        &self,
        h: Tensor,
        cross_k: &Tensor,
        cross_v: &Tensor,
        keep: &Tensor,
    ) -> Tensor {
        let h = &h
            + self.attention_feat.cross_attention(
                &self.attention_feat_norm.forward(&h),
                cross_k,
                cross_v,
                keep,
            );
        &h + self.feed_forward.forward(&self.ffn_norm.forward(&h))
    }

    /// Full sequence: `[B,Ld,D]` with memory `[B,Lp,D]`, keep `[B,1,1,Lp]` -> `[B,Ld,D]`.
    fn forward(&self, x: &Tensor, rope: &RopeAngles, memory: &Tensor, keep: &Tensor) -> Tensor {
        let h = x + self.attention.self_attention(
            &self.attention_norm.forward(x),
            rope,
            AttnMask::Causal,
        );
        let (k, v) = self.attention_feat.cross_kv(memory);
        self.cross_and_ffn(h, &k, &v, keep)
    }
}

// ----------------------------------------------------------------------------
// The model
// ----------------------------------------------------------------------------

/// Searchformer encoder–decoder. Build it on `vs.root()` so that variable
/// names equal the reference `state_dict` keys.
#[derive(Debug)]
pub struct EncoderDecoder {
    cfg: EncoderDecoderConfig,
    device: Device,
    enc_embedding: Tensor, // [V, De]
    enc_layers: Vec<EncoderBlock>,
    enc_out_norm: RmsNorm,
    enc_out_proj: Linear, // De -> D
    enc_inv_freq: Tensor,
    dec_embedding: Tensor, // [V, D]
    dec_layers: Vec<DecoderBlock>,
    dec_out_norm: RmsNorm,
    dec_out_proj: Linear, // D -> V
    dec_inv_freq: Tensor,
    /// Activation hook of the two output projections' inputs ([`Site::OutputInput`]).
    out_hook: Option<ActivationHook>,
}

impl EncoderDecoder {
    /// Creates all variables under `p` (PyTorch default initialisation:
    /// embeddings N(0,1), linears U(±1/√in), norms 1).
    pub fn new(p: &nn::Path, cfg: &EncoderDecoderConfig) -> Result<Self, ModelError> {
        cfg.validate()?;
        let (e, d, v) = (&cfg.encoder, &cfg.decoder, cfg.vocab_size as i64);
        let enc = p / "encoder";
        let dec = p / "decoder";
        let normal = drawn(nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        });
        Ok(EncoderDecoder {
            cfg: cfg.clone(),
            device: p.device(),
            enc_embedding: (&enc / "embedding").var("weight", &[v, e.dim as i64], normal),
            enc_layers: (0..e.layers)
                .map(|i| EncoderBlock::new(&enc / "layers" / i, e, cfg))
                .collect(),
            enc_out_norm: RmsNorm::new(&enc / "output" / 0, e.dim as i64, cfg.norm_eps),
            enc_out_proj: Linear::new(&enc / "output" / 1, e.dim as i64, d.dim as i64, Init::Torch),
            enc_inv_freq: rope_inv_freq(e.head_dim() as i64, cfg.rope_base, p.device()),
            dec_embedding: (&dec / "embedding").var("weight", &[v, d.dim as i64], normal),
            dec_layers: (0..d.layers)
                .map(|i| DecoderBlock::new(&dec / "layers" / i, d, cfg))
                .collect(),
            dec_out_norm: RmsNorm::new(&dec / "output" / 0, d.dim as i64, cfg.norm_eps),
            dec_out_proj: Linear::new(&dec / "output" / 1, d.dim as i64, v, Init::Torch),
            dec_inv_freq: rope_inv_freq(d.head_dim() as i64, cfg.rope_base, p.device()),
            out_hook: None,
        })
    }

    /// Sets (or with `None` removes) the activation hook of every attention (self and
    /// cross), feed-forward and output projection (see [`Site`]).
    pub fn set_activation_hook(&mut self, hook: Option<ActivationHook>) {
        for b in &mut self.enc_layers {
            b.attention.hook = hook.clone();
            b.feed_forward.hook = hook.clone();
        }
        for b in &mut self.dec_layers {
            b.attention.hook = hook.clone();
            b.attention_feat.hook = hook.clone();
            b.feed_forward.hook = hook.clone();
        }
        self.out_hook = hook;
    }

    /// Sets (or with `None` removes) the attention kernel of the decoder's cached
    /// self-attention steps (see [`crate::DecodeKernel`]); cross-attention stays exact.
    pub fn set_decode_kernel(&mut self, kernel: Option<crate::DecodeKernel>) {
        for (i, b) in self.dec_layers.iter_mut().enumerate() {
            b.attention.decode_kernel = kernel.clone().map(|k| (i, k));
        }
    }

    /// Every parameter, under the reference `state_dict` names (the names the model creates
    /// on `vs.root()`). A quantized linear gives its dequantized weight (a new tensor).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            (
                "encoder.embedding.weight".to_string(),
                self.enc_embedding.shallow_clone(),
            ),
            (
                "decoder.embedding.weight".to_string(),
                self.dec_embedding.shallow_clone(),
            ),
        ];
        let norms = [
            ("encoder.output.0.weight", &self.enc_out_norm),
            ("decoder.output.0.weight", &self.dec_out_norm),
        ];
        for (name, n) in norms {
            out.push((name.to_string(), n.weight.shallow_clone()));
        }
        for (i, b) in self.enc_layers.iter().enumerate() {
            let p = format!("encoder.layers.{i}");
            out.push((
                format!("{p}.attention_norm.weight"),
                b.attention_norm.weight.shallow_clone(),
            ));
            out.push((
                format!("{p}.ffn_norm.weight"),
                b.ffn_norm.weight.shallow_clone(),
            ));
        }
        for (i, b) in self.dec_layers.iter().enumerate() {
            let p = format!("decoder.layers.{i}");
            for (n, norm) in [
                ("attention_norm", &b.attention_norm),
                ("attention_feat_norm", &b.attention_feat_norm),
                ("ffn_norm", &b.ffn_norm),
            ] {
                out.push((format!("{p}.{n}.weight"), norm.weight.shallow_clone()));
            }
        }
        let linears: Vec<(String, Tensor)> = self
            .linears()
            .into_iter()
            .map(|(n, l)| (n, l.weight_tensor()))
            .collect();
        out.extend(linears);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = vec![
            ("encoder.output.1.weight".to_string(), &self.enc_out_proj),
            ("decoder.output.1.weight".to_string(), &self.dec_out_proj),
        ];
        for (i, b) in self.enc_layers.iter().enumerate() {
            let (a, f) = (&b.attention, &b.feed_forward);
            let p = format!("encoder.layers.{i}");
            out.extend(block_linears(&p, "attention", [&a.wq, &a.wk, &a.wv, &a.wo]));
            out.extend(ffn_linears(&p, [Some(&f.w1), Some(&f.w2), f.w3.as_ref()]));
        }
        for (i, b) in self.dec_layers.iter().enumerate() {
            let (a, c, f) = (&b.attention, &b.attention_feat, &b.feed_forward);
            let p = format!("decoder.layers.{i}");
            out.extend(block_linears(&p, "attention", [&a.wq, &a.wk, &a.wv, &a.wo]));
            out.extend(block_linears(
                &p,
                "attention_feat",
                [&c.wq, &c.wk, &c.wv, &c.wo],
            ));
            out.extend(ffn_linears(&p, [Some(&f.w1), Some(&f.w2), f.w3.as_ref()]));
        }
        out
    }

    /// The embeddings and norm scales, and the linear layers, by name.
    #[allow(clippy::type_complexity)]
    pub(crate) fn parts_mut(&mut self) -> (Vec<(String, &mut Tensor)>, Vec<(String, &mut Linear)>) {
        let mut tensors: Vec<(String, &mut Tensor)> = vec![
            (
                "encoder.embedding.weight".to_string(),
                &mut self.enc_embedding,
            ),
            (
                "decoder.embedding.weight".to_string(),
                &mut self.dec_embedding,
            ),
            (
                "encoder.output.0.weight".to_string(),
                &mut self.enc_out_norm.weight,
            ),
            (
                "decoder.output.0.weight".to_string(),
                &mut self.dec_out_norm.weight,
            ),
        ];
        let mut linears: Vec<(String, &mut Linear)> = vec![
            (
                "encoder.output.1.weight".to_string(),
                &mut self.enc_out_proj,
            ),
            (
                "decoder.output.1.weight".to_string(),
                &mut self.dec_out_proj,
            ),
        ];
        for (i, b) in self.enc_layers.iter_mut().enumerate() {
            let p = format!("encoder.layers.{i}");
            tensors.push((
                format!("{p}.attention_norm.weight"),
                &mut b.attention_norm.weight,
            ));
            tensors.push((format!("{p}.ffn_norm.weight"), &mut b.ffn_norm.weight));
            let (a, f) = (&mut b.attention, &mut b.feed_forward);
            linears.extend(block_linears(
                &p,
                "attention",
                [&mut a.wq, &mut a.wk, &mut a.wv, &mut a.wo],
            ));
            linears.extend(ffn_linears(
                &p,
                [Some(&mut f.w1), Some(&mut f.w2), f.w3.as_mut()],
            ));
        }
        for (i, b) in self.dec_layers.iter_mut().enumerate() {
            let p = format!("decoder.layers.{i}");
            tensors.push((
                format!("{p}.attention_norm.weight"),
                &mut b.attention_norm.weight,
            ));
            tensors.push((
                format!("{p}.attention_feat_norm.weight"),
                &mut b.attention_feat_norm.weight,
            ));
            tensors.push((format!("{p}.ffn_norm.weight"), &mut b.ffn_norm.weight));
            let (a, c, f) = (&mut b.attention, &mut b.attention_feat, &mut b.feed_forward);
            linears.extend(block_linears(
                &p,
                "attention",
                [&mut a.wq, &mut a.wk, &mut a.wv, &mut a.wo],
            ));
            linears.extend(block_linears(
                &p,
                "attention_feat",
                [&mut c.wq, &mut c.wk, &mut c.wv, &mut c.wo],
            ));
            linears.extend(ffn_linears(
                &p,
                [Some(&mut f.w1), Some(&mut f.w2), f.w3.as_mut()],
            ));
        }
        (tensors, linears)
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &EncoderDecoderConfig {
        &self.cfg
    }

    /// Device holding the weights.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Encoder with the configured [`EncoderAttention`]: `enc_ids [B,Lp]` (i64),
    /// `enc_mask [B,Lp]` (bool or 0/1 integers, `true` = real token) -> memory `[B,Lp,D]` fp32.
    pub fn encode(&self, enc_ids: &Tensor, enc_mask: &Tensor) -> Result<Tensor, ModelError> {
        self.encode_with(enc_ids, enc_mask, self.cfg.encoder_attention)
    }

    /// Encoder with an explicit padding treatment (decoding uses `PaddingMasked`).
    pub fn encode_with(
        &self,
        enc_ids: &Tensor,
        enc_mask: &Tensor,
        mode: EncoderAttention,
    ) -> Result<Tensor, ModelError> {
        let (b, lp) = check_ids(
            &Limits::of_encoder_decoder(&self.cfg),
            self.device,
            "enc_ids",
            enc_ids,
        )?;
        let keep = check_mask(self.device, enc_mask, b, lp)?; // [B,1,1,Lp]
        let rope = RopeAngles::new(
            &self.enc_inv_freq,
            &Tensor::arange(lp, (Kind::Int64, self.device)),
            false,
        );
        let mask = match mode {
            EncoderAttention::Unmasked => AttnMask::None,
            EncoderAttention::PaddingMasked => AttnMask::Keep(&keep),
        };
        let mut h = Tensor::embedding(&self.enc_embedding, enc_ids, -1, false, false); // [B,Lp,De]
        for layer in &self.enc_layers {
            h = layer.forward(&h, &rope, mask);
        }
        let h = at(
            &self.out_hook,
            Site::OutputInput,
            &self.enc_out_norm.forward(&h),
        );
        Ok(self.enc_out_proj.forward(&h).to_kind(Kind::Float)) // [B,Lp,D]
    }

    /// Decoder token embeddings: `dec_ids [B,Ld] -> [B,Ld,D]`.
    pub fn embed_decoder(&self, dec_ids: &Tensor) -> Result<Tensor, ModelError> {
        check_ids(
            &Limits::of_encoder_decoder(&self.cfg),
            self.device,
            "dec_ids",
            dec_ids,
        )?;
        Ok(Tensor::embedding(
            &self.dec_embedding,
            dec_ids,
            -1,
            false,
            false,
        ))
    }

    /// Decoder residual stream after the last block (before the output norm)
    /// for input embeddings `[B,Ld,D]` (e.g. Coconut continuous thoughts).
    pub fn decoder_hidden(
        &self,
        dec_embeds: &Tensor,
        memory: &Tensor,
        enc_mask: &Tensor,
    ) -> Result<Tensor, ModelError> {
        let (b, ld, dim) = dec_embeds
            .size3()
            .map_err(|_| shape_err("dec_embeds", "[B,Ld,D]", dec_embeds))?;
        if dim != self.cfg.decoder.dim as i64 {
            return Err(shape_err(
                "dec_embeds",
                &format!("[B,Ld,{}]", self.cfg.decoder.dim),
                dec_embeds,
            ));
        }
        check_len(&Limits::of_encoder_decoder(&self.cfg), "decoder length", ld)?;
        let lp = match memory.size3() {
            Ok((mb, lp, md)) if mb == b && md == dim => lp,
            _ => return Err(shape_err("memory", &format!("[{b},Lp,{dim}]"), memory)),
        };
        let keep = check_mask(self.device, enc_mask, b, lp)?;
        let rope = RopeAngles::new(
            &self.dec_inv_freq,
            &Tensor::arange(ld, (Kind::Int64, self.device)),
            false,
        );
        let mut h = dec_embeds.shallow_clone();
        for layer in &self.dec_layers {
            h = layer.forward(&h, &rope, memory, &keep);
        }
        Ok(h)
    }

    /// Output head: hidden `[B,Ld,D]` -> logits `[B,Ld,V]` fp32.
    pub fn decoder_head(&self, hidden: &Tensor) -> Tensor {
        let h = at(
            &self.out_hook,
            Site::OutputInput,
            &self.dec_out_norm.forward(hidden),
        );
        self.dec_out_proj.forward(&h).to_kind(Kind::Float)
    }

    /// Decoder on input embeddings: `[B,Ld,D]` -> logits `[B,Ld,V]`.
    pub fn decode_embeds(
        &self,
        dec_embeds: &Tensor,
        memory: &Tensor,
        enc_mask: &Tensor,
    ) -> Result<Tensor, ModelError> {
        Ok(self.decoder_head(&self.decoder_hidden(dec_embeds, memory, enc_mask)?))
    }

    /// Decoder (teacher forcing, causal): `dec_ids [B,Ld]` -> logits `[B,Ld,V]` fp32.
    pub fn decode(
        &self,
        dec_ids: &Tensor,
        memory: &Tensor,
        enc_mask: &Tensor,
    ) -> Result<Tensor, ModelError> {
        self.decode_embeds(&self.embed_decoder(dec_ids)?, memory, enc_mask)
    }

    /// Full forward pass (reference `EncoderDecoder.forward`):
    /// `enc_ids [B,Lp], enc_mask [B,Lp], dec_ids [B,Ld]` -> logits `[B,Ld,V]` fp32.
    pub fn forward(
        &self,
        enc_ids: &Tensor,
        enc_mask: &Tensor,
        dec_ids: &Tensor,
    ) -> Result<Tensor, ModelError> {
        let memory = self.encode(enc_ids, enc_mask)?;
        self.decode(dec_ids, &memory, enc_mask)
    }

    /// Per-layer cross-attention keys/values of `memory [N,Lp,D]` for cached decoding.
    pub fn cross_kv(&self, memory: &Tensor, enc_mask: &Tensor) -> Result<CrossKv, ModelError> {
        let (n, lp, dim) = memory
            .size3()
            .map_err(|_| shape_err("memory", "[N,Lp,D]", memory))?;
        if dim != self.cfg.decoder.dim as i64 {
            return Err(shape_err(
                "memory",
                &format!("[N,Lp,{}]", self.cfg.decoder.dim),
                memory,
            ));
        }
        let keep = check_mask(self.device, enc_mask, n, lp)?;
        let (k, v) = self
            .dec_layers
            .iter()
            .map(|l| l.attention_feat.cross_kv(memory))
            .unzip();
        Ok(CrossKv { k, v, keep })
    }

    /// One KV-cached decoder step. Row `b` of the cache feeds token `tokens[b]`
    /// at position `positions[b]` (rows may be at different positions; the
    /// cache must have room for `max(positions) + 1`). Returns next-token
    /// logits `[B,V]` fp32.
    pub fn decode_step(
        &self,
        cache: &mut KvCache,
        tokens: &[i64],
        positions: &[i64],
    ) -> Result<Tensor, ModelError> {
        let b = cache.rows();
        let max_pos = check_step(&Limits::of_encoder_decoder(&self.cfg), b, tokens, positions)?;
        cache.ensure_capacity(max_pos + 1);
        let step = StepInputs::new(
            &self.dec_inv_freq,
            positions,
            self.cfg.decoder.heads as i64,
            self.cfg.decoder.head_dim() as i64,
        );
        let step = StepInputs {
            rows: cache.row_ids().to_vec(),
            ..step
        };
        let ids = Tensor::from_slice(tokens).to(self.device).view([b, 1]);
        let mut h = Tensor::embedding(&self.dec_embedding, &ids, -1, false, false); // [B,1,D]
        for (l, layer) in self.dec_layers.iter().enumerate() {
            let x = layer.attention_norm.forward(&h);
            let a = layer
                .attention
                .cached_self_attention(&x, &step, cache.self_kv_mut(l), l);
            let h1 = &h + a;
            let cross = cache.cross.as_ref().ok_or_else(|| {
                ModelError::Config("encoder-decoder step on a cache without cross-attention".into())
            })?;
            h = layer.cross_and_ffn(h1, &cross.k[l], &cross.v[l], &cross.keep);
        }
        Ok(self.decoder_head(&h).squeeze_dim(1)) // [B,V]
    }
}

/// `{prefix}.{attn}.{wq,wk,wv,wo}.weight` with the four projections.
fn block_linears<L>(prefix: &str, attn: &str, l: [L; 4]) -> impl Iterator<Item = (String, L)> {
    let prefix = format!("{prefix}.{attn}");
    ["wq", "wk", "wv", "wo"]
        .into_iter()
        .zip(l)
        .map(move |(n, l)| (format!("{prefix}.{n}.weight"), l))
}

/// `{prefix}.feed_forward.{w1,w2,w3}.weight` for the projections present.
fn ffn_linears<L>(prefix: &str, l: [Option<L>; 3]) -> impl Iterator<Item = (String, L)> {
    let prefix = prefix.to_string();
    ["w1", "w2", "w3"]
        .into_iter()
        .zip(l)
        .filter_map(move |(n, l)| l.map(|l| (format!("{prefix}.feed_forward.{n}.weight"), l)))
}
