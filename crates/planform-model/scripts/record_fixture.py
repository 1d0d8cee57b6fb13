#!/usr/bin/env python3
"""Record the forward-pass fixture for planform-model's Rust tests.

An independent PyTorch implementation of the Searchformer encoder-decoder,
written from the reference semantics (searchformer/transformer/model.py,
rotary.py) in a different style: plain functions over a name->tensor dict,
RoPE through complex multiplication, attention as explicit softmax(QK^T)V
(no scaled_dot_product_attention), masks built by hand.

Weights come from a fixed torch seed and are stored in the fixture
(base64 little-endian float32) under the reference state_dict names, so the
Rust test loads them by name. Output: tests/fixtures/forward.json.

Run from the repository root:
    PYTHONPATH=/work/main/.torch python3 crates/planform-model/scripts/record_fixture.py
Optionally cross-check against a copy of the reference model code:
    ... record_fixture.py --reference-dir DIR   (DIR/searchformer/transformer/model.py)
"""

import argparse
import base64
import json
import math
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "forward.json")

CONFIG = {
    "vocab_size": 11,
    "encoder": {"dim": 16, "layers": 2, "heads": 2},
    "decoder": {"dim": 24, "layers": 2, "heads": 3},
    "ffn_multiple_of": 8,
    "rope_base": 10000.0,
    "norm_eps": 1e-5,
    "max_positions": 65536,
}
BOS, EOS = 0, 1


def ffn_hidden(dim, multiple_of):
    h = (8 * dim) // 3
    return multiple_of * ((h + multiple_of - 1) // multiple_of)


def param_shapes(cfg):
    """Reference state_dict names (RoPE tables excluded) and shapes, in a fixed order."""
    v = cfg["vocab_size"]
    out = []
    for side in ("encoder", "decoder"):
        s = cfg[side]
        d, hid = s["dim"], ffn_hidden(s["dim"], cfg["ffn_multiple_of"])
        out.append((f"{side}.embedding.weight", (v, d)))
        for i in range(s["layers"]):
            p = f"{side}.layers.{i}"
            attns = ["attention"] + (["attention_feat"] if side == "decoder" else [])
            for a in attns:
                for w in ("wq", "wk", "wv", "wo"):
                    out.append((f"{p}.{a}.{w}.weight", (d, d)))
            out.append((f"{p}.feed_forward.w1.weight", (hid, d)))
            out.append((f"{p}.feed_forward.w2.weight", (d, hid)))
            out.append((f"{p}.feed_forward.w3.weight", (hid, d)))
            norms = ["attention_norm"] + (["attention_feat_norm"] if side == "decoder" else []) + ["ffn_norm"]
            for n in norms:
                out.append((f"{p}.{n}.weight", (d,)))
        out_dim = cfg["decoder"]["dim"] if side == "encoder" else v
        out.append((f"{side}.output.0.weight", (d,)))
        out.append((f"{side}.output.1.weight", (out_dim, d)))
    return out


def make_weights(cfg, seed=5, linear_gain=3.0):
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shape in param_shapes(cfg):
        if name.endswith("embedding.weight"):
            t = torch.randn(shape, generator=g)
        elif len(shape) == 1:  # RMSNorm scales: not all ones, so the test sees them
            t = 1.0 + 0.2 * torch.randn(shape, generator=g)
        else:
            # nn.Linear's U(+-1/sqrt(in)), scaled up so that attention and
            # FFN (not just the embeddings) decide the greedy rollouts.
            bound = linear_gain / math.sqrt(shape[1])
            t = (torch.rand(shape, generator=g) * 2 - 1) * bound
        w[name] = t.float()
    return w


# ---------------------------------------------------------------- model math


def at_least_f32(x):
    return x.to(torch.promote_types(x.dtype, torch.float32))


def rmsnorm(x, scale, eps):
    ms = (at_least_f32(x) ** 2).mean(dim=-1, keepdim=True)
    return scale * (x / torch.sqrt(ms + eps))


def rotate(x, positions, base):
    """x [B,T,H,hd]: rotate consecutive pairs (x0,x1),(x2,x3).. by pos * base^(-2i/hd)."""
    hd = x.shape[-1]
    x = at_least_f32(x)
    inv = 1.0 / (base ** (torch.arange(0, hd, 2).to(x.dtype) / hd))
    ang = positions.to(x.dtype)[:, None] * inv[None, :]  # [T, hd/2]
    rot = torch.polar(torch.ones_like(ang), ang)[None, :, None, :]
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], hd // 2, 2).contiguous())
    return torch.view_as_real(xc * rot).reshape(x.shape)


