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
# shellcheck source=scripts/tools.sh
source scripts/tools.sh --env
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
cargo build --release -q -p lock-fn -p lock-client -p bench
target=$(cargo_target_dir)
soak=300; [ "$quick" = 1 ] && soak=15
"$target/release/dlm-faults" --workspace "$ROOT" --lock-fn-bin "$target/release/lock-fn" \
  --dlm-bin "$target/release/dlm" --dynalite-cli "$DLM_DYNALITE_CLI" --soak-secs "$soak" --out bench-out/faults.json
if [ "$quick" = 0 ]; then
  python3 - <<'PY' > FAULTS.md
import json
r = json.load(open("bench-out/faults.json"))
print("# Fault suite (process level)\n")
print("`bash scripts/faults.sh` (full; `--quick` in CI). 8 workers on 2 resources, 500 ms leases, through the real client -> `cargo lambda watch` -> 4 lock-fn processes -> dynalite (`--path`). Every grant is checked with the history checker.\n")
print(f"Baseline {r['baseline_grants_per_s']:.0f} grants/s; {r['total_grants']} grants in all; **{r['violations']} violations**; {r['lost_leases']} leases ran out while held; {r['grants_with_unknown_end']} grants had an unknown end.\n")
print("A grant has an *unknown end* when its release answer was `released: false` with `uncertain: true`: the release had to be sent again (its first invoke hung on a killed lock-fn process until the client's 15 s attempt timeout, or failed with an error), and by then more than eight further grants had reused the release slot that would have told. The lock is free either way; the checker judges such grants by their start and fence only, so they can never hide an overlap of the others.\n")
print("| fault | grants/s before (process faults) or during (store faults) | first grant after recovery | grants/s after | errors seen by callers (typed) | grants with unknown end |")
print("|---|---|---|---|---|---|")
for f in r["faults"]:
    if "grants_per_s_before_or_during" in f:
        print(f"| {f['fault']} | {f['grants_per_s_before_or_during']:.0f} | {f['first_grant_after_recovery_ms']} ms | {f['grants_per_s_after']:.0f} | {f['errors_seen_by_callers'] or 'none'} | {f.get('grants_with_unknown_end', 0)} |")
    else:
        print(f"| {f['fault']} | | granted {f['granted_ms_after_lease_end']} ms after the lease end (freed early: {f['freed_before_expiry']}) | | | |")
i = r["proxy_injected"]
print(f"\nThe proxy injected {i['throttles']} throttling answers, {i['http_500s']} HTTP 500s, {i['resets']} connection resets, {i['delays']} delays and {i['lost_answers']} lost answers (writes applied, answers dropped).")
s = r.get("soak")
if s:
    print(f"\nSoak: {s['seconds']} s of 1,000 resources x 64 workers: {s['grants']} grants, errors {s['errors'] or 'none'}; lock-fn RSS (4 processes) {s['lock_fn_rss_kb_start']} KB at start, max {s['lock_fn_rss_kb_max_first_half']} KB in the first half, max {s['lock_fn_rss_kb_max_second_half']} KB in the second, {s['lock_fn_rss_kb_end']} KB at the end (flat: {s['memory_flat']}). Every 10 s, KB: {', '.join(str(v) for v in s['lock_fn_rss_kb_every_10s'])}.")
    print("\nThe first full run found lock-fn's memory growing by about 140 bytes per invocation (4 processes: 40 MB -> 93 MB in 5 minutes) while its Rust heap stayed flat. heaptrack pointed at glibc's `setenv`: `lambda_runtime::run` sets `_X_AMZN_TRACE_ID` before every invocation and glibc keeps every value it was ever given. lock-fn now serves invocations with its own loop (`lock-fn/src/invocation_loop.rs`, tested against the emulator's Runtime API in `lock-fn/tests/invocation_loop.rs`), which never writes the environment; the soak above is with that loop.")
print("\nThe same store faults also run in `cargo test` against the engine with 16 callers and the history checker per phase: `lock-fn/tests/faults.rs`.")
PY
  echo "[faults] wrote FAULTS.md"
fi
