"""The callback example (statemachine/lock-wait.asl.json) executed for real in moto_server's
interpreter: waitForTaskToken -> cargo lambda watch -> lock-fn -> dynalite, and lock-fn's
SendTaskSuccess back to moto over HTTP. Executions wait in the lock's FIFO queue without polling."""
import json
import time

from conftest import owner_digest, status_change
from test_lock_state_machines import rule_matches, state_times

# The polling example's whole retry budget on LockBusy: 1 + 2 + 4 + 8 s (full jitter, MaxDelaySeconds 8).
POLLING_BUDGET_S = 15


def invokes(history: list) -> list:
    """The lock-fn payloads an execution sent, in order (one per Lambda task scheduled)."""
    return [
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]
        for e in history
        if e["type"] == "TaskScheduled"
    ]


def ops(history: list) -> list:
    return [p["op"] for p in invokes(history)]


def wait_until(check, timeout: float = 30, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_five_executions_queue_in_start_order_and_never_poll(sfn_server, lockfn, resource):
    sfn = sfn_server
    machine = sfn.create("lock-wait", "lock-wait.asl.json")
    lockfn.hold(resource, "blocker")
    arns = []
    for i in range(5):
        arns.append(sfn.start(machine, {"resource_id": resource, "work_seconds": 1}))
        # Started in sequence: each has joined the queue before the next starts.
        wait_until(lambda: lockfn.describe(resource)["queue_length"] == i + 1, what=f"execution {i} to queue")
    status = lockfn.describe(resource)
    assert [q["owner"] for q in status["queue"]] == [owner_digest(a) for a in arns]
    assert lockfn.release(resource, "blocker")

    results = [sfn.wait(arn, timeout=120) for arn in arns]
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 5, results
    histories = [sfn.history(arn) for arn in arns]
    fences = [json.loads(r["output"])["lock"]["fence"] for r in results]
    assert fences == sorted(fences) and len(set(fences)) == 5, f"granted in start order: {fences}"
    works = [state_times(h, "Work") for h in histories]
    for (a_in, a_out), (b_in, b_out) in zip(works, works[1:]):
        assert a_out <= b_in, f"work overlapped or out of order: {a_in}-{a_out} then {b_in}-{b_out}"
    for arn, h in zip(arns, histories):
        # However long it waited: one acquire (woken by callback) and one release.
        assert ops(h) == ["acquire", "release"], (arn, ops(h))
        acquire, release = invokes(h)
        assert acquire["task_token"] and acquire["owner"] == arn
        assert release["fence"] == json.loads(results[arns.index(arn)]["output"])["lock"]["fence"]
    assert lockfn.describe(resource)["held"] is False


def test_waits_behind_a_holder_longer_than_any_retry_budget(sfn_server, lockfn, resource):
    sfn = sfn_server
    machine = sfn.create("lock-wait", "lock-wait.asl.json")
    blocker = lockfn.hold(resource, "blocker", duration_ms=120_000)
    arn = sfn.start(machine, {"resource_id": resource, "work_seconds": 0})
    wait_until(lambda: lockfn.describe(resource)["queue_length"] == 1, what="the execution to queue")
    time.sleep(POLLING_BUDGET_S + 3)
    assert sfn.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert ops(sfn.history(arn)) == ["acquire"], "it waits without polling"
    assert lockfn.release(resource, "blocker")
    result = sfn.wait(arn)
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["lock"]["fence"] == blocker["fence"] + 1, "handed over"
    assert ops(sfn.history(arn)) == ["acquire", "release"]


def test_a_holder_that_never_releases_is_followed_after_its_lease_and_one_re_entry(sfn_server, lockfn, resource):
    # Nobody hands the lock over when a holder dies: the waiting task times out (TimeoutSeconds,
    # 6 s here), comes back with a new token, finds the lock free and is sent the grant at once.
    # The holder's 4 s lease leaves a loaded machine seconds to deliver the first acquire.
    sfn = sfn_server

    def short_timeout(asl):
        asl["States"]["AcquireLock"]["TimeoutSeconds"] = 6
        asl["States"]["AcquireLock"]["Parameters"]["Payload"]["wait_ms"] = 15_000
        return asl

    machine = sfn.create("lock-wait-short", "lock-wait.asl.json", short_timeout)
    blocker = lockfn.hold(resource, "crashed-holder", duration_ms=4_000)
    started = time.time()
    arn = sfn.start(machine, {"resource_id": resource, "work_seconds": 0})
    wait_until(lambda: lockfn.describe(resource)["queue_length"] == 1,
               what="the execution to queue while the holder's lease runs")
    result = sfn.wait(arn, timeout=40)
    took = time.time() - started
    assert result["status"] == "SUCCEEDED", result
    assert ops(sfn.history(arn)) == ["acquire", "acquire", "release"], "one timeout, one re-entry"
    assert json.loads(result["output"])["lock"]["fence"] > blocker["fence"]
    assert 6 <= took < 6 + 10, f"ended within TimeoutSeconds plus the re-entry: {took:.1f} s"


def test_an_aborted_waiter_is_taken_out_of_the_queue_by_the_cleanup(sfn_server, lockfn, resource):
    # moto does not stop a task that waits for a token, so the abort is the cleanup's event: the
    # cleanup's cancel takes the dead execution out of the queue and the next one is served.
    sfn = sfn_server
    machine = sfn.create("lock-wait", "lock-wait.asl.json")
    cleanup = sfn.create("lock-cleanup", "lock-cleanup.asl.json")
    lockfn.hold(resource, "blocker")
    payload = {"resource_id": resource, "work_seconds": 0}
    dead = sfn.start(machine, payload)
    wait_until(lambda: lockfn.describe(resource)["queue_length"] == 1, what="the first execution to queue")
    alive = sfn.start(machine, payload)
    wait_until(lambda: lockfn.describe(resource)["queue_length"] == 2, what="the second execution to queue")
    sfn.sfn.stop_execution(executionArn=dead, error="Operator", cause="aborted while queued")

    event = status_change(dead, machine, payload)
    assert rule_matches(machine, event), "the template's EventBridge rule matches this event"
    done = sfn.wait(sfn.start(cleanup, event))
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"cancelled": True, "released": False}
    status = lockfn.describe(resource)
    assert [q["owner"] for q in status["queue"]] == [owner_digest(alive)], "only the live one waits"

    assert lockfn.release(resource, "blocker")
    result = sfn.wait(alive)
    assert result["status"] == "SUCCEEDED", result
    assert ops(sfn.history(alive)) == ["acquire", "release"]
