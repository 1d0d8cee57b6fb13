#!/usr/bin/env python3
"""The quantization table and its verdicts, computed from the evaluations that
scripts/quant-table.sh wrote (OUT/<model>/<setting>/summary.json).

    python3 scripts/quant_table.py runs/quant-table            # writes OUT/table.md, OUT/table.json

Settings: fp; <bits>-none (norms folded, no rotation); <bits>-hadamard (random-sign Hadamard
R1/R2 + online R3/R4, SpinQuant_had's initialisation); <bits>-hadamard-r12 (the same without
R3/R4, SpinQuant_no_had); <bits>-random-<s> (Haar-random R1/R2 + R3/R4, seed s).
Mean ± standard error across models (sample sd / sqrt(n)).
"""
import json
import math
import os
import sys

BITS = ["w8a8", "w4a8", "w4a4kv4", "w16a4", "w16a16kv4"]
STORED = ["w8a8", "w4a8", "w4a4kv4"]  # stored checkpoints (sizes)
METRICS = ["optimal", "solved", "swc", "heldout"]


def mean_se(xs):
    n = len(xs)
    if n == 0:
        return (float("nan"), float("nan"))
    m = sum(xs) / n
    if n < 2:
        return (m, float("nan"))
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    return (m, sd / math.sqrt(n))


def verdict(m, se, threshold):
    """*yes* when mean − 2 SE exceeds the threshold, *no* when mean + 2 SE is below it."""
    if math.isnan(se):
        return "inconclusive"
    if m - 2 * se > threshold:
        return "yes"
    if m + 2 * se < threshold:
        return "no"
    return "inconclusive"


def loss(ms):
    m, se = ms
    if math.isnan(m):
        return "n/a"
    return f"{m:.4f} ± {se:.4f}" if not math.isnan(se) else f"{m:.4f}"


def pct(ms):
    m, se = ms
    if math.isnan(m):
        return "n/a"
    return f"{100 * m:.1f} ± {100 * se:.1f}" if not math.isnan(se) else f"{100 * m:.1f}"


def load(path):
    with open(path) as f:
        return json.load(f)


def summary(model_dir, name):
    p = os.path.join(model_dir, name, "summary.json")
    if not os.path.exists(p):
        return None
    d = load(p)
    out = dict(d["metrics"]["summary"])
    out["heldout"] = d.get("heldout", {}).get("loss", float("nan"))
    return out


def tasks(model_dir, name):
    p = os.path.join(model_dir, name, "tasks.jsonl")
    with open(p) as f:
        return f.read()


def file_size(path):
    return os.path.getsize(path) if os.path.exists(path) else None


