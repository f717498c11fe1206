#!/usr/bin/env bash
# Process-level fault suite on the real stack (its own dynalite with --path, cargo lambda watch, 4
# lock-fn processes): kill -9 of lock-fn processes (one, then all) and of dynalite, store faults
# injected by a proxy between lock-fn and dynalite (throttling, 500s, resets, latency, lost answers),
# a client killed while holding, then a soak of 1,000 resources x 64 workers that watches memory.
#   bash scripts/faults.sh           # full: 5-minute soak, writes FAULTS.md
#   bash scripts/faults.sh --quick   # CI: 15-second soak, writes bench-out/faults.json only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
quick=0; [ "${1:-}" = "--quick" ] && quick=1
bash scripts/tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
echo "[faults] building release binaries (lock-fn, dlm, dlm-faults)" >&2
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
cargo build --release -q -p lock-fn -p lock-client -p bench
target=$(cargo_target_dir)
soak=300; [ "$quick" = 1 ] && soak=15
"$target/release/dlm-faults" --lock-fn-bin "$target/release/lock-fn" \
  --dlm-bin "$target/release/dlm" --dynalite-cli "$DLM_DYNALITE_CLI" --soak-secs "$soak" --out bench-out/faults.json
if [ "$quick" = 0 ]; then
  python3 bench/report.py --faults bench-out/faults.json --markdown FAULTS.md
fi
