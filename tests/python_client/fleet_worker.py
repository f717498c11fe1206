"""The mixed fleet's critical section, and a Python dynamo-dlm 1.0 worker (test_mixed_fleet.py).

    python fleet_worker.py critical COUNTER LOG WHO HOLD_S
        one critical section (run under `dlm run`): read the counter, sleep, write counter+1, and
        append {"who","start","end","seen"} (wall-clock seconds) to LOG.
    python fleet_worker.py dynamo-dlm COUNTER LOG WHO HOLD_S ROUNDS RESOURCE TABLE
        ROUNDS times: dynamo_dlm.DynamoDbLock(RESOURCE, duration=5, table_name=TABLE), acquire,
        the critical section, release. Endpoint and credentials from the AWS_* environment.

Only the standard library here (and dynamo_dlm in the second form): it runs under any python.
"""
import json
import os
import sys
import time


def critical(counter, log, who, hold_s):
    start = time.time()
    with open(counter) as f:
        seen = int(f.read().strip() or 0)
    time.sleep(hold_s)
    with open(counter, "w") as f:
        f.write(str(seen + 1))
        f.flush()
        os.fsync(f.fileno())
    end = time.time()
    line = json.dumps({"who": who, "start": start, "end": end, "seen": seen}) + "\n"
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main(argv):
    mode, counter, log, who, hold_s = argv[1], argv[2], argv[3], argv[4], float(argv[5])
    if mode == "critical":
        critical(counter, log, who, hold_s)
    elif mode == "dynamo-dlm":
        rounds, resource, table = int(argv[6]), argv[7], argv[8]
        from dynamo_dlm import DynamoDbLock  # reads the environment at import
        for r in range(rounds):
            lock = DynamoDbLock(resource, duration=5, table_name=table)
            lock.acquire()
            try:
                critical(counter, log, f"{who}#{r}", hold_s)
            finally:
                lock.release()
            time.sleep(0.05)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
