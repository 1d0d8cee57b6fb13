#!/usr/bin/env bash
# CPU decode speed of stored quantized checkpoints against full precision (issue 13), on the
# 5x5 search-augmented planners of claim-scaling-maze5 and the Hadamard-rotated checkpoints
# that scripts/quant-table.sh stored (run it first: MODELS=... scripts/quant-table.sh
# runs/quant-table-sa). Interleaved rounds; running studies are paused meanwhile.
#   scripts/quant-decode-speed.sh > results.txt    (one line per run: round|model|setting|table row)
set -u
cd "$(dirname "$0")/.."
D=runs/claim-scaling-maze5/data/maze5-nondet-40k
mkdir -p runs/quant-decode
pkill -STOP -f "planform-(study|claims|quant)"
for r in 1 2 3; do for m in s0 s1; do
  M=runs/claim-scaling-maze5/p-sa-10000-tiny-$m; Q=runs/quant-table-sa/p-sa-10000-tiny-$m
  for v in "fp|$M/train|" "w8a8|$Q/ckpt-w8a8-hadamard|" "w8a8-int8mm|$Q/ckpt-w8a8-hadamard|--int8-matmul" "w4a8|$Q/ckpt-w4a8-hadamard|" "w4a4kv4|$Q/ckpt-w4a4kv4-hadamard|"; do
    IFS='|' read name ck extra <<< "$v"
    out=$(timeout 120 target/release/planform bench decode --checkpoint $ck --data $D --prompts 16 --samples 64 --max-len 300 --serial-prompts 0 --threads 1 $extra --out runs/quant-decode/$name-$m.md 2>&1 | grep "all prompts batched" | tail -1)
    echo "$r|$m|$name|$out"
  done
done; done
pkill -CONT -f "planform-(study|claims|quant)"
