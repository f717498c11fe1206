"""A mixed fleet on ONE resource of one table (dynalite's `dynamo_dlm_locks`, lock-fn's table):
threads of this package, `dlm run` processes of the Rust CLI, and processes of the real Python
dynamo-dlm 1.0.0 (which writes the table directly and never queues) each run read-counter / sleep /
write-counter+1 critical sections on one shared counter file. No increment may be lost and no two
critical sections may overlap (wall-clock start/end, all on this one machine).

README.md: "Python dynamo-dlm 1.x clients can share the table with it, both ways" - dynamo-dlm sees
lock-fn's leases as held until their (rounded-up) whole-second end, lock-fn honours dynamo-dlm's
items by dynamo-dlm's own rule, and lock-fn's release writes `expires = floor(now)` so that a
dynamo-dlm client can take the lock at once.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import dynamo_dlm_fn as dlm
from . import fleet_worker

WORKER = str(Path(fleet_worker.__file__).resolve())
HOLD_S = 0.02


def test_this_package_rust_dlm_and_dynamo_dlm_share_one_lock(stack, resource, tmp_path):
    dlm_cli = shutil.which("dlm")
    assert dlm_cli, "dlm (the Rust CLI) on PATH: source .stack/env"
    python1 = os.environ["DLM_PY_DLM1"]
    counter, log = tmp_path / "counter", tmp_path / "log"
    counter.write_text("0")
    table = stack["table"]
    ours, ours_rounds = 3, 3
    rust, rust_rounds = 2, 3
    peers, peer_rounds = 2, 3
    total = ours * ours_rounds + rust * rust_rounds + peers * peer_rounds
    env = dict(os.environ)

    started = time.monotonic()

    def start_peer(i):
        return subprocess.Popen(
            [python1, WORKER, "dynamo-dlm", str(counter), str(log), f"dynamo-dlm-{i}",
             str(HOLD_S), str(peer_rounds), resource, table],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for_section(pred, what):
        # (whole lines only: a line being appended may be read half-written)
        while not any(pred(json.loads(line)["who"]) for line in
                      (log.read_text().split("\n")[:-1] if log.exists() else [])):
            assert time.monotonic() - started < 30, f"no {what} critical section within 30 s"
            assert all(p.poll() in (None, 0) for p in dynamo_dlm), [p.communicate() for p in dynamo_dlm]
            time.sleep(0.005)

    # Both ways, by construction: the lock-fn side starts once a dynamo-dlm client has held the
    # lock (lock-fn waiters then queue behind dynamo-dlm holders), and the second dynamo-dlm client
    # once a lock-fn client has (it then spins against lock-fn's holders and queue).
    dynamo_dlm = [start_peer(0)]
    wait_for_section(lambda who: who.startswith("dynamo-dlm"), "dynamo-dlm")
    errors = []

    def our_worker(i):
        try:
            for r in range(ours_rounds):
                with dlm.DynamoDbLock(resource, duration=5, table_name=table) as lock:
                    assert lock.is_held()
                    fleet_worker.critical(str(counter), str(log), f"pkg-{i}#{r}", HOLD_S)
                assert lock.last_release.released, lock.last_release
                time.sleep(random.uniform(0.02, 0.08))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def rust_worker(i):
        try:
            for r in range(rust_rounds):
                done = subprocess.run(
                    [dlm_cli, "run", resource, "--duration", "5s", "--wait", "60s", "--",
                     sys.executable, WORKER, "critical", str(counter), str(log), f"dlm-{i}#{r}",
                     str(HOLD_S)],
                    env=env, capture_output=True, text=True, timeout=90)
                assert done.returncode == 0, (done.returncode, done.stderr)
                time.sleep(random.uniform(0.02, 0.08))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = ([threading.Thread(target=our_worker, args=(i,)) for i in range(ours)] +
               [threading.Thread(target=rust_worker, args=(i,)) for i in range(rust)])
    for t in threads:
        t.start()
    wait_for_section(lambda who: not who.startswith("dynamo-dlm"), "lock-fn client's")
    dynamo_dlm.append(start_peer(1))
    for t in threads:
        t.join(timeout=90)
    for p in dynamo_dlm:
        _, err = p.communicate(timeout=90)
        assert p.returncode == 0, (p.returncode, err[-2000:])
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors

    sections = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(sections) == total, sections
    assert int(counter.read_text()) == total, "an increment was lost"
    sections.sort(key=lambda s: s["start"])
    for i, s in enumerate(sections):
        assert s["seen"] == i, ("lost or repeated increment", sections)
    for before, after in zip(sections, sections[1:]):
        assert after["start"] >= before["end"], ("overlapping critical sections", before, after)
    order = [s["who"].split("-")[0] for s in sections]
    assert set(order) == {"pkg", "dlm", "dynamo"}, order
    # Both ways: a lock-fn client took the lock after a dynamo-dlm client held it, and the reverse.
    lock_fn_side = [i for i, k in enumerate(order) if k != "dynamo"]
    dynamo_side = [i for i, k in enumerate(order) if k == "dynamo"]
    assert dynamo_side[0] < lock_fn_side[0] < dynamo_side[-1], order
    status = dlm.LockFunction().describe(resource)
    assert not status.held and status.queue_length == 0, status
    assert time.monotonic() - started < 80
