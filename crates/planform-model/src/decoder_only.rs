//! The decoder-only model, top to bottom: LLaMA-style (RMSNorm, RoPE, SwiGLU or GELU) with
//! MobileLLM's shape options (grouped-query attention, tied embeddings, block-wise weight
//! sharing).
//!
//! Notation: `B` batch, `T` new positions, `P` cached positions, `D` width, `H`/`Hkv`
//! query/key-value heads, `hd = D / H`, `V` vocabulary.
//!
//! ```text
//! ids [B,T] -> embedding [B,T,D] -> for d in schedule: Block[d] -> RMSNorm -> head = logits [B,T,V]
//! Block:  h = x + SelfAttn(RMSNorm(x)) [RoPE, causal, GQA];  out = h + FFN(RMSNorm(h))
//! head:   Linear(D->V), or the embedding itself (tied)
//! ```
//!
//! `schedule` is [`LayerSharing::schedule`]: with immediate sharing block `i` runs twice in a
//! row, each run with its own keys/values (its own KV-cache slot).
//!
//! Variable names: `embedding.weight`, `layers.{i}.attention_norm.weight`,
//! `layers.{i}.attention.{wq,wk,wv,wo}.weight`, `layers.{i}.ffn_norm.weight`,
//! `layers.{i}.feed_forward.{w1,w2,w3}.weight`, `norm.weight`, `output.weight` (absent when
//! tied). [`crate::hf`] maps them to Hugging Face Llama names.
//!
//! Three ways in:
//! - [`DecoderOnly::forward`]: ids -> logits, causal over the whole sequence (training).
//! - [`DecoderOnly::hidden`]: input *embeddings* `[B,T,D]` plus an optional functional
//!   [`KvState`] of earlier positions -> last hidden states `[B,T,D]` and the extended state.
//!   Nothing is written in place, so autograd trains through a sequence of such calls
//!   (Coconut feeds a hidden state back as the next input embedding).
//! - [`DecoderOnly::prefill`] + [`DecoderOnly::decode_step`]: inference with the in-place
//!   [`KvCache`], rows at different positions (batched generation).

use tch::{nn, Device, Kind, Tensor};

use crate::cache::{KvCache, Prefix};
use crate::checks::{check_ids, check_len, check_step, shape_err, Limits};
use crate::config::{DecoderConfig, LayerSharing};
use crate::error::ModelError;
use crate::layers::{
    rope_inv_freq, ActivationHook, Attention, AttnMask, FeedForward, Init, KeyValue, Linear,
    RmsNorm, RopeAngles, Site, StepInputs,
};

/// One pre-norm block.
#[derive(Debug)]
struct Block {
    attention_norm: RmsNorm,
    attention: Attention,
    ffn_norm: RmsNorm,
    feed_forward: FeedForward,
}

impl Block {
    fn new(p: nn::Path, c: &DecoderConfig, init: Init) -> Self {
        let d = c.dim as i64;
        Block {
            attention_norm: RmsNorm::new(&p / "attention_norm", d, c.norm_eps),
            attention: Attention::new(
                &p / "attention",
                d,
                (c.heads as i64, c.kv_heads as i64),
                c.attention_kernel,
                init,
            ),
            ffn_norm: RmsNorm::new(&p / "ffn_norm", d, c.norm_eps),
            feed_forward: FeedForward::new(
                &p / "feed_forward",
                d,
                c.ffn_hidden as i64,
                c.activation,
                init,
            ),
        }
    }

    fn ffn(&self, h: Tensor) -> Tensor {
        &h + self.feed_forward.forward(&self.ffn_norm.forward(&h))
    }

    /// `[B,T,D]` with earlier keys/values `past` (`[B,Hkv,P,hd]`) -> `[B,T,D]` and the keys
    /// and values of all `P + T` positions.
    fn forward(
        &self,
        x: &Tensor,
        rope: &RopeAngles,
        past: Option<&KeyValue>,
        mask: AttnMask,
    ) -> (Tensor, KeyValue) {
        let (q, k, v) = self.attention.qkv(&self.attention_norm.forward(x), rope);
        let (k, v) = match past {
            Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2), Tensor::cat(&[pv, &v], 2)),
            None => (k, v),
        };
        let h = x + self.attention.attend_out(&q, &k, &v, mask);
        (self.ffn(h), (k, v))
    }
}

