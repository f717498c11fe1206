#!/usr/bin/env bash
# The local stack: dynalite (DynamoDB), optional moto (Step Functions, server mode), `cargo lambda
# watch` (Lambda Invoke/Runtime API emulator) and prebuilt lock-fn processes, all on 127.0.0.1,
# started and stopped by PID through one launcher (test-support's dlm-stack, which the process
# fault suite uses in-process too).
#
#   bash scripts/stack.sh up [--functions N] [--echo N] [--release] [--moto] [--dynalite-path DIR]
#   bash scripts/stack.sh down
#   source .stack/env        # endpoints, credentials, DLM_FUNCTION, and `dlm` on PATH
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${DLM_STACK_DIR:-$ROOT/.stack}"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

log() { printf '[stack] %s\n' "$*" >&2; }

launcher() { # the dlm-stack binary, built when missing
  local bin
  bin="$(cd "$ROOT" && cargo_target_dir)/debug/dlm-stack"
  [ -x "$bin" ] || (cd "$ROOT" && cargo build -q -p test-support --bin dlm-stack)
  echo "$bin"
}

up() {
  local functions=2 echo=0 profile=debug moto=0 dynalite_path=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --functions) functions=$2; shift 2 ;;
      --echo) echo=$2; shift 2 ;;
      --release) profile=release; shift ;;
      --moto) moto=1; shift ;;
      --dynalite-path) dynalite_path=$2; shift 2 ;;
      *) log "unknown option $1"; exit 2 ;;
    esac
  done
  bash "$ROOT/scripts/tools.sh"
  local target_dir
  target_dir=$(cd "$ROOT" && cargo_target_dir)
  local build=(cargo build -q -p lock-fn --bin lock-fn -p lock-client --bin dlm -p test-support --bin dlm-stack)
  [ "$echo" -gt 0 ] && build+=(-p bench --bin echo-fn)
  [ "$profile" = release ] && build+=(--release)
  if [ ! -x "$target_dir/$profile/lock-fn" ]; then
    log "building lock-fn and dlm ($profile; the first build takes 2-5 minutes and about 2 GB in target/)"
  else
    log "building lock-fn and dlm ($profile)"
  fi
  (cd "$ROOT" && "${build[@]}")
  local args=(up --state "$STATE" --functions "$functions" --lock-fn-bin "$target_dir/$profile/lock-fn"
              --dynalite-cli "$DLM_DYNALITE_CLI" --table "${LOCK_TABLE:-dynamo_dlm_locks}")
  [ "$echo" -gt 0 ] && args+=(--echo "$echo" --echo-fn-bin "$target_dir/$profile/echo-fn")
  [ "$moto" = 1 ] && args+=(--moto-server "$DLM_MOTO_SERVER")
  [ -n "$dynalite_path" ] && args+=(--dynalite-path "$dynalite_path")
  "$target_dir/$profile/dlm-stack" "${args[@]}"
  mkdir -p "$STATE/bin"
  ln -sf "$target_dir/$profile/dlm" "$STATE/bin/dlm"
  cat >>"$STATE/env" <<ENV
export DLM_PY_DLM1=$DLM_PY_DLM1 DLM_PY_DLM2=$DLM_PY_DLM2 DLM_PY_TOOLS=$DLM_PY_TOOLS
export PATH="$STATE/bin:$DLM_TOOLS/venv-tools/bin:\$PATH"
ENV
  log "use it:  source ${STATE#"$PWD"/}/env && dlm status my-resource"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) "$(launcher)" down --state "$STATE"; rm -rf "$STATE/bin"; log "stopped" ;;
  *) echo "usage: $0 up [--functions N] [--echo N] [--release] [--moto] [--dynalite-path DIR] | down" >&2; exit 2 ;;
esac
