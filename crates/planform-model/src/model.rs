//! [`Model`]: a model of either family behind one interface — what training, generation,
//! evaluation and benchmarks use.
//!
//! Sequences, for a task with prompt `p`, reasoning `r` and plan `q`:
//! - encoder–decoder: encoder `bos p eos`, decoder `bos r q eos`;
//! - decoder-only: one sequence `bos p r q eos`.
//!
//! The loss is on the response (`r q eos`) in both.

use tch::{nn, Device, Tensor};

use crate::cache::KvCache;
use crate::config::{Family, ModelConfig};
use crate::decoder_only::DecoderOnly;
use crate::encoder_decoder::EncoderDecoder;
use crate::error::ModelError;

/// A model of either family.
#[derive(Debug)]
pub enum Model {
    /// The Searchformer encoder–decoder.
    EncoderDecoder(EncoderDecoder),
    /// The decoder-only model.
    DecoderOnly(DecoderOnly),
}

/// A teacher-forced training batch, in the form its family takes.
#[derive(Debug)]
pub enum ModelInput {
    /// Encoder–decoder inputs.
    EncoderDecoder {
        /// `bos prompt eos`, right-padded: `[B, Lp]` int64.
        enc_ids: Tensor,
        /// `true` at real encoder positions: `[B, Lp]` bool.
        enc_mask: Tensor,
        /// Decoder input `bos response` (without the last token): `[B, Ld]` int64.
        dec_in: Tensor,
    },
    /// Decoder-only input `bos prompt response` without the last token, right-padded:
    /// `[B, L]` int64.
    DecoderOnly {
        /// Token ids.
        ids: Tensor,
    },
}

