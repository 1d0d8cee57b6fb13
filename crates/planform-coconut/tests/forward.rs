//! The multi-pass forward against independent expectations: one full pass over the same
//! input embeddings, each row alone without padding, gradients through the thoughts, and
//! batched decoding against one question at a time.

use planform_coconut::batch::{collate, Align};
use planform_coconut::config::{Curriculum, Method};
use planform_coconut::decode::decode;
use planform_coconut::forward::{latent_forward, lm_loss};
use planform_coconut::layout::{eval_prompt, train_sequence, Sequence};
use planform_coconut::{CoconutVocab, Example};
use planform_model::{seeded, DecoderOnly, DecoderPreset, DecoderSpec};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn model(vocab: usize) -> (VarStore, DecoderOnly) {
    let spec = DecoderSpec {
        dim: Some(32),
        layers: Some(2),
        heads: Some(4),
        ffn_hidden: Some(64),
        init_std: Some(0.2),
        ..DecoderSpec::preset(DecoderPreset::Tiny)
    };
    let cfg = spec.resolve(vocab).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let m = seeded(3, || DecoderOnly::new(&vs.root(), &cfg)).unwrap();
    (vs, m)
}

fn curriculum(method: Method) -> Curriculum {
    Curriculum {
        method,
        c: 1,
        max_latent_stage: 3,
        epochs_per_stage: 1,
        epochs: 5,
        pad_latent_to_max: true,
        uniform_prob: 0.0,
    }
}

