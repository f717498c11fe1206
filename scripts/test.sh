#!/usr/bin/env bash
# Runs every test against the real local stack: installs what is missing, brings the stack up
# (dynalite, moto, cargo lambda watch + lock-fn processes), runs the Rust test suites, and always
# stops every server it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DLM_STACK_DIR="${DLM_STACK_DIR:-$ROOT/.stack-test}"
trap 'bash "$ROOT/scripts/stack.sh" down' EXIT
bash scripts/stack.sh up --moto --functions 4
# shellcheck disable=SC1091
source "$DLM_STACK_DIR/env"
cargo test --workspace --all-targets --no-fail-fast "$@"
cargo test --workspace --doc
