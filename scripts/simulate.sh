#!/usr/bin/env bash
# A long run of the deterministic simulator in a release build: N seeds (default 20000) starting at
# DLM_SIM_FIRST (default 0), reporting the failing seeds (replay one with DLM_SIM_SEED=<seed>
# cargo test -p lock-fn --lib sim::), the operations simulated and the seeds per second.
# Usage: scripts/simulate.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
start=$(date +%s)
DLM_SIM_SEEDS="$n" cargo test --release -q -p lock-fn --lib \
  sim::tests::every_seed_passes_the_history_check -- --nocapture 2>&1 | grep -v '^\s*$' | tail -20
end=$(date +%s)
echo "[simulate] $n seeds in $((end - start)) s (build included)"
