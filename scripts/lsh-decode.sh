#!/usr/bin/env bash
# MagicPIG's LSH-sampled attention in decoding, end to end on trained planners (issue 13):
# greedy optimal rate with exact attention and with LSH attention at a few windows, on the
# same test tasks, and the share of offloaded keys each read. Resumable: an evaluation whose
# summary.json exists is skipped. Prints the table and writes OUT/table.md.
#
#   scripts/lsh-decode.sh [OUT_DIR]        (default runs/lsh-decode)
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
OUT=${1:-runs/lsh-decode}
DATA=${DATA:-runs/claim-scaling-maze5/data/maze5-nondet-40k}
TASKS=${TASKS:-200}
MODELS=${MODELS:-"runs/claim-scaling-maze5/p-so-10000-tiny-s0 runs/claim-scaling-maze5/p-so-10000-tiny-s1 runs/claim-scaling-maze5/p-so-10000-tiny-s2"}
SETTINGS=${SETTINGS:-"lsh:10,150,4,16 lsh:10,150,1,4 lsh:10,150,1,4,1"}
mkdir -p "$OUT"
for model in $MODELS; do
  name=$(basename "$model")
  for s in exact $SETTINGS; do
    dir="$OUT/$name/${s//[:,]/-}"
    [[ -f $dir/summary.json ]] && continue
    extra=()
    [[ $s == exact ]] || extra=(--attention "$s")
    "$PLANFORM" eval --checkpoint "$model/train" --data "$DATA" --tasks "$TASKS" -k 1 --greedy \
      --device cpu -o "$dir" "${extra[@]}" > /dev/null
    echo "$name $s done"
  done
done
python3 - "$OUT" "$SETTINGS" <<'PY'
import json, math, os, sys
out, settings = sys.argv[1], ["exact"] + sys.argv[2].split()
models = sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)))
def load(m, s):
    p = os.path.join(out, m, s.replace(":", "-").replace(",", "-"), "summary.json")
    return json.load(open(p)) if os.path.exists(p) else None
def mse(xs):
    n = len(xs); m = sum(xs) / n
    se = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) / math.sqrt(n) if n > 1 else float("nan")
    return m, se
lines = [f"Models: {', '.join(models)}; greedy, the same test tasks per model.", "",
         "| attention (K, L, sink, local, dense blocks) | optimal % | optimal − exact (points, paired) | offloaded keys read % |",
         "|---|---:|---:|---:|"]
for s in settings:
    rows = [(load(m, "exact"), load(m, s)) for m in models]
    rows = [(e, r) for e, r in rows if e and r]
    if not rows:
        continue
    opt = [r["metrics"]["summary"]["optimal"] for _, r in rows]
    diff = [r["metrics"]["summary"]["optimal"] - e["metrics"]["summary"]["optimal"] for e, r in rows]
    a = [r["header"].get("attention") for _, r in rows]
    read = "–" if not a[0] else "%.1f" % (100 * sum(x["read_keys"] for x in a) / max(1, sum(x["offloaded_keys"] for x in a)))
    m, se = mse(opt); dm, dse = mse(diff)
    lines.append(f"| {s} | {100*m:.1f} ± {100*se:.1f} | {100*dm:+.1f} ± {100*dse:.1f} | {read} |")
text = "\n".join(lines) + "\n"
open(os.path.join(out, "table.md"), "w").write(text)
print(text)
PY
