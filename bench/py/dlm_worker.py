"""A dynamo-dlm contention worker for the benchmark: THREADS threads, each looping acquire ->
critical section -> release on one resource until SECONDS have passed. Prints one JSON document:
{"grants": [{"thread": i, "called": epoch_s, "acq": epoch_s, "rel_start": epoch_s, "rel_end": epoch_s,
"puts": n}, ...]}.

Usage: python dlm_worker.py TABLE RESOURCE SECONDS THREADS CRITICAL_MS [CONCURRENCY [START_AT]]
(CONCURRENCY > 1: dynamo-dlm 2.x semaphores, `DynamoDbLock(..., concurrency=N)`; START_AT: epoch
seconds at which every worker process starts, so that start-up is not counted as run time.)
Endpoint and credentials come from the AWS_* environment (set before dynamo_dlm is imported).
"""
import json
import sys
import threading
import time

table, resource = sys.argv[1], sys.argv[2]
seconds, threads, critical_ms = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
concurrency = int(sys.argv[6]) if len(sys.argv) > 6 else 1
start_at = float(sys.argv[7]) if len(sys.argv) > 7 else None

import dynamo_dlm  # noqa: E402
from dynamo_dlm import DynamoDbLock  # noqa: E402

grants = []
mutex = threading.Lock()
if start_at is not None:
    time.sleep(max(0.0, start_at - time.time()))
deadline = time.time() + seconds


def worker(index):
    if concurrency > 1:
        lock = DynamoDbLock(resource, duration=10, table_name=table, concurrency=concurrency)
    else:
        lock = DynamoDbLock(resource, duration=10, table_name=table)
    puts = [0]
    original = lock._table.put_item

    def counted_put(**kwargs):
        puts[0] += 1
        return original(**kwargs)

    lock._table.put_item = counted_put
    while time.time() < deadline:
        puts[0] = 0
        called = time.time()
        lock.acquire()
        acq = time.time()
        time.sleep(critical_ms / 1000)
        rel_start = time.time()
        lock.release()
        rel_end = time.time()
        with mutex:
            grants.append({"thread": index, "called": called, "acq": acq, "rel_start": rel_start,
                           "rel_end": rel_end, "puts": puts[0]})


pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
print(json.dumps({"version": getattr(dynamo_dlm, "__version__", "?"), "grants": grants}))
