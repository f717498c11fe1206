"""dynamo-dlm 1.0's own README examples, read from the installed package's METADATA at test time,
run with only their import line changed (`import dynamo_dlm as dlm` -> `import dynamo_dlm_fn as
dlm`), against lock-fn. Each must really take and release a lock: every invoke the package sends is
recorded, and the lock is free with nobody queued afterwards."""
import json
import os
import re
import subprocess
import threading

import pytest

import dynamo_dlm_fn
import dynamo_dlm_fn.lock as lock_module
from dynamo_dlm_fn._invoke import Invoker

ORIGINAL_IMPORT = "import dynamo_dlm as dlm"
OUR_IMPORT = "import dynamo_dlm_fn as dlm"


def dynamo_dlm_1_readme_examples():
    python = os.environ.get("DLM_PY_DLM1")
    assert python, "DLM_PY_DLM1 (python with dynamo-dlm 1.0.0): source .stack/env"
    metadata = subprocess.run(
        [python, "-c", "from importlib.metadata import distribution as d; "
                       "x = d('dynamo-dlm'); print(x.version); print(x.read_text('METADATA'))"],
        check=True, capture_output=True, text=True).stdout
    version, text = metadata.split("\n", 1)
    assert version == "1.0.0", version
    return re.findall(r"```python\n(.*?)```", text, re.S)


EXAMPLES = dynamo_dlm_1_readme_examples()


def ported(code):
    assert code.count(ORIGINAL_IMPORT) == 1, code
    new = code.replace(ORIGINAL_IMPORT, OUR_IMPORT)
    # Nothing else differs from the published example.
    assert [a for a, b in zip(code.splitlines(), new.splitlines()) if a != b] == [ORIGINAL_IMPORT]
    return new


@pytest.fixture
def recorded(monkeypatch):
    """Every invoke any lock sends, with its answer (or error type)."""
    calls = []
    mutex = threading.Lock()
    real = Invoker.call

    def call(self, payload):
        try:
            answer = real(self, payload)
        except Exception as e:
            with mutex:
                calls.append((payload, type(e).__name__))
            raise
        with mutex:
            calls.append((payload, answer[0]))
        return answer

    monkeypatch.setattr(Invoker, "call", call)
    # The examples assign module defaults: restore them afterwards; forget earlier table warnings.
    monkeypatch.setattr(dynamo_dlm_fn, "DEFAULT_DURATION", dynamo_dlm_fn.DEFAULT_DURATION)
    monkeypatch.setattr(dynamo_dlm_fn, "DEFAULT_TABLE_NAME", dynamo_dlm_fn.DEFAULT_TABLE_NAME)
    monkeypatch.setattr(lock_module, "_warned_tables", set())
    return calls


def run_example(code):
    namespace = {"__name__": "dynamo_dlm_readme_example"}
    exec(compile(ported(code), "dynamo-dlm-1.0.0/README.md", "exec"), namespace)
    return namespace


def took_and_released(calls, resource_id, duration_ms):
    """The recorded invokes hold one grant of `resource_id` with this lease, then its release by
    the same grant (fence), answered released on lock-fn's clock after the grant."""
    grants = [a for p, a in calls if p["op"] == "acquire" and isinstance(a, dict) and a.get("acquired")]
    releases = [(p, a) for p, a in calls if p["op"] == "release"]
    assert len(grants) == 1, calls
    assert len(releases) == 1, calls
    grant, (rel_payload, rel_answer) = grants[0], releases[0]
    assert grant["resource_id"] == resource_id and grant["duration_ms"] == duration_ms, grant
    assert rel_payload["fence"] == grant["fence"] and rel_payload["owner"] == grant["owner"]
    assert rel_answer["released"] is True, rel_answer
    assert rel_answer["released_at_ms"] >= grant["acquired_at_ms"]
    return grant


def free_afterwards(resource_id):
    status = dynamo_dlm_fn.LockFunction().describe(resource_id)
    assert not status.held and status.queue_length == 0, status


def test_the_readme_has_the_four_examples_we_run():
    assert len(EXAMPLES) == 4
    assert all(ORIGINAL_IMPORT in code for code in EXAMPLES)


def test_acquire_then_release(stack, recorded):
    ns = run_example(EXAMPLES[0])
    took_and_released(recorded, ns["resource_id"], 10_000)
    assert ns["lock"].fence is not None and not ns["lock"].is_held()
    free_afterwards(ns["resource_id"])


def test_the_context_manager(stack, recorded):
    ns = run_example(EXAMPLES[1])
    grant = took_and_released(recorded, ns["resource_id"], 10_000)
    assert grant["fence"] > 0
    free_afterwards(ns["resource_id"])


def test_module_level_defaults_are_read_at_construction(stack, recorded):
    with pytest.warns(dynamo_dlm_fn.TableNameIgnoredWarning, match="my_dynamo_db_lock_table"):
        ns = run_example(EXAMPLES[2])
    lock = ns["lock"]
    assert (lock.duration, lock.table_name) == (5, "my_dynamo_db_lock_table")
    assert recorded == [], "constructing a lock sends nothing"
    # The lock the example built works, with the module's 5 s (lock-fn decides the table).
    with lock:
        assert lock.is_held()
    took_and_released(recorded, ns["resource_id"], 5_000)
    free_afterwards(ns["resource_id"])


def test_per_lock_overrides(stack, recorded):
    with pytest.warns(dynamo_dlm_fn.TableNameIgnoredWarning):
        ns = run_example(EXAMPLES[3])
    lock = ns["lock"]
    assert (lock.duration, lock.table_name) == (5, "my_dynamo_db_lock_table")
    assert dynamo_dlm_fn.DEFAULT_DURATION == 10, "a per-lock duration leaves the default alone"
    lock.acquire()
    assert lock.release() is True
    took_and_released(recorded, ns["resource_id"], 5_000)
    free_afterwards(ns["resource_id"])


def test_the_examples_also_run_on_dynamo_dlm_2_names(stack, recorded):
    """dynamo-dlm 2.1's two extra examples' keywords (concurrency, wait_forever) are accepted."""
    res = f"pyclient/readme2/{os.getpid()}-{threading.get_ident()}"
    lock1 = dynamo_dlm_fn.DynamoDbLock(res, concurrency=1, wait_forever=False)
    lock2 = dynamo_dlm_fn.DynamoDbLock(res, concurrency=1, wait_forever=False)
    lock1.acquire()
    with pytest.raises(dynamo_dlm_fn.LockNotAcquiredError) as busy:
        lock2.acquire()  # raises because wait_forever was False
    assert str(busy.value) == "LockBusyError: Failed to acquire immediately and wait_forever is false"
    assert lock1.release()
    sem = [dynamo_dlm_fn.DynamoDbLock(res + "/sem", concurrency=2, wait_forever=False) for _ in range(3)]
    sem[0].acquire()
    sem[1].acquire()  # second concurrent acquire
    with pytest.raises(dynamo_dlm_fn.LockNotAcquiredError):
        sem[2].acquire()  # both slots taken
    assert sem[0].release() and sem[1].release()
    assert json.dumps([p["op"] for p, _ in recorded]).count("release") == 3
