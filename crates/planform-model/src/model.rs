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
//! Swap points: every projection goes through [`Linear::forward`] and every
//! attention through [`attend`]; alternative weight formats or kernels change
//! those two functions (plus an [`AttentionKernel`] variant), not the blocks.

use tch::{nn, Device, Kind, Tensor};

use crate::cache::{CrossKv, KvCache};
use crate::checks::{check_ids, check_len, check_mask, shape_err};
use crate::config::{AttentionKernel, EncoderAttention, ModelConfig, StackConfig};
use crate::error::ModelError;

// ----------------------------------------------------------------------------
// Building blocks
// ----------------------------------------------------------------------------

/// Bias-free linear layer `y = x Wᵀ` with `weight: [out, in]` (PyTorch layout).
/// Initialised like `nn.Linear`: U(-1/√in, 1/√in).
#[derive(Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Tensor,
}

impl Linear {
    fn new(p: nn::Path, in_dim: i64, out_dim: i64) -> Self {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let weight = p.var(
            "weight",
            &[out_dim, in_dim],
            nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        );
        Linear { weight }
    }

    /// `[.., in] -> [.., out]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, None::<Tensor>)
    }
}

/// RMSNorm with learnable scale (init 1); statistics always in fp32.
#[derive(Debug)]
struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(p: nn::Path, dim: i64, eps: f64) -> Self {
        RmsNorm {
            weight: p.var("weight", &[dim], nn::Init::Const(1.0)),
            eps,
        }
    }

    /// `[.., D] -> [.., D]`: `w * x / sqrt(mean(x²) + eps)`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let var = x
            .to_kind(Kind::Float)
            .square()
            .mean_dim(-1, true, Kind::Float);
        let y = x * (var + self.eps).rsqrt();
        let y = match self.weight.kind() {
            Kind::Half | Kind::BFloat16 => y.to_kind(self.weight.kind()),
            _ => y,
        };
        &self.weight * y
    }
}

/// SwiGLU feed-forward `w2(silu(w1 x) * w3 x)`.
#[derive(Debug)]
struct FeedForward {
    w1: Linear,
    w2: Linear,
    w3: Linear,
}

impl FeedForward {
    fn new(p: nn::Path, dim: i64, hidden: i64) -> Self {
        FeedForward {
            w1: Linear::new(&p / "w1", dim, hidden),
            w2: Linear::new(&p / "w2", hidden, dim),
            w3: Linear::new(&p / "w3", dim, hidden),
        }
    }

    /// `[B,T,D] -> [B,T,hidden] -> [B,T,D]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.w2
            .forward(&(self.w1.forward(x).silu() * self.w3.forward(x)))
    }
}

/// Interleaved (GPT-J) rotary embedding angles, shaped `[B|1, T, 1, hd/2]`
/// so they broadcast against `[B, T, H, hd/2]`.
struct RopeAngles {
    cos: Tensor,
    sin: Tensor,
}

/// `inv_freq[i] = 1 / base^(2i/hd)`, fp32 (as `RoPE.__init__`).
fn rope_inv_freq(head_dim: i64, base: f64, device: Device) -> Tensor {
    let exponents =
        Tensor::arange_start_step(0, head_dim, 2, (Kind::Float, device)) / head_dim as f64;
    Tensor::pow_scalar(base, &exponents).reciprocal()
}

impl RopeAngles {
    /// Angles for positions `[P]` (i64), laid out as `[1, P, 1, hd/2]` when
    /// `per_row` is false (one sequence of positions shared by the batch) or
    /// `[P, 1, 1, hd/2]` when true (one position per batch row).
    fn new(inv_freq: &Tensor, positions: &Tensor, per_row: bool) -> Self {
        let freqs = positions.to_kind(Kind::Float).unsqueeze(-1) * inv_freq.unsqueeze(0); // [P, hd/2]
        let shape: [i64; 4] = if per_row {
            [-1, 1, 1, freqs.size()[1]]
        } else {
            [1, -1, 1, freqs.size()[1]]
        };
        RopeAngles {
            cos: freqs.cos().view(shape),
            sin: freqs.sin().view(shape),
        }
    }

    /// Rotates pairs `(x[2i], x[2i+1])`: `[B,T,H,hd] -> [B,T,H,hd]`, same dtype as `x`.
    fn apply(&self, x: &Tensor) -> Tensor {
        let even = x.slice(-1, 0, None, 2);
        let odd = x.slice(-1, 1, None, 2);
        let r0 = &self.cos * &even - &self.sin * &odd;
        let r1 = &self.sin * &even + &self.cos * &odd;
        Tensor::stack(&[r0, r1], -1)
            .flatten(-2, -1)
            .to_kind(x.kind())
    }
}

