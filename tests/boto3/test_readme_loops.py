"""README's boto3 waiting loops, run as written (only the function name and endpoint come from the
local stack's environment) by threads contending for one lock through the real Invoke API: no two
grants overlap on lock-fn's clock, fences rise, every thread is served, and a caller that gives up
leaves nothing behind."""
import io
import json
import os
import re
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.response import StreamingBody

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("#### With boto3 alone"):text.index("## Deploying")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _function_error_as_real_lambda_answers(http_response, parsed, **_):
    """cargo lambda watch answers a function error with HTTP 500; real Lambda with HTTP 200 and
    X-Amz-Function-Error (what the README's `call` reads)."""
    if http_response.status_code == 500 and b"errorType" in http_response.content:
        body = http_response.content
        http_response.status_code = 200
        parsed.clear()
        parsed.update(StatusCode=200, FunctionError="Unhandled",
                      Payload=StreamingBody(io.BytesIO(body), len(body)))


def load_readme():
    """The README's first block, defining call/acquire/release, with its example use cut off."""
    assert os.environ.get("AWS_ENDPOINT_URL_LAMBDA", "").startswith("http://127.0.0.1:"), (
        "run through `bash scripts/test.sh` (the local stack's environment)")
    code = readme_blocks()[0]
    definitions = code[:code.index('grant = acquire("orders/42")')]
    ns = {}
    exec(compile(definitions, "README.md", "exec"), ns)
    lam = boto3.client("lambda", region_name=os.environ.get("AWS_REGION", "us-east-1"),
                       config=Config(retries={"total_max_attempts": 1}, read_timeout=60,
                                     max_pool_connections=32))
    lam.meta.events.register("after-call.lambda.Invoke", _function_error_as_real_lambda_answers)
    ns["lam"] = lam
    return ns


def check_history(grants):
    """No overlap on lock-fn's clock, fences strictly rising in grant order."""
    grants.sort(key=lambda g: g["acquired_at_ms"])
    for before, after in zip(grants, grants[1:]):
        assert after["acquired_at_ms"] >= before["released_at_ms"], (before, after)
        assert after["fence"] > before["fence"], (before, after)


def contend(worker, threads, rounds):
    grants, errors = [], []
    lock = threading.Lock()

    def run(i):
        try:
            for _ in range(rounds):
                g = worker(i)
                with lock:
                    grants.append(g)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in ts), "a waiting loop hung"
    assert not errors, errors
    return grants


def test_the_owner_loop_serves_every_thread_one_at_a_time():
    ns = load_readme()
    resource = f"readme/{uuid.uuid4()}"

    def worker(i):
        grant = ns["acquire"](resource, duration_ms=10_000, timeout_s=60)
        try:
            time.sleep(0.005)
        finally:
            answer = ns["release"](grant)
        assert answer["released"], answer
        return {**grant, "released_at_ms": answer["released_at_ms"], "worker": i}

    grants = contend(worker, threads=6, rounds=4)
    assert len(grants) == 24
    check_history(grants)
    assert {g["worker"] for g in grants} == set(range(6))


def test_the_owner_less_loop_is_safe_and_serves_every_thread():
    ns = load_readme()
    block = readme_blocks()[1]
    resource = f"readme/{uuid.uuid4()}"

    def worker(i):
        local = dict(ns)
        exec(compile(block.replace('"orders/42"', repr(resource)), "README.md", "exec"), local)
        grant = local["grant"]
        time.sleep(0.005)
        answer = ns["release"](grant)
        assert answer["released"], answer
        return {**grant, "released_at_ms": answer["released_at_ms"], "worker": i}

    grants = contend(worker, threads=6, rounds=4)
    check_history(grants)
    assert {g["worker"] for g in grants} == set(range(6))
    status = ns["call"]({"op": "describe", "resource_id": resource})
    assert status["queue_length"] == 0, status


def test_a_caller_that_times_out_leaves_the_queue():
    ns = load_readme()
    resource = f"readme/{uuid.uuid4()}"
    holder = ns["acquire"](resource, duration_ms=20_000)
    with pytest.raises(TimeoutError):
        ns["acquire"](resource, duration_ms=20_000, timeout_s=0.5)
    status = ns["call"]({"op": "describe", "resource_id": resource})
    assert status["queue_length"] == 0, status
    ns["release"](holder)
    assert not ns["call"]({"op": "describe", "resource_id": resource})["held"]
