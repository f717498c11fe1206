#!/usr/bin/env bash
# Runs every test against the real local stack: installs what is missing, brings the stack up
# (dynalite, moto, cargo lambda watch + lock-fn processes), runs the Rust test suites and the
# Step Functions executions (pytest + moto's ASL interpreter), and always stops every server it
# started. Extra arguments go to `cargo test` (e.g. `-p lock-fn`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DLM_STACK_DIR="${DLM_STACK_DIR:-$ROOT/.stack-test}"
trap 'bash "$ROOT/scripts/stack.sh" down' EXIT
bash scripts/stack.sh up --moto --functions 4
# shellcheck disable=SC1091
source "$DLM_STACK_DIR/env"
log="$DLM_STACK_DIR/test.log"
: >"$log"
status=0
# The client's optional fenced writes are tested too (their tests need moto and dynalite) - unless
# the arguments pick packages (`-p lock-fn`), which may not include lock-client.
FEATURES="--features lock-client/fenced"
case " $* " in *" -p "* | *" --package "*) FEATURES="" ;; esac
echo "[test] building the test binaries (quietly; several minutes on a fresh clone)" >&2
cargo test --workspace --all-targets $FEATURES --no-run -q "$@" 2>&1 | tee -a "$log" || status=$?
{ cargo test --workspace --all-targets $FEATURES --no-fail-fast "$@" && cargo test --workspace --doc $FEATURES "$@"; } 2>&1 | grep -v '^\s*Compiling ' | tee -a "$log" || status=$?
"$DLM_PY_TOOLS" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall ./clients/python 2>&1 | tee -a "$log" || status=$?
"$DLM_PY_TOOLS" -m pytest -q -p no:cacheprovider tests/stepfunctions tests/boto3 tests/python_client 2>&1 | tee -a "$log" || status=$?
bash "$ROOT/scripts/stack.sh" down
trap - EXIT
# One closing line for the whole run, summed over every cargo test binary and pytest.
awk '/^test result:/ || /^(=+ )?[0-9]+ (passed|failed)/ {
       for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