/// Examples of different question lengths and step counts (ids inside the vocabulary).
fn examples(v: &CoconutVocab) -> Vec<Example> {
    let w = |s: &str| v.id(s).unwrap();
    let q = |n: usize| {
        let mut ids = vec![v.bos];
        ids.extend((0..n).map(|i| w(["Every", "wumpus", "is", "a", "yumpus", "."][i % 6])));
        ids.push(w("<nl>"));
        ids
    };
    let step = |a: &str| vec![w("Tom"), w("is"), w("a"), w(a), w("."), w("<nl>")];
    let ans = vec![
        w("###"),
        w("Tom"),
        w("is"),
        w("a"),
        w("yumpus"),
        w("."),
        v.eos,
    ];
    vec![
        Example {
            question: q(7),
            steps: vec![step("wumpus"), step("lempus"), step("yumpus")],
            answer: ans.clone(),
        },
        Example {
            question: q(12),
            steps: vec![step("impus")],
            answer: ans.clone(),
        },
        Example {
            question: q(4),
            steps: vec![step("impus"), step("lempus")],
            answer: ans.clone(),
        },
        Example {
            question: q(9),
            steps: vec![],
            answer: ans,
        },
    ]
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn passes_equal_one_full_forward_and_each_row_alone() {
    tch::set_num_threads(1);
    let v = CoconutVocab::prosqa();
    let (_vs, m) = model(v.len());
    let cur = curriculum(Method::Coconut);
    // Mixed stages, so the rows carry 0..=3 thoughts at different question lengths.
    let seqs: Vec<Sequence> = examples(&v)
        .iter()
        .zip([2, 1, 3, 0])
        .map(|(e, s)| train_sequence(e, s, &cur, &v))
        .collect();
    let batch = collate(&seqs, v.pad, Align::FirstLatent, Device::Cpu);
    assert!(
        batch.left_pad.iter().any(|&p| p > 0),
        "the test needs left padding"
    );
    let out = latent_forward(&m, &batch).unwrap();
    assert_eq!(out.passes, 4);
    // One pass over the final input embeddings gives the same hidden states.
    let (full, _) = m.hidden(&out.inputs, None, Some(&batch.keep)).unwrap();
    let d = max_diff(&out.hidden, &full);
    assert!(d < 1e-4, "multi-pass vs full: {d}");
    // The thoughts really are the previous final-normed hidden states (the reference's
    // `hidden_states[-1]`), not the <latent> embedding nor the pre-norm state.
    let s = batch.first_latent.unwrap();
    let r = 2; // three thoughts
    let fed = out.inputs.get(r).narrow(0, s + 1, 1);
    let prev = out.hidden.get(r).narrow(0, s, 1);
    assert!(max_diff(&fed, &m.final_norm(&prev)) < 1e-6);
    assert!(
        max_diff(&fed, &prev) > 1e-3,
        "the pre-norm state was fed back"
    );
    // Each row alone (no padding at all) gives the same values at its real positions.
    for (row, seq) in seqs.iter().enumerate() {
        let alone = collate(
            std::slice::from_ref(seq),
            v.pad,
            Align::FirstLatent,
            Device::Cpu,
        );
        let o = latent_forward(&m, &alone).unwrap();
        let off = batch.left_pad[row] as i64;
        let len = seq.ids.len() as i64;
        let in_batch = out.hidden.get(row as i64).narrow(0, off, len);
        let d = max_diff(&in_batch, &o.hidden.get(0));
        assert!(d < 1e-4, "row {row}: batched vs alone {d}");
    }
}

#[test]
fn gradients_flow_through_the_recycled_thoughts() {
    tch::set_num_threads(1);
    let v = CoconutVocab::prosqa();
    let (vs, m) = model(v.len());
    let cur = curriculum(Method::Coconut);
    let seq = train_sequence(&examples(&v)[0], 3, &cur, &v);
    let batch = collate(&[seq], v.pad, Align::FirstLatent, Device::Cpu);
    let vars = vs.variables();
    let w = vars.get("layers.0.attention.wq.weight").unwrap();
    let grad_of = |loss: &Tensor| Tensor::run_backward(&[loss], &[w], false, false).remove(0);
    // Coconut: back-propagation through the whole chain of thoughts.
    let out = latent_forward(&m, &batch).unwrap();
    let chain = grad_of(&lm_loss(&m.head(&out.hidden), &batch.labels).unwrap().loss);
    // The same values with the thoughts detached (one pass, thoughts as constants).
    let s = batch.first_latent.unwrap();
    let emb = m.embed(&batch.ids).unwrap();
    let mask = Tensor::zeros([1, batch.width as i64, 1], (Kind::Bool, Device::Cpu));
    let _ = mask.narrow(1, s, 3).fill_(1);
    let x = out.inputs.detach().where_self(&mask, &emb);
    let (h, _) = m.hidden(&x, None, Some(&batch.keep)).unwrap();
    assert!(max_diff(&h, &out.hidden) < 1e-4, "same forward values");
    let detached = grad_of(&lm_loss(&m.head(&h), &batch.labels).unwrap().loss);
    let d = max_diff(&chain, &detached);
    assert!(d > 1e-6, "the thoughts carry gradient ({d})");
    assert!(chain.isfinite().all().int64_value(&[]) == 1);
}

#[test]
fn batched_decoding_equals_one_question_at_a_time() {
    tch::set_num_threads(1);
    let v = CoconutVocab::prosqa();
    let (_vs, m) = model(v.len());
    for method in [Method::Coconut, Method::Cot, Method::PauseToken] {
        let cur = curriculum(method);
        let prompts: Vec<Sequence> = examples(&v)
            .iter()
            .cycle()
            .take(7)
            .enumerate()
            .map(|(i, e)| eval_prompt(e, 1 + i % 3, &cur, &v))
            .collect();
        let batched = decode(&m, &v, &prompts, 12, 3).unwrap();
        for (p, b) in prompts.iter().zip(&batched) {
            let one = decode(&m, &v, std::slice::from_ref(p), 12, 1).unwrap();
            assert_eq!(&one[0], b, "{method:?}");
            assert_eq!(b.thoughts, p.latents());
        }
    }
}

/// The latent-search analysis prompts a model as its own method does: at k = 0 a CoT model
/// gets its evaluation prompt (no `<bot>`/`<eot>`, which it never saw), and forcing thoughts
/// or probing the frontier is refused for methods without continuous thoughts.
#[test]
fn analysis_prompts_follow_the_run_method() {
    use planform_coconut::analysis::analyse;
    use planform_coconut::layout::forced_prompt;
    let v = CoconutVocab::prosqa();
    let (_vs, m) = model(v.len());
    for method in [Method::Cot, Method::NoCot, Method::Coconut] {
        let cur = curriculum(method);
        for e in examples(&v) {
            let forced = forced_prompt(&e, method, 0, &v, &[]);
            let eval = eval_prompt(&e, 0, &cur, &v);
            assert_eq!(forced.ids, eval.ids, "{method:?}");
        }
    }
    for method in [Method::Cot, Method::NoCot, Method::PauseToken] {
        let err = analyse(&m, &v, &[], method, 1, &[0, 1], &[], 8, 4).unwrap_err();
        assert!(err.to_string().contains("k = 1"), "{err}");
        let err = analyse(&m, &v, &[], method, 1, &[0], &[1], 8, 4).unwrap_err();
        assert!(err.to_string().contains("probe"), "{err}");
        assert!(analyse(&m, &v, &[], method, 1, &[0], &[], 8, 4).is_ok());
    }
    assert!(analyse(&m, &v, &[], Method::Coconut, 1, &[0, 1], &[1], 8, 4).is_ok());
}