/// Attention mask of one attention call.
#[derive(Debug, Clone, Copy)]
pub enum AttnMask<'a> {
    /// Every query attends to every key.
    None,
    /// Query `i` attends to keys `0..=i` (`Tq == Tk`).
    Causal,
    /// Bool tensor broadcastable to `[B, H, Tq, Tk]`; `true` = may attend.
    Keep(&'a Tensor),
}

/// `softmax(q kᵀ / √hd + mask) v`: q `[B,H,Tq,hd]`, k/v `[B,H,Tk,hd]` -> `[B,H,Tq,hd]`.
pub fn attend(
    kernel: AttentionKernel,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: AttnMask,
) -> Tensor {
    match kernel {
        AttentionKernel::Sdpa => {
            let (keep, causal) = match mask {
                AttnMask::None => (None, false),
                AttnMask::Causal => (None, true),
                AttnMask::Keep(m) => (Some(m), false),
            };
            Tensor::scaled_dot_product_attention(q, k, v, keep, 0.0, causal, None, false)
        }
        AttentionKernel::Math => {
            let hd = q.size()[3] as f64;
            let scores = q.matmul(&k.transpose(-2, -1)).to_kind(Kind::Float) / hd.sqrt(); // [B,H,Tq,Tk]
            let scores = match mask {
                AttnMask::None => scores,
                AttnMask::Causal => {
                    let (tq, tk) = (scores.size()[2], scores.size()[3]);
                    let future = Tensor::ones([tq, tk], (Kind::Bool, q.device())).triu(1);
                    scores.masked_fill(&future, f64::NEG_INFINITY)
                }
                AttnMask::Keep(m) => scores.masked_fill(&m.logical_not(), f64::NEG_INFINITY),
            };
            scores.softmax(-1, Kind::Float).to_kind(v.kind()).matmul(v)
        }
    }
}

/// Multi-head attention with separate `wq, wk, wv, wo` (no biases).
#[derive(Debug)]
struct Attention {
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    heads: i64,
    head_dim: i64,
    kernel: AttentionKernel,
}

impl Attention {
    fn new(p: nn::Path, dim: i64, heads: i64, kernel: AttentionKernel) -> Self {
        Attention {
            wq: Linear::new(&p / "wq", dim, dim),
            wk: Linear::new(&p / "wk", dim, dim),
            wv: Linear::new(&p / "wv", dim, dim),
            wo: Linear::new(&p / "wo", dim, dim),
            heads,
            head_dim: dim / heads,
            kernel,
        }
    }

    /// `[B,T,D] -> [B,T,H,hd]`.
    fn split(&self, x: Tensor) -> Tensor {
        let (b, t, _) = x.size3().expect("projection output is 3-d");
        x.view([b, t, self.heads, self.head_dim])
    }

    /// `[B,H,T,hd] -> [B,T,D] -> wo -> [B,T,D]`.
    fn merge_out(&self, o: Tensor) -> Tensor {
        let (b, _, t, _) = o.size4().expect("attention output is 4-d");
        self.wo.forward(
            &o.transpose(1, 2)
                .contiguous()
                .view([b, t, self.heads * self.head_dim]),
        )
    }

    /// Self-attention with RoPE on q and k: `[B,T,D] -> [B,T,D]`.
    fn self_attention(&self, x: &Tensor, rope: &RopeAngles, mask: AttnMask) -> Tensor {
        let q = rope.apply(&self.split(self.wq.forward(x))).transpose(1, 2); // [B,H,T,hd]
        let k = rope.apply(&self.split(self.wk.forward(x))).transpose(1, 2);
        let v = self.split(self.wv.forward(x)).transpose(1, 2);
        self.merge_out(attend(self.kernel, &q, &k, &v, mask))
    }

    /// Keys and values of `memory [B,S,D]` for cross-attention, each `[B,H,S,hd]` (no RoPE).
    fn cross_kv(&self, memory: &Tensor) -> (Tensor, Tensor) {
        (
            self.split(self.wk.forward(memory)).transpose(1, 2),
            self.split(self.wv.forward(memory)).transpose(1, 2),
        )
    }

