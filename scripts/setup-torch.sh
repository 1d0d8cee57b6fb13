#!/usr/bin/env bash
# Installs the libtorch that planform builds against (the PyPI wheel torch==2.11.0, which is what
# tch 0.24 expects) into ./.torch, plus the Python packages the repo's helper scripts use
# (PyTorch fixtures and benchmarks, the Parquet interoperability check). Idempotent: a second run
# that finds the stamp file does nothing. Nothing is downloaded at run time after this.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.11.0
STAMP=.torch/.planform-setup-$TORCH_VERSION
if [ -f "$STAMP" ]; then exit 0; fi
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "setup: $PY not found (need CPython 3.10+ with pip)" >&2; exit 1; }
echo "setup: installing torch==$TORCH_VERSION and helper packages into .torch/ (one time, ~5 GB)" >&2
rm -rf .torch.partial
"$PY" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --target .torch.partial "torch==$TORCH_VERSION" numpy pandas pyarrow datasets
rm -rf .torch
mv .torch.partial .torch
touch "$STAMP"
echo "setup: done ($(du -sh .torch | cut -f1))" >&2
