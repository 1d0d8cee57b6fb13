//! The building blocks both model families are made of: [`Linear`] (in `linear.rs`, with its
//! weight formats), [`RmsNorm`], [`FeedForward`], rotary angles, [`attend`] and
//! [`Attention`].
//!
//! Notation: `B` batch, `T` sequence length, `D` width, `H` query heads, `Hkv` key/value
//! heads (`H` is a multiple of `Hkv`; `Hkv = H` is plain multi-head attention), `hd = D / H`.
//!
//! Swap points: every projection goes through [`Linear::forward`] and every attention
//! through [`attend`]; other weight formats (quantized weights) or kernels change these
//! two places (plus a [`Weight`] / [`AttentionKernel`] variant), not the blocks.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

/// Where an [`ActivationHook`] sees an activation (SpinQuant's quantization and online
/// rotation points).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The input of a block's linear layer that reads the (normed) residual stream or the
    /// attention output: q/k/v, `wo`, `w1`/`w3`, cross-attention's, `[.., D]`.
    LinearInput,
    /// The input of an output projection (the decoder-only head; the encoder–decoder's
    /// encoder output projection and decoder head), `[.., D]`.
    OutputInput,
    /// The input of the down projection `w2`, `[.., h]` (R4's place).
    DownInput,
    /// Queries after RoPE, `[B, H, T, hd]` (R3's place).
    Query,
    /// Keys after RoPE, `[B, Hkv, T, hd]`: what the KV cache stores.
    Key,
    /// Values, `[B, Hkv, T, hd]`.
    Value,
}

/// A function applied to activations at every [`Site`] (fake quantization, online
/// Hadamard rotations); it must return a tensor of the same shape. `None` in a model
/// (the default) costs one branch per site.
#[derive(Clone)]
pub struct ActivationHook(Arc<HookFn>);

/// The function inside an [`ActivationHook`].
type HookFn = dyn Fn(Site, &Tensor) -> Tensor + Send + Sync;

impl ActivationHook {
    /// A hook calling `f(site, x)`.
    pub fn new(f: impl Fn(Site, &Tensor) -> Tensor + Send + Sync + 'static) -> Self {
        ActivationHook(Arc::new(f))
    }

    /// `f(site, x)` (to wrap one hook in another).
    pub fn call(&self, site: Site, x: &Tensor) -> Tensor {
        (self.0)(site, x)
    }
}

impl std::fmt::Debug for ActivationHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActivationHook")
    }
}

/// A replacement for exact attention in cached decoding steps (MagicPIG's LSH sampling is
/// one): called once per attention run and step with a [`DecodeCall`]; returns
/// `[B, H, 1, hd]`. Set with `Model::set_decode_kernel`; prefill and training always attend
/// exactly.
#[derive(Clone)]
pub struct DecodeKernel(Arc<DecodeFn>);

/// What a [`DecodeKernel`] gets at one attention run of one cached decoding step.
pub struct DecodeCall<'a> {
    /// Index of the stored block (blocks shared across depths have one index).
    pub block: usize,
    /// Attention run (cache slot): differs from `block` when blocks are shared.
    pub depth: usize,
    /// Queries `[B, H, 1, hd]`.
    pub q: &'a Tensor,
    /// Cached keys and values `[B, Hkv, T, hd]`.
    pub keys: &'a Tensor,
    /// See `keys`.
    pub values: &'a Tensor,
    /// Valid keys of each row: its first `lengths[b]` positions.
    pub lengths: &'a [i64],
    /// Sequence identity of each row ([`crate::KvCache::row_ids`]): a kernel that keeps
    /// per-sequence state keys it on `(depth, id)`.
    pub rows: &'a [u64],
}

/// The function inside a [`DecodeKernel`].
type DecodeFn = dyn Fn(&DecodeCall<'_>) -> Tensor + Send + Sync;

impl DecodeKernel {
    /// A kernel calling `f(call)`.
    pub fn new(f: impl Fn(&DecodeCall<'_>) -> Tensor + Send + Sync + 'static) -> Self {
        DecodeKernel(Arc::new(f))
    }

    /// Attention `[B, H, 1, hd]` for `call`.
    pub fn call(&self, call: &DecodeCall<'_>) -> Tensor {
        (self.0)(call)
    }
}

impl std::fmt::Debug for DecodeKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecodeKernel")
    }
}

