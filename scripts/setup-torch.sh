#!/usr/bin/env bash
# Installs the libtorch that planform builds against (from the PyPI wheel torch==2.11.0, which is
# what tch 0.24 expects) into ./.torch. Two set-ups (sizes measured in the README, "Set-up"):
#
#   scripts/setup-torch.sh          CPU (default, `make demo`): libtorch only. The torch wheel
#                                   without its dependencies, keeping its C++ headers and CPU
#                                   libraries (torch/include, torch/lib without the libraries
#                                   that need CUDA), plus the two small NVIDIA libraries that
#                                   libtorch_cpu.so itself loads (CUDA runtime, CUPTI). Python
#                                   cannot `import torch` from this set-up.
#   scripts/setup-torch.sh --cuda   Full (`make test`, `make cuda`, `make bench`): the wheel with
#                                   all its dependencies (the NVIDIA CUDA libraries, Triton),
#                                   transformers, and numpy/pandas/pyarrow/datasets. Needed to run
#                                   planform on a GPU and by everything that imports Python
#                                   torch or reads the Parquet files from Python: the Hugging
#                                   Face export and Parquet interoperability tests, the PyTorch
#                                   comparisons of `planform bench`.
#
# Idempotent: a stamp file records what is installed; the full set-up also satisfies a CPU
# request, a CPU set-up is replaced by a full one when --cuda is asked for. Everything is
# installed into .torch.partial and renamed to .torch when complete. Nothing is downloaded at
# run time after this.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.11.0
# The CUDA toolkit release torch 2.11.0 pins (its metadata: cuda-toolkit[...]==13.0.2); its
# `cudart` and `cupti` extras are the libcudart.so.13 and libcupti.so.13 that libtorch_cpu.so
# lists as NEEDED.
CUDA_TOOLKIT=13.0.2
# Python packages of the helper scripts and tests (full set-up only).
HELPERS=(numpy pandas pyarrow datasets transformers)

KIND=cpu
case "${1:-}" in
  "") ;;
  --cuda) KIND=cuda ;;
  -h | --help)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "setup: unknown argument '$1' (use --cuda for the full CUDA set-up, nothing for CPU)" >&2
    exit 2
    ;;
esac

stamp() { echo ".torch/.planform-setup-$TORCH_VERSION-$1"; }
# `.planform-setup-2.11.0` is the stamp of earlier versions of this script, which always
# installed the full wheel.
if [[ -f $(stamp cuda) || -f .torch/.planform-setup-$TORCH_VERSION ]]; then exit 0; fi
if [[ $KIND == cpu && -f $(stamp cpu) ]]; then exit 0; fi

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "setup: $PY not found (need CPython 3.10+ with pip)" >&2; exit 1; }
pip() { "$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --target .torch.partial "$@"; }
rm -rf .torch.partial
if [[ $KIND == cpu ]]; then
  echo "setup: installing libtorch $TORCH_VERSION for the CPU (the torch wheel's C++ part)" \
    "into .torch/ (one time, 0.54 GB to download)" >&2
  # The wheel alone: its dependencies are the 2.7 GB of NVIDIA libraries and Triton.
  pip --no-deps "torch==$TORCH_VERSION"
  # libcudart.so.13 and libcupti.so.13, at the versions torch pins through cuda-toolkit.
  pip "cuda-toolkit[cudart,cupti]==$CUDA_TOOLKIT"
  t=.torch.partial/torch
  # Keep the C++ part (headers, libraries); drop the Python package, which cannot be
  # imported without the CUDA libraries anyway, and the libraries that need those.
  find "$t" -mindepth 1 -maxdepth 1 ! -name include ! -name lib -exec rm -rf {} +
  rm -rf .torch.partial/{functorch,torchgen,bin}
  for so in libtorch_cuda.so libtorch_cuda_linalg.so libc10_cuda.so libtorch_nvshmem.so \
    libcaffe2_nvrtc.so libtorch_python.so libtorch_global_deps.so; do
    rm -f "$t/lib/$so"
  done
  for so in "$t/lib/libtorch_cpu.so" .torch.partial/nvidia/cu13/lib/libcudart.so.13 \
    .torch.partial/nvidia/cu13/lib/libcupti.so.13; do
    [[ -f $so ]] || { echo "setup: the install lacks $so" >&2; exit 1; }
  done
else
  echo "setup: installing torch==$TORCH_VERSION with its CUDA libraries and the helper" \
    "packages into .torch/ (one time, 2.9 GB to download)" >&2
  pip "torch==$TORCH_VERSION" "${HELPERS[@]}"
fi
touch ".torch.partial/.planform-setup-$TORCH_VERSION-$KIND"
rm -rf .torch
mv .torch.partial .torch
echo "setup: done, $KIND set-up ($(du -sh .torch | cut -f1) in .torch)" >&2
