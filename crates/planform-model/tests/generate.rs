//! Batched KV-cached generation for both model families: cached steps against the full
//! forward pass, batching- and split-independence, sampling, prefixes, length limits,
//! precision, and the argument checks. Tiny random models.

use planform_model::{
    generate, DecodeConfig, DecoderPreset, EncoderAttention, EncoderDecoder, EncoderDecoderConfig,
    KvCache, KvDtype, LayerSharing, Model, ModelConfig, ModelError, ModelSize, Precision, Sampler,
    StackConfig, StopReason,
};
use tch::{nn, Device, Kind, Tensor};

const V: usize = 13;
const BOS: i64 = 0;
const EOS: i64 = 1;

/// Encoder and decoder of different widths (exercises the De -> D projection).
fn encdec_config() -> ModelConfig {
    let mut cfg = EncoderDecoderConfig::from_size(ModelSize::Tiny, V);
    cfg.encoder = StackConfig {
        dim: 32,
        layers: 2,
        heads: 2,
    };
    cfg.decoder = StackConfig {
        dim: 48,
        layers: 2,
        heads: 3,
    };
    cfg.ffn_multiple_of = 16;
    cfg.into()
}

/// Grouped-query attention, tied embeddings and immediate block sharing at once.
fn decoder_config() -> ModelConfig {
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = V;
    c.dim = 48;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.ffn_hidden = 96;
    c.tied_embeddings = true;
    c.sharing = LayerSharing::Immediate;
    c.init_std = 0.2;
    ModelConfig::DecoderOnly(c)
}

fn build(cfg: &ModelConfig, seed: i64) -> (nn::VarStore, Model) {
    // Tests already run in parallel; intra-op OpenMP threads only spin-wait
    // (10x slower on a busy 2-core machine).
    tch::set_num_threads(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new_seeded(&vs.root(), cfg, seed).unwrap();
    if let Model::EncoderDecoder(_) = model {
        // Default init makes a random model repeat one token; a larger gain on
        // the projections gives prompt-dependent sequences that sometimes end.
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                if var.dim() == 2 && !name.contains("embedding") {
                    let _ = var.g_mul_scalar_(3.0);
                }
            }
        });
    }
    (vs, model)
}

/// Both families.
fn models(seed: i64) -> Vec<(nn::VarStore, Model)> {
    vec![
        build(&encdec_config(), seed),
        build(&decoder_config(), seed),
    ]
}

fn tiny(seed: i64) -> (nn::VarStore, EncoderDecoder) {
    let (vs, m) = build(&encdec_config(), seed);
    match m {
        Model::EncoderDecoder(m) => (vs, m),
        Model::DecoderOnly(_) => unreachable!(),
    }
}

/// Bare prompts of different lengths (so batches are padded).
fn prompts() -> Vec<Vec<i64>> {
    vec![
        vec![5, 7, 2, 9],
        vec![3],
        vec![12, 11, 4, 4, 8, 6, 10],
        vec![2, 2],
    ]
}

/// The generation contexts of bare prompts.
fn ctx(model: &Model, ps: &[Vec<i64>]) -> Vec<Vec<i64>> {
    ps.iter().map(|p| model.frame_prompt(p, BOS, EOS)).collect()
}

/// Encoder inputs `bos p eos`, right-padded, with their keep mask.
fn padded(prompts: &[Vec<i64>]) -> (Tensor, Tensor) {
    let framed: Vec<Vec<i64>> = prompts
        .iter()
        .map(|p| [&[BOS][..], p, &[EOS]].concat())
        .collect();
    let l = framed.iter().map(Vec::len).max().unwrap();
    let ids: Vec<i64> = framed
        .iter()
        .flat_map(|p| p.iter().copied().chain(std::iter::repeat(0)).take(l))
        .collect();
    let keep: Vec<bool> = framed
        .iter()
        .flat_map(|p| (0..l).map(move |i| i < p.len()))
        .collect();
    let n = prompts.len() as i64;
    (
        Tensor::from_slice(&ids).view([n, -1]),
        Tensor::from_slice(&keep).view([n, -1]),
    )
}

