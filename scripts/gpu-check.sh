#!/usr/bin/env bash
# The GPU checks of planform, as one prepared script for a CUDA machine (docs/gpu.md).
#
#   make cuda                        # here, on the CPU machine: the full set-up and a binary
#                                    # linked to libtorch_cuda (PLANFORM_CUDA=1)
#   scripts/gpu-check.sh --prepare   # here, on the CPU machine: strip the release binary into
#                                    # .carry/planform and copy its non-torch system libraries
#                                    # into .carry/lib (what the device machine may lack)
#   PLANFORM=.carry/planform scripts/gpu-check.sh   # there, carrying `.carry`
#
# Checks, in order (each under a time limit, all under one budget):
#   1. nvidia-smi; the Python interpreter's torch and CUDA; the binary's shared libraries.
#   2. planform bench cuda-check             CUDA against CPU on the same weights.
#   3. planform bench train, `s`, 10×10 maze, batch 64, fp32 and bf16 autocast: bucketed and
#      random (reference) batch order, each against PyTorch eager on the same batches.
#   4. planform bench decode, `s`, 10×10 maze, 16 prompts × 64 samples, 500 tokens: batched,
#      one prompt at a time, and the PyTorch reference-style rollout.
#   5. as 3, `m-s`, 20×20 maze, batch 16.
#   6. as 4, `m-s`, 20×20 maze, 8 prompts × 64 samples, 1000 tokens.
#
# Outputs, under "${OUT:-out/gpu-check}" (3 files, so that all of them come back from the
# device tool, which returns at most 8): gpu-check.log (everything printed), summary.md (one
# row per check, then every report), and, when $OUT is set, detail.tar.gz (the reports'
# markdown and JSON); without $OUT those lie in detail/. summary.md and detail.tar.gz are
# rewritten after every check, so a run cut short still returns what it finished.
#
# Environment: PLANFORM (binary, default target/release/planform), PYTHON (interpreter with
# torch for the PyTorch comparisons; default: the binary's own default, python3), TORCH_LIB
# (libtorch directory; default: PYTHON's torch/lib, else .torch/torch/lib), CARRY_LIB
# (default .carry/lib), GPU_CHECK_BUDGET (seconds for all checks, default 480).
#
# Exit status: 0 when every check passed, 1 when any failed or was skipped for time.
set -euo pipefail
cd "$(dirname "$0")/.."

PLANFORM=${PLANFORM:-target/release/planform}
CARRY_LIB=${CARRY_LIB:-.carry/lib}

