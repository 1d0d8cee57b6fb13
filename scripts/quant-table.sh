#!/usr/bin/env bash
# The quantization table on trained planners (issue 13): every W/A/KV setting × rotation on
# each model, greedy, on the same test tasks; then the table and its verdicts. Resumable:
# an evaluation whose summary.json exists is skipped.
#
#   scripts/quant-table.sh [OUT_DIR]        (default runs/quant-table)
#
# Models: the three seeds of the 5×5 solution-only tiny encoder–decoder of the
# claim-scaling-maze5 study (N = 10,000, trained to plateau); run that study first
# (scripts/run-studies.sh claim-scaling-maze5) or set MODELS to other run directories.
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
OUT=${1:-runs/quant-table}
DATA=${DATA:-runs/claim-scaling-maze5/data/maze5-nondet-40k}
TASKS=${TASKS:-1000}
HELDOUT=${HELDOUT:-500}
SEEDS=${SEEDS:-10}
MODELS=${MODELS:-"runs/claim-scaling-maze5/p-so-10000-tiny-s0 runs/claim-scaling-maze5/p-so-10000-tiny-s1 runs/claim-scaling-maze5/p-so-10000-tiny-s2"}
mkdir -p "$OUT"

evaluate() { # model-dir out-name extra-args…   (CK overrides the checkpoint evaluated)
  local model=$1 name=$2; shift 2
  local ck=${CK:-$model/train}
  local dir="$OUT/$(basename "$model")/$name"
  [[ -f $dir/summary.json ]] && return 0
  "$PLANFORM" eval --checkpoint "$ck" --data "$DATA" --tasks "$TASKS" -k 1 --greedy \
    --heldout-loss "$HELDOUT" --device cpu -o "$dir" "$@" > /dev/null
  echo "$(basename "$model") $name done"
}

for model in $MODELS; do
  evaluate "$model" fp
  for bits in w8a8 w4a8 w4a4kv4 w16a4 w16a16kv4; do
    evaluate "$model" "$bits-none" --quant "$bits"
    evaluate "$model" "$bits-hadamard" --quant "$bits" --rotation hadamard+online --rotation-seed 0
    evaluate "$model" "$bits-hadamard-r12" --quant "$bits" --rotation hadamard --rotation-seed 0
    # The spread of random rotations on the table's three settings (the W16 ones say where
    # the W4A4KV4 loss comes from).
    [[ $bits == w16* ]] && continue
    for ((s = 0; s < SEEDS; s++)); do
      evaluate "$model" "$bits-random-$s" --quant "$bits" --rotation random+online --rotation-seed "$s"
    done
  done
  # Learned rotations (Cayley SGD through the quantized model, SpinQuant's 100 steps at lr
  # 1.5 on 800 training sequences), stored for real and evaluated from the stored checkpoint.
  for bits in w8a8 w4a8 w4a4kv4 w16a4 w16a16kv4; do
    q="$OUT/$(basename "$model")/ckpt-$bits-learned"
    [[ -d $q ]] || "$PLANFORM" quantize --checkpoint "$model/train" --quant "$bits" \
      --rotation learned+online --data "$DATA" --heldout-examples "$HELDOUT" -o "$q" > /dev/null
    CK=$q evaluate "$model" "$bits-learned"
  done
  # Real storage: the checkpoint sizes, and one stored checkpoint evaluated against its simulation.
  for bits in w8a8 w4a8 w4a4kv4; do
    q="$OUT/$(basename "$model")/ckpt-$bits-hadamard"
    [[ -d $q ]] || "$PLANFORM" quantize --checkpoint "$model/train" --quant "$bits" \
      --rotation hadamard+online --rotation-seed 0 -o "$q" > /dev/null
  done
  CK="$OUT/$(basename "$model")/ckpt-w4a4kv4-hadamard" evaluate "$model" stored-w4a4kv4-hadamard
done
python3 scripts/quant_table.py "$OUT"
