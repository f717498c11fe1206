#!/usr/bin/env bash
# Benchmarks on the local stack (release builds), side by side with Python dynamo-dlm:
#   bash scripts/bench.sh           # full run: writes BENCHMARKS.md and bench/charts/*.svg (about 10 minutes
#                                   # after the release and arm64 builds)
#   bash scripts/bench.sh --quick   # short run (CI): writes bench-out/ only, so the harness never rots
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
DLM_WITH_BENCH=1 bash scripts/tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
export DLM_STACK_DIR="${DLM_STACK_DIR:-$ROOT/.stack-bench}"
cargo build --release -q -p lock-fn -p bench -p lock-client
target=$(cargo_target_dir)
zip="$target/lambda/lock-fn/bootstrap.zip"
if [ "$quick" = 0 ]; then
  echo "[bench] building the arm64 deployment zip (cargo lambda build --release --arm64)" >&2
  cargo lambda build --release --arm64 --output-format zip --bin lock-fn >&2
fi
trap 'bash "$ROOT/scripts/stack.sh" down' EXIT
# 32 workers that wait in-function hold 32 invocations at once: give the emulator enough instances.
bash scripts/stack.sh up --release --functions 40 --echo 2
# shellcheck disable=SC1091
source "$DLM_STACK_DIR/env"
out="$ROOT/bench-out"
args=(--workspace "$ROOT" --lock-fn-bin "$target/release/lock-fn" --echo-fn-bin "$target/release/echo-fn" --out "$out")
[ -f "$zip" ] && args+=(--zip "$zip")
[ "$quick" = 1 ] && args+=(--quick)
"$target/release/dlm-bench" "${args[@]}"
if [ "$quick" = 1 ]; then
  "$DLM_PY_BENCH" bench/report.py "$out/results.json" --markdown "$out/BENCHMARKS.md" --charts "$out"
else
  "$DLM_PY_BENCH" bench/report.py "$out/results.json" --markdown BENCHMARKS.md --charts bench/charts
fi