def source_model_file(model_dir):
    ck = os.path.join(model_dir, "ckpt-w4a4kv4-hadamard", "state.json")
    if not os.path.exists(ck):
        return None
    src = load(ck)["quant"]["source"]
    return os.path.join(src, "model.safetensors")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/quant-table"
    models = sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))
    models = [m for m in models if summary(os.path.join(out, m), "fp")]
    if not models:
        sys.exit(f"no evaluations under {out}")
    rows = {}  # setting -> metric -> per-model values
    spread = {}  # bits -> per-model (max - min) of optimal over random seeds
    seeds_seen = {}

    def add(setting, metric, value):
        rows.setdefault(setting, {}).setdefault(metric, []).append(value)

    for m in models:
        d = os.path.join(out, m)
        fp = summary(d, "fp")
        for k in METRICS:
            add("fp", k, fp[k])
        for bits in BITS:
            for rot in ["none", "hadamard", "hadamard-r12", "learned"]:
                s = summary(d, f"{bits}-{rot}")
                if s:
                    for k in METRICS:
                        add(f"{bits} {rot}", k, s[k])
            rs = []
            s_idx = 0
            while True:
                s = summary(d, f"{bits}-random-{s_idx}")
                if not s:
                    break
                rs.append(s)
                s_idx += 1
            if rs:
                seeds_seen[bits] = min(seeds_seen.get(bits, len(rs)), len(rs))
                for k in METRICS:
                    add(f"{bits} random (mean of seeds)", k, sum(r[k] for r in rs) / len(rs))
                opt = [r["optimal"] for r in rs]
                add(f"{bits} random (worst seed)", "optimal", min(opt))
                add(f"{bits} random (best seed)", "optimal", max(opt))
                spread.setdefault(bits, []).append(max(opt) - min(opt))

    lines = []
    w = lines.append
    w(f"Models: {', '.join(models)} ({len(models)}); greedy decoding, one response per task.")
    w("")
    w("| setting | optimal % | solved % | SWC % | held-out loss |")
    w("|---|---:|---:|---:|---:|")
    order = ["fp"]
    for bits in BITS:
        order += [f"{bits} none", f"{bits} hadamard-r12", f"{bits} hadamard",
                  f"{bits} random (mean of seeds)", f"{bits} random (worst seed)",
                  f"{bits} random (best seed)", f"{bits} learned"]
    for setting in order:
        r = rows.get(setting)
        if not r:
            continue
        cells = [(loss if k == "heldout" else pct)(mean_se(r[k])) if k in r else ""
                 for k in METRICS]
        w(f"| {setting} | {' | '.join(cells)} |")
    w("")
    w("Rotations: `none` = norms folded only; `hadamard-r12` = random-sign Hadamard R1/R2 "
      "merged (SpinQuant_no_had); `hadamard` = the same + online Hadamard R3/R4 "
      "(SpinQuant_had's initialisation); `random` = Haar-random R1/R2 + R3/R4, "
      f"{min(seeds_seen.values()) if seeds_seen else 0} seeds per model; `learned` = R1/R2 "
      "trained by Cayley SGD from the `hadamard` start through the quantized model "
      "(`planform quantize --rotation learned+online`), evaluated from the stored checkpoint.")
    w("")

    # Sizes on disk.
    size_rows = []
    for m in models:
        d = os.path.join(out, m)
        src = source_model_file(d)
        if not src:
            continue
        sizes = {"fp32": file_size(src)}
        for bits in STORED:
            sizes[bits] = file_size(os.path.join(d, f"ckpt-{bits}-hadamard", "model.safetensors"))
        size_rows.append((m, sizes))
    if size_rows:
        w("| model | fp32 bytes | " + " | ".join(f"{b} bytes" for b in STORED) + " |")
        w("|---|---:|" + "---:|" * len(STORED))
        for m, sizes in size_rows:
            cells = [f"{sizes['fp32']:,}"] + [
                f"{sizes[b]:,} ({100 * sizes[b] / sizes['fp32']:.0f}%)" if sizes[b] else "n/a"
                for b in STORED
            ]
            w(f"| {m} | " + " | ".join(cells) + " |")
        w("")

    # Stored checkpoints against their simulation.
    same = []
    for m in models:
        d = os.path.join(out, m)
        if summary(d, "stored-w4a4kv4-hadamard") and summary(d, "w4a4kv4-hadamard"):
            same.append(tasks(d, "stored-w4a4kv4-hadamard") == tasks(d, "w4a4kv4-hadamard"))
    if same:
        w(f"Stored W4A4KV4 checkpoints (`planform quantize`) evaluated: per-task results identical "
          f"to the simulated setting for {sum(same)} of {len(same)} models.")
        w("")

    # Verdicts.
    verdicts = []

    def gap_closed(bits, rot):
        fp = rows["fp"]["optimal"]
        none = rows.get(f"{bits} none", {}).get("optimal")
        rr = rows.get(f"{bits} {rot}", {}).get("optimal")
        if not none or not rr or len(none) != len(fp) or len(rr) != len(fp):
            return None
        gaps = [f - n for f, n in zip(fp, none)]
        m_gap = mean_se(gaps)
        if m_gap[0] < 0.02:
            return ("n/a", f"no gap to close: full precision − none = {pct(m_gap)} points")
        closed = [1 - (f - r) / g if g > 0 else float("nan") for f, r, g in zip(fp, rr, gaps)]
        closed = [c for c in closed if not math.isnan(c)]
        m, se = mean_se(closed)
        return (verdict(m, se, 0.5), f"gap fp − none {pct(m_gap)} points; fraction closed by {rot}: "
                   f"{100 * m:.0f} ± {100 * se:.0f}%")

    for bits in BITS:
        for rot in ["hadamard", "random (mean of seeds)", "learned"]:
            g = gap_closed(bits, rot)
            if g:
                verdicts.append((f"{bits}: rotations ({rot}) close most (> half) of the gap to "
                                 f"full precision", *g))
    for bits in BITS:
        if bits in spread:
            m, se = mean_se(spread[bits])
            v = verdict(m, se, 0.05)
            verdicts.append((f"{bits}: random rotations vary widely (best − worst seed > 5 points)",
                             v, f"best − worst seed {pct((m, se))} points"))
    def paired(bits, a, b, metric, lower_better):
        ra = rows.get(f"{bits} {a}", {}).get(metric)
        rb = rows.get(f"{bits} {b}", {}).get(metric)
        if not ra or not rb or len(ra) != len(rb):
            return None
        d = [(y - x) if lower_better else (x - y) for x, y in zip(ra, rb)]
        m, se = mean_se(d)
        v = verdict(m, se, 0.0)
        unit = (lambda x: f"{x:.4f}") if metric == "heldout" else (lambda x: f"{100 * x:.1f} points")
        return (v, f"advantage {unit(m)} ± {unit(se)}")

    for bits in BITS:
        for b in ["random (mean of seeds)", "hadamard"]:
            for metric, lower in [("optimal", False), ("heldout", True)]:
                p = paired(bits, "learned", b, metric, lower)
                if p:
                    verdicts.append((f"{bits}: learned rotations beat {b} ({metric})", *p))
    w("| claim | verdict | measured |")
    w("|---|---|---|")
    for c, v, how in verdicts:
        w(f"| {c} | **{v}** | {how} |")
    w("")
    w("Verdict rules: a fraction closed is *yes* when its mean − 2 SE exceeds ½, *no* when "
      "mean + 2 SE is below ½; a spread is *yes* when mean − 2 SE exceeds 5 points, *no* when "
      "mean + 2 SE is below 5; a paired advantage (per model) is *yes* when mean − 2 SE > 0, "
      "*no* when mean + 2 SE < 0; otherwise *inconclusive*. SE across models.")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "table.json"), "w") as f:
        json.dump({"models": models, "rows": rows, "random_spread": spread,
                   "verdicts": [{"claim": c, "verdict": v, "measured": h} for c, v, h in verdicts]},
                  f, indent=1)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
