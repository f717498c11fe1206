"""Every report of the project's suites, in one place: dlm-bench's results.json into BENCHMARKS.md
and SVG charts, and dlm-faults' faults.json into FAULTS.md.

Usage: python report.py RESULTS.json --markdown OUT.md --charts DIR
       python report.py --faults FAULTS.json --markdown OUT.md
"""
import argparse
import json
import os
import platform
import subprocess
from pathlib import Path


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "?"


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except Exception:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem}, {platform.system()} {platform.release()}"


def versions():
    tools = os.environ.get("DLM_TOOLS", str(Path.home() / ".cache/dynamo-dlm-rs"))
    dynalite = "?"
    try:
        dynalite = json.load(open(f"{tools}/node/node_modules/dynalite/package.json"))["version"]
    except Exception:
        pass
    return {
        "rustc": sh("rustc", "--version"),
        "cargo-lambda": sh("cargo", "lambda", "--version"),
        "dynalite": dynalite,
        "node": sh("node", "--version"),
        "python": platform.python_version(),
        "dynamo-dlm": "1.0.0 and 2.1.0 (PyPI)",
    }


def charts(r, out: Path):
    import matplotlib  # only the benchmark report draws charts (DLM_WITH_BENCH installs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    c = r["cycle"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("samples_ours_ms", "acquire+release through lock-fn"), ("samples_floor_ms", "floor: bare put+delete + 2 echo invokes")):
        xs = sorted(c[key])
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.plot(xs, ys, label=label)
    ax.set_xlabel("cycle latency (ms)")
    ax.set_ylabel("fraction of cycles")
    ax.set_xlim(0, max(c["ours"]["p99_ms"], c["floor_p99_ms"]) * 1.3)
    ax.set_title("Uncontended cycle latency (CDF)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "cycle-latency.svg")
    plt.close(fig)

    rows = r["contention"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 5))
    names = [f"{x['variant']} ({x['workers']} w)" for x in rows]
    colors = ["#2b7bba" if "queue" in n else "#7aa6c2" if n.startswith("ours") else "#c0504d" for n in names]
    for a, key, label in (
        (axes[0], "grants_per_s", "grants per second (higher is better)"),
        (axes[1], "failed_writes_per_grant", "failed writes per grant (lower is better)"),
        (axes[2], "jain", "Jain's fairness index (1 = fair)"),
    ):
        a.barh(names, [x[key] for x in rows], color=colors)
        a.set_xlabel(label)
        a.grid(axis="x", alpha=0.3)
    axes[3].barh(names, [x["handoff"]["p50_ms"] for x in rows], color=colors)
    axes[3].set_xlabel("median handoff, ms (lower is better)")
    axes[3].grid(axis="x", alpha=0.3)
    for a in axes[1:]:
        a.set_yticklabels([])
    fig.suptitle(f"One resource, {r['critical_section_ms']} ms critical sections")
    fig.tight_layout()
    fig.savefig(out / "contention.svg")
    plt.close(fig)


def fmt(x, digits=2):
    return f"{x:.{digits}f}"