/// Keys and values of the positions seen so far, one entry per block *run* (depth), each
/// `[B,Hkv,P,hd]`. Built functionally (concatenation), so gradients flow through it.
#[derive(Debug)]
pub struct KvState {
    /// Per depth.
    pub layers: Vec<KeyValue>,
    /// Positions held, `P`.
    pub len: i64,
}

/// The decoder-only model. Build it on `vs.root()` so variable names are the ones above.
#[derive(Debug)]
pub struct DecoderOnly {
    cfg: DecoderConfig,
    device: Device,
    embedding: Tensor, // [V, D]
    layers: Vec<Block>,
    norm: RmsNorm,
    output: Option<Linear>, // D -> V, None when tied
    inv_freq: Tensor,
    schedule: Vec<usize>,
    /// Activation hook of the head input ([`Site::OutputInput`]).
    head_hook: Option<ActivationHook>,
}

impl DecoderOnly {
    /// Creates all variables under `p`: embeddings and linears N(0, init_std²), norms 1.
    pub fn new(p: &nn::Path, cfg: &DecoderConfig) -> Result<Self, ModelError> {
        cfg.validate()?;
        let init = Init::Normal { std: cfg.init_std };
        let (v, d) = (cfg.vocab_size as i64, cfg.dim as i64);
        Ok(DecoderOnly {
            cfg: cfg.clone(),
            device: p.device(),
            embedding: init.embedding(p / "embedding", v, d),
            layers: (0..cfg.layers)
                .map(|i| Block::new(p / "layers" / i, cfg, init))
                .collect(),
            norm: RmsNorm::new(p / "norm", d, cfg.norm_eps),
            output: (!cfg.tied_embeddings).then(|| Linear::new(p / "output", d, v, init)),
            inv_freq: rope_inv_freq(cfg.head_dim() as i64, cfg.rope_base, p.device()),
            schedule: cfg.sharing.schedule(cfg.layers),
            head_hook: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// Device holding the weights.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Blocks run per forward pass (KV-cache slots).
    pub fn depth(&self) -> usize {
        self.schedule.len()
    }

    /// Sets (or with `None` removes) the activation hook of every block and of the head
    /// (see [`Site`]): fake quantization and online rotations act here without changing
    /// the weights' layout.
    pub fn set_activation_hook(&mut self, hook: Option<ActivationHook>) {
        for b in &mut self.layers {
            b.attention.hook = hook.clone();
            b.feed_forward.hook = hook.clone();
        }
        self.head_hook = hook;
    }

    /// Sets (or with `None` removes) the attention kernel of cached decoding steps of every
    /// block (see [`crate::DecodeKernel`]).
    pub fn set_decode_kernel(&mut self, kernel: Option<crate::DecodeKernel>) {
        for (i, b) in self.layers.iter_mut().enumerate() {
            b.attention.decode_kernel = kernel.clone().map(|k| (i, k));
        }
    }

    /// The stored block run at each depth.
    pub fn schedule(&self) -> &[usize] {
        &self.schedule
    }

    /// Every parameter under the names the model creates on `vs.root()` (the embedding
    /// once, also when it is the tied head). A quantized linear gives its dequantized
    /// weight (a new tensor, not a parameter).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![(
            "embedding.weight".to_string(),
            self.embedding.shallow_clone(),
        )];
        for (i, b) in self.layers.iter().enumerate() {
            let mut push = |name: &str, t: &Tensor| {
                out.push((format!("layers.{i}.{name}.weight"), t.shallow_clone()))
            };
            push("attention_norm", &b.attention_norm.weight);
            let a = &b.attention;
            for (n, l) in [("wq", &a.wq), ("wk", &a.wk), ("wv", &a.wv), ("wo", &a.wo)] {
                push(&format!("attention.{n}"), &l.weight_tensor());
            }
            push("ffn_norm", &b.ffn_norm.weight);
            let f = &b.feed_forward;
            push("feed_forward.w1", &f.w1.weight_tensor());
            push("feed_forward.w2", &f.w2.weight_tensor());
            if let Some(w3) = &f.w3 {
                push("feed_forward.w3", &w3.weight_tensor());
            }
        }
        out.push(("norm.weight".to_string(), self.norm.weight.shallow_clone()));
        if let Some(o) = &self.output {
            out.push(("output.weight".to_string(), o.weight_tensor()));
        }
        out
    }

