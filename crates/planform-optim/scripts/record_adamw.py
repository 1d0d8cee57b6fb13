"""Records torch.optim.AdamW + LambdaLR(cosine) trajectories as a JSON fixture.

The Rust test `optim::tests::adamw_matches_torch` replays the same gradients through
planform-train's written-out AdamW and compares every parameter and moment after every step.

Run from the repository root:
    PYTHONPATH=/work/main/.torch python3 crates/planform-train/scripts/record_adamw.py \
        > crates/planform-train/tests/fixtures/adamw_torch.json

The learning-rate multiplier is the reference schedule (searchformer/transformer/optim.py,
`lr_cosine`), re-implemented here from its formula: linear warm-up for step <= warmup, then
min + 0.5 (1 - min)(cos(pi s^theta / cycle) + 1), then min.
"""
import json
import math
import sys

import torch


def cosine_factor(step, warmup, total, min_ratio, cycle=1.0, theta=1.0):
    if step <= warmup:
        return float(step) / warmup
    if step <= total:
        s = float(step - warmup) / (total - warmup)
        return min_ratio + 0.5 * (1 - min_ratio) * (math.cos(math.pi * s**theta / cycle) + 1)
    return min_ratio


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def main():
    torch.manual_seed(1234)
    cfg = dict(lr=3e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01,
               warmup=2, total=6, min_ratio=0.1, steps=8)
    shapes = {"enc.w": [3, 4], "dec.norm": [5]}
    params = {n: torch.nn.Parameter(torch.randn(*s)) for n, s in shapes.items()}
    init = {n: {"shape": s, "data": flat(params[n])} for n, s in shapes.items()}
    opt = torch.optim.AdamW(list(params.values()), lr=cfg["lr"], betas=cfg["betas"],
                            eps=cfg["eps"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: cosine_factor(k, cfg["warmup"], cfg["total"], cfg["min_ratio"]))
    steps = []
    for _ in range(cfg["steps"]):
        grads = {n: torch.randn(*s) * 0.1 for n, s in shapes.items()}
        lr_used = opt.param_groups[0]["lr"]
        for n, p in params.items():
            p.grad = grads[n].clone()
        opt.step()
        sched.step()
        rec = {"lr": lr_used, "grads": {n: flat(g) for n, g in grads.items()},
               "params": {}, "exp_avg": {}, "exp_avg_sq": {}}
        for n, p in params.items():
            st = opt.state[p]
            rec["params"][n] = flat(p)
            rec["exp_avg"][n] = flat(st["exp_avg"])
            rec["exp_avg_sq"][n] = flat(st["exp_avg_sq"])
        steps.append(rec)

    # LambdaLR learning rates of a longer cosine schedule, as used per optimizer step.
    sched_cfg = dict(lr=1e-3, warmup=3, total=10, min_ratio=0.1, steps=13)
    dummy = torch.nn.Parameter(torch.zeros(1))
    o2 = torch.optim.AdamW([dummy], lr=sched_cfg["lr"])
    s2 = torch.optim.lr_scheduler.LambdaLR(
        o2, lambda k: cosine_factor(k, sched_cfg["warmup"], sched_cfg["total"],
                                    sched_cfg["min_ratio"]))
    lrs = []
    for _ in range(sched_cfg["steps"]):
        lrs.append(o2.param_groups[0]["lr"])
        dummy.grad = torch.zeros(1)
        o2.step()
        s2.step()

    out = {"torch_version": torch.__version__, "config": cfg, "init": init, "steps": steps,
           "schedule": {"config": sched_cfg, "lr_per_step": lrs}}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
