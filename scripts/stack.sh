#!/usr/bin/env bash
# The local stack: dynalite (DynamoDB), optional moto, `cargo lambda watch` (Lambda Invoke/Runtime API
# emulator) and prebuilt lock-fn processes, all on 127.0.0.1, started and stopped by PID.
#
#   bash scripts/stack.sh up [--functions N] [--echo N] [--release] [--moto] [--dynalite-path DIR]
#   bash scripts/stack.sh down
#   source .stack/env        # endpoints, credentials and DLM_FUNCTION for dlm, tests and boto3
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${DLM_STACK_DIR:-$ROOT/.stack}"
# shellcheck source=scripts/tools.sh
source "$ROOT/scripts/tools.sh" --env

log() { printf '[stack] %s\n' "$*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() { # PORT NAME PIDFILE
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$3")" 2>/dev/null; then log "$2 exited; see its log in $STATE"; return 1; fi
    sleep 0.1
  done
  log "$2 did not open port $1 in 60 s"; return 1
}

start_bg() { # NAME LOGFILE CMD... : start in the background, record the PID
  local name=$1 logf=$2; shift 2
  "$@" >"$logf" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

stop_all() {
  [ -d "$STATE" ] || return 0
  local f pid
  for f in "$STATE"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
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
  stop_all
  mkdir -p "$STATE"
  local dport wport mport="" region=us-east-1
  dport=${DLM_DYNALITE_PORT:-$(free_port)}
  wport=${DLM_WATCH_PORT:-$(free_port)}
  local table=${LOCK_TABLE:-dynamo_dlm_locks}

  local dargs=(--host 127.0.0.1 --port "$dport" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0)
  [ -n "$dynalite_path" ] && dargs+=(--path "$dynalite_path")
  start_bg dynalite "$STATE/dynalite.log" node "$DLM_DYNALITE_CLI" "${dargs[@]}"
  wait_port "$dport" dynalite "$STATE/dynalite.pid"
  if [ "$moto" = 1 ]; then
    mport=${DLM_MOTO_PORT:-$(free_port)}
    start_bg moto "$STATE/moto.log" "$DLM_TOOLS/venv-tools/bin/moto_server" -H 127.0.0.1 -p "$mport"
    wait_port "$mport" moto "$STATE/moto.pid"
  fi

  cat >"$STATE/env" <<ENV
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dport
export AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$wport
export DLM_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$dport
export DLM_TEST_MOTO_ENDPOINT=${mport:+http://127.0.0.1:$mport}
export DLM_FUNCTION=lock-fn
export LOCK_TABLE=$table
export DLM_PY_DLM1=$DLM_PY_DLM1 DLM_PY_DLM2=$DLM_PY_DLM2 DLM_PY_TOOLS=$DLM_PY_TOOLS
export PATH="$DLM_TOOLS/venv-tools/bin:\$PATH"
ENV
  # shellcheck disable=SC1091
  source "$STATE/env"
  "$DLM_PY_TOOLS" "$ROOT/scripts/create_table.py" "$table"

  log "building lock-fn ($profile)"
  local build=(cargo build -p lock-fn --bin lock-fn --quiet)
  [ "$echo" -gt 0 ] && build+=(-p bench --bin echo-fn)
  [ "$profile" = release ] && build+=(--release)
  (cd "$ROOT" && "${build[@]}")
  local target_dir
  target_dir=$(cd "$ROOT" && cargo_target_dir)
  echo "export DLM_LOCK_FN_BIN=$target_dir/$profile/lock-fn" >>"$STATE/env"

  (cd "$ROOT" && start_bg watch "$STATE/watch.log" cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$wport")
  wait_port "$wport" "cargo lambda watch" "$STATE/watch.pid"
  local i
  for i in $(seq 1 "$functions"); do
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$wport/.rt/lock-fn" AWS_LAMBDA_FUNCTION_NAME=lock-fn \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_LOG_FORMAT=JSON \
    LOCK_TABLE="$table" RUST_LOG="${RUST_LOG:-info}" \
      start_bg "lock-fn-$i" "$STATE/lock-fn-$i.log" "$target_dir/$profile/lock-fn"
  done
  for i in $(seq 1 "$echo"); do
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$wport/.rt/echo-fn" AWS_LAMBDA_FUNCTION_NAME=echo-fn \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 \
      start_bg "echo-fn-$i" "$STATE/echo-fn-$i.log" "$target_dir/$profile/echo-fn"
  done
  log "up: dynalite :$dport${mport:+, moto :$mport}, cargo lambda watch :$wport, $functions lock-fn process(es); table $table"
  log "use it:  source $STATE/env && cargo run -q -p lock-client --bin dlm -- status my-resource"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) stop_all; log "stopped" ;;
  *) echo "usage: $0 up [--functions N] [--echo N] [--release] [--moto] [--dynalite-path DIR] | down" >&2; exit 2 ;;
esac
