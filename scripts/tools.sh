#!/usr/bin/env bash
# Installs (idempotently, pinned) every tool the local stack and the tests need, into one cache folder
# shared by all clones on this machine: $DLM_TOOLS (default ~/.cache/dynamo-dlm-rs). The paths to
# them are in scripts/env.sh (sourced by the other scripts).
#   bash scripts/tools.sh                  # install whatever is missing
#   DLM_WITH_SAM=1 bash scripts/tools.sh   # also aws-sam-cli and cfn-lint (template checks)
#   DLM_WITH_BENCH=1 bash scripts/tools.sh # also matplotlib (benchmark charts)
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DYNALITE_VERSION=4.0.0
CARGO_LAMBDA_VERSION=1.9.2
MOTO_VERSION=5.2.5
SAM_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
PYTEST_VERSION=8.3.5
MATPLOTLIB_VERSION=3.11.2
DYNAMO_DLM_V1=1.0.0
DYNAMO_DLM_V2=2.1.0
WHEEL_VERSION=0.45.1
SETUPTOOLS_VERSION=75.3.0

log() { printf '[tools] %s\n' "$*" >&2; }

# venv NAME MARKER PACKAGES... : a venv with exactly these pinned packages; MARKER records what is in it.
ensure_venv() {
  local name=$1; shift
  local dir="$DLM_TOOLS/$name" want="$*"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then return 0; fi
  log "installing $want into $dir (first run only; all tools take about 0.9 GB)"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  printf '%s' "$want" > "$dir/.installed"
}

install_all() {
  mkdir -p "$DLM_TOOLS/node"
  if [ ! -f "$DLM_DYNALITE_CLI" ] || ! grep -q "\"version\": \"$DYNALITE_VERSION\"" "$DLM_TOOLS/node/node_modules/dynalite/package.json"; then
    command -v npm >/dev/null || { log "npm missing: apt-get install -y nodejs npm"; apt-get update -qq && apt-get install -y -qq nodejs npm; }
    log "installing dynalite@$DYNALITE_VERSION"
    (cd "$DLM_TOOLS/node" && npm install --silent --no-audit --no-fund "dynalite@$DYNALITE_VERSION" >/dev/null)
  fi
  ensure_venv venv-tools "cargo-lambda==$CARGO_LAMBDA_VERSION" "moto[server,stepfunctions]==$MOTO_VERSION" "boto3" "pytest==$PYTEST_VERSION"
  # test.sh installs clients/python into venv-tools offline (--no-build-isolation): that needs
  # setuptools (not in venvs of Python 3.12+) and wheel in the venv.
  "$DLM_TOOLS/venv-tools/bin/python" -c 'import setuptools, wheel' 2>/dev/null ||
    "$DLM_TOOLS/venv-tools/bin/pip" install --quiet --disable-pip-version-check "wheel==$WHEEL_VERSION" "setuptools==$SETUPTOOLS_VERSION"
  ensure_venv venv-dlm1 "dynamo-dlm==$DYNAMO_DLM_V1"
  ensure_venv venv-dlm2 "dynamo-dlm==$DYNAMO_DLM_V2"
  if [ "${DLM_WITH_BENCH:-0}" = 1 ]; then
    ensure_venv venv-bench "matplotlib==$MATPLOTLIB_VERSION"
  fi
  if [ "${DLM_WITH_SAM:-0}" = 1 ]; then
    ensure_venv venv-sam "aws-sam-cli==$SAM_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  fi
}

install_all
