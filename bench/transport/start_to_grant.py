"""Start-to-first-grant of the `dlm` CLI, two builds side by side: spawn `dlm acquire` on a fresh
resource (1 s lease) and time it until it exits with the grant printed (process start, AWS config,
one invoke through the local emulator, one conditional write on dynalite). The builds alternate,
trial by trial, so that machine noise falls on both alike. Usage:
  python bench/transport/start_to_grant.py BEFORE_DLM AFTER_DLM [TRIALS] [CHART.svg]
(with the local stack's environment: `source .stack/env`; the chart needs matplotlib, e.g.
$DLM_PY_BENCH after `DLM_WITH_BENCH=1 bash scripts/tools.sh`)."""
import json
import os
import statistics
import subprocess
import sys
import time
import uuid


def one(dlm):
    resource = f"start-to-grant-{uuid.uuid4().hex[:12]}"
    t0 = time.perf_counter()
    out = subprocess.run([dlm, "acquire", resource, "--duration", "1s"],
                         capture_output=True, text=True, check=True)
    elapsed = (time.perf_counter() - t0) * 1000
    assert json.loads(out.stdout)["acquired"], out.stdout
    return elapsed


def main():
    before, after = sys.argv[1], sys.argv[2]
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    one(before), one(after)  # warm the page cache and the function processes
    times = {"before": [], "after": []}
    for i in range(trials):
        order = [("before", before), ("after", after)]
        if i % 2:
            order.reverse()
        for name, dlm in order:
            times[name].append(one(dlm))
    report = {}
    for name, ts in times.items():
        ts.sort()
        report[name] = {"p50_ms": round(statistics.median(ts), 1),
                        "p90_ms": round(ts[int(len(ts) * 0.9) - 1], 1),
                        "min_ms": round(ts[0], 1)}
    report["ratio_p50_after_over_before"] = round(
        report["after"]["p50_ms"] / report["before"]["p50_ms"], 3)
    report["size_bytes"] = {"before": os.path.getsize(before), "after": os.path.getsize(after)}
    print(json.dumps(report, indent=2))
    if len(sys.argv) > 4:
        chart(times, report, sys.argv[4])


def chart(times, report, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    names = ["before: aws-sdk-lambda", "after: reqwest + aws-sigv4"]
    a.boxplot([times["before"], times["after"]], showfliers=False, orientation="horizontal")
    a.set_yticks([1, 2], names)
    a.set_xlabel("dlm acquire: start to grant, ms (lower is better)")
    sizes = [report["size_bytes"]["before"] / 1e6, report["size_bytes"]["after"] / 1e6]
    b.barh(names, sizes, color=["#999999", "#3070b0"])
    b.set_xlabel("dlm release binary, MB (stripped)")
    b.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
