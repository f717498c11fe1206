#!/usr/bin/env bash
# The main job, locally: bring up the whole stack (installing what is missing), then let several
# `dlm run` workers contend for one resource and show that they ran one at a time with rising fences.
# The stack stays up afterwards for use by hand; `bash scripts/stack.sh down` stops it
# (or pass --down to stop it at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORKERS=${WORKERS:-4}
ROUNDS=${ROUNDS:-3}
down=0; [ "${1:-}" = "--down" ] && down=1

echo "[demo] bringing up the local stack. The first run installs the tools (dynalite, cargo-lambda," >&2
echo "[demo] moto, Python dynamo-dlm; about 1-2 minutes, 0.9 GB in ~/.cache/dynamo-dlm-rs) and builds" >&2
echo "[demo] lock-fn and dlm (2-5 minutes, about 2 GB in target/); later runs take seconds." >&2
bash scripts/stack.sh up --functions 2
# shellcheck disable=SC1091
source .stack/env   # endpoints, credentials, and dlm on PATH

work=$(mktemp -d)
echo 0 >"$work/counter"
resource="demo/counter-$(date +%s)"
echo
echo "== $WORKERS workers x $ROUNDS rounds: dlm run $resource -- (read counter; sleep 0.2; write counter+1)"
pids=()
for w in $(seq 1 "$WORKERS"); do
  (
    for _ in $(seq 1 "$ROUNDS"); do
      dlm run "$resource" --duration 5s -- sh -c '
        start=$(date +%s%3N); n=$(cat "$0/counter"); sleep 0.2; echo $((n+1)) >"$0/counter"
        echo "$start $(date +%s%3N) $DLM_FENCE $1" >>"$0/log"' "$work" "worker-$w"
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

python3 - "$work" "$WORKERS" "$ROUNDS" <<'PY'
import sys
work, workers, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = sorted(tuple(l.split()) for l in open(f"{work}/log"))
t0 = int(runs[0][0])
print(f"{'worker':<10} {'start ms':>9} {'end ms':>7} {'gap ms':>7} {'fence':>18}")
ok = True
gaps = []
for i, (start, end, fence, who) in enumerate(runs):
    gap = int(start) - int(runs[i-1][1]) if i else None
    if gap is not None:
        gaps.append(gap)
    print(f"{who:<10} {int(start)-t0:>9} {int(end)-t0:>7} {'' if gap is None else gap:>7} {fence:>18}")
    if i and (int(start) < int(runs[i-1][1]) or int(fence) <= int(runs[i-1][2])):
        ok = False
counter = int(open(f"{work}/counter").read())
print(f"counter = {counter} (expected {workers * rounds}); runs serialized with rising fences: {'yes' if ok else 'NO'}")
if gaps:
    # The gap: one run's end to the next one's start - dlm's release (which hands the lock over in
    # the same write), the next dlm learning of it, and starting its command.
    print(f"gaps between holders: largest {max(gaps)} ms, median {sorted(gaps)[len(gaps)//2]} ms")
sys.exit(0 if ok and counter == workers * rounds else 1)
PY
rm -rf "$work"
echo
dlm status "$resource"
if [ "$down" = 1 ]; then
  bash scripts/stack.sh down
else
  cat <<MSG

The stack is still up. Use it by hand (source .stack/env puts dlm on PATH):
  source .stack/env
  dlm acquire my-resource --duration 30s                 # prints owner and fence
  dlm status my-resource
  DLM_OWNER=OWNER dlm release my-resource --fence FENCE  # the token off the command line
  dlm run my-resource -- sh -c 'echo "fence \$DLM_FENCE"'
Stop it with:  bash scripts/stack.sh down
MSG
fi
