#!/usr/bin/env bash
# Re-introduces each defect in bench/defects/*.patch (defects reviews found, kept as reversible
# patches) and checks that the deterministic simulator catches it within DLM_SIM_SEEDS seeds
# (default 4000). Prints one line per defect with the first failing seed; exits 1 if any defect
# went uncaught. Usage: scripts/defects.sh [PATCH...]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${DLM_SIM_SEEDS:-4000}"
patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=(bench/defects/*.patch)
applied=""
undo() { [ -z "$applied" ] || git apply -R "$applied"; applied=""; }
trap undo EXIT
missed=0
for p in "${patches[@]}"; do
  if ! git apply "$p"; then
    echo "BROKEN  $(basename "$p" .patch): the patch no longer applies (rebase it on the code)"
    missed=1
    continue
  fi
  applied="$p"
  out=$(DLM_SIM_SEEDS="$seeds" DLM_SIM_STOP_AT_FIRST=1 DLM_SIM_NO_SHRINK=1 cargo test -q -p lock-fn --lib \
    sim::tests::every_seed_passes_the_history_check 2>&1 || true)
  undo
  name=$(basename "$p" .patch)
  if grep -q "failing seeds" <<<"$out"; then
    seed=$(grep -o "failing seeds[^]]*" <<<"$out" | grep -o "[0-9][0-9]*" | head -1)
    check=$(grep -E "^  [^- ]" <<<"$out" | head -1 | cut -c1-160 || true)
    echo "caught  $name: seed $seed:$check"
  elif ! grep -q "test result" <<<"$out"; then
    echo "BROKEN  $name: the patched code did not build or the test did not run"
    missed=1
  else
    echo "MISSED  $name in $seeds seeds"
    missed=1
  fi
done
exit $missed