/// `hook(site, x)`, or `x` itself without a hook.
pub(crate) fn at(hook: &Option<ActivationHook>, site: Site, x: &Tensor) -> Tensor {
    match hook {
        Some(h) => (h.0)(site, x),
        None => x.shallow_clone(),
    }
}

/// Which attention kernel computes `softmax(q kᵀ / √hd) v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttentionKernel {
    /// `torch.nn.functional.scaled_dot_product_attention` (as the reference).
    #[default]
    Sdpa,
    /// Explicit matmul + softmax (fp32 softmax). Slower; an independent check of the
    /// SDPA path and the place to start alternative kernels.
    Math,
}

pub(crate) use crate::linear::with_float_weights;
pub use crate::linear::{ExternalWeight, Init, Linear, QuantizedWeight, Weight};

/// RMSNorm with learnable scale (init 1); statistics always in fp32.
#[derive(Debug)]
pub struct RmsNorm {
    /// `[D]`.
    pub weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// A new scale named `weight` under `p`.
    pub fn new(p: nn::Path, dim: i64, eps: f64) -> Self {
        RmsNorm {
            weight: p.var("weight", &[dim], nn::Init::Const(1.0)),
            eps,
        }
    }

    /// `[.., D] -> [.., D]`: `w * x / sqrt(mean(x²) + eps)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
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

/// The non-linearity of the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// Gated SiLU: `w2(silu(w1 x) * w3 x)` (LLaMA, MobileLLM, the Searchformer reference).
    #[default]
    Swiglu,
    /// Plain GELU MLP: `w2(gelu(w1 x))` (GPT-2 style; no `w3`).
    Gelu,
}

/// Feed-forward block; weights `w1 [h, D]`, `w2 [D, h]` and, for SwiGLU, `w3 [h, D]`.
#[derive(Debug)]
pub struct FeedForward {
    /// Up (gate) projection.
    pub w1: Linear,
    /// Down projection.
    pub w2: Linear,
    /// Up projection of SwiGLU (`None` for GELU).
    pub w3: Option<Linear>,
    /// Activation hook ([`Site::LinearInput`], [`Site::DownInput`]).
    pub hook: Option<ActivationHook>,
}

impl FeedForward {
    /// Weights under `p` (`w1`, `w2`, `w3`).
    pub fn new(p: nn::Path, dim: i64, hidden: i64, activation: Activation, init: Init) -> Self {
        FeedForward {
            w1: Linear::new(&p / "w1", dim, hidden, init),
            w2: Linear::new(&p / "w2", hidden, dim, init),
            w3: match activation {
                Activation::Swiglu => Some(Linear::new(&p / "w3", dim, hidden, init)),
                Activation::Gelu => None,
            },
            hook: None,
        }
    }

    /// `[B,T,D] -> [B,T,h] -> [B,T,D]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = at(&self.hook, Site::LinearInput, x);
        let h = match &self.w3 {
            Some(w3) => self.w1.forward(&x).silu() * w3.forward(&x),
            None => self.w1.forward(&x).gelu("none"),
        };
        self.w2.forward(&at(&self.hook, Site::DownInput, &h))
    }
}

/// Interleaved (GPT-J / original LLaMA) rotary angles, shaped `[B|1, T, 1, hd/2]` so they
/// broadcast against `[B, T, H, hd/2]`.
pub struct RopeAngles {
    cos: Tensor,
    sin: Tensor,
}

/// `inv_freq[i] = 1 / base^(2i/hd)`, fp32 (as the reference `RoPE.__init__`).
pub fn rope_inv_freq(head_dim: i64, base: f64, device: Device) -> Tensor {
    let exponents =
        Tensor::arange_start_step(0, head_dim, 2, (Kind::Float, device)) / head_dim as f64;
    Tensor::pow_scalar(base, &exponents).reciprocal()
}