def markdown(r, chart_dir: Path, md_path: Path):
    c, s, st = r["cycle"], r["spread"], r["startup"]
    rows = r["contention"]
    write_rt = c["bare_put_delete"]["p50_ms"] / 2
    invoke_rt = c["echo_pair"]["p50_ms"] / 2
    limit = 1000 / (r["critical_section_ms"] + write_rt + invoke_rt)

    def best_dlm(workers):
        return max(x["grants_per_s"] for x in rows if x["variant"].startswith("dynamo-dlm") and x["workers"] == workers)

    queues = [x for x in rows if x["variant"].startswith("ours, queue")]
    q_plain = [x for x in queues if x["variant"] == "ours, queue"]
    targets = [
        ("cycle p50 <= 1.3x floor", c["ratio_p50"] <= 1.3, f"{fmt(c['ratio_p50'])}x"),
    ]
    for x in queues:
        label = f"{x['variant']}, {x['workers']} workers"
        ratio = x["grants_per_s"] / best_dlm(x["workers"])
        targets.append((f"grants/s >= 5x the better dynamo-dlm ({label})", ratio >= 5, f"{fmt(ratio)}x ({fmt(x['grants_per_s'], 1)} vs {fmt(best_dlm(x['workers']), 1)})"))
    for x in q_plain:
        label = f"{x['workers']} workers"
        targets += [
            (f"failed writes per grant <= 0.5 ({label})", x["failed_writes_per_grant"] <= 0.5, fmt(x["failed_writes_per_grant"])),
            (f"Jain's index >= 0.95 ({label})", x["jain"] >= 0.95, f"{fmt(x['jain'], 3)} (grants per worker {x['worker_grants_min']} to {x['worker_grants_max']})"),
            (f"median handoff <= 3 bare write round trips ({label})", x["handoff"]["p50_ms"] <= 3 * write_rt, f"{fmt(x['handoff']['p50_ms'])} ms vs {fmt(3 * write_rt)} ms"),
            (f"grants/s >= 80% of the handoff limit ({label})", x["grants_per_s"] >= 0.8 * limit, f"{fmt(100 * x['grants_per_s'] / limit, 0)}% of {fmt(limit, 0)}"),
        ]
    sem = r.get("semaphore", [])
    sem_ours = [x for x in sem if x["variant"].startswith("ours")]
    sem_dlm = [x for x in sem if x["variant"].startswith("dynamo-dlm")]
    if sem_ours and sem_dlm:
        ratio = sem_ours[0]["grants_per_s"] / max(sem_dlm[0]["grants_per_s"], 1e-9)
        targets.append(("semaphore grants/s >= 5x dynamo-dlm 2.1.0 concurrency=4 (32 workers, limit 4)", ratio >= 5, f"{fmt(ratio)}x ({fmt(sem_ours[0]['grants_per_s'], 1)} vs {fmt(sem_dlm[0]['grants_per_s'], 1)})"))
        targets.append(("semaphore never above its limit (lock-fn's clock)", all(x["overlaps"] == 0 for x in sem), f"at most {sem_ours[0].get('most_at_once')} at once"))
    targets.append(("no overlapping grants", all(x["overlaps"] == 0 for x in rows), str(sum(x["overlaps"] for x in rows))))
    rel = os.path.relpath(chart_dir, md_path.parent)
    v = versions()
    lines = [
        "# Benchmarks",
        "",
        f"{'Quick run (CI smoke test; numbers indicative only).' if r['quick'] else 'Full run.'} Rerun with `bash scripts/bench.sh` (full, several minutes) or `bash scripts/bench.sh --quick`.",
        "",
        f"- Machine: {machine()}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "- Stack: dynalite (DynamoDB, one Node process, in memory) + `cargo lambda watch --only-lambda-apis` with 40 release-built lock-fn processes and 2 echo-fn processes (echo-fn answers its payload on lock-fn's own invocation loop), all on 127.0.0.1; the harness (`bench/`) uses the real client (`lock-client`) through the real Invoke API. Every section runs on the same dynalite in one run.",
        "",
        "## Targets",
        "",
        "| target | met | measured |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {val} |" for name, ok, val in targets]
    lines += [
        "",
        "## (1) Uncontended acquire + release cycle",
        "",
        f"Interleaved, {c['ours']['n']} cycles of each kind after warm-up.",
        "",
        "| path | p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|",
        f"| ours: client -> emulator -> lock-fn -> dynalite | {fmt(c['ours']['p50_ms'])} | {fmt(c['ours']['p90_ms'])} | {fmt(c['ours']['p99_ms'])} |",
        f"| floor: bare conditional PutItem + DeleteItem (Rust -> dynalite) | {fmt(c['bare_put_delete']['p50_ms'])} | {fmt(c['bare_put_delete']['p90_ms'])} | {fmt(c['bare_put_delete']['p99_ms'])} |",
        f"| floor: two bare echo invokes through the emulator | {fmt(c['echo_pair']['p50_ms'])} | {fmt(c['echo_pair']['p90_ms'])} | {fmt(c['echo_pair']['p99_ms'])} |",
        f"| **ours / (writes + invokes)** | **{fmt(c['ratio_p50'])}x** | | **{fmt(c['ratio_p99'])}x** |",
        "",
        f"![cycle latency]({rel}/cycle-latency.svg)",
        "",
        f"## (2) Contention: one resource, {r['critical_section_ms']} ms critical sections",
        "",
        f"Every worker loops acquire -> {r['critical_section_ms']} ms of work -> release. Our variants run on private `cargo lambda watch` emulators (40 lock-fn processes, or 8 for the run with more waiters than instances) whose DynamoDB requests pass a counting proxy: reads, writes and failed (refused) writes per grant are what reached dynalite. dynamo-dlm runs as 4 processes of threads; its failed writes are its refused puts. *Handoff* is the time from a holder starting its release to the next holder starting work, on the workers' monotonic clock (µs resolution). The handoff limit 1 / (critical section + one bare write + one bare invoke round trip) is {fmt(limit, 0)} grants/s in this run (write {fmt(write_rt)} ms, invoke {fmt(invoke_rt)} ms, from section 1).",
        "",
        "| variant | workers | grants/s | vs better dynamo-dlm | of handoff limit | failed writes/grant | reads/grant | median handoff ms | p99 wait ms | grants per worker | Jain | overlaps |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {x['variant']} | {x['workers']} | {fmt(x['grants_per_s'], 1)} | {fmt(x['grants_per_s'] / best_dlm(x['workers']))}x | {fmt(100 * x['grants_per_s'] / limit, 0)}% | {fmt(x['failed_writes_per_grant'])} | {fmt(x['reads_per_grant'])} | {fmt(x['handoff']['p50_ms'])} | {fmt(x['wait']['p99_ms'], 0)} | {x['worker_grants_min']}-{x['worker_grants_max']} | {fmt(x['jain'], 3)} | {x['overlaps']} |"
        for x in rows
    ]
    lines += [
        "",
        f"![contention]({rel}/contention.svg)",
        "",
        "## (2b) Semaphore: one resource, limit 4, 32 workers",
        "",
        f"Every worker loops acquire -> {r['critical_section_ms']} ms of work -> release on one semaphore of 4: ours through the queue (40 lock-fn processes, counting proxy), dynamo-dlm 2.1.0 as `DynamoDbLock(..., concurrency=4)` (4 processes of threads, its slot items on a table with the `concurrency_id` sort key; its failed writes are refused puts). *most at once* is the largest number of overlapping grants on lock-fn's clock (history checker; not observable for dynamo-dlm).",
        "",
        "| variant | grants/s | failed writes/grant | reads/grant | writes/grant | p99 wait ms | grants per worker | Jain | most at once |",
        "|---|---|---|---|---|---|---|---|---|",
    ] + [
        f"| {x['variant']} | {fmt(x['grants_per_s'], 1)} | {fmt(x['failed_writes_per_grant'])} | {fmt(x['reads_per_grant'])} | {fmt(x['writes_per_grant'])} | {fmt(x['wait']['p99_ms'], 0)} | {x['worker_grants_min']}-{x['worker_grants_max']} | {fmt(x['jain'], 3)} | {x.get('most_at_once') or '-'} |"
        for x in sem
    ] + [
        "",
        f"## (3) Spread: {s['resources']} resources x {s['workers']} workers",
        "",
        f"{fmt(s['grants_per_s'], 0)} grants/s (each an acquire and a release: two invokes, two writes) against a bare write ceiling of {fmt(s['bare_write_cycles_per_s'], 0)} conditional put+delete cycles/s from the same number of Rust workers straight to dynalite: **{fmt(s['ratio'])}x** the ceiling ({fmt(s['busy_per_s'], 0)} refusals/s).",
        "",
        "## (4) Size and start-up",
        "",
        f"- arm64 deployment zip (`cargo lambda build --release --arm64 --output-format zip`): {fmt(st['zip_bytes'] / 1e6) + ' MB' if st['zip_bytes'] else 'not built in this run'}",
        f"- process start -> first answered invoke (x86_64 release build, this machine, {st['lock_fn_first_answer']['n']} runs): lock-fn p50 {fmt(st['lock_fn_first_answer']['p50_ms'], 1)} ms, p99 {fmt(st['lock_fn_first_answer']['p99_ms'], 1)} ms; bare echo-fn p50 {fmt(st['echo_fn_first_answer']['p50_ms'], 1)} ms",
        "",        "",
        "## Where the time goes, and what changed",
        "",
        "Profiled with `dlm-bench --only cycle|store|contention|semaphore` (see `bench/src/main.rs`), lock-fn's own per-operation `latency_ms` log field, and per-process CPU time from `/proc` during contention runs.",
        "",
        "- **Cycle.** The cycle is one invoke and one conditional write each way; inside lock-fn an acquire now takes about 3.3 ms and a release 1.9 ms (one DynamoDB request each), and `--only store` shows why: dynalite answers lock-fn's acquire UpdateItem in 2.8 ms and its release in 1.6 ms, against 0.9 ms for dynamo-dlm's bare conditional PutItem. The expressions grew with the safety work (release records and slots), the queue (`qx` in every try and release condition) and the callbacks (`wake_id`), and dynalite evaluates them in JavaScript; an earlier session measured 0.67 ms for the same UpdateItem with the shorter expressions. So the 1.3x target is missed by the store's own cost (2.2x at p50, 1.4x at p99 here); on DynamoDB an UpdateItem's latency does not grow with expression length like this, but that is not measurable on this machine.",
        "- **Contention (mutex).** The queue serves waiters in FIFO order (Jain 1.000, every worker within one grant of the others) with almost no failed writes (0.05-0.09 per grant, against 20-35 for dynamo-dlm and 4-11 for our own barging modes); its cost is reads (about 10 per grant: the head looks every 2 ms while a grant is young). Grants/s are 2.3-4.5x dynamo-dlm's, short of the 5x target: with 40 lock-fn processes, the emulator and dynalite sharing 2 cores, every look and handoff costs CPU the holders' own round trips need, and the handoff still takes one invoke plus a write and a read (median 7-8 ms against a 5 ms critical section). With more waiters than instances (32 on 8) the queue keeps its rate, where the barging in-function wait collapses (0.2 grants/s: the waits hold every instance and releases queue behind them).",
        "- **Semaphore.** 32 workers on one semaphore of 4: ours and dynamo-dlm 2.1.0 grant at about the same rate on this machine (1.0-1.1x across runs, against a 5x target), with 15x fewer failed writes (0.5 per grant against 8) and fairer service (Jain 0.999 against 0.985, p99 wait 1.3 s against 1.6 s); never more than 4 at once on lock-fn's clock. dynamo-dlm spreads its slots over 4 items and never reads; ours serializes every grant and release through the one item that makes N exact (a read and a conditional write per operation, 6.4 reads per grant from the in-function waiters' looks), which on 2 shared cores is the bound.",
        "- **Spread.** Each grant is two invokes through the emulator plus two writes, against two direct writes for the ceiling; the emulator and the 2 cores bound it.",
        "",
    ]
    md_path.write_text("\n".join(lines))


def faults_markdown(r: dict) -> str:
    """FAULTS.md from dlm-faults' report."""
    out = ["# Fault suite (process level)\n"]
    out.append("`bash scripts/faults.sh` (full; `--quick` in CI). 8 workers on 2 resources, 500 ms leases, through the real client -> `cargo lambda watch` -> 4 lock-fn processes -> dynalite (`--path`). Every grant is checked with the history checker.\n")
    out.append(f"Baseline {r['baseline_grants_per_s']:.0f} grants/s; {r['total_grants']} grants in all; **{r['violations']} violations**; {r['lost_leases']} leases ran out while held; {r['grants_with_unknown_end']} grants had an unknown end.\n")
    out.append("A grant has an *unknown end* when its release had to be sent again (its first invoke hung on a killed lock-fn process until the client's 15 s attempt timeout, or failed with an error) and the answer could no longer tell whether that first attempt had ended the lease (the release slot that would have told was reused by eight further grants). The lock is free either way; the checker judges such grants by what is still knowable: their start, their fence, and that they lasted at least until their release was first sent.\n")
    out.append("| fault | grants/s before (process faults) or during (store faults) | first grant after recovery | grants/s after | errors seen by callers (typed) | grants with unknown end |")
    out.append("|---|---|---|---|---|---|")
    for f in r["faults"]:
        if "grants_per_s_before_or_during" in f:
            out.append(f"| {f['fault']} | {f['grants_per_s_before_or_during']:.0f} | {f['first_grant_after_recovery_ms']} ms | {f['grants_per_s_after']:.0f} | {f['errors_seen_by_callers'] or 'none'} | {f.get('grants_with_unknown_end', 0)} |")
        else:
            out.append(f"| {f['fault']} | | granted {f['granted_ms_after_lease_end']} ms after the lease end (freed early: {f['freed_before_expiry']}) | | | |")
    i = r["proxy_injected"]
    out.append(f"\nThe proxy injected {i['throttles']} throttling answers, {i['http_500s']} HTTP 500s, {i['resets']} connection resets, {i['delays']} delays and {i['lost_answers']} lost answers (writes applied, answers dropped).")
    s = r.get("soak")
    if s:
        out.append(f"\nSoak: {s['seconds']} s of 1,000 resources x 64 workers: {s['grants']} grants, {s['invocations']} invocations, errors {s['errors'] or 'none'}; lock-fn RSS (4 processes) {s['lock_fn_rss_kb_start']} KB at start, {s['lock_fn_rss_kb_end']} KB at the end; fitted growth {s['bytes_per_invocation']} bytes per invocation (limit {s['max_bytes_per_invocation']:.0f}; flat: {s['memory_flat']}, a process vanished: {s['process_vanished']}). Every 10 s, KB: {', '.join(str(v) for v in s['lock_fn_rss_kb_every_10s'])}.")
        out.append("\nThe first full run found lock-fn's memory growing by about 140 bytes per invocation (4 processes: 40 MB -> 93 MB in 5 minutes) while its Rust heap stayed flat. heaptrack pointed at glibc's `setenv`: `lambda_runtime::run` sets `_X_AMZN_TRACE_ID` before every invocation and glibc keeps every value it was ever given. lock-fn now serves invocations with its own loop (`lock-fn/src/invocation_loop.rs`, tested against the emulator's Runtime API in `lock-fn/tests/invocation_loop.rs`), which never writes the environment; the soak above is with that loop.")
    out.append("\nThe same store faults also run in `cargo test` against the engine with 16 callers and the history checker per phase: `lock-fn/tests/faults.rs`.")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results", nargs="?")
    p.add_argument("--faults")
    p.add_argument("--markdown", required=True)
    p.add_argument("--charts")
    a = p.parse_args()
    if a.faults:
        Path(a.markdown).write_text(faults_markdown(json.load(open(a.faults))))
        print(f"[faults] wrote {a.markdown}")
        return
    r = json.load(open(a.results))
    charts(r, Path(a.charts))
    markdown(r, Path(a.charts), Path(a.markdown))
    print(f"[bench] wrote {a.markdown} and charts in {a.charts}")


if __name__ == "__main__":
    main()