/// Teacher-forced next-token logits after `bos prompt` / `bos response` (`response` starts
/// with bos): the logits for the token that follows `response`.
fn next_logits(model: &Model, prompt: &[i64], response: &[i64]) -> Tensor {
    tch::no_grad(|| match model {
        Model::EncoderDecoder(m) => {
            let (enc, keep) = padded(&[prompt.to_vec()]);
            let dec = Tensor::from_slice(response).view([1, -1]);
            m.forward(&enc, &keep, &dec).unwrap().get(0).get(-1)
        }
        Model::DecoderOnly(m) => {
            let seq = [&[BOS][..], prompt, &response[1..]].concat();
            m.forward(&Tensor::from_slice(&seq).view([1, -1]))
                .unwrap()
                .get(0)
                .get(-1)
        }
    })
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn cached_steps_equal_full_forward_logits() {
    let (_vs, model) = tiny(1);
    let (enc, keep) = padded(&prompts());
    let dec: Vec<i64> = (0..4 * 9).map(|i| (i * 7 + 3) % V as i64).collect();
    let dec = Tensor::from_slice(&dec).view([4, 9]);
    tch::no_grad(|| {
        let memory = model
            .encode_with(&enc, &keep, EncoderAttention::PaddingMasked)
            .unwrap();
        let full = model.decode(&dec, &memory, &keep).unwrap(); // [4,9,V]
                                                                // Capacity 2 forces the cache to grow twice.
        let mut cache = KvCache::new(model.cross_kv(&memory, &keep).unwrap(), 2);
        for t in 0..9 {
            let tokens: Vec<i64> = (0..4).map(|b| dec.int64_value(&[b, t])).collect();
            let step = model.decode_step(&mut cache, &tokens, &[t; 4]).unwrap();
            let d = max_diff(&step, &full.select(1, t));
            assert!(d < 1e-4, "position {t}: {d}");
        }
        assert!(cache.capacity() >= 9);
    });
}

#[test]
fn cached_steps_with_rows_at_different_positions() {
    // Row b lags `lag[b]` steps behind; while waiting it re-feeds bos at
    // position 0 (what an idle slot does). Every row's logits must still equal
    // the full forward pass at its own position.
    let (_vs, model) = tiny(2);
    let (enc, keep) = padded(&prompts());
    let dec: Vec<i64> = (0..4 * 7)
        .map(|i| {
            if i % 7 == 0 {
                BOS
            } else {
                (i * 5 + 2) % V as i64
            }
        })
        .collect();
    let dec = Tensor::from_slice(&dec).view([4, 7]);
    let lag = [0i64, 2, 3, 1];
    tch::no_grad(|| {
        let memory = model
            .encode_with(&enc, &keep, EncoderAttention::PaddingMasked)
            .unwrap();
        let full = model.decode(&dec, &memory, &keep).unwrap();
        let mut cache = KvCache::new(model.cross_kv(&memory, &keep).unwrap(), 16);
        for step in 0..7 + 3 {
            let pos: Vec<i64> = lag.iter().map(|&l| (step - l).clamp(0, 6)).collect();
            let tokens: Vec<i64> = (0..4)
                .map(|b| dec.int64_value(&[b, pos[b as usize]]))
                .collect();
            let logits = model.decode_step(&mut cache, &tokens, &pos).unwrap();
            for b in 0..4 {
                let d = max_diff(&logits.get(b), &full.get(b).get(pos[b as usize]));
                assert!(d < 1e-4, "step {step} row {b}: {d}");
            }
        }
    });
}

#[test]
fn padding_masked_encoder_equals_unpadded_prompts() {
    let (_vs, model) = tiny(3);
    let ps = prompts();
    let (enc, keep) = padded(&ps);
    tch::no_grad(|| {
        let batched = model
            .encode_with(&enc, &keep, EncoderAttention::PaddingMasked)
            .unwrap();
        for (i, p) in ps.iter().enumerate() {
            let p = [&[BOS][..], p, &[EOS]].concat();
            let ids = Tensor::from_slice(&p).view([1, -1]);
            let alone = model
                .encode(&ids, &ids.ones_like().to_kind(Kind::Bool))
                .unwrap();
            let d = max_diff(
                &batched.get(i as i64).narrow(0, 0, p.len() as i64),
                &alone.get(0),
            );
            assert!(d < 1e-5, "prompt {i}: {d}");
        }
        // The reference (unmasked) encoder lets padding leak into real positions.
        let unmasked = model.encode(&enc, &keep).unwrap();
        assert!(
            max_diff(
                &unmasked.get(1).narrow(0, 0, 3),
                &batched.get(1).narrow(0, 0, 3)
            ) > 1e-3
        );
    });
}

#[test]
fn greedy_batched_equals_one_prompt_at_a_time() {
    for (_vs, model) in models(4) {
        let family = model.family();
        let ps = prompts();
        let mut cfg = DecodeConfig::new(BOS, EOS, 20);
        cfg.samples_per_prompt = 2;
        let alone: Vec<_> = ps
            .iter()
            .map(|p| {
                let mut c = cfg.clone();
                c.max_rows = 1;
                generate(&model, &ctx(&model, std::slice::from_ref(p)), &c)
                    .unwrap()
                    .generations
                    .remove(0)
            })
            .collect();
        for max_rows in [3, 5, 64] {
            let mut c = cfg.clone();
            c.max_rows = max_rows;
            let out = generate(&model, &ctx(&model, &ps), &c).unwrap();
            assert_eq!(out.generations, alone, "{family:?} max_rows {max_rows}");
            assert!(out.stats.encoder_batches >= 1);
        }
        // Greedy samples of one prompt are identical; prompts give different sequences.
        for g in &alone {
            assert_eq!(g[0], g[1]);
        }
        let distinct: std::collections::BTreeSet<_> =
            alone.iter().map(|g| g[0].tokens.clone()).collect();
        assert!(distinct.len() >= 3, "{family:?} {distinct:?}");
        // Every greedy token is the argmax of the teacher-forced forward pass.
        for (p, g) in ps.iter().zip(&alone) {
            let t = &g[0].tokens;
            for n in 1..t.len() {
                let want = next_logits(&model, p, &t[..n]).argmax(0, false);
                assert_eq!(t[n], want.int64_value(&[]), "{family:?} {p:?} position {n}");
            }
        }
    }
}

#[test]
fn greedy_sequences_meet_both_stop_rules() {
    let (_vs, model) = build(&encdec_config(), 4);
    let mut cfg = DecodeConfig::new(BOS, EOS, 20);
    cfg.samples_per_prompt = 1;
    let out = generate(&model, &ctx(&model, &prompts()), &cfg).unwrap();
    let stops: Vec<StopReason> = out.generations.iter().map(|g| g[0].stop).collect();
    assert!(
        stops.contains(&StopReason::Eos) && stops.contains(&StopReason::MaxLen),
        "{stops:?}"
    );
}

#[test]
fn sampling_is_reproducible_and_independent_of_batching() {
    for (_vs, model) in models(5) {
        let family = model.family();
        let ps = prompts();
        let mut cfg = DecodeConfig::new(BOS, EOS, 40);
        cfg.samples_per_prompt = 6;
        cfg.sampler = Sampler::Multinomial { temperature: 1.0 };
        cfg.seed = 17;
        cfg.max_rows = 7;
        let a = generate(&model, &ctx(&model, &ps), &cfg).unwrap();
        let b = generate(&model, &ctx(&model, &ps), &cfg).unwrap();
        assert_eq!(a, b);
        cfg.max_rows = 24;
        let c = generate(&model, &ctx(&model, &ps), &cfg).unwrap();
        assert_eq!(a.generations, c.generations, "{family:?}");
        // Split into single-prompt calls with the global prompt index: same samples.
        for (i, p) in ps.iter().enumerate() {
            let mut one = cfg.clone();
            one.first_prompt_index = i;
            assert_eq!(
                generate(&model, &ctx(&model, std::slice::from_ref(p)), &one)
                    .unwrap()
                    .generations[0],
                a.generations[i]
            );
        }
        cfg.seed = 18;
        let d = generate(&model, &ctx(&model, &ps), &cfg).unwrap();
        assert_ne!(a.generations, d.generations);
        // Samples of one prompt differ from each other; rows finished at different steps,
        // so slots were refilled and the tail compacted.
        let distinct: std::collections::BTreeSet<_> =
            a.generations[0].iter().map(|g| g.tokens.clone()).collect();
        assert!(distinct.len() > 1);
        assert!(a.stats.compactions > 0, "{family:?} {:?}", a.stats);
        assert!(a
            .generations
            .iter()
            .flatten()
            .any(|g| g.stop == StopReason::Eos));
        let lengths: Vec<usize> = a
            .generations
            .iter()
            .flatten()
            .map(|g| g.tokens.len() - 1)
            .collect();
        assert_eq!(a.stats.generated_tokens, lengths.iter().sum::<usize>());
        assert!(
            a.stats.row_steps < lengths.iter().sum::<usize>() * 2,
            "{:?}",
            a.stats
        );
    }
}

#[test]
fn prefix_is_forced_and_lengths_are_bounded() {
    for (_vs, model) in models(6) {
        let ps = prompts();
        let mut cfg = DecodeConfig::new(BOS, EOS, 9);
        cfg.samples_per_prompt = 3;
        cfg.sampler = Sampler::Multinomial { temperature: 2.0 };
        cfg.prefix = vec![7, 3];
        cfg.max_rows = 5;
        let out = generate(&model, &ctx(&model, &ps), &cfg).unwrap();
        for g in out.generations.iter().flatten() {
            assert_eq!(&g.tokens[..3], &[BOS, 7, 3]);
            assert!(g.tokens.len() <= 9);
            match g.stop {
                StopReason::Eos => {
                    assert_eq!(g.tokens.last(), Some(&EOS));
                    assert_eq!(g.tokens.iter().filter(|&&t| t == EOS).count(), 1);
                }
                StopReason::MaxLen => {
                    assert_eq!(g.tokens.len(), 9);
                    assert!(!g.tokens.contains(&EOS));
                }
            }
        }
        assert_eq!(
            out.stats.generated_tokens,
            out.generations
                .iter()
                .flatten()
                .map(|g| g.tokens.len() - 3)
                .sum::<usize>()
        );
        // Greedy with a prefix: the first generated token is the argmax after [bos, 7, 3].
        let mut greedy = cfg.clone();
        greedy.sampler = Sampler::Greedy;
        greedy.samples_per_prompt = 1;
        let out = generate(&model, &ctx(&model, &ps[..1]), &greedy).unwrap();
        assert_eq!(
            out.generations[0][0].tokens[3],
            next_logits(&model, &ps[0], &[BOS, 7, 3])
                .argmax(0, false)
                .int64_value(&[])
        );
        // max_len equal to bos + prefix: nothing is generated.
        greedy.max_len = 3;
        let out = generate(&model, &ctx(&model, &ps), &greedy).unwrap();
        assert!(out
            .generations
            .iter()
            .flatten()
            .all(|g| g.tokens == [BOS, 7, 3] && g.stop == StopReason::MaxLen));
    }
}

#[test]
fn precision_is_applied_inside_generation() {
    // bf16 autocast must really compute (and cache) keys in bf16 — on the CPU too — and
    // fp32 must stay fp32; the tokens of a well-separated greedy decode agree.
    for (_vs, model) in models(8) {
        let mut cfg = DecodeConfig::new(BOS, EOS, 12);
        let fp32 = generate(&model, &ctx(&model, &prompts()), &cfg).unwrap();
        assert_eq!(fp32.stats.kv_dtype, Some(KvDtype::F32));
        cfg.precision = Precision::Bf16Autocast;
        let bf16 = generate(&model, &ctx(&model, &prompts()), &cfg).unwrap();
        assert_eq!(
            bf16.stats.kv_dtype,
            Some(KvDtype::Bf16),
            "{:?}",
            model.family()
        );
        assert_eq!(bf16.generations.len(), fp32.generations.len());
    }
}

#[test]
fn bad_inputs_are_named_errors() {
    for (_vs, model) in models(7) {
        let cfg = DecodeConfig::new(BOS, EOS, 10);
        assert!(matches!(
            generate(&model, &[vec![0, 99]], &cfg),
            Err(ModelError::TokenOutOfRange {
                name: "prompt",
                id: 99,
                ..
            })
        ));
        assert!(matches!(
            generate(&model, &[Vec::<i64>::new()], &cfg),
            Err(ModelError::Config(_))
        ));
        let mut bad = cfg.clone();
        bad.prefix = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert!(matches!(
            generate(&model, &[vec![0, 1]], &bad),
            Err(ModelError::Config(_))
        ));
        bad = cfg.clone();
        bad.sampler = Sampler::Multinomial { temperature: 0.0 };
        assert!(matches!(
            generate(&model, &[vec![0, 1]], &bad),
            Err(ModelError::Config(_))
        ));
        assert!(generate(&model, &Vec::<Vec<i64>>::new(), &cfg)
            .unwrap()
            .generations
            .is_empty());
    }
    let (_vs, model) = tiny(7);
    let ids = Tensor::from_slice(&[0i64, 3, 20]).view([1, 3]);
    let keep = ids.ones_like().to_kind(Kind::Bool);
    assert!(matches!(
        model.encode(&ids, &keep),
        Err(ModelError::TokenOutOfRange {
            name: "enc_ids",
            id: 20,
            ..
        })
    ));
    let ids = Tensor::from_slice(&[0i64, 3, 2]).view([1, 3]);
    assert!(matches!(
        model.encode(&ids, &keep.narrow(1, 0, 2)),
        Err(ModelError::Shape {
            name: "enc_mask",
            ..
        })
    ));
    assert!(matches!(
        model.encode(&ids.view([3]), &keep),
        Err(ModelError::Shape {
            name: "enc_ids",
            ..
        })
    ));
    // A decoder-only prompt that leaves no room for max_len positions.
    let mut c = DecoderPreset::Tiny.config();
    c.vocab_size = V;
    c.max_positions = 16;
    let (_vs, small) = build(&ModelConfig::DecoderOnly(c), 1);
    let e = generate(&small, &[vec![2; 8]], &DecodeConfig::new(BOS, EOS, 10)).unwrap_err();
    assert!(matches!(e, ModelError::TooLong { .. }), "{e}");
}