impl RopeAngles {
    /// Angles for positions `[P]` (i64), laid out as `[1, P, 1, hd/2]` when `per_row` is
    /// false (one sequence of positions shared by the batch) or `[P, 1, 1, hd/2]` when true
    /// (one position per batch row).
    pub fn new(inv_freq: &Tensor, positions: &Tensor, per_row: bool) -> Self {
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

    /// Angles for positions `start..start + len`, shared by the batch.
    pub fn range(inv_freq: &Tensor, start: i64, len: i64) -> Self {
        let device = inv_freq.device();
        RopeAngles::new(
            inv_freq,
            &Tensor::arange_start(start, start + len, (Kind::Int64, device)),
            false,
        )
    }

    /// Rotates pairs `(x[2i], x[2i+1])`: `[B,T,H,hd] -> [B,T,H,hd]`, same dtype as `x`.
    pub fn apply(&self, x: &Tensor) -> Tensor {
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

/// Multi-head attention with separate `wq [H·hd, D]`, `wk`, `wv [Hkv·hd, D]`, `wo [D, H·hd]`
/// (no biases). With `Hkv < H` (grouped-query attention) query head `h` reads key/value
/// head `h / (H / Hkv)`.
#[derive(Debug)]
pub struct Attention {
    /// Query projection.
    pub wq: Linear,
    /// Key projection.
    pub wk: Linear,
    /// Value projection.
    pub wv: Linear,
    /// Output projection.
    pub wo: Linear,
    heads: i64,
    kv_heads: i64,
    head_dim: i64,
    kernel: AttentionKernel,
    /// Activation hook ([`Site::LinearInput`] of q/k/v and `wo`, [`Site::Query`],
    /// [`Site::Key`], [`Site::Value`]); in cross-attention the memory is the k/v linears'
    /// input and its keys and values are what the cross cache stores.
    pub hook: Option<ActivationHook>,
    /// Attention of cached decoding steps, with this block's index; `None`: exact.
    pub decode_kernel: Option<(usize, DecodeKernel)>,
}

/// Keys and values of one attention layer, `[B, Hkv, T, hd]` each.
pub type KeyValue = (Tensor, Tensor);

impl Attention {
    /// Weights under `p` (`wq`, `wk`, `wv`, `wo`).
    pub fn new(
        p: nn::Path,
        dim: i64,
        (heads, kv_heads): (i64, i64),
        kernel: AttentionKernel,
        init: Init,
    ) -> Self {
        let head_dim = dim / heads;
        Attention {
            wq: Linear::new(&p / "wq", dim, heads * head_dim, init),
            wk: Linear::new(&p / "wk", dim, kv_heads * head_dim, init),
            wv: Linear::new(&p / "wv", dim, kv_heads * head_dim, init),
            wo: Linear::new(&p / "wo", heads * head_dim, dim, init),
            heads,
            kv_heads,
            head_dim,
            kernel,
            hook: None,
            decode_kernel: None,
        }
    }

    /// `[B,T,H'·hd] -> [B,T,H',hd]`.
    fn split(&self, x: Tensor, heads: i64) -> Tensor {
        let (b, t, _) = x.size3().expect("projection output is 3-d");
        x.view([b, t, heads, self.head_dim])
    }

    /// `[B,H,T,hd] -> [B,T,D] -> wo -> [B,T,D]`.
    fn merge_out(&self, o: Tensor) -> Tensor {
        let (b, _, t, _) = o.size4().expect("attention output is 4-d");
        let o = o
            .transpose(1, 2)
            .contiguous()
            .view([b, t, self.heads * self.head_dim]);
        self.wo.forward(&at(&self.hook, Site::LinearInput, &o))
    }

    /// Key/value heads repeated for their query groups: `[B,Hkv,T,hd] -> [B,H,T,hd]`.
    fn expand_kv(&self, x: &Tensor) -> Tensor {
        let groups = self.heads / self.kv_heads;
        if groups == 1 {
            x.shallow_clone()
        } else {
            x.repeat_interleave_self_int(groups, 1, None)
        }
    }

    /// Queries, keys and values of `x [B,T,D]` with RoPE on q and k:
    /// q `[B,H,T,hd]`, k/v `[B,Hkv,T,hd]`.
    pub fn qkv(&self, x: &Tensor, rope: &RopeAngles) -> (Tensor, Tensor, Tensor) {
        let x = &at(&self.hook, Site::LinearInput, x);
        let q = rope
            .apply(&self.split(self.wq.forward(x), self.heads))
            .transpose(1, 2);
        let k = rope
            .apply(&self.split(self.wk.forward(x), self.kv_heads))
            .transpose(1, 2);
        let v = self
            .split(self.wv.forward(x), self.kv_heads)
            .transpose(1, 2);
        if self.hook.is_none() {
            return (q, k, v);
        }
        (
            at(&self.hook, Site::Query, &q),
            at(&self.hook, Site::Key, &k),
            at(&self.hook, Site::Value, &v),
        )
    }

    /// Attention of queries `q [B,H,Tq,hd]` on keys/values `[B,Hkv,Tk,hd]`, then `wo`:
    /// `-> [B,Tq,D]`.
    pub fn attend_out(&self, q: &Tensor, k: &Tensor, v: &Tensor, mask: AttnMask) -> Tensor {
        let groups = self.heads / self.kv_heads;
        let (b, _, tq, hd) = q.size4().expect("queries are [B,H,Tq,hd]");
        let per_row_mask = match mask {
            AttnMask::None => true,
            AttnMask::Causal => false,
            AttnMask::Keep(m) => m.size().get(1..3) == Some(&[1, 1][..]),
        };
        if groups > 1 && tq == 1 && per_row_mask {
            // One query per row (a decoding step): the query heads of a group become query
            // rows of their key/value head, `[B,H,1,hd] -> [B,Hkv,g,hd]`, so the keys and
            // values are read where they are instead of repeated g times.
            let q = q.reshape([b, self.kv_heads, groups, hd]);
            let o = attend(self.kernel, &q, k, v, mask).reshape([b, self.heads, 1, hd]);
            return self.merge_out(o);
        }
        let (k, v) = (self.expand_kv(k), self.expand_kv(v));
        self.merge_out(attend(self.kernel, q, &k, &v, mask))
    }

    /// Self-attention with RoPE on q and k: `[B,T,D] -> [B,T,D]`.
    pub fn self_attention(&self, x: &Tensor, rope: &RopeAngles, mask: AttnMask) -> Tensor {
        let (q, k, v) = self.qkv(x, rope);
        self.attend_out(&q, &k, &v, mask)
    }

    /// Keys and values of `memory [B,S,D]` for cross-attention, each `[B,Hkv,S,hd]` (no RoPE).
    pub fn cross_kv(&self, memory: &Tensor) -> KeyValue {
        let memory = &at(&self.hook, Site::LinearInput, memory);
        let k = self
            .split(self.wk.forward(memory), self.kv_heads)
            .transpose(1, 2);
        let v = self
            .split(self.wv.forward(memory), self.kv_heads)
            .transpose(1, 2);
        (
            at(&self.hook, Site::Key, &k),
            at(&self.hook, Site::Value, &v),
        )
    }

    /// Cross-attention of `x [B,T,D]` on precomputed keys/values: `-> [B,T,D]`.
    pub fn cross_attention(&self, x: &Tensor, k: &Tensor, v: &Tensor, keep: &Tensor) -> Tensor {
        let x = &at(&self.hook, Site::LinearInput, x);
        let q = self.split(self.wq.forward(x), self.heads).transpose(1, 2); // [B,H,T,hd]
        let q = at(&self.hook, Site::Query, &q);
        self.attend_out(&q, k, v, AttnMask::Keep(keep))
    }

    /// One cached decoding step of attention run `depth`: `x [B,1,D]`, row `b` at position
    /// `step`'s `positions[b]`. Writes k/v into the cache slot `[B,Hkv,cap,hd]` (allocated
    /// here on first use with the dtype of k) and attends to the first `t_len` cache
    /// positions under the step's mask. `-> [B,1,D]`.
    /// In-place: for inference only (training goes through [`Attention::self_attention`]
    /// or the functional cache of the decoder-only model).
    pub fn cached_self_attention(
        &self,
        x: &Tensor,
        step: &StepInputs,
        (slot, capacity): (&mut Option<KeyValue>, i64),
        depth: usize,
    ) -> Tensor {
        let (write_index, t_len, mask) = (&step.write_index, step.t_len, step.mask());
        let (q, k, v) = self.qkv(x, &step.rope); // q [B,H,1,hd], k/v [B,Hkv,1,hd]
        let (cache_k, cache_v) = slot.get_or_insert_with(|| {
            let shape = [k.size()[0], self.kv_heads, capacity, self.head_dim];
            (
                Tensor::zeros(shape, (k.kind(), k.device())),
                Tensor::zeros(shape, (v.kind(), v.device())),
            )
        });
        let _ = cache_k.scatter_(2, write_index, &k.to_kind(cache_k.kind()));
        let _ = cache_v.scatter_(2, write_index, &v.to_kind(cache_v.kind()));
        let keys = cache_k.narrow(2, 0, t_len).to_kind(q.kind()); // [B,Hkv,t_len,hd]
        let values = cache_v.narrow(2, 0, t_len).to_kind(q.kind());
        if let Some((block, kernel)) = &self.decode_kernel {
            let lengths: Vec<i64> = match mask {
                AttnMask::Keep(keep) => Vec::<i64>::try_from(
                    keep.to_kind(Kind::Int64)
                        .sum_dim_intlist([-1i64].as_slice(), false, Kind::Int64)
                        .view([-1]),
                )
                .expect("keep mask is [B,1,1,T]"),
                _ => vec![t_len; q.size()[0] as usize],
            };
            let o = kernel.call(&DecodeCall {
                block: *block,
                depth,
                q: &q,
                keys: &keys,
                values: &values,
                lengths: &lengths,
                rows: &step.rows,
            });
            return self.merge_out(o);
        }
        self.attend_out(&q, &keys, &values, mask)
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> i64 {
        self.kv_heads
    }

    /// Width of one head.
    pub fn head_dim(&self) -> i64 {
        self.head_dim
    }
}

/// Per-step tensors of one cached decoding step with row `b` at `positions[b]`.
pub struct StepInputs {
    /// Rotary angles `[B,1,1,hd/2]`.
    pub rope: RopeAngles,
    /// Cache write index `[B,Hkv,1,hd]` (the row's position).
    pub write_index: Tensor,
    /// Cache positions attended: `max(positions) + 1`.
    pub t_len: i64,
    /// `[B,1,1,t_len]`, `true` for keys `0..=positions[b]`; `None` when every row is at the
    /// same position (no mask needed).
    pub keep: Option<Tensor>,
    /// Sequence identity of each row (for a [`DecodeKernel`]); empty unless set.
    pub rows: Vec<u64>,
}

impl StepInputs {
    /// For rows at `positions` (non-empty) with `kv_heads` heads of `head_dim`.
    pub fn new(inv_freq: &Tensor, positions: &[i64], kv_heads: i64, head_dim: i64) -> Self {
        let device = inv_freq.device();
        let b = positions.len() as i64;
        let max_pos = positions.iter().copied().max().unwrap_or(0);
        let pos = Tensor::from_slice(positions).to(device); // [B]
        let rope = RopeAngles::new(inv_freq, &pos, true);
        let write_index = pos
            .view([b, 1, 1, 1])
            .expand([b, kv_heads, 1, head_dim], false);
        let t_len = max_pos + 1;
        let keep = positions.iter().any(|&p| p != max_pos).then(|| {
            Tensor::arange(t_len, (Kind::Int64, device))
                .view([1, 1, 1, t_len])
                .le_tensor(&pos.view([b, 1, 1, 1]))
        });
        StepInputs {
            rope,
            write_index,
            t_len,
            keep,
            rows: Vec::new(),
        }
    }

    /// The attention mask of the step.
    pub fn mask(&self) -> AttnMask<'_> {
        self.keep.as_ref().map_or(AttnMask::None, AttnMask::Keep)
    }
}
