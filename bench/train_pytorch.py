"""PyTorch-eager training throughput on the batch shapes that `planform bench train` used in
the same run.

`planform bench train` writes a JSON spec (model, device, precision, threads, AdamW settings
and the list of batches as (encoder length, decoder length) per sequence) and runs

    python3 bench/train_pytorch.py --spec SPEC.json

This script builds each batch with random token ids of exactly those lengths (`bos … eos` on
both sides, ids 2.. inside), pads it to its longest encoder and decoder sequence (pad id 0,
prompt padding mask for the cross-attention, loss mask on the targets), and times
zero_grad + forward (bf16 autocast if asked) + per-sequence-normalised next-token loss +
backward + `torch.optim.AdamW` step for every batch after the warm-up ones. Batches are padded
on the host before timing (as a DataLoader's workers would) and moved to the device inside
each step. Prints one JSON line.

The model is `bench/searchformer_torch.py` (see `bench/torch_model.py`).
"""
import argparse
import time

from torch_model import build_model, emit, load_model_module, read_spec, setup, sync


def make_batches(torch, spec, gen):
    vocab = spec["model"]["vocab_size"]
    out = []
    for shapes in spec["batches"]:
        rows = len(shapes)
        lp = max(e for e, _ in shapes)
        ld = max(d for _, d in shapes)
        enc = torch.zeros((rows, lp), dtype=torch.long)
        enc_mask = torch.zeros((rows, lp), dtype=torch.bool)
        dec_in = torch.zeros((rows, ld - 1), dtype=torch.long)
        tgt = torch.zeros((rows, ld - 1), dtype=torch.long)
        mask = torch.zeros((rows, ld - 1), dtype=torch.float32)
        real = 0
        for r, (e, d) in enumerate(shapes):
            def seq(n):
                s = torch.randint(2, vocab, (n,), generator=gen)
                s[0], s[-1] = 0, 1
                return s
            enc[r, :e] = seq(e)
            enc_mask[r, :e] = True
            s = seq(d)
            dec_in[r, : d - 1] = s[:-1]
            tgt[r, : d - 1] = s[1:]
            mask[r, : d - 1] = 1.0
            real += e + d
        out.append(((enc, enc_mask, dec_in, tgt, mask), real, rows * (lp + ld)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", required=True, help="JSON spec written by planform bench train")
    a = ap.parse_args()
    spec = read_spec(a.spec)
    torch, dev = setup(spec)
    mod = load_model_module()
    model, params = build_model(mod, spec, dev)
    betas = tuple(spec.get("betas", (0.9, 0.99)))
    opt = torch.optim.AdamW(model.parameters(), lr=spec.get("lr", 1e-4), betas=betas,
                            eps=spec.get("eps", 1e-8), weight_decay=spec.get("weight_decay", 0.01))
    gen = torch.Generator().manual_seed(int(spec.get("seed", 0)))
    batches = make_batches(torch, spec, gen)
    warmup = int(spec.get("warmup", 0))
    max_seconds = spec.get("max_seconds")
    bf16 = bool(spec.get("bf16"))
    F = torch.nn.functional

    def step(tensors):
        enc, enc_mask, dec_in, tgt, mask = (t.to(dev, non_blocking=True) for t in tensors)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(enc, enc_mask, dec_in)
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                             reduction="none").view_as(tgt)
        loss = ((ce * mask).sum(-1) / mask.sum(-1)).mean()
        loss.backward()
        opt.step()
        return loss.detach()

    steps = real = padded = 0
    loss = None
    t0 = time.perf_counter()
    for i, (tensors, r, p) in enumerate(batches):
        if i == warmup:
            sync(torch, dev)
            t0 = time.perf_counter()
        loss = step(tensors)
        if i >= warmup:
            steps += 1
            real += r
            padded += p
            if max_seconds and time.perf_counter() - t0 >= max_seconds:
                break
    sync(torch, dev)
    seconds = time.perf_counter() - t0
    emit({
        "stack": f"PyTorch {torch.__version__} eager",
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "parameters": params,
        "bf16": bf16,
        "steps": steps,
        "real_tokens": real,
        "padded_tokens": padded,
        "seconds": seconds,
        "loss": float(loss.item()) if loss is not None else None,
    })


if __name__ == "__main__":
    main()