    /// Cross-attention of `x [B,T,D]` on precomputed keys/values: `-> [B,T,D]`.
    fn cross_attention(&self, x: &Tensor, k: &Tensor, v: &Tensor, keep: &Tensor) -> Tensor {
        let q = self.split(self.wq.forward(x)).transpose(1, 2); // [B,H,T,hd]
        self.merge_out(attend(self.kernel, &q, k, v, AttnMask::Keep(keep)))
    }

    /// One cached decoding step: `x [B,1,D]`, row `b` at position `positions[b]`.
    /// Writes k/v into the layer's cache `[B,H,cap,hd]` (allocated here on
    /// first use with the dtype of k) and attends to the first `t_len` cache
    /// slots under `mask`. `-> [B,1,D]`.
    fn cached_self_attention(
        &self,
        x: &Tensor,
        rope: &RopeAngles,
        write_index: &Tensor,
        (slot, capacity): (&mut Option<(Tensor, Tensor)>, i64),
        t_len: i64,
        mask: AttnMask,
    ) -> Tensor {
        let q = rope.apply(&self.split(self.wq.forward(x))).transpose(1, 2); // [B,H,1,hd]
        let k = rope.apply(&self.split(self.wk.forward(x))).transpose(1, 2);
        let v = self.split(self.wv.forward(x)).transpose(1, 2);
        let (cache_k, cache_v) = slot.get_or_insert_with(|| {
            let shape = [k.size()[0], self.heads, capacity, self.head_dim];
            (
                Tensor::zeros(shape, (k.kind(), k.device())),
                Tensor::zeros(shape, (v.kind(), v.device())),
            )
        });
        let _ = cache_k.scatter_(2, write_index, &k.to_kind(cache_k.kind()));
        let _ = cache_v.scatter_(2, write_index, &v.to_kind(cache_v.kind()));
        let keys = cache_k.narrow(2, 0, t_len).to_kind(q.kind()); // [B,H,t_len,hd]
        let values = cache_v.narrow(2, 0, t_len).to_kind(q.kind());
        self.merge_out(attend(self.kernel, &q, &keys, &values, mask))
    }
}

/// Encoder block (reference `SelfAttentionBlock`).
#[derive(Debug)]
struct EncoderBlock {
    attention_norm: RmsNorm,
    attention: Attention,
    ffn_norm: RmsNorm,
    feed_forward: FeedForward,
}

