#!/usr/bin/env python3
"""Checks that bench/reference_gen.py computes what the reference computes, so that its
speed is the speed of the right work:

1. deterministic maze tokens equal the golden reference files exactly
   (/work/shared/reference/golden/maze-{10,20,30}-det.jsonl, made by the real reference);
2. deterministic maze tokens equal `planform solve` on the golden tasks and on tasks
   drawn by the re-statement's own generator (10×10, 20×20, 30×30);
3. nondeterministic maze A*: same plan length as deterministic A* on every run, and mean
   reasoning length of the re-statement vs `planform solve --astar nondet` (many runs of
   the same tasks) agree within sampling noise;
4. Sokoban (nondeterministic): identical prompt, identical first clause and optimal plan
   length; every clause h that the tokens determine is recomputed with the re-statement's
   heuristic from the Rust trace; mean reasoning lengths agree within sampling noise.

Usage: python3 bench/check_reference.py PATH/TO/planform [--golden DIR]
Exit status 0 when every check passes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_gen as R  # noqa: E402

FAILS = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)


def planform_solve(binary, tasks, astar="det", seed=0):
    lines = "".join(json.dumps(t) + "\n" for t in tasks)
    out = subprocess.run(
        [binary, "solve", "--astar", astar, "--seed", str(seed)],
        input=lines, capture_output=True, text=True, check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def ref_tokens(task, det=True):
    return R.maze_task_tokens(task, det)


def maze_tasks_from_generator(size, layouts):
    """Tasks (planform JSON form) from the re-statement's own layout generator."""
    tasks = []
    for _ in range(layouts):
        _, stored = R.maze_layout(size, size, True)
        for d in list(stored.values())[:5]:
            spec = d["spec"]
            tasks.append({
                "width": spec["width"], "height": spec["height"],
                "start": [spec["start"]["x"], spec["start"]["y"]],
                "goal": [spec["goal"]["x"], spec["goal"]["y"]],
                "walls": [[w["x"], w["y"]] for w in spec["walls"]],
            })
    return tasks


def same_tokens(a, b):
    return all(a[k] == b[k] for k in ("prompt", "reasoning", "plan"))


def close_means(xs, ys):
    """|mean difference| within 4 standard errors (a loose two-sample check)."""
    mx, my = statistics.mean(xs), statistics.mean(ys)
    se = (statistics.pvariance(xs) / len(xs) + statistics.pvariance(ys) / len(ys)) ** 0.5
    return abs(mx - my) <= 4 * se + 1e-9, mx, my, se


def sokoban_clause_h_ok(task, seq):
    """Recompute h for every clause whose unplaced boxes = all boxes (then the open docks
    are all docks and the state is fully determined by the tokens)."""
    nbox = len(task["boxes"])
    toks = seq["reasoning"]
    i = checked = 0
    while i < len(toks):
        j = i + 1
        assert toks[j] == "worker"
        worker = [int(toks[j + 1]), int(toks[j + 2])]
        j += 3
        boxes = []
        while toks[j] == "box":
            boxes.append([int(toks[j + 1]), int(toks[j + 2])])
            j += 3
        g, h = int(toks[j][1:]), int(toks[j + 1][1:])
        i = j + 2
        if len(boxes) != nbox:
            continue
        state = dict(task, worker=worker, boxes=boxes)
        if R.level_from_task(state).heuristic() != h:
            return False, checked
        checked += 1
        del g
    return True, checked


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("planform", help="path to the planform binary")
    ap.add_argument("--golden", default="/work/shared/reference/golden")
    ap.add_argument("--runs", type=int, default=100, help="nondeterministic runs per task")
    args = ap.parse_args()
    R.random.seed(12345)

    # 1 + 2: deterministic mazes.
    for n in (10, 20, 30):
        path = os.path.join(args.golden, f"maze-{n}-det.jsonl")
        if not os.path.exists(path):
            print(f"skip golden {path} (absent)")
            golden = []
        else:
            golden = [json.loads(line) for line in open(path)]
        ours = [ref_tokens(t) for t in golden]
        check(all(same_tokens(o, t) for o, t in zip(ours, golden)),
              f"maze {n}x{n} det: re-statement == golden reference tokens ({len(golden)} tasks)")
        rust = planform_solve(args.planform, [{k: t[k] for k in ("width", "height", "start", "goal", "walls")} for t in golden])
        check(all(same_tokens(o, r) for o, r in zip(ours, rust)) and len(rust) == len(golden),
              f"maze {n}x{n} det: re-statement == planform solve on golden tasks")
        fresh = maze_tasks_from_generator(n, 4)
        rust = planform_solve(args.planform, fresh)
        ours = [ref_tokens(t) for t in fresh]
        check(len(rust) == len(fresh) and all(same_tokens(o, r) for o, r in zip(ours, rust)),
              f"maze {n}x{n} det: re-statement == planform solve on {len(fresh)} freshly generated tasks")

    # 3: nondeterministic mazes.
    tasks = maze_tasks_from_generator(10, 2)[:6]
    for k, t in enumerate(tasks):
        det_plan = len(ref_tokens(t)["plan"])
        py = [ref_tokens(t, det=False) for _ in range(args.runs)]
        rs = planform_solve(args.planform, [t] * args.runs, astar="nondet", seed=k)
        plans_ok = all(len(s["plan"]) == det_plan for s in py + rs)
        ok, mx, my, se = close_means([len(s["reasoning"]) for s in py], [len(s["reasoning"]) for s in rs])
        check(plans_ok and ok,
              f"maze 10x10 nondet task {k}: optimal plans; mean reasoning re-statement {mx:.1f} "
              f"vs planform {my:.1f} (se {se:.1f}, {args.runs} runs each)")

    # 4: Sokoban.
    levels = []
    while len(levels) < 4:
        level = R.generate_level(7, 7, 2, 2)
        try:
            trace = R.sokoban_solve(R.deepcopy(level))
        except R.Unsolvable:
            continue
        if len(trace.trace) <= 700:
            levels.append(R.task_from_level(level))
    tok = R.SokobanTokenizer(7, 7)
    runs = max(8, args.runs // 8)
    for k, t in enumerate(levels):
        py = [tok(R.sokoban_solve(R.level_from_task(t))) for _ in range(runs)]
        rs = planform_solve(args.planform, [t] * runs, astar="nondet", seed=100 + k)
        prompt_ok = all(s["prompt"] == py[0]["prompt"] for s in py + rs)
        first_ok = all(s["reasoning"][:12] == py[0]["reasoning"][:12] for s in rs)
        plan_ok = len({len(s["plan"]) for s in py + rs}) == 1
        h_ok, checked = True, 0
        for s in rs:
            ok, c = sokoban_clause_h_ok(t, s)
            h_ok &= ok
            checked += c
        ok, mx, my, se = close_means([len(s["reasoning"]) for s in py], [len(s["reasoning"]) for s in rs])
        check(prompt_ok and first_ok and plan_ok and h_ok and ok,
              f"sokoban level {k}: prompt {prompt_ok}, first clause {first_ok}, plan length {plan_ok}, "
              f"h of {checked} Rust clauses recomputed {h_ok}; mean reasoning re-statement {mx:.0f} vs "
              f"planform {my:.0f} (se {se:.0f}, {runs} runs each)")

    print(f"{len(FAILS)} failed" if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
