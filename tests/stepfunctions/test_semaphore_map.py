"""The semaphore example (statemachine/semaphore-map.asl.json) executed for real in moto_server's
interpreter: a Map whose items each wait by callback for a slot of one semaphore shared by every
execution, then work and release."""
import json
import time

from conftest import owner_digest, status_change
from test_lock_state_machines import rule_matches


def work_intervals_overlap(histories: list) -> int:
    """The most Work steps (of all executions) running at once, from the history timestamps."""
    events = []
    for h in histories:
        for e in h:
            if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "Work":
                events.append((e["timestamp"], 1))
            if e["type"] == "WaitStateExited" and e["stateExitedEventDetails"]["name"] == "Work":
                events.append((e["timestamp"], -1))
    running = most = 0
    for _, step in sorted(events, key=lambda ev: (ev[0], ev[1])):  # exits first at equal times
        running += step
        most = max(most, running)
    return most


def test_two_executions_of_ten_items_never_run_more_than_the_limit(sfn_server, lockfn, resource):
    sfn = sfn_server
    machine = sfn.create("semaphore-map", "semaphore-map.asl.json")
    payload = {"resource_id": resource, "limit": 3, "work_seconds": 1, "items": list(range(10))}
    arns = [sfn.start(machine, payload) for _ in range(2)]
    results = [sfn.wait(arn, timeout=180) for arn in arns]
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 2, results
    fences = []
    for r in results:
        items = json.loads(r["output"])["results"]
        assert [i["item"] for i in items] == list(range(10)), "every item finished"
        assert all(i["released"] is True for i in items), items
        fences += [i["fence"] for i in items]
    assert len(set(fences)) == 20, "one grant (and fence) per item"
    histories = [sfn.history(arn) for arn in arns]
    most = work_intervals_overlap(histories)
    assert most <= 3, f"{most} items worked at once with limit 3"
    assert most == 3, "the semaphore admits up to its limit"
    status = lockfn.describe(resource)
    assert (status["limit"], status["holders"] if "holders" in status else [], status["queue_length"]) == (3, [], 0)


def test_a_dead_map_execution_is_cleaned_up_item_by_item(sfn_server, lockfn, resource):
    # Holders and waiters of an aborted Map execution are `<execution id>#<index>`: the cleanup
    # cancels each (moto cannot stop waiting tasks, so the abort is the cleanup's event).
    sfn = sfn_server
    machine = sfn.create("semaphore-map", "semaphore-map.asl.json")
    cleanup = sfn.create("lock-cleanup", "lock-cleanup.asl.json")
    payload = {"resource_id": resource, "limit": 2, "work_seconds": 600, "items": [0, 1, 2]}
    dead = sfn.start(machine, payload)
    deadline = time.time() + 30
    while True:
        status = lockfn.describe(resource)
        if len(status.get("holders", [])) == 2 and status["queue_length"] == 1:
            break
        assert time.time() < deadline, status
        time.sleep(0.05)
    assert {h["owner"] for h in status["holders"]} <= {owner_digest(f"{dead}#{i}") for i in range(3)}
    event = status_change(dead, machine, payload)
    assert rule_matches(machine, event)
    done = sfn.wait(sfn.start(cleanup, event))
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    # The two holders' slots are released; the waiter's place is left - or, when its cancel came
    # last, the slot handed to it meanwhile is released too.
    assert all(o["cancelled"] for o in out), out
    assert sum(o["released"] for o in out) in (2, 3), out
    status = lockfn.describe(resource)
    assert (status.get("holders", []), status["queue_length"]) == ([], 0), status
