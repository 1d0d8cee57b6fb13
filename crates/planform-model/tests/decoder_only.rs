//! The decoder-only model against itself and against independent computations: the cached
//! inference path and the functional (trainable) KV state against one full forward pass,
//! gradients through recycled hidden states, padding masks, both attention kernels with
//! grouped-query attention, weight sharing, and the parameter layout.

use planform_model::{
    AttentionKernel, DecoderConfig, DecoderOnly, DecoderPreset, KvCache, LayerSharing, ModelError,
};
use tch::{nn, Device, Kind, Tensor};

const V: usize = 17;

fn config(sharing: LayerSharing, kernel: AttentionKernel) -> DecoderConfig {
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = V;
    c.dim = 32;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.ffn_hidden = 64;
    c.sharing = sharing;
    c.attention_kernel = kernel;
    c.init_std = 0.2;
    c
}

fn build(c: &DecoderConfig, seed: i64) -> (nn::VarStore, DecoderOnly) {
    tch::set_num_threads(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = planform_model::seeded(seed, || DecoderOnly::new(&vs.root(), c)).unwrap();
    (vs, m)
}

fn ids(b: i64, t: i64, salt: i64) -> Tensor {
    let v: Vec<i64> = (0..b * t)
        .map(|i| (i * 7 + salt * 3 + 1) % V as i64)
        .collect();
    Tensor::from_slice(&v).view([b, t])
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn prefill_and_cached_steps_equal_the_full_forward_pass() {
    for sharing in [
        LayerSharing::None,
        LayerSharing::Immediate,
        LayerSharing::Reverse,
    ] {
        let (_vs, m) = build(&config(sharing, AttentionKernel::Sdpa), 1);
        let x = ids(3, 10, 0);
        tch::no_grad(|| {
            let full = m.forward(&x).unwrap(); // [3,10,V]
                                               // Prefill 4 positions, then feed positions 4..10 one at a time.
            let prefix = m.prefill(&x.narrow(1, 0, 4)).unwrap();
            let mut cache = KvCache::decoder_only(3, m.depth(), 2);
            let rows = Tensor::arange(3, (Kind::Int64, Device::Cpu));
            cache.write_prefix(&rows, &prefix, &rows);
            for t in 4..10 {
                let tokens: Vec<i64> = (0..3).map(|b| x.int64_value(&[b, t])).collect();
                let step = m.decode_step(&mut cache, &tokens, &[t; 3]).unwrap();
                let d = max_diff(&step, &full.select(1, t));
                assert!(d < 1e-4, "{sharing:?} position {t}: {d}");
            }
        });
    }
}

#[test]
fn functional_kv_state_in_n_passes_equals_one_pass_and_trains_through() {
    // Coconut's n+1 passes: a prefix, then one position at a time whose input embedding is
    // the previous last hidden state; against one pass over the same input embeddings.
    let (vs, m) = build(&config(LayerSharing::Immediate, AttentionKernel::Sdpa), 2);
    let x = ids(2, 5, 1);
    let e = m.embed(&x).unwrap(); // [2,5,D]
    let (h0, mut state) = m.hidden(&e, None, None).unwrap();
    let mut inputs = vec![e.shallow_clone()];
    let mut outs = vec![h0.shallow_clone()];
    let mut last = h0.narrow(1, 4, 1);
    for _ in 0..3 {
        inputs.push(last.shallow_clone());
        let (h, s) = m.hidden(&last, Some(&state), None).unwrap();
        state = s;
        outs.push(h.shallow_clone());
        last = h;
    }
    assert_eq!(state.len, 8);
    let all_in = Tensor::cat(&inputs, 1); // [2,8,D]
    let (h_full, _) = m.hidden(&all_in.detach(), None, None).unwrap();
    let d = max_diff(&Tensor::cat(&outs, 1), &h_full);
    assert!(d < 1e-5, "{d}");
    // Gradients reach the weights through every recycled hidden state.
    let loss = m.head(&last).sum(Kind::Float);
    loss.backward();
    let g = vs
        .variables()
        .into_iter()
        .find(|(n, _)| n == "layers.0.attention.wq.weight")
        .unwrap()
        .1
        .grad();
    assert!(g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // A state of the wrong depth is an error, not a panic.
    let (_vs2, plain) = build(&config(LayerSharing::None, AttentionKernel::Sdpa), 2);
    let (_, s2) = plain.hidden(&plain.embed(&x).unwrap(), None, None).unwrap();
    assert!(matches!(
        m.hidden(&e.detach(), Some(&s2), None),
        Err(ModelError::Config(_))
    ));
}

#[test]
fn padded_keys_are_masked() {
    let (_vs, m) = build(&config(LayerSharing::None, AttentionKernel::Math), 3);
    let x = ids(1, 6, 2);
    tch::no_grad(|| {
        let e = m.embed(&x).unwrap();
        let (h, _) = m.hidden(&e, None, None).unwrap();
        // Same sequence with two junk positions appended and masked out as keys: the real
        // positions must not change (they never see later keys anyway), and with an explicit
        // keep mask over everything the result equals plain causal attention.
        let keep = Tensor::ones([1, 6], (Kind::Bool, Device::Cpu));
        let (h2, _) = m.hidden(&e, None, Some(&keep)).unwrap();
        assert!(max_diff(&h, &h2) < 1e-6);
        // Masking key 0 (a left pad) changes position 1 onwards, and everything stays
        // finite (the padded query sees only itself).
        let keep = Tensor::from_slice(&[false, true, true, true, true, true]).view([1, 6]);
        let (h3, _) = m.hidden(&e, None, Some(&keep)).unwrap();
        assert!(bool::try_from(h3.isfinite().all()).unwrap());
        assert!(max_diff(&h.narrow(1, 1, 5), &h3.narrow(1, 1, 5)) > 1e-4);
        // Position 1 with key 0 masked equals a sequence that starts at position 1's token
        // but keeps its position: compare against attention computed by hand is covered by
        // the kernels test; here the masked pad must not leak: changing the pad's token does
        // not change any other position.
        let mut other = Vec::<i64>::try_from(x.flatten(0, -1)).unwrap();
        other[0] = (other[0] + 5) % V as i64;
        let e2 = m.embed(&Tensor::from_slice(&other).view([1, 6])).unwrap();
        let (h4, _) = m.hidden(&e2, None, Some(&keep)).unwrap();
        assert!(max_diff(&h3.narrow(1, 1, 5), &h4.narrow(1, 1, 5)) < 1e-6);
        let bad = Tensor::ones([2, 6], (Kind::Bool, Device::Cpu));
        assert!(m.hidden(&e, None, Some(&bad)).is_err());
    });
}

#[test]
fn grouped_query_attention_kernels_agree() {
    let x = ids(2, 9, 4);
    let (_a, sdpa) = build(&config(LayerSharing::None, AttentionKernel::Sdpa), 5);
    let (_b, math) = build(&config(LayerSharing::None, AttentionKernel::Math), 5);
    tch::no_grad(|| {
        let d = max_diff(&sdpa.forward(&x).unwrap(), &math.forward(&x).unwrap());
        assert!(d < 1e-4, "{d}");
    });
}

#[test]
fn grouped_query_attention_equals_multi_head_attention_with_repeated_kv_heads() {
    // A GQA model (4 heads, 2 KV heads) equals an MHA model whose k/v projections repeat
    // each KV head for its two query heads — an independent construction of GQA.
    let gqa_cfg = config(LayerSharing::None, AttentionKernel::Math);
    let mut mha_cfg = gqa_cfg.clone();
    mha_cfg.kv_heads = 4;
    let (gvs, gqa) = build(&gqa_cfg, 6);
    let (mvs, mha) = build(&mha_cfg, 7);
    let hd = gqa_cfg.head_dim() as i64;
    tch::no_grad(|| {
        let src = gvs.variables();
        for (name, mut dst) in mvs.variables() {
            let s = &src[&name];
            let value =
                if name.ends_with("attention.wk.weight") || name.ends_with("attention.wv.weight") {
                    // [2·hd, D] -> [4·hd, D]: head h of the MHA model is KV head h / 2.
                    s.view([2, hd, -1])
                        .repeat_interleave_self_int(2, 0, None)
                        .reshape([4 * hd, -1])
                } else {
                    s.shallow_clone()
                };
            dst.copy_(&value);
        }
        let x = ids(2, 7, 5);
        let d = max_diff(&gqa.forward(&x).unwrap(), &mha.forward(&x).unwrap());
        assert!(d < 1e-5, "{d}");
    });
}

#[test]
fn tied_and_shared_models_have_the_counted_parameters() {
    for (tied, sharing) in [
        (false, LayerSharing::None),
        (true, LayerSharing::Immediate),
        (true, LayerSharing::RepeatAllOver),
    ] {
        let mut c = config(sharing, AttentionKernel::Sdpa);
        c.tied_embeddings = tied;
        let (vs, m) = build(&c, 8);
        let n: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(n as usize, c.trainable_parameters(), "{tied} {sharing:?}");
        assert_eq!(m.depth(), c.depth());
        let names: Vec<String> = m.named_parameters().into_iter().map(|p| p.0).collect();
        let mut vars: Vec<String> = vs.variables().into_keys().collect();
        vars.sort();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, vars, "named_parameters lists exactly the variables");
        assert_eq!(names.contains(&"output.weight".to_string()), !tied);
    }
}

/// A model built for loading (`zero_filled`) draws nothing: every weight is zero (norm scales
/// one), for both families, so a checkpoint load cannot shift a seeded construction's draws
/// on another thread; the next ordinary build on the thread draws again.
#[test]
fn zero_filled_models_draw_nothing() {
    use planform_model::{EncoderDecoderConfig, Model, ModelConfig, ModelSize};
    let mut dec = config(LayerSharing::None, AttentionKernel::Sdpa);
    dec.tied_embeddings = false;
    let configs = [
        ModelConfig::DecoderOnly(dec),
        ModelConfig::EncoderDecoder(EncoderDecoderConfig::from_size(ModelSize::Tiny, V)),
    ];
    for cfg in &configs {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Model::new_zero_filled(&vs.root(), cfg).unwrap();
        let params = m.named_parameters();
        assert!(params.len() > 5, "{cfg:?}");
        for (name, p) in &params {
            // Norm scales are vectors of ones; everything drawn is zero.
            let want = if p.dim() == 1 && p.double_value(&[0]) == 1.0 {
                1.0
            } else {
                0.0
            };
            let off = (p - want).abs().max().double_value(&[]);
            assert_eq!(off, 0.0, "{name} of a zero-filled {cfg:?}");
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let drawn = planform_model::seeded(1, || Model::new(&vs.root(), cfg)).unwrap();
        let nonzero = drawn
            .named_parameters()
            .iter()
            .filter(|(_, p)| p.dim() == 2 && p.abs().max().double_value(&[]) > 0.0)
            .count();
        assert!(nonzero > 0, "the flag was not restored after zero_filled");
    }
}
