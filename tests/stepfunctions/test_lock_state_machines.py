"""The example state machine (statemachine/lock-example.asl.json) and its cleanup companion,
executed end to end: moto's ASL interpreter -> lambda:invoke -> cargo lambda watch -> lock-fn -> dynalite."""
import json
import threading
import time

import yaml

from conftest import ROOT, owner_digest, status_change


def busy_failures(history: list) -> int:
    return sum(
        1
        for e in history
        if e["type"] == "TaskFailed" and e.get("taskFailedEventDetails", {}).get("error") == "LockBusy"
    )


def state_times(history: list, state: str) -> tuple:
    entered = next(e["timestamp"] for e in history if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state)
    exited = next(e["timestamp"] for e in history if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == state)
    return entered, exited


def test_busy_then_granted_succeeds_and_releases(sfn, lockfn, resource):
    lockfn.hold(resource, "blocker")
    arn = sfn.start(sfn.example, {"resource_id": resource, "work_seconds": 0})

    def release_after_two_refusals():
        deadline = time.time() + 60
        while time.time() < deadline and busy_failures(sfn.history(arn)) < 2:
            time.sleep(0.05)
        lockfn.release(resource, "blocker")

    t = threading.Thread(target=release_after_two_refusals)
    t.start()
    result = sfn.wait(arn)
    t.join()
    history = sfn.history(arn)
    assert result["status"] == "SUCCEEDED", result
    assert busy_failures(history) >= 2, "the acquire must have been retried on LockBusy"
    output = json.loads(result["output"])
    assert output["lock"]["fence"] > 0
    assert output["release"]["released"] is True
    assert lockfn.describe(resource)["held"] is False


def test_always_busy_exhausts_retries_then_catch_releases_and_fails(sfn, lockfn, resource):
    blocker = lockfn.hold(resource, "blocker")
    arn = sfn.start(sfn.example, {"resource_id": resource, "work_seconds": 0})
    result = sfn.wait(arn)
    history = sfn.history(arn)
    assert result["status"] == "FAILED", result
    assert result.get("error") == "LockedWorkFailed"
    assert busy_failures(history) == 5, "one try and four retries (MaxAttempts 4)"
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert "ReleaseAfterFailure" in entered
    # Its release did not touch the real holder's lock.
    status = lockfn.describe(resource, owner="blocker")
    assert (status["held"], status["yours"], status["fence"]) == (True, True, blocker["fence"])
    assert status["owner"] == owner_digest("blocker"), "describe shows the digest, never the token"
    assert lockfn.release(resource, "blocker")


def test_two_executions_on_one_resource_work_one_after_the_other(sfn, lockfn, resource):
    arns = [sfn.start(sfn.example, {"resource_id": resource, "work_seconds": 1}) for _ in range(2)]
    results = [sfn.wait(arn) for arn in arns]
    assert [r["status"] for r in results] == ["SUCCEEDED", "SUCCEEDED"], results
    (a_in, a_out), (b_in, b_out) = sorted(state_times(sfn.history(arn), "Work") for arn in arns)
    assert a_out <= b_in, f"work overlapped: {a_in}-{a_out} and {b_in}-{b_out}"
    fences = sorted(json.loads(r["output"])["lock"]["fence"] for r in results)
    assert fences[0] < fences[1]
    assert lockfn.describe(resource)["held"] is False


def test_a_dead_executions_lock_is_freed_by_the_cleanup_path(sfn, lockfn, resource):
    payload = {"resource_id": resource, "work_seconds": 60}
    arn = sfn.start(sfn.example, payload)
    deadline = time.time() + 30
    while not any(e["type"] == "WaitStateEntered" for e in sfn.history(arn)):
        assert time.time() < deadline, "the execution never reached its work"
        time.sleep(0.05)
    sfn.sfn.stop_execution(executionArn=arn, error="Operator", cause="test aborts it mid-work")
    assert sfn.wait(arn)["status"] == "ABORTED"
    status = lockfn.describe(resource, owner=arn)
    assert (status["held"], status["yours"]) == (True, True), "the dead execution still holds the lock"

    event = status_change(arn, sfn.example, payload)
    assert rule_matches(sfn.example, event), "the template's EventBridge rule must match this event"
    succeeded = {**event, "detail": {**event["detail"], "status": "SUCCEEDED"}}
    assert not rule_matches(sfn.example, succeeded), "successful executions released their own lock"
    cleanup = sfn.wait(sfn.start(sfn.cleanup, event))
    assert cleanup["status"] == "SUCCEEDED", cleanup
    assert json.loads(cleanup["output"]) == {"cancelled": True, "released": True}
    assert lockfn.describe(resource)["held"] is False
    sent = [e for e in sfn.history_of(cleanup) if e["type"] == "TaskScheduled"]
    assert [json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"] for e in sent] == [
        {"op": "cancel", "resource_id": resource, "owner": arn}
    ], "one cancel with the dead execution's owner"

    # A cleanup that comes late (the lock already taken by someone else) releases nothing.
    lockfn.hold(resource, "next-holder")
    late = sfn.wait(sfn.start(sfn.cleanup, event))
    assert json.loads(late["output"]) == {"cancelled": False, "released": False}
    assert lockfn.describe(resource, owner="next-holder")["yours"] is True


def rule_matches(state_machine_arn: str, event: dict) -> bool:
    """Checks `event` against the EventBridge pattern of the cleanup application
    (examples/cleanup/template.yaml), watching `state_machine_arn`, with moto's pattern matcher."""
    from moto.events.models import EventPattern

    class CfnLoader(yaml.SafeLoader):
        pass

    CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: f"<{suffix}>")
    template = yaml.load((ROOT / "examples/cleanup/template.yaml").read_text(), Loader=CfnLoader)
    rule = template["Resources"]["LockCleanupStateMachine"]["Properties"]["Events"]["DeadExecutions"]
    pattern = rule["Properties"]["Pattern"]
    # The nesting stack's StateMachineArns parameter, a list the rule matches any of.
    assert pattern["detail"]["stateMachineArn"] == "<Ref>", pattern
    pattern["detail"]["stateMachineArn"] = ["arn:aws:states:us-east-1:123456789012:stateMachine:other", state_machine_arn]
    return EventPattern(json.dumps(pattern), pattern).matches_event(event)
