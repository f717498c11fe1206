"""A Python dynamo-dlm client driven by lock-fn's mixed-fleet tests.

Usage: python dlm_peer.py TABLE RESOURCE DURATION_S HOLD_S MODE
  MODE release: acquire (blocking), hold HOLD_S seconds, release.
  MODE expire:  acquire (blocking), hold HOLD_S seconds, exit without releasing.
Prints one JSON line per event on stdout: {"event": "acquired"|"released", "at_ms": epoch ms}.
Endpoint, region and credentials come from the AWS_* environment (set before dynamo_dlm is imported).
"""
import json
import sys
import time

table, resource, duration, hold, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]

from dynamo_dlm import DynamoDbLock  # noqa: E402  (reads the environment at import)


def say(event, **extra):
    print(json.dumps({"event": event, "at_ms": int(time.time() * 1000), **extra}), flush=True)


lock = DynamoDbLock(resource, duration=duration, table_name=table)
lock.acquire()
say("acquired")
time.sleep(hold)
if mode == "release":
    lock.release()
    say("released")