/// libtorch's random generator is one per process: two threads that seed it and then draw
/// weights would interleave their draws. Every seeded model construction holds this lock.
static SEEDED: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` with libtorch's global generator seeded with `seed` (`tch::manual_seed`), while no
/// other thread of this process does the same — so weights drawn in `f` depend on `seed`
/// alone, also when tests or several runs build models concurrently.
pub fn seeded<T>(seed: i64, f: impl FnOnce() -> T) -> T {
    let _guard = SEEDED.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    f()
}

thread_local! {
    /// Set while [`zero_filled`] runs on this thread.
    static ZERO_FILL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the weights of models built in it filled with zeros instead of drawn at
/// random, for callers that overwrite every weight right after (loading a checkpoint).
/// Nothing is drawn from libtorch's global generator, so a load on one thread cannot shift the
/// draws of a [`seeded`] construction on another (which made a bit-for-bit resume test
/// fail now and then), and a fill is cheaper than a draw.
pub fn zero_filled<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ZERO_FILL.set(self.0);
        }
    }
    let _restore = Restore(ZERO_FILL.replace(true));
    f()
}

/// `init`, or zeros inside [`zero_filled`]: every random initialisation of the model
/// families goes through here.
pub(crate) fn drawn(init: nn::Init) -> nn::Init {
    if ZERO_FILL.get() {
        nn::Init::Const(0.0)
    } else {
        init
    }
}

impl Model {
    /// A model for `cfg` whose weights are zeros, to be overwritten by the caller (see
    /// [`zero_filled`]).
    pub fn new_zero_filled(p: &nn::Path, cfg: &ModelConfig) -> Result<Self, ModelError> {
        zero_filled(|| Model::new(p, cfg))
    }

    /// [`Model::new`] with weights drawn from `seed` (see [`seeded`]).
    pub fn new_seeded(p: &nn::Path, cfg: &ModelConfig, seed: i64) -> Result<Self, ModelError> {
        seeded(seed, || Model::new(p, cfg))
    }

    /// Creates the variables of `cfg` under `p` (on `vs.root()` the names are the
    /// family's documented names), drawing from libtorch's global generator.
    pub fn new(p: &nn::Path, cfg: &ModelConfig) -> Result<Self, ModelError> {
        Ok(match cfg {
            ModelConfig::EncoderDecoder(c) => Model::EncoderDecoder(EncoderDecoder::new(p, c)?),
            ModelConfig::DecoderOnly(c) => Model::DecoderOnly(DecoderOnly::new(p, c)?),
        })
    }

    /// The configuration.
    pub fn config(&self) -> ModelConfig {
        match self {
            Model::EncoderDecoder(m) => ModelConfig::EncoderDecoder(m.config().clone()),
            Model::DecoderOnly(m) => ModelConfig::DecoderOnly(m.config().clone()),
        }
    }

    /// The family.
    pub fn family(&self) -> Family {
        match self {
            Model::EncoderDecoder(_) => Family::EncoderDecoder,
            Model::DecoderOnly(_) => Family::DecoderOnly,
        }
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        match self {
            Model::EncoderDecoder(m) => m.config().vocab_size,
            Model::DecoderOnly(m) => m.config().vocab_size,
        }
    }

    /// Device holding the weights.
    pub fn device(&self) -> Device {
        match self {
            Model::EncoderDecoder(m) => m.device(),
            Model::DecoderOnly(m) => m.device(),
        }
    }

    /// Every parameter under the family's documented names (a quantized linear gives its
    /// dequantized weight).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        match self {
            Model::EncoderDecoder(m) => m.named_parameters(),
            Model::DecoderOnly(m) => m.named_parameters(),
        }
    }

    /// Every linear layer of the blocks and the untied heads, by the name of its weight in
    /// [`Model::named_parameters`] (`layers.{i}.attention.wq.weight`, …), for swapping its
    /// [`crate::Weight`] (quantized storage).
    pub fn linears_mut(&mut self) -> Vec<(String, &mut crate::Linear)> {
        self.parts_mut().1
    }

    /// Every float parameter tensor by its [`Model::named_parameters`] name, for
    /// substituting computed tensors (a reparametrised forward pass: rotations learned
    /// through the model). Quantized linears are not listed; a tied head is the embedding.
    pub fn parameter_slots_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let (tensors, linears) = self.parts_mut();
        crate::layers::with_float_weights(tensors, linears)
    }

    /// The embeddings and norm scales, and the linear layers, by name.
    #[allow(clippy::type_complexity)]
    fn parts_mut(
        &mut self,
    ) -> (
        Vec<(String, &mut Tensor)>,
        Vec<(String, &mut crate::Linear)>,
    ) {
        match self {
            Model::EncoderDecoder(m) => m.parts_mut(),
            Model::DecoderOnly(m) => m.parts_mut(),
        }
    }

    /// Sets (or removes) the attention kernel of cached decoding steps (decoder
    /// self-attention; see [`crate::DecodeKernel`]).
    pub fn set_decode_kernel(&mut self, kernel: Option<crate::DecodeKernel>) {
        match self {
            Model::EncoderDecoder(m) => m.set_decode_kernel(kernel),
            Model::DecoderOnly(m) => m.set_decode_kernel(kernel),
        }
    }

    /// Sets (or removes) the activation hook everywhere (see [`crate::Site`]).
    pub fn set_activation_hook(&mut self, hook: Option<crate::ActivationHook>) {
        match self {
            Model::EncoderDecoder(m) => m.set_activation_hook(hook),
            Model::DecoderOnly(m) => m.set_activation_hook(hook),
        }
    }

    /// The generation context of a task prompt `p` (token ids without `bos`/`eos`): the
    /// encoder input `bos p eos` for the encoder–decoder, the sequence start `bos p` for the
    /// decoder-only model.
    pub fn frame_prompt(&self, prompt: &[i64], bos: i64, eos: i64) -> Vec<i64> {
        let mut v = Vec::with_capacity(prompt.len() + 2);
        v.push(bos);
        v.extend_from_slice(prompt);
        if let Model::EncoderDecoder(_) = self {
            v.push(eos);
        }
        v
    }

    /// Teacher-forced logits `[B, T, V]` fp32 (`T` = decoder length, resp. sequence length).
    pub fn forward(&self, input: &ModelInput) -> Result<Tensor, ModelError> {
        match (self, input) {
            (
                Model::EncoderDecoder(m),
                ModelInput::EncoderDecoder {
                    enc_ids,
                    enc_mask,
                    dec_in,
                },
            ) => m.forward(enc_ids, enc_mask, dec_in),
            (Model::DecoderOnly(m), ModelInput::DecoderOnly { ids }) => m.forward(ids),
            _ => Err(ModelError::Config(format!(
                "a {:?} model was given a batch of the other family",
                self.family()
            ))),
        }
    }

    /// One KV-cached step (see the family's `decode_step`): next-token logits `[B, V]`.
    pub fn decode_step(
        &self,
        cache: &mut KvCache,
        tokens: &[i64],
        positions: &[i64],
    ) -> Result<Tensor, ModelError> {
        match self {
            Model::EncoderDecoder(m) => m.decode_step(cache, tokens, positions),
            Model::DecoderOnly(m) => m.decode_step(cache, tokens, positions),
        }
    }
}
