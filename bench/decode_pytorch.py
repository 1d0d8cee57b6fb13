"""Reference-style rollout in PyTorch eager: decoding throughput of the loop structure of the
reference `EncoderDecoder.rollout` (searchformer/transformer/model.py), for comparison with
`planform bench decode` in the same run.

Written from the reference semantics (not copied): per prompt,

- the prompt is repeated `samples` times (64 in the paper) and encoded once;
- a key/value cache of shape [samples, max_len, heads, head_dim] per decoder layer is
  allocated in fp32 on the host and moved to the device; each step writes one position and
  attends over the prefix;
- every step is one Python-level iteration: the decoder runs on the last token of every row;
  the cross-attention re-projects the encoder features with wk/wv and rebuilds the additive
  float prompt mask on every step, as the reference does;
- the next token is `torch.multinomial(softmax(logits))` (the reference `probability`
  sampler, temperature 1);
- the loop stops when every row holds an `eos` (or at `max_len`); rows that finished early
  keep being computed.

`planform bench decode` writes a JSON spec (model shape, prompts as token ids with bos/eos,
samples, max_len, device, threads, and the `lengths` mode) and runs

    python3 bench/decode_pytorch.py --spec SPEC.json

With `lengths = "full"` the random output head is scaled by `eos_scale` and its `eos` row is
zeroed, so `eos` is (practically) never sampled and every row decodes `max_len - 1` tokens,
exactly as planform does with the same setting; with `"natural"` the random weights emit
`eos` wherever they happen to. Generated tokens = tokens up to and including each row's first
`eos` (or `max_len - 1`). Prints one JSON line.
"""
import argparse
import time

from torch_model import build_model, emit, load_model_module, read_spec, setup, sync


class KVCache:
    """Preallocated per-layer cache, written one position per step."""

    def __init__(self, torch, rows, max_len, heads, head_dim, dev):
        self.k = torch.zeros((rows, max_len, heads, head_dim)).float().to(dev)
        self.v = torch.zeros((rows, max_len, heads, head_dim)).float().to(dev)
        self.n = 0

    def __call__(self, k, v):
        self.k[:, self.n] = k[:, 0].detach()
        self.v[:, self.n] = v[:, 0].detach()
        self.n += 1
        return self.k[:, : self.n], self.v[:, : self.n]


def rope_at(torch, x, inv_freq, offset):
    """Interleaved-pair rotation of x [B, L, H, hd] at positions offset.. (as the model's
    `rope`, which starts at position 0)."""
    pos = torch.arange(offset, offset + x.shape[1], device=x.device, dtype=torch.float32)
    ang = torch.outer(pos, inv_freq)
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    xe, xo = x[..., 0::2].float(), x[..., 1::2].float()
    return torch.stack((xe * cos - xo * sin, xe * sin + xo * cos), dim=-1).flatten(-2).type_as(x)


def attention(torch, att, q_in, kv_in, inv_freq=None, cache=None, mask=None):
    b, lq, _ = q_in.shape
    lk = kv_in.shape[1]
    q = att.wq(q_in).view(b, lq, att.h, att.hd)
    k = att.wk(kv_in).view(b, lk, att.h, att.hd)
    v = att.wv(kv_in).view(b, lk, att.h, att.hd)
    if inv_freq is not None:
        offset = cache.n if cache is not None else 0
        q, k = rope_at(torch, q, inv_freq, offset), rope_at(torch, k, inv_freq, offset)
    if cache is not None:
        k, v = cache(k, v)
    o = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    return att.wo(o.transpose(1, 2).reshape(b, lq, -1))


def encode(model, prompt):
    x = model.enc_emb(prompt)
    for blk in model.enc:
        x = blk(x, model.inv_freq)
    return model.enc_proj(model.enc_norm(x))


def decoder_step(torch, model, tokens, features, prompt_mask, caches):
    h = model.dec_emb(tokens)
    mask = 1.0 - prompt_mask.float()[:, None, None, :]
    mask[mask == 1.0] = float("-inf")
    for blk, cache in zip(model.dec, caches):
        x = blk.n1(h)
        h = h + attention(torch, blk.att, x, x, model.inv_freq, cache=cache)
        h = h + attention(torch, blk.cross, blk.n2(h), features, mask=mask)
        h = h + blk.ffn(blk.n3(h))
    return model.head(model.dec_norm(h)).float()


def rollout(torch, model, prompt, samples, max_len, bos, eos, dev):
    """One prompt, `samples` rows. Returns (generated tokens, steps)."""
    p = torch.tensor(prompt, dtype=torch.long).reshape(1, -1).repeat(samples, 1).to(dev)
    prompt_mask = torch.ones_like(p)
    trace = (torch.ones((samples, max_len)).long() * bos).to(dev)
    features = encode(model, p)
    blk0 = model.dec[0].att
    caches = [KVCache(torch, samples, max_len, blk0.h, blk0.hd, dev) for _ in model.dec]
    i = 0
    for i in range(1, max_len):
        logits = decoder_step(torch, model, trace[:, i - 1:i], features, prompt_mask, caches)
        probs = torch.nn.functional.softmax(logits[:, -1], dim=-1)
        trace[:, i] = torch.multinomial(probs, num_samples=1)[:, 0]
        if (trace == eos).any(-1).all():
            break
    done = trace[:, 1:i + 1] == eos  # [samples, i]
    first = torch.where(done.any(-1), done.int().argmax(-1) + 1, torch.full_like(done[:, 0], i,
                                                                             dtype=torch.long))
    return int(first.sum().item()), i


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", required=True, help="JSON spec written by planform bench decode")
    a = ap.parse_args()
    spec = read_spec(a.spec)
    torch, dev = setup(spec)
    mod = load_model_module()
    model, params = build_model(mod, spec, dev)
    model.eval()
    bos, eos = int(spec.get("bos", 0)), int(spec.get("eos", 1))
    if spec.get("lengths", "full") == "full":
        with torch.no_grad():
            model.head.weight.mul_(float(spec.get("eos_scale", 200.0)))
            model.head.weight[eos].zero_()
    samples, max_len = int(spec["samples"]), int(spec["max_len"])
    with torch.inference_mode():
        # Warm-up (allocator, kernels): a short rollout of the first prompt.
        rollout(torch, model, spec["prompts"][0], 2, min(8, max_len), bos, eos, dev)
        sync(torch, dev)
        t0 = time.perf_counter()
        tokens = steps = row_steps = 0
        for prompt in spec["prompts"]:
            n, s = rollout(torch, model, prompt, samples, max_len, bos, eos, dev)
            tokens += n
            steps += s
            row_steps += s * samples
        sync(torch, dev)
        seconds = time.perf_counter() - t0
    emit({
        "stack": f"PyTorch {torch.__version__} eager, reference-style rollout",
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "parameters": params,
        "prompts": len(spec["prompts"]),
        "samples": samples,
        "max_len": max_len,
        "generated_tokens": tokens,
        "steps": steps,
        "row_steps": row_steps,
        "seconds": seconds,
    })


if __name__ == "__main__":
    main()
