//! Export of a decoder-only model as a Hugging Face Llama folder that
//! `transformers.LlamaForCausalLM.from_pretrained` loads and that gives the same logits.
//!
//! ```text
//! <dir>/config.json              LlamaConfig (layers = the model's depth: shared blocks are written once per run)
//! <dir>/model.safetensors        weights under Hugging Face Llama names
//! <dir>/tokenizer.json           a word-level tokenizer over planform's vocabulary (whitespace-separated tokens)
//! <dir>/tokenizer_config.json    PreTrainedTokenizerFast with bos/eos
//! <dir>/special_tokens_map.json
//! <dir>/planform.json            where it came from and how sequences are framed
//! ```
//!
//! Two mappings make the logits equal:
//! - RoPE: planform rotates interleaved pairs `(2i, 2i+1)` (original LLaMA); Hugging Face
//!   rotates halves `(i, i + hd/2)`. The rows of `wq` and `wk` are permuted per head exactly
//!   as Hugging Face's `convert_llama_weights_to_hf.py` does.
//! - Weight sharing: Llama has no shared blocks, so a block that runs twice is written as two
//!   identical layers.
//!
//! Only SwiGLU models can be exported (Llama's MLP is always gated).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use tch::Tensor;

use crate::decoder_only::DecoderOnly;
use crate::error::ModelError;
use crate::layers::Activation;
use crate::tensor_io::{save_tensors, write_atomic, HostTensor};

/// What the exported folder says about its origin.
#[derive(Debug, Clone)]
pub struct ExportInfo<'a> {
    /// Token strings in id order.
    pub tokens: &'a [String],
    /// `bos` id.
    pub bos: i64,
    /// `eos` id.
    pub eos: i64,
    /// The checkpoint it was exported from (for `planform.json`).
    pub source: String,
    /// Training steps of that checkpoint.
    pub step: u64,
}

/// Interleaved-pair rows -> half-split rows, per head: `[H·hd, D] -> [H·hd, D]`.
fn permute_rope_rows(w: &Tensor, heads: i64) -> Tensor {
    let (out, dim) = w.size2().expect("projection weight is 2-d");
    let hd = out / heads;
    w.view([heads, hd / 2, 2, dim])
        .transpose(1, 2)
        .reshape([out, dim])
}

/// Writes the Hugging Face folder for `model` into `dir` (created if missing).
pub fn export_hf(model: &DecoderOnly, info: &ExportInfo, dir: &Path) -> Result<(), ModelError> {
    let c = model.config();
    if c.activation != Activation::Swiglu {
        return Err(ModelError::Config(
            "Hugging Face export needs a SwiGLU model (Llama's MLP is gated); this one uses GELU"
                .into(),
        ));
    }
    if info.tokens.len() != c.vocab_size {
        return Err(ModelError::Config(format!(
            "{} token strings for a vocabulary of {}",
            info.tokens.len(),
            c.vocab_size
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let (heads, kv_heads) = (c.heads as i64, c.kv_heads as i64);
    let vars = tch::no_grad(|| model_variables(model));
    let get = |name: &str| -> Result<&Tensor, ModelError> {
        vars.get(name)
            .ok_or_else(|| ModelError::StateDict(format!("missing variable {name}")))
    };
    let mut out: Vec<(String, Tensor)> = vec![(
        "model.embed_tokens.weight".into(),
        get("embedding.weight")?.shallow_clone(),
    )];
    for (depth, &block) in model.schedule().iter().enumerate() {
        let src = |s: &str| get(&format!("layers.{block}.{s}.weight"));
        let dst = |s: &str| format!("model.layers.{depth}.{s}.weight");
        out.push((
            dst("input_layernorm"),
            src("attention_norm")?.shallow_clone(),
        ));
        out.push((
            dst("self_attn.q_proj"),
            permute_rope_rows(src("attention.wq")?, heads),
        ));
        out.push((
            dst("self_attn.k_proj"),
            permute_rope_rows(src("attention.wk")?, kv_heads),
        ));
        out.push((
            dst("self_attn.v_proj"),
            src("attention.wv")?.shallow_clone(),
        ));
        out.push((
            dst("self_attn.o_proj"),
            src("attention.wo")?.shallow_clone(),
        ));
        out.push((
            dst("post_attention_layernorm"),
            src("ffn_norm")?.shallow_clone(),
        ));
        out.push((
            dst("mlp.gate_proj"),
            src("feed_forward.w1")?.shallow_clone(),
        ));
        out.push((dst("mlp.up_proj"), src("feed_forward.w3")?.shallow_clone()));
        out.push((
            dst("mlp.down_proj"),
            src("feed_forward.w2")?.shallow_clone(),
        ));
    }
    out.push((
        "model.norm.weight".into(),
        get("norm.weight")?.shallow_clone(),
    ));
    if !c.tied_embeddings {
        out.push((
            "lm_head.weight".into(),
            get("output.weight")?.shallow_clone(),
        ));
    }
    let host = out
        .iter()
        .map(|(n, t)| Ok((n.clone(), HostTensor::from_tensor(n, &t.contiguous())?)))
        .collect::<Result<Vec<_>, ModelError>>()?;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    save_tensors(&dir.join("model.safetensors"), &host, meta)?;

    let token = |id: i64| info.tokens.get(id as usize).cloned().unwrap_or_default();
    let config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.dim,
        "intermediate_size": c.ffn_hidden,
        "num_hidden_layers": model.depth(),
        "num_attention_heads": c.heads,
        "num_key_value_heads": c.kv_heads,
        "head_dim": c.head_dim(),
        "hidden_act": "silu",
        "max_position_embeddings": c.max_positions,
        "rms_norm_eps": c.norm_eps,
        "rope_theta": c.rope_base,
        "rope_scaling": null,
        "tie_word_embeddings": c.tied_embeddings,
        "attention_bias": false,
        "mlp_bias": false,
        "initializer_range": c.init_std,
        "bos_token_id": info.bos,
        "eos_token_id": info.eos,
        "pad_token_id": info.bos,
        "torch_dtype": "float32",
    });
    let vocab: serde_json::Map<String, serde_json::Value> = info
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    });
    let specials = json!({"bos_token": token(info.bos), "eos_token": token(info.eos), "pad_token": token(info.bos)});
    let mut tok_config = specials.clone();
    tok_config["tokenizer_class"] = json!("PreTrainedTokenizerFast");
    tok_config["model_max_length"] = json!(c.max_positions);
    let provenance = json!({
        "exported_by": "planform",
        "source_checkpoint": info.source,
        "step": info.step,
        "sequence_format": "bos prompt [reasoning] plan eos (one sequence; the loss was on the response)",
        "shared_blocks": model.is_shared(),
        "block_schedule": model.schedule(),
    });
    for (name, value) in [
        ("config.json", config),
        ("tokenizer.json", tokenizer),
        ("tokenizer_config.json", tok_config),
        ("special_tokens_map.json", specials),
        ("planform.json", provenance),
    ] {
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| ModelError::Config(format!("{name}: {e}")))?;
        write_atomic(&dir.join(name), text.as_bytes())?;
    }
    Ok(())
}

fn model_variables(model: &DecoderOnly) -> BTreeMap<String, Tensor> {
    model
        .named_parameters()
        .into_iter()
        .map(|(n, t)| (n, t.detach()))
        .collect()
}
