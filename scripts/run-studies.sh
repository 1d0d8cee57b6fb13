#!/usr/bin/env bash
# Runs the CPU studies of docs/studies/ one after another (each `planform sweep` resumes: a
# killed run continues where it stopped; finished points are skipped), writing each study's
# summary, figures and verdicts into docs/studies/<name>/.
#
#   scripts/run-studies.sh [STUDY …]      # default: all, in the order below
#
# Budget (2-core CPU, measured per point in each study's summary.json `train_secs`): see
# docs/studies/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
studies=("$@")
if [[ ${#studies[@]} -eq 0 ]]; then
  studies=(mobilellm-design claim-scaling-maze5 claim-scaling-maze7 batch-order claim-models-maze5 claim-traces-maze5)
fi
for s in "${studies[@]}"; do
  echo "== study $s ($(date -u +%FT%TZ))"
  "$PLANFORM" sweep "configs/studies/$s.toml" --runs-dir runs --report-to "docs/studies/$s" || echo "study $s: some points failed (rerun to retry)"
done
