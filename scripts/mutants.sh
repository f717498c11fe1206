#!/usr/bin/env bash
# Mutation testing of lock-fn's files with the tests that run its engine on the local stack:
#   bash scripts/mutants.sh lock-fn/src/engine/wait_budget.rs [FILE ...] [-- TEST-ARGS]
#   e.g. bash scripts/mutants.sh lock-fn/src/engine/wait_budget.rs -- --lib --test stack
# Installs cargo-mutants (pinned) when missing, brings the stack up (dynalite, moto, emulator) and
# leaves the report in mutants.out/ (caught.txt, missed.txt, timeout.txt). Slow: one build and one
# test run per mutant. The engine-level tests see the mutated code; tests that invoke the stack's
# lock-fn processes see the built binary, not the mutant.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MUTANTS_VERSION=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q " $MUTANTS_VERSION"; then
  echo "[mutants] installing cargo-mutants $MUTANTS_VERSION" >&2
  cargo install --locked cargo-mutants --version "$MUTANTS_VERSION"
fi
files=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=(--file "$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#files[@]} -gt 0 ] || { echo "usage: $0 FILE [FILE ...] [-- TEST-ARGS]" >&2; exit 2; }
[ $# -gt 0 ] || set -- --lib
bash scripts/stack.sh up --functions 4 --moto
trap 'bash scripts/stack.sh down' EXIT
# shellcheck disable=SC1091
source .stack/env
cargo mutants -p lock-fn "${files[@]}" --timeout 300 -- "$@"
