#!/usr/bin/env bash
# Runs the CPU studies and the report's recipe runs, one after another, then regenerates the
# committed report. Everything resumes: a killed sweep or recipe continues where it stopped,
# finished points and stages are skipped. Each study writes its summary, figures and verdicts
# into docs/studies/<name>/; `planform report` writes docs/report/.
#
#   scripts/run-studies.sh              # everything, in the order below
#   scripts/run-studies.sh STUDY …      # only these (a study name, or `report`)
set -euo pipefail
cd "$(dirname "$0")/.."
PLANFORM=${PLANFORM:-target/release/planform}
jobs=("$@")
if [[ ${#jobs[@]} -eq 0 ]]; then
  jobs=(mobilellm-design claim-scaling-maze5 batch-order claim-traces-maze5 report claim-scaling-maze7)
fi
for j in "${jobs[@]}"; do
  echo "== $j ($(date -u +%FT%TZ))"
  if [[ $j == report ]]; then
    for r in maze5-solution-only maze5-searchformer maze5-dualformer \
             sokoban6-solution-only sokoban6-searchformer sokoban6-dualformer; do
      "$PLANFORM" recipe run "configs/cpu/$r.toml" --runs-dir runs || echo "recipe $r failed (rerun to resume)"
    done
    "$PLANFORM" report --runs runs -c configs/report-cpu.toml -o docs/report
  else
    "$PLANFORM" sweep "configs/studies/$j.toml" --runs-dir runs --report-to "docs/studies/$j" \
      || echo "study $j: some points failed (rerun to retry them)"
  fi
done