# ---------------------------------------------------------------------------------------------
# --prepare: runs on the CPU machine, builds the `.carry` folder for the device tool.
if [[ ${1:-} == --prepare ]]; then
    [[ -x $PLANFORM ]] || { echo "prepare: $PLANFORM not found (make cuda)" >&2; exit 1; }
    if ! readelf -d "$PLANFORM" | grep -q 'libtorch_cuda\.so'; then
        echo "prepare: note: $PLANFORM does not link libtorch_cuda.so (built without" \
            "PLANFORM_CUDA=1; \`make cuda\` links it); the check will LD_PRELOAD it there" >&2
    fi
    mkdir -p .carry "$CARRY_LIB"
    strip -o .carry/planform.tmp "$PLANFORM"
    mv .carry/planform.tmp .carry/planform
    # System libraries the binary needs besides glibc, the GCC runtime and libtorch
    # (libfontconfig, libfreetype and theirs): used there only where that machine lacks them.
    ldd "$PLANFORM" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' |
        while read -r name path; do
            case $path in *.torch/* | */site-packages/*) continue ;; esac
            case $name in
                libc.so.* | libm.so.* | libdl.so.* | librt.so.* | libpthread.so.* | libutil.so.* | \
                    ld-linux* | libgcc_s.so.* | libstdc++.so.*) continue ;;
            esac
            cp -L "$path" "$CARRY_LIB/$name"
        done
    du -sh .carry
    ls -l .carry "$CARRY_LIB"
    echo "prepare: done; on the device machine: PLANFORM=.carry/planform scripts/gpu-check.sh (carry .carry)"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
DEST=${OUT:-out/gpu-check}
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
if [[ -n ${OUT:-} ]]; then
    WORK=$(mktemp -d)
else
    WORK=$DEST/detail
    mkdir -p "$WORK"
fi
LOG=$DEST/gpu-check.log
SUMMARY=$DEST/summary.md
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

BUDGET=${GPU_CHECK_BUDGET:-480}
START=$(date +%s)
# Do not start a check with less than this many seconds of the budget left.
MIN_LEFT=20

NAMES=() STATUS=() SECS=() CMDS=() REPORTS=()
FAILED=0

write_summary() {
    {
        echo "# planform GPU check"
        echo
        echo "$(date -u '+%Y-%m-%d %H:%M:%S UTC'), host $(hostname), binary $PLANFORM; device: ${GPU_NAME:-unknown}."
        echo
        echo "| check | status | seconds | command |"
        echo "|---|---|---|---|"
        local i
        for i in "${!NAMES[@]}"; do
            echo "| ${NAMES[$i]} | ${STATUS[$i]} | ${SECS[$i]} | \`${CMDS[$i]}\` |"
        done
        for i in "${!NAMES[@]}"; do
            local r=${REPORTS[$i]}
            if [[ -n $r && -s $r ]]; then
                echo
                echo "## ${NAMES[$i]}"
                echo
                cat "$r"
            fi
        done
    } >"$SUMMARY.tmp"
    mv "$SUMMARY.tmp" "$SUMMARY"
    if [[ -n ${OUT:-} ]]; then
        tar -czf "$WORK.tar.gz" -C "$WORK" . && mv "$WORK.tar.gz" "$DEST/detail.tar.gz"
    fi
}

record() { # name status seconds command report
    NAMES+=("$1") STATUS+=("$2") SECS+=("$3") CMDS+=("$4") REPORTS+=("$5")
    case $2 in pass) ;; *) FAILED=1 ;; esac
    write_summary || echo "warning: could not write $SUMMARY or the detail archive"
}

# run_check NAME LIMIT_S REPORT_FILE CMD...: runs CMD under `timeout`, at most LIMIT_S seconds
# and no longer than the budget left; records pass / fail (exit N) / timeout / skipped.
run_check() {
    local name=$1 limit=$2 report=$3
    shift 3
    local left=$((BUDGET - ($(date +%s) - START)))
    if ((left < MIN_LEFT)); then
        echo "=== $name: skipped, ${left}s of the ${BUDGET}s budget left"
        record "$name" "skipped (time budget)" 0 "$*" ""
        return 0
    fi
    ((limit > left)) && limit=$left
    echo
    echo "=== $name (limit ${limit}s)"
    echo "+ $*"
    local t0 rc status
    t0=$(date +%s)
    if timeout -k 15 "$limit" "$@"; then rc=0; else rc=$?; fi
    case $rc in
        0) status=pass ;;
        124 | 137) status="timeout after ${limit}s" ;;
        *) status="fail (exit $rc)" ;;
    esac
    echo "=== $name: $status"
    record "$name" "$status" $(($(date +%s) - t0)) "$*" "$report"
}

finish() {
    echo
    echo "=== done in $(($(date +%s) - START))s; summary in $SUMMARY"
    awk '/^## /{ exit } { print }' "$SUMMARY"
    # Let tee write the last lines of the log before the script returns.
    exec 1>&- 2>&-
    wait "$TEE_PID" 2>/dev/null || true
    exit "$FAILED"
}

# ---------------------------------------------------------------------------------------------
# 1. The machine, the interpreter, the binary's libraries.
echo "=== nvidia-smi"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi || true
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
    record "nvidia-smi" pass 0 "nvidia-smi" ""
else
    echo "nvidia-smi not found"
    record "nvidia-smi" "fail (not found)" 0 "nvidia-smi" ""
fi

PY=${PYTHON:-python3}
PYTHON_FLAG=()
[[ -n ${PYTHON:-} ]] && PYTHON_FLAG=(--python "$PYTHON")
run_check "python torch" 60 "" "$PY" -c \
    'import torch; ok = torch.cuda.is_available(); print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", ok, torch.cuda.get_device_name(0) if ok else "")'

if [[ -z ${TORCH_LIB:-} ]]; then
    TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)
    [[ -z $TORCH_LIB && -d .torch/torch/lib ]] && TORCH_LIB=$PWD/.torch/torch/lib
fi
echo "libtorch: ${TORCH_LIB:-not found}"
# The binary's RUNPATH names the workspace's .torch, which does not travel: point the loader
# at this machine's libtorch (LD_LIBRARY_PATH comes before RUNPATH).
[[ -n $TORCH_LIB ]] && export LD_LIBRARY_PATH=$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

if [[ ! -x $PLANFORM ]]; then
    record "planform binary" "fail ($PLANFORM not found)" 0 "" ""
    finish
fi
# Libraries this machine lacks, from the carried copies only (a folder of links to just
# those, so that nothing the machine has is shadowed for the Python child processes).
SHIM=$(mktemp -d)/libs
for _ in 1 2 3 4 5; do
    missing=$({ ldd "$PLANFORM" 2>/dev/null || true; } | awk '/=> not found/ { print $1 }' | sort -u)
    [[ -z $missing ]] && break
    linked=0
    for lib in $missing; do
        if [[ -e $CARRY_LIB/$lib && ! -e $SHIM/$lib ]]; then
            mkdir -p "$SHIM"
            ln -s "$(cd "$CARRY_LIB" && pwd)/$lib" "$SHIM/$lib"
            linked=1
        fi
    done
    ((linked)) || break
    [[ ":$LD_LIBRARY_PATH:" == *":$SHIM:"* ]] || export LD_LIBRARY_PATH=$SHIM:$LD_LIBRARY_PATH
done
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
if [[ -n $missing ]]; then
    ldd "$PLANFORM" || true
    echo "missing shared libraries: $missing (run scripts/gpu-check.sh --prepare here and carry .carry)"
    record "planform libraries" "fail (missing: $(echo $missing))" 0 "ldd $PLANFORM" ""
    finish
fi
# A binary linked without libtorch_cuda (no --no-as-needed) sees no CUDA: preload it.
PF=("$PLANFORM")
LDD=$(ldd "$PLANFORM" 2>&1 || true)
if [[ -n $TORCH_LIB && -e $TORCH_LIB/libtorch_cuda.so && $LDD != *libtorch_cuda.so* ]]; then
    echo "$PLANFORM does not link libtorch_cuda.so: LD_PRELOAD=$TORCH_LIB/libtorch_cuda.so"
    PF=(env "LD_PRELOAD=$TORCH_LIB/libtorch_cuda.so" "$PLANFORM")
fi
grep -E 'torch|c10' <<<"$LDD" || true
record "planform libraries" pass 0 "ldd $PLANFORM" ""

# ---------------------------------------------------------------------------------------------
# 2. Correctness: CUDA against CPU on the same weights.
run_check "cuda-check" 120 "" "${PF[@]}" bench cuda-check --device cuda --out "$WORK/cuda-check.json"

# 3–6. Throughput. Timed loops stop after --max-seconds (planform's and PyTorch's alike).
TRAIN=(--device cuda --order both --warmup 5 --steps 30 --max-seconds 20 "${PYTHON_FLAG[@]}")
DECODE=(--device cuda --samples 64 --serial-prompts 2 "${PYTHON_FLAG[@]}")

train() { # model maze batch precision
    local r=$WORK/train-$1-maze$2-$4.md
    run_check "bench train $1 maze $2 batch $3 $4" 150 "$r" "${PF[@]}" bench train \
        --model "$1" --maze "$2" --batch "$3" --precision "$4" "${TRAIN[@]}" --out "$r"
}
decode() { # model maze prompts max_len
    local r=$WORK/decode-$1-maze$2.md
    run_check "bench decode $1 maze $2 ($3 prompts, max_len $4)" 150 "$r" "${PF[@]}" bench decode \
        --model "$1" --maze "$2" --prompts "$3" --max-len "$4" "${DECODE[@]}" --out "$r"
}

train s 10 64 fp32
train s 10 64 bf16
decode s 10 16 500
train m-s 20 16 fp32
train m-s 20 16 bf16
decode m-s 20 8 1000

finish
