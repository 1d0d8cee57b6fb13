#!/usr/bin/env bash
# CPU decode speed of integer matmul (issue 13): a decoder-only checkpoint at full precision,
# its W8A8 quantization dequantized on the fly, and the same with `--int8-matmul`, REPEATS
# alternating runs of `planform bench decode` on one thread. Pause any running study first.
# Writes OUT/table.md (median tokens/s, min–max) and every run's report.
#
#   CKPT=RUN DATA=DATASET scripts/int8-speed.sh [OUT_DIR]      (default runs/int8-speed)
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
OUT=${1:-runs/int8-speed}
CKPT=${CKPT:?a decoder-only or encoder-decoder run or checkpoint directory}
DATA=${DATA:?a dataset of the same domain as the checkpoint}
REPEATS=${REPEATS:-3}
PROMPTS=${PROMPTS:-16}
SAMPLES=${SAMPLES:-8}
MAX_LEN=${MAX_LEN:-64}
mkdir -p "$OUT/runs"
[[ -d $OUT/w8a8 ]] || "$PLANFORM" quantize --checkpoint "$CKPT" --quant w8a8 -o "$OUT/w8a8" > /dev/null
for ((r = 0; r < REPEATS; r++)); do
  for v in fp32 w8a8 w8a8-int8; do
    f="$OUT/runs/$v-$r"
    [[ -f $f.json ]] && continue
    case $v in
      fp32) args=(--checkpoint "$CKPT") ;;
      w8a8) args=(--checkpoint "$OUT/w8a8") ;;
      w8a8-int8) args=(--checkpoint "$OUT/w8a8" --int8-matmul) ;;
    esac
    "$PLANFORM" bench decode "${args[@]}" --data "$DATA" --prompts "$PROMPTS" --samples "$SAMPLES" \
      --max-len "$MAX_LEN" --threads 1 --serial-prompts 0 --no-pytorch --seed "$r" --out "$f.md" > /dev/null
  done
done
python3 - "$OUT" "$REPEATS" <<'PY'
import json, statistics, sys
out, repeats = sys.argv[1], int(sys.argv[2])
def tps(v, r):
    j = json.load(open(f"{out}/runs/{v}-{r}.json"))
    run = next(x for x in j["runs"] if x["scheme"].startswith("planform, all prompts"))
    return run["generated_tokens"] / run["seconds"]
rows = ["| weights | tokens/s (median of %d; min–max) | vs fp32 |" % repeats, "|---|---:|---:|"]
base = None
for v in ["fp32", "w8a8", "w8a8-int8"]:
    t = [tps(v, r) for r in range(repeats)]
    m = statistics.median(t)
    base = base or m
    rows.append(f"| {v} | {m:,.0f} ({min(t):,.0f}–{max(t):,.0f}) | ×{m / base:.2f} |")
open(f"{out}/table.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
