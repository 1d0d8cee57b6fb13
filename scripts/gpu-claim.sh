#!/usr/bin/env bash
# Searchformer's central claim on a GPU, in the 10 minutes a device session gives (issue 9.6):
# 10×10 mazes, the reference's `s` encoder–decoder and hyper-parameters (lr 2.5e-4, batch 64,
# AdamW (0.9, 0.99)), solution-only vs search-augmented (nondeterministic A*) on the same
# dataset and seed, each trained for as many steps as fit its half of the budget, then 100 test
# tasks × 64 samples each; a report fragment with both evals side by side.
#
#   scripts/gpu-check.sh --prepare          # here: the binary and its libraries into .carry
#   PLANFORM=.carry/planform scripts/gpu-claim.sh   # there, carrying `.carry`
#
# Steps per run = GPU_CLAIM_STEPS (default 4500: the reference `s` trains at ~495k real tokens/s
# on an H200 in anchors.md, ~400 tokens per 10×10 sequence, batch 64 -> an estimated ~19 steps/s -> ~4 min, not measured).
# The reference trains 400,000 steps; this is ~1.5% of that, so the fragment says what a few
# minutes of GPU training show, not the paper's result. Warm-up is scaled to the run (10%).
#
# Outputs under "${OUT:-out/gpu-claim}": claim.md (the fragment), claim.log, and the two evals'
# summary.json files.
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
OUT=${OUT:-out/gpu-claim}
STEPS=${GPU_CLAIM_STEPS:-4500}
WARMUP=$(( STEPS / 10 ))
RUNS="$OUT/runs"
mkdir -p "$OUT" "$RUNS"
exec > >(tee -a "$OUT/claim.log") 2>&1
if [[ -d .carry/lib ]]; then export LD_LIBRARY_PATH="$(pwd)/.carry/lib:${LD_LIBRARY_PATH:-}"; fi
TORCH_LIB=${TORCH_LIB:-$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')" 2>/dev/null || true)}
if [[ -n $TORCH_LIB ]]; then export LD_LIBRARY_PATH="$TORCH_LIB:$LD_LIBRARY_PATH"; fi
echo "gpu-claim: $(date -u +%FT%TZ) steps=$STEPS warmup=$WARMUP"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

common=(--runs-dir "$RUNS"
  --set train.device=cuda
  --set data.num_tasks=110000               # 100k train / 10k test (the reference: 1M / 100k)
  --set "train.optim.total_steps=$STEPS"
  --set "train.optim.warmup_steps=$WARMUP"
  --set train.log.eval_every=1000
  --set train.log.checkpoint_every=2000
  --set train.data.eval_examples=2000)
status=0
for recipe in maze10-s-solution-only maze10-s-search-augmented-nondet; do
  echo "== $recipe"
  start=$(date +%s)
  if ! timeout 290 "$PLANFORM" recipe run "configs/reference/$recipe.toml" "${common[@]}"; then
    echo "gpu-claim: $recipe did not finish in its budget"; status=1
  fi
  echo "gpu-claim: $recipe took $(( $(date +%s) - start )) s"
  cp "$RUNS/$recipe/eval-test/summary.json" "$OUT/$recipe.summary.json" 2>/dev/null || true
done
{
  echo "## Searchformer's central claim at 10×10 on a GPU ($STEPS steps each)"
  echo
  echo "Produced by \`scripts/gpu-claim.sh\` on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)."
  echo
  for r in maze10-s-solution-only maze10-s-search-augmented-nondet; do
    f="$OUT/$r.summary.json"
    if [[ -f $f ]]; then
      python3 - "$f" "$r" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); m = s["metrics"]["summary"]
print(f"- {sys.argv[2]}: solved {100*m['solved']:.1f}%, optimal {100*m['optimal']:.1f}%, SWC {m['swc']:.3f} "
      f"({s['metrics']['tasks']} tasks × {s['metrics']['samples_per_task']})")
PY
    else
      echo "- $r: no evaluation (see claim.log)"
    fi
  done
} > "$OUT/claim.md"
cat "$OUT/claim.md"
exit $status