impl EncoderBlock {
    fn new(p: nn::Path, s: &StackConfig, cfg: &ModelConfig) -> Self {
        let (d, eps) = (s.dim as i64, cfg.norm_eps);
        EncoderBlock {
            attention_norm: RmsNorm::new(&p / "attention_norm", d, eps),
            attention: Attention::new(&p / "attention", d, s.heads as i64, cfg.attention_kernel),
            ffn_norm: RmsNorm::new(&p / "ffn_norm", d, eps),
            feed_forward: FeedForward::new(&p / "feed_forward", d, cfg.ffn_hidden(s) as i64),
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
    fn new(p: nn::Path, s: &StackConfig, cfg: &ModelConfig) -> Self {
        let (d, h, eps) = (s.dim as i64, s.heads as i64, cfg.norm_eps);
        DecoderBlock {
            attention_norm: RmsNorm::new(&p / "attention_norm", d, eps),
            attention: Attention::new(&p / "attention", d, h, cfg.attention_kernel),
            attention_feat_norm: RmsNorm::new(&p / "attention_feat_norm", d, eps),
            attention_feat: Attention::new(&p / "attention_feat", d, h, cfg.attention_kernel),
            ffn_norm: RmsNorm::new(&p / "ffn_norm", d, eps),
            feed_forward: FeedForward::new(&p / "feed_forward", d, cfg.ffn_hidden(s) as i64),
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
    cfg: ModelConfig,
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
}

impl EncoderDecoder {
    /// Creates all variables under `p` (PyTorch default initialisation:
    /// embeddings N(0,1), linears U(±1/√in), norms 1).
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Result<Self, ModelError> {
        cfg.validate()?;
        let (e, d, v) = (&cfg.encoder, &cfg.decoder, cfg.vocab_size as i64);
        let enc = p / "encoder";
        let dec = p / "decoder";
        let normal = nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0,
        };
        Ok(EncoderDecoder {
            cfg: cfg.clone(),
            device: p.device(),
            enc_embedding: (&enc / "embedding").var("weight", &[v, e.dim as i64], normal),
            enc_layers: (0..e.layers)
                .map(|i| EncoderBlock::new(&enc / "layers" / i, e, cfg))
                .collect(),
            enc_out_norm: RmsNorm::new(&enc / "output" / 0, e.dim as i64, cfg.norm_eps),
            enc_out_proj: Linear::new(&enc / "output" / 1, e.dim as i64, d.dim as i64),
            enc_inv_freq: rope_inv_freq(e.head_dim() as i64, cfg.rope_base, p.device()),
            dec_embedding: (&dec / "embedding").var("weight", &[v, d.dim as i64], normal),
            dec_layers: (0..d.layers)
                .map(|i| DecoderBlock::new(&dec / "layers" / i, d, cfg))
                .collect(),
            dec_out_norm: RmsNorm::new(&dec / "output" / 0, d.dim as i64, cfg.norm_eps),
            dec_out_proj: Linear::new(&dec / "output" / 1, d.dim as i64, v),
            dec_inv_freq: rope_inv_freq(d.head_dim() as i64, cfg.rope_base, p.device()),
        })
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &ModelConfig {
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
        let (b, lp) = check_ids(&self.cfg, self.device, "enc_ids", enc_ids)?;
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
        Ok(self
            .enc_out_proj
            .forward(&self.enc_out_norm.forward(&h))
            .to_kind(Kind::Float)) // [B,Lp,D]
    }

    /// Decoder token embeddings: `dec_ids [B,Ld] -> [B,Ld,D]`.
    pub fn embed_decoder(&self, dec_ids: &Tensor) -> Result<Tensor, ModelError> {
        check_ids(&self.cfg, self.device, "dec_ids", dec_ids)?;
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
        check_len(&self.cfg, "decoder length", ld)?;
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
        self.dec_out_proj
            .forward(&self.dec_out_norm.forward(hidden))
            .to_kind(Kind::Float)
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
        if tokens.len() as i64 != b || positions.len() as i64 != b {
            return Err(ModelError::Shape {
                name: "tokens/positions",
                expected: format!("{b} entries each (cache rows)"),
                got: format!("{} tokens, {} positions", tokens.len(), positions.len()),
            });
        }
        let vocab = self.cfg.vocab_size;
        if let Some(&id) = tokens.iter().find(|&&t| t < 0 || t as usize >= vocab) {
            return Err(ModelError::TokenOutOfRange {
                name: "tokens",
                id,
                vocab,
            });
        }
        let max_pos = positions.iter().copied().max().unwrap_or(0);
        if let Some(&p) = positions.iter().find(|&&p| p < 0) {
            return Err(ModelError::Shape {
                name: "positions",
                expected: "non-negative positions".into(),
                got: p.to_string(),
            });
        }
        if max_pos as usize + 1 >= self.cfg.max_positions {
            return Err(ModelError::TooLong {
                name: "decoder position",
                len: max_pos as usize + 1,
                max: self.cfg.max_positions,
            });
        }
        cache.ensure_capacity(max_pos + 1);
        let (heads, hd) = (
            self.cfg.decoder.heads as i64,
            self.cfg.decoder.head_dim() as i64,
        );
        let pos = Tensor::from_slice(positions).to(self.device); // [B]
        let rope = RopeAngles::new(&self.dec_inv_freq, &pos, true); // [B,1,1,hd/2]
        let write_index = pos.view([b, 1, 1, 1]).expand([b, heads, 1, hd], false); // [B,H,1,hd]
        let t_len = max_pos + 1;
        // Rows in lockstep need no self-attention mask; otherwise row b sees keys 0..=positions[b].
        let keep = (positions.iter().any(|&p| p != max_pos)).then(|| {
            Tensor::arange(t_len, (Kind::Int64, self.device))
                .view([1, 1, 1, t_len])
                .le_tensor(&pos.view([b, 1, 1, 1]))
        });
        let mask = keep.as_ref().map_or(AttnMask::None, AttnMask::Keep);

        let ids = Tensor::from_slice(tokens).to(self.device).view([b, 1]);
        let mut h = Tensor::embedding(&self.dec_embedding, &ids, -1, false, false); // [B,1,D]
        for (l, layer) in self.dec_layers.iter().enumerate() {
            let x = layer.attention_norm.forward(&h);
            let a = layer.attention.cached_self_attention(
                &x,
                &rope,
                &write_index,
                cache.self_kv_mut(l),
                t_len,
                mask,
            );
            let h1 = &h + a;
            let cross = &cache.cross;
            h = layer.cross_and_ffn(h1, &cross.k[l], &cross.v[l], &cross.keep);
        }
        Ok(self.decoder_head(&h).squeeze_dim(1)) // [B,V]
    }
}