    /// Every linear layer by the name of its weight (as [`crate::Model::linears_mut`]).
    pub fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        self.parts_mut().1
    }

    /// The embedding and norm scales, and the linear layers, by name.
    #[allow(clippy::type_complexity)]
    pub(crate) fn parts_mut(&mut self) -> (Vec<(String, &mut Tensor)>, Vec<(String, &mut Linear)>) {
        let mut tensors = vec![
            ("embedding.weight".to_string(), &mut self.embedding),
            ("norm.weight".to_string(), &mut self.norm.weight),
        ];
        let mut linears = Vec::new();
        for (i, b) in self.layers.iter_mut().enumerate() {
            tensors.push((
                format!("layers.{i}.attention_norm.weight"),
                &mut b.attention_norm.weight,
            ));
            tensors.push((
                format!("layers.{i}.ffn_norm.weight"),
                &mut b.ffn_norm.weight,
            ));
            let a = &mut b.attention;
            for (n, l) in [
                ("wq", &mut a.wq),
                ("wk", &mut a.wk),
                ("wv", &mut a.wv),
                ("wo", &mut a.wo),
            ] {
                linears.push((format!("layers.{i}.attention.{n}.weight"), l));
            }
            let f = &mut b.feed_forward;
            linears.push((format!("layers.{i}.feed_forward.w1.weight"), &mut f.w1));
            linears.push((format!("layers.{i}.feed_forward.w2.weight"), &mut f.w2));
            if let Some(w3) = &mut f.w3 {
                linears.push((format!("layers.{i}.feed_forward.w3.weight"), w3));
            }
        }
        if let Some(o) = &mut self.output {
            linears.push(("output.weight".to_string(), o));
        }
        (tensors, linears)
    }

    /// Whether blocks are shared.
    pub fn is_shared(&self) -> bool {
        self.cfg.sharing != LayerSharing::None
    }

    fn limits(&self) -> Limits {
        Limits::of_decoder(&self.cfg)
    }

    /// Token embeddings: `ids [B,T]` -> `[B,T,D]`.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor, ModelError> {
        check_ids(&self.limits(), self.device, "ids", ids)?;
        Ok(Tensor::embedding(&self.embedding, ids, -1, false, false))
    }

    /// The embedding table `[V, D]`.
    pub fn embedding(&self) -> &Tensor {
        &self.embedding
    }

    /// Last hidden states (before the final norm) for input embeddings `x [B,T,D]` at
    /// positions `P..P+T`, where `past` (if any) holds the keys/values of positions `0..P`.
    /// `key_keep [B, P+T]` (bool, `true` = real token) masks padded keys (a position always
    /// sees itself, so padded positions stay finite); without it and
    /// without `past` the attention is plain causal. Returns the hidden states and the
    /// keys/values of all `P + T` positions.
    pub fn hidden(
        &self,
        x: &Tensor,
        past: Option<&KvState>,
        key_keep: Option<&Tensor>,
    ) -> Result<(Tensor, KvState), ModelError> {
        let (b, t, dim) = x
            .size3()
            .map_err(|_| shape_err("embeddings", "[B,T,D]", x))?;
        if dim != self.cfg.dim as i64 || t == 0 {
            return Err(shape_err(
                "embeddings",
                &format!("[B,T>0,{}]", self.cfg.dim),
                x,
            ));
        }
        let p = past.map_or(0, |s| s.len);
        if let Some(s) = past {
            if s.layers.len() != self.depth() {
                return Err(ModelError::Config(format!(
                    "KvState holds {} layers, the model runs {}",
                    s.layers.len(),
                    self.depth()
                )));
            }
        }
        check_len(&self.limits(), "sequence", p + t)?;
        let keep = match (past, key_keep) {
            (None, None) => None,
            _ => Some(self.keep_mask(b, p, t, key_keep)?),
        };
        let mask = keep.as_ref().map_or(AttnMask::Causal, AttnMask::Keep);
        let rope = RopeAngles::range(&self.inv_freq, p, t);
        let mut h = x.shallow_clone();
        let mut layers = Vec::with_capacity(self.depth());
        for (depth, &i) in self.schedule.iter().enumerate() {
            let prev = past.map(|s| &s.layers[depth]);
            let (out, kv) = self.layers[i].forward(&h, &rope, prev, mask);
            h = out;
            layers.push(kv);
        }
        Ok((h, KvState { layers, len: p + t }))
    }

    /// `[B|1, 1, T, P+T]`: query `i` (position `P+i`) may see key `j` iff `j <= P+i` and
    /// `key_keep[b, j]`, or `j = P+i`.
    fn keep_mask(
        &self,
        b: i64,
        p: i64,
        t: i64,
        key_keep: Option<&Tensor>,
    ) -> Result<Tensor, ModelError> {
        let total = p + t;
        let q = Tensor::arange_start(p, total, (Kind::Int64, self.device)).view([t, 1]);
        let k = Tensor::arange(total, (Kind::Int64, self.device)).view([1, total]);
        let causal = k.le_tensor(&q).view([1, 1, t, total]);
        Ok(match key_keep {
            None => causal,
            Some(m) => {
                if m.size() != [b, total] || m.kind() != Kind::Bool || m.device() != self.device {
                    return Err(shape_err(
                        "key_keep",
                        &format!("[{b},{total}] bool on {:?}", self.device),
                        m,
                    ));
                }
                // A query may always see its own position, so that a padded query whose
                // keys are all masked gets finite (ignored) values instead of NaNs, which
                // would reach real positions of later layers through `0 · NaN`.
                let own = k.eq_tensor(&q).view([1, 1, t, total]);
                causal
                    .logical_and(&m.view([b, 1, 1, total]))
                    .logical_or(&own)
            }
        })
    }

    /// The final RMSNorm applied to hidden states from [`Self::hidden`]: what Hugging Face
    /// models return as `hidden_states[-1]` (Coconut feeds it back as a thought).
    pub fn final_norm(&self, hidden: &Tensor) -> Tensor {
        self.norm.forward(hidden)
    }

    /// Output head: hidden `[B,T,D]` -> logits `[B,T,V]` fp32.
    pub fn head(&self, hidden: &Tensor) -> Tensor {
        let h = crate::layers::at(&self.head_hook, Site::OutputInput, &self.final_norm(hidden));
        match &self.output {
            Some(o) => o.forward(&h),
            None => h.linear(&self.embedding, None::<Tensor>),
        }
        .to_kind(Kind::Float)
    }

    /// Teacher-forced forward: `ids [B,T]` -> logits `[B,T,V]` fp32 (causal).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor, ModelError> {
        let (h, _) = self.hidden(&self.embed(ids)?, None, None)?;
        Ok(self.head(&h))
    }

    /// Keys/values of `ids [N,L]` (right-padded prompts; positions past a row's length
    /// hold padding and are overwritten by the first decoding steps of that row) for
    /// [`KvCache::write_prefix`]. No gradient.
    pub fn prefill(&self, ids: &Tensor) -> Result<Prefix, ModelError> {
        tch::no_grad(|| {
            let (_, state) = self.hidden(&self.embed(ids)?, None, None)?;
            Ok(Prefix {
                kv: state.layers,
                len: state.len,
            })
        })
    }

    /// One KV-cached step: row `b` feeds `tokens[b]` at position `positions[b]`; returns
    /// next-token logits `[B,V]` fp32.
    pub fn decode_step(
        &self,
        cache: &mut KvCache,
        tokens: &[i64],
        positions: &[i64],
    ) -> Result<Tensor, ModelError> {
        let b = cache.rows();
        let max_pos = check_step(&self.limits(), b, tokens, positions)?;
        cache.ensure_capacity(max_pos + 1);
        let c = &self.cfg;
        let step = StepInputs::new(
            &self.inv_freq,
            positions,
            c.kv_heads as i64,
            c.head_dim() as i64,
        );
        let step = StepInputs {
            rows: cache.row_ids().to_vec(),
            ..step
        };
        let ids = Tensor::from_slice(tokens).to(self.device).view([b, 1]);
        let mut h = Tensor::embedding(&self.embedding, &ids, -1, false, false); // [B,1,D]
        for (depth, &i) in self.schedule.iter().enumerate() {
            let layer = &self.layers[i];
            let a = layer.attention.cached_self_attention(
                &layer.attention_norm.forward(&h),
                &step,
                cache.self_kv_mut(depth),
                depth,
            );
            h = layer.ffn(&h + a);
        }
        Ok(self.head(&h).squeeze_dim(1)) // [B,V]
    }
}