def mha(w, prefix, xq, xkv, heads, rope_base=None, causal=False, key_keep=None):
    """xq [B,Tq,D], xkv [B,Tk,D] -> [B,Tq,D]; key_keep [B,Tk] bool."""
    B, Tq, D = xq.shape
    Tk = xkv.shape[1]
    hd = D // heads
    q = (xq @ w[f"{prefix}.wq.weight"].T).view(B, Tq, heads, hd)
    k = (xkv @ w[f"{prefix}.wk.weight"].T).view(B, Tk, heads, hd)
    v = (xkv @ w[f"{prefix}.wv.weight"].T).view(B, Tk, heads, hd)
    if rope_base is not None:
        q = rotate(q, torch.arange(Tq), rope_base)
        k = rotate(k, torch.arange(Tk), rope_base)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
    if causal:
        future = torch.ones(Tq, Tk, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    if key_keep is not None:
        scores = scores.masked_fill(~key_keep[:, None, None, :], float("-inf"))
    out = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(B, Tq, D)
    return out @ w[f"{prefix}.wo.weight"].T


def swiglu(w, prefix, x):
    a = x @ w[f"{prefix}.w1.weight"].T
    b = x @ w[f"{prefix}.w3.weight"].T
    return (torch.nn.functional.silu(a) * b) @ w[f"{prefix}.w2.weight"].T


def encoder(w, cfg, ids, keep, mask_padding):
    s, eps, base = cfg["encoder"], cfg["norm_eps"], cfg["rope_base"]
    h = w["encoder.embedding.weight"][ids]
    for i in range(s["layers"]):
        p = f"encoder.layers.{i}"
        x = rmsnorm(h, w[f"{p}.attention_norm.weight"], eps)
        h = h + mha(w, f"{p}.attention", x, x, s["heads"], base, key_keep=keep if mask_padding else None)
        h = h + swiglu(w, f"{p}.feed_forward", rmsnorm(h, w[f"{p}.ffn_norm.weight"], eps))
    h = rmsnorm(h, w["encoder.output.0.weight"], eps)
    return h @ w["encoder.output.1.weight"].T


def decoder(w, cfg, ids, memory, keep):
    s, eps, base = cfg["decoder"], cfg["norm_eps"], cfg["rope_base"]
    h = w["decoder.embedding.weight"][ids]
    for i in range(s["layers"]):
        p = f"decoder.layers.{i}"
        x = rmsnorm(h, w[f"{p}.attention_norm.weight"], eps)
        h = h + mha(w, f"{p}.attention", x, x, s["heads"], base, causal=True)
        x = rmsnorm(h, w[f"{p}.attention_feat_norm.weight"], eps)
        h = h + mha(w, f"{p}.attention_feat", x, memory, s["heads"], None, key_keep=keep)
        h = h + swiglu(w, f"{p}.feed_forward", rmsnorm(h, w[f"{p}.ffn_norm.weight"], eps))
    h = rmsnorm(h, w["decoder.output.0.weight"], eps)
    return h @ w["decoder.output.1.weight"].T


def greedy_rollout(w, cfg, prompt, max_len, prefix):
    """Naive (uncached) greedy decoding of one unpadded prompt."""
    ids = torch.tensor([prompt])
    keep = torch.ones_like(ids, dtype=torch.bool)
    memory = encoder(w, cfg, ids, keep, False)
    seq, margin = [BOS], float("inf")
    while len(seq) < max_len:
        if len(seq) <= len(prefix):
            nxt = prefix[len(seq) - 1]
        else:
            logits = decoder(w, cfg, torch.tensor([seq]), memory, keep)[0, -1]
            top2 = logits.topk(2).values
            margin = min(margin, float(top2[0] - top2[1]))
            nxt = int(logits.argmax())
        seq.append(nxt)
        if nxt == EOS:
            break
    return seq, margin


# ------------------------------------------------------------------- checks


def check_against_reference(ref_dir, w, cfg, prompt_ids, prompt_keep, dec_ids, logits, rollouts):
    """Loads the reference model code from ref_dir and compares (not part of the fixture)."""
    sys.path.insert(0, ref_dir)
    from searchformer.transformer.model import EncoderDecoder, HyperParams  # noqa

    def hp(side, out):
        s = cfg[side]
        return HyperParams(dim=s["dim"], n_layers=s["layers"], n_heads=s["heads"], multiple_of=cfg["ffn_multiple_of"],
                           vocab_size=cfg["vocab_size"], output_size=out, max_seq_len=256)

    model = EncoderDecoder(hp("encoder", cfg["decoder"]["dim"]), hp("decoder", cfg["vocab_size"]))
    ref_keys = {k for k in model.state_dict() if not k.endswith(("rope.cos_param", "rope.sin_param"))}
    assert ref_keys == set(w), f"state_dict keys differ: {sorted(ref_keys ^ set(w))}"
    missing, unexpected = model.load_state_dict(w, strict=False)
    assert not unexpected and all("rope" in k for k in missing), (missing, unexpected)
    model.eval()
    with torch.no_grad():
        ref_logits = model(prompt_ids, prompt_keep.long(), dec_ids)
    diff = (ref_logits.double() - logits).abs().max().item()
    print(f"reference forward max |diff| = {diff:.3g} (max |logit| {logits.abs().max().item():.3g})")
    assert diff < 1e-4
    for r in rollouts:
        ref = model.rollout(torch.tensor(r["prompt"]), BOS, EOS, r["max_len"], prefix_seq=r["prefix"] or None)[0].tolist()
        if EOS in ref:
            ref = ref[: ref.index(EOS) + 1]
        assert ref == r["tokens"], (ref, r["tokens"])
    print(f"reference rollouts agree ({len(rollouts)})")


def b64(t):
    return base64.b64encode(t.detach().float().contiguous().numpy().astype("<f4").tobytes()).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference-dir", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = CONFIG
    w = make_weights(cfg)
    # The fixture stores the fp32 weights but computes in fp64 from them, so
    # it is the exact result the fp32 Rust model approximates.
    w64 = {k: v.double() for k, v in w.items()}

    g = torch.Generator().manual_seed(99)
    lens = [5, 7, 3]
    lp, ld = max(lens), 6
    prompt_ids = torch.zeros(len(lens), lp, dtype=torch.long)
    prompt_keep = torch.zeros(len(lens), lp, dtype=torch.bool)
    for i, n in enumerate(lens):
        prompt_ids[i, :n] = torch.randint(2, cfg["vocab_size"], (n,), generator=g)
        prompt_keep[i, :n] = True
    dec_ids = torch.randint(2, cfg["vocab_size"], (len(lens), ld), generator=g)
    dec_ids[:, 0] = BOS

    with torch.no_grad():
        mem_ref = encoder(w64, cfg, prompt_ids, prompt_keep, False)
        logits_ref = decoder(w64, cfg, dec_ids, mem_ref, prompt_keep)
        mem_masked = encoder(w64, cfg, prompt_ids, prompt_keep, True)
        logits_masked = decoder(w64, cfg, dec_ids, mem_masked, prompt_keep)
        rollouts = []
        for i, n in enumerate(lens):
            p = prompt_ids[i, :n].tolist()
            for prefix in ([], [4]):
                tokens, margin = greedy_rollout(w64, cfg, p, 12, prefix)
                # A tiny top-2 margin would make the greedy comparison flaky.
                assert margin > 1e-3, margin
                rollouts.append({"prompt": p, "prefix": prefix, "max_len": 12, "tokens": tokens})

    if args.reference_dir:
        check_against_reference(args.reference_dir, w, cfg, prompt_ids, prompt_keep, dec_ids, logits_ref, rollouts)

    fixture = {
        "about": "Recorded by scripts/record_fixture.py (independent PyTorch implementation, torch "
                 + torch.__version__ + "). Tensors: base64 little-endian float32, row-major. Weights are fp32; outputs were computed in fp64 from them.",
        "config": cfg,
        "bos": BOS,
        "eos": EOS,
        "weights": [{"name": n, "shape": list(t.shape), "data": b64(t)} for n, t in w.items()],
        "prompt_ids": prompt_ids.tolist(),
        "prompt_mask": prompt_keep.tolist(),
        "dec_ids": dec_ids.tolist(),
        "memory_unmasked": {"shape": list(mem_ref.shape), "data": b64(mem_ref)},
        "logits_unmasked": {"shape": list(logits_ref.shape), "data": b64(logits_ref)},
        "memory_masked": {"shape": list(mem_masked.shape), "data": b64(mem_masked)},
        "logits_masked": {"shape": list(logits_masked.shape), "data": b64(logits_masked)},
        "greedy_rollouts": rollouts,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(OUT), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    os.replace(tmp, OUT)
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
