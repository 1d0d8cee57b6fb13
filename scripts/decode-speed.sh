#!/usr/bin/env bash
# CPU decoding speed of cheaper planners (issue 13), on a quiet machine (pause any running
# study first: this script times things):
#  1. batched decode tokens/s of trained planners at full precision and with integer weights
#     stored at 8 and 4 bits (dequantized on the fly), REPEATS runs each, one thread;
#  2. MagicPIG's attention step for one layer, dense (libtorch, Rust) vs LSH from bucket
#     tables, at 2k–10k keys (`examples/lsh_speed.rs`);
#  3. end to end: one sequence decoded to CONTEXTS tokens by a decoder-only model with random
#     weights (E2E_MODEL, head dim 64), exact attention vs `--attention lsh:10,150`.
# Writes OUT/table.md (the median of the runs), OUT/lsh-speed.md, OUT/e2e.md and every run's
# report. Resumable: finished runs are skipped (delete OUT to measure again).
#
#   scripts/decode-speed.sh [OUT_DIR]        (default runs/decode-speed)
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
OUT=${1:-runs/decode-speed}
DATA=${DATA:-runs/claim-scaling-maze5/data/maze5-nondet-40k}
REPEATS=${REPEATS:-3}
MODELS=${MODELS:-"runs/claim-scaling-maze5/p-so-10000-tiny-s0 runs/claim-scaling-maze5/p-sa-1000-tiny-s0"}
E2E_MODEL=${E2E_MODEL:-512x2x8}
CONTEXTS=${CONTEXTS:-"2048 4096 8192 10240"}
mkdir -p "$OUT"
cargo build --release -q -p planform-quant --example lsh_speed
for model in $MODELS; do
  name=$(basename "$model")
  for bits in w8a16 w4a16; do
    q="$OUT/$name-$bits"
    [[ -d $q ]] || "$PLANFORM" quantize --checkpoint "$model/train" --quant "$bits" -o "$q" > /dev/null
  done
  for ck in fp w8a16 w4a16; do
    path="$OUT/$name-$ck"; [[ $ck == fp ]] && path="$model/train"
    for ((r = 0; r < REPEATS; r++)); do
      [[ -f $OUT/runs/$name-$ck-$r.json ]] && continue
      "$PLANFORM" bench decode --checkpoint "$path" --data "$DATA" --prompts 64 --samples 8 \
        --threads 1 --serial-prompts 0 --seed "$r" --out "$OUT/runs/$name-$ck-$r.md" > /dev/null
    done
  done
done
[[ -f $OUT/lsh-speed.md ]] || target/release/examples/lsh_speed 8 64 "$REPEATS" | tee "$OUT/lsh-speed.md"
for n in $CONTEXTS; do
  for att in exact lsh:10,150; do
    extra=(); [[ $att == exact ]] || extra=(--attention "$att")
    f="$OUT/e2e/$E2E_MODEL-$n-${att//[:,]/-}.md"
    [[ -f ${f%.md}.json ]] && continue
    "$PLANFORM" bench decode --family decoder-only --model "$E2E_MODEL" --max-len "$n" \
      --lengths full --prompts 1 --samples 1 --serial-prompts 0 --threads 1 --no-pytorch \
      "${extra[@]}" --out "$f" > /dev/null
  done
done
python3 - "$OUT" "$MODELS" "$REPEATS" <<'PY'
import json, statistics, sys
out, models, repeats = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
lines = ["| model | weights | tokens/s (median of %d; min–max) | vs fp32 |" % repeats, "|---|---|---:|---:|"]
for m in models:
    name = m.rstrip("/").split("/")[-1]
    base = None
    for ck in ["fp", "w8a16", "w4a16"]:
        tps = []
        for r in range(repeats):
            rep = json.load(open(f"{out}/runs/{name}-{ck}-{r}.json"))
            run = rep["runs"][0]
            tps.append(run["generated_tokens"] / run["seconds"])
        med = statistics.median(tps)
        base = base or med
        label = {"fp": "fp32", "w8a16": "int8 stored", "w4a16": "int4 stored"}[ck]
        lines.append(f"| {name} | {label} | {med:,.0f} ({min(tps):,.0f}–{max(tps):,.0f}) | ×{med / base:.2f} |")
table = "\n".join(lines)
open(f"{out}/table.md", "w").write(table + "\n")
print(table)
PY
python3 - "$OUT" "$E2E_MODEL" "$CONTEXTS" <<'PY'
import json, re, sys
out, model, contexts = sys.argv[1], sys.argv[2], sys.argv[3].split()
lines = [f"| decoded tokens (model {model}, random weights, 1 sequence) | exact tokens/s | LSH tokens/s | LSH vs exact | keys read |",
         "|---:|---:|---:|---:|---:|"]
for n in contexts:
    r = {a: json.load(open(f"{out}/e2e/{model}-{n}-{a}.json")) for a in ["exact", "lsh-10-150"]}
    tps = {a: x["runs"][0]["generated_tokens"] / x["runs"][0]["seconds"] for a, x in r.items()}
    read = re.search(r"([0-9.]+)% of", r["lsh-10-150"]["attention"]).group(1)
    lines.append(f"| {n} | {tps['exact']:.0f} | {tps['lsh-10-150']:.0f} | ×{tps['lsh-10-150'] / tps['exact']:.2f} | {read}% |")
table = "\n".join(lines)
open(f"{out}/e2e.md", "w").write(table + "\n")
print(table)
PY
