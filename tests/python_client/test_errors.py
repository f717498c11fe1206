"""Every error type mapped to its typed exception.

Driven for real through the local stack: InvalidRequest (bad input: empty id, lock-fn's reserved
prefix, a limit or lease out of range), LimitMismatch (concurrency mismatch both ways), LockBusy
(`on_busy="error"`, and a refused single try), an unknown function name (the emulator's 404), an
unreachable endpoint (a closed port), and the emulator's function-error form (HTTP 500).

With a stubbed boto3 client (botocore Stubber), real Lambda's forms that the local stack cannot
produce: a function error as HTTP 200 + FunctionError for each of the six stable types (Throttled,
StoreUnavailable and Misconfigured only here), with and without "may have been applied"; the
runtime's own errors; TooManyRequestsException; ServiceException; AccessDenied;
ResourceNotFoundException; an unreadable answer; resends and what they mean for release; and what
the waiting loop does with each (ride out throttling with the same owner, give up with a cancel
after a maybe-applied failure, nothing to cancel after an InvalidRequest)."""
import io
import json

import boto3
import pytest
from botocore.config import Config
from botocore.response import StreamingBody
from botocore.stub import Stubber

import dynamo_dlm_fn as dlm
from .support import Interposed
from dynamo_dlm_fn import errors
from dynamo_dlm_fn._invoke import _emulator_answers_as_lambda_does

MAYBE = "DynamoDB is unavailable: timeout; " + errors.MAYBE_APPLIED


# --- through the local stack ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    ({"resource_id": ""}, "resource_id"),
    ({"resource_id": ".lock-fn/budget"}, "resource_id"),
    ({"resource_id": "x", "concurrency": 101}, "limit"),
    ({"resource_id": "x", "concurrency": 0}, "limit"),
    ({"resource_id": "x", "duration": 13 * 3600}, "duration_ms"),
])
def test_invalid_requests_are_invalid_request_errors(stack, kwargs, field):
    lock = dlm.DynamoDbLock(**kwargs)
    with pytest.raises(dlm.InvalidRequestError) as e:
        lock.acquire()
    assert e.value.error_type == "InvalidRequest" and f"`{field}`" in e.value.error_message
    assert isinstance(e.value, ValueError) and isinstance(e.value, dlm.LockFunctionError)
    assert not e.value.may_have_been_applied
    assert str(e.value).startswith("InvalidRequestError: invalid request: field")


def test_a_limit_mismatch_is_a_limit_mismatch_error(stack, resource):
    semaphore = dlm.DynamoDbLock(resource, concurrency=3)
    semaphore.acquire()
    try:
        for other in (dlm.DynamoDbLock(resource, concurrency=2), dlm.DynamoDbLock(resource)):
            with pytest.raises(dlm.LimitMismatchError) as e:
                other.acquire(timeout=5)
            assert e.value.error_type == "LimitMismatch" and "limit 3" in e.value.error_message
            assert not e.value.may_have_been_applied
        status = semaphore.describe()
        assert status.limit == 3 and status.queue_length == 0, status
    finally:
        assert semaphore.release()


def test_lock_busy_as_an_error_and_as_a_refused_try(stack, resource, fn):
    holder = dlm.DynamoDbLock(resource)
    holder.acquire()
    try:
        with pytest.raises(dlm.LockBusyError) as e:
            fn.acquire(resource, on_busy="error")
        assert e.value.error_type == "LockBusy" and not e.value.may_have_been_applied
        assert isinstance(e.value, dlm.LockNotAcquiredError), "old `except` clauses catch it"
        with pytest.raises(dlm.LockBusyError):
            dlm.DynamoDbLock(resource, wait_forever=False).acquire()
        assert dlm.DynamoDbLock(resource).try_acquire() is False
        refusal = fn.acquire(resource)
        assert isinstance(refusal, dlm.Refusal) and refusal.holder_expires_at_ms == holder.expires_at_ms
    finally:
        holder.release()


def test_an_unknown_function_is_an_unknown_function_error(stack, resource):
    with pytest.raises(dlm.UnknownFunctionError, match="no-such-lock-fn"):
        dlm.DynamoDbLock(resource, function_name="no-such-lock-fn").acquire()
    # The emulator closes the connection after its 404: the next call on the shared client is
    # resent over a new one.
    lock = dlm.DynamoDbLock(resource)
    assert lock.try_acquire() and lock.release()


def test_an_unreachable_endpoint_is_an_endpoint_unreachable_error(stack, resource):
    closed = boto3.session.Session().client(
        "lambda", endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2))
    sent = []
    lock = dlm.DynamoDbLock(resource, lambda_client=Interposed(closed, before=lambda p: sent.append(p["op"])))
    with pytest.raises(dlm.EndpointUnreachableError) as e:
        lock.acquire(timeout=5)
    assert isinstance(e.value, ConnectionError) and e.value.may_have_been_applied
    # Sent three times in all; then, as the acquire may have been applied unseen, the wait is
    # given up with a cancel (which cannot get through either).
    assert sent == ["acquire"] * 3 + ["cancel"] * 3, sent


def test_the_emulators_function_error_form_is_read(stack, fn):
    """cargo lambda watch answers a function error with HTTP 500 and the error JSON (real Lambda:
    HTTP 200 + X-Amz-Function-Error); the package's after-call handler reads it as Lambda's."""
    with pytest.raises(dlm.InvalidRequestError):
        fn.invoke({"op": "acquire", "resource_id": ""})
    with pytest.raises(dlm.InvalidRequestError, match="unknown"):
        fn.invoke({"op": "nap", "resource_id": "x"})


# --- with a stubbed client ----------------------------------------------------------------------

def payload(obj):
    body = json.dumps(obj).encode()
    return StreamingBody(io.BytesIO(body), len(body))


def function_error_response(error_type, message):
    return {"StatusCode": 200, "FunctionError": "Unhandled",
            "Payload": payload({"errorType": error_type, "errorMessage": message})}


def ok(obj):
    return {"StatusCode": 200, "Payload": payload(obj)}


@pytest.fixture
def stubbed():
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
    sent = []
    client.meta.events.register("before-parameter-build.lambda.Invoke",
                                lambda params, **_: sent.append(json.loads(params["Payload"])))
    with Stubber(client) as stub:
        stub.sent = sent
        stub.client = client
        yield stub
        stub.assert_no_pending_responses()


def grant(owner, fence=7, resource="r", reacquired=False):
    return {"acquired": True, "resource_id": resource, "owner": owner, "fence": fence,
            "expires_at_ms": 2_000, "duration_ms": 1_000, "acquired_at_ms": 1_000,
            "reacquired": reacquired, "attempts": 1, "expires_in_ms": 1_000}


@pytest.mark.parametrize("error_type, cls, message, maybe", [
    ("InvalidRequest", dlm.InvalidRequestError, "invalid request: field `owner`: too long", False),
    ("LockBusy", dlm.LockBusyError, "\"r\" is held until 123", False),
    ("Throttled", dlm.ThrottledError, "DynamoDB is throttling: x", False),
    ("Throttled", dlm.ThrottledError, MAYBE, True),
    ("StoreUnavailable", dlm.StoreUnavailableError, "DynamoDB is unavailable: timeout", False),
    ("StoreUnavailable", dlm.StoreUnavailableError, MAYBE, True),
    ("Misconfigured", dlm.MisconfiguredError, "table dynamo_dlm_locks not found", False),
    ("LimitMismatch", dlm.LimitMismatchError, "\"r\" is a semaphore of limit 3", False),
    ("Runtime.ExitError", dlm.LockFunctionError, "exit status 101", True),
])
def test_real_lambdas_function_error_form(stubbed, error_type, cls, message, maybe):
    stubbed.add_response("invoke", function_error_response(error_type, message))
    with pytest.raises(cls) as e:
        dlm.LockFunction("f", lambda_client=stubbed.client).describe("r")
    assert type(e.value) is cls
    assert (e.value.error_type, e.value.error_message) == (error_type, message)
    assert e.value.may_have_been_applied is maybe
    assert len(stubbed.sent) == 1, "a function's answer is never resent"


def test_every_stable_error_type_has_its_class():
    assert dlm.ERROR_TYPES == ("InvalidRequest", "LockBusy", "Throttled", "StoreUnavailable",
                               "Misconfigured", "LimitMismatch")
    for name in dlm.ERROR_TYPES:
        e = errors.function_error(name, "m")
        assert type(e).__name__ == name + "Error" and e.error_type == name


def test_a_function_error_without_a_json_body(stubbed):
    stubbed.add_response("invoke", {"StatusCode": 200, "FunctionError": "Unhandled",
                                    "Payload": StreamingBody(io.BytesIO(b"boom"), 4)})
    with pytest.raises(dlm.LockFunctionError) as e:
        dlm.LockFunction("f", lambda_client=stubbed.client).describe("r")
    assert e.value.error_type == "Unhandled" and "boom" in e.value.error_message


@pytest.mark.parametrize("code, status, cls, sends", [
    ("TooManyRequestsException", 429, dlm.InvokeThrottledError, 3),
    ("ServiceException", 500, dlm.InvokeError, 3),
    ("AccessDeniedException", 403, dlm.InvokeError, 1),
    ("ResourceNotFoundException", 404, dlm.UnknownFunctionError, 1),
])
def test_invoke_api_failures(stubbed, code, status, cls, sends):
    for _ in range(sends):
        stubbed.add_client_error("invoke", service_error_code=code, service_message="m",
                                 http_status_code=status)
    with pytest.raises(cls) as e:
        dlm.LockFunction("f", lambda_client=stubbed.client).describe("r")
    assert type(e.value) is cls and code in str(e.value)
    assert len(stubbed.sent) == sends


def test_an_unreadable_answer_is_a_bad_response(stubbed):
    stubbed.add_response("invoke", {"StatusCode": 200,
                                    "Payload": StreamingBody(io.BytesIO(b"[1]"), 3)})
    stubbed.add_response("invoke", ok({"acquired": "maybe"}))
    fn = dlm.LockFunction("f", lambda_client=stubbed.client)
    with pytest.raises(dlm.BadResponseError):
        fn.describe("r")
    with pytest.raises(dlm.BadResponseError):
        fn.acquire("r")


def test_a_resend_after_a_lambda_5xx_carries_the_same_request(stubbed):
    stubbed.add_client_error("invoke", service_error_code="ServiceException", http_status_code=500)
    stubbed.add_response("invoke", ok(grant("o1", reacquired=True)))
    got = dlm.LockFunction("f", lambda_client=stubbed.client).acquire("r", owner="o1")
    assert isinstance(got, dlm.Grant) and got.fence == 7
    assert stubbed.sent[0] == stubbed.sent[1]


def test_a_resent_release_answering_false_is_uncertain(stubbed):
    stubbed.add_client_error("invoke", service_error_code="ServiceException", http_status_code=502)
    stubbed.add_response("invoke", ok({"released": False, "resource_id": "r"}))
    stubbed.add_response("invoke", ok({"released": False, "resource_id": "r"}))
    stubbed.add_response("invoke", function_error_response("Throttled", "x; " + errors.MAYBE_APPLIED))
    stubbed.add_response("invoke", ok({"released": False, "resource_id": "r"}))
    stubbed.add_response("invoke", ok({"released": False, "resource_id": "r", "uncertain": True}))
    fn = dlm.LockFunction("f", lambda_client=stubbed.client)
    assert fn.release("r", "o1", 7) == dlm.ReleaseOutcome(False, uncertain=True)
    assert fn.release("r", "o1", 7) == dlm.ReleaseOutcome(False, uncertain=False)
    assert fn.release("r", "o1", 7) == dlm.ReleaseOutcome(False, uncertain=True), "after maybe-applied"
    assert fn.release("r", "o1", 7) == dlm.ReleaseOutcome(False, uncertain=True), "lock-fn's own"


class Scripted:
    """A Lambda client answering from a script of functions of the request (`ClientError`s raised
    as botocore raises them), for sequences whose answers depend on what was sent (the owner)."""

    def __init__(self, *script):
        from types import SimpleNamespace
        self.meta = SimpleNamespace(events=SimpleNamespace(register=lambda *a, **k: None))
        self.script = list(script)
        self.sent = []

    def invoke(self, FunctionName, Payload):
        request = json.loads(Payload)
        self.sent.append(request)
        answer = self.script.pop(0)(request)
        if isinstance(answer, Exception):
            raise answer
        return answer


def lambda_error(code, status):
    from botocore.exceptions import ClientError
    return lambda _: ClientError({"Error": {"Code": code, "Message": "m"},
                                  "ResponseMetadata": {"HTTPStatusCode": status}}, "Invoke")


def test_a_blocking_acquire_rides_out_throttling_with_one_owner():
    client = Scripted(
        lambda _: function_error_response("Throttled", "DynamoDB is throttling"),
        lambda_error("TooManyRequestsException", 429),
        lambda_error("TooManyRequestsException", 429),
        lambda_error("TooManyRequestsException", 429),
        lambda _: ok({"acquired": False, "resource_id": "r", "retry_after_ms": 5,
                      "holder_expires_at_ms": None, "queued": True, "position": 1}),
        lambda req: ok(grant(req["owner"], reacquired=False)),
    )
    lock = dlm.DynamoDbLock("r", function_name="f", lambda_client=client)
    assert lock.acquire(timeout=10)
    assert [p["op"] for p in client.sent] == ["acquire"] * 6
    assert len({p["owner"] for p in client.sent}) == 1, "one owner for the whole wait"
    assert all(p.get("queue") is True for p in client.sent)
    assert lock.fence == 7 and not client.script


def test_a_refused_try_after_a_throttled_invoke_no_longer_promises_a_fresh_owner():
    client = Scripted(lambda_error("TooManyRequestsException", 429),
                      lambda req: ok(grant(req["owner"])))
    # (fresh_owner is sent only through the package's own client, whose retries are off)
    fn = dlm.LockFunction("f", lambda_client=client)
    fn._invoker.owns_client = True
    got, attempts = fn._acquire("r", owner="o1", fresh_owner=True, queue=False)
    assert attempts == 2 and got.fence == 7
    assert client.sent[0]["fresh_owner"] is True and "fresh_owner" not in client.sent[1]


def test_a_maybe_applied_failure_gives_the_wait_up_with_a_cancel(stubbed):
    stubbed.add_response("invoke", function_error_response("StoreUnavailable", MAYBE))
    stubbed.add_response("invoke", ok({"cancelled": True, "resource_id": "r", "released": True}))
    lock = dlm.DynamoDbLock("r", function_name="f", lambda_client=stubbed.client)
    with pytest.raises(dlm.StoreUnavailableError):
        lock.acquire()
    acquire, cancel = stubbed.sent
    assert (acquire["op"], cancel["op"]) == ("acquire", "cancel")
    assert cancel["owner"] == acquire["owner"]


def test_nothing_to_cancel_after_an_invalid_request(stubbed):
    stubbed.add_response("invoke", function_error_response("InvalidRequest", "field `x`"))
    with pytest.raises(dlm.InvalidRequestError):
        dlm.DynamoDbLock("r", function_name="f", lambda_client=stubbed.client).acquire()
    assert [p["op"] for p in stubbed.sent] == ["acquire"]


def test_the_emulator_handler_rewrites_only_the_emulators_forms():
    class Response:
        def __init__(self, status, content):
            self.status_code, self.content = status, content

    fe = Response(500, b'{"errorType":"LockBusy","errorMessage":"busy"}')
    parsed = {"Error": {"Code": "500"}, "ResponseMetadata": {"HTTPStatusCode": 500}}
    _emulator_answers_as_lambda_does(fe, parsed)
    assert fe.status_code == 200 and parsed["FunctionError"] == "Unhandled"
    assert json.loads(parsed["Payload"].read())["errorType"] == "LockBusy"

    missing = Response(404, b'{"detail":"...","title":"Missing function"}')
    parsed = {"Error": {"Code": "404"}}
    _emulator_answers_as_lambda_does(missing, parsed)
    assert parsed["Error"]["Code"] == "ResourceNotFoundException"

    for status, content in ((500, b'{"Type":"Service","message":"oops"}'), (500, b"<html>"),
                            (404, b'{"Type":"User","message":"Function not found"}')):
        r = Response(status, content)
        parsed = {"Error": {"Code": "X"}}
        _emulator_answers_as_lambda_does(r, parsed)
        assert r.status_code == status and parsed == {"Error": {"Code": "X"}}


def test_a_resent_try_that_is_refused_still_cancels():
    """A single try whose first invoke went unanswered and whose resend was refused: the first
    attempt may still grant after the refusal, so the try ends with a `cancel` for its owner; a
    try refused at its first invoke sends nothing more."""
    from botocore.exceptions import ConnectionClosedError
    refused = lambda req: ok({"acquired": False, "resource_id": "r", "retry_after_ms": 50,  # noqa: E731
                              "holder_expires_at_ms": None})
    cancelled = lambda req: ok({"cancelled": True, "resource_id": "r", "released": False})  # noqa: E731
    for lose_first in (True, False):
        script = ([lambda _: ConnectionClosedError(endpoint_url="http://x")] if lose_first else [])
        client = Scripted(*script, refused, cancelled)
        lock = dlm.DynamoDbLock("r", function_name="f", lambda_client=client)
        assert lock.try_acquire() is False
        ops = [p["op"] for p in client.sent]
        assert ops == (["acquire", "acquire", "cancel"] if lose_first else ["acquire"]), ops
        assert len({p["owner"] for p in client.sent}) == 1


def test_no_exception_in_a_failures_chain_carries_the_owner():
    """The resend loop's own exceptions (chained to the one raised) never hold the owner token."""
    def failing(req):
        from botocore.exceptions import ClientError
        return ClientError({"Error": {"Code": "ServiceException",
                                      "Message": f"boom for {req['owner']}"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}, "Invoke")
    client = Scripted(failing, failing, failing)
    fn = dlm.LockFunction("f", lambda_client=client)
    with pytest.raises(dlm.LockClientError) as info:
        fn.acquire("r", owner="SECRET-OWNER-TOKEN")
    seen, e = [], info.value
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    texts = [repr(x) + str(x) + repr(x.args) + repr(vars(x)) for x in seen]
    assert len(client.sent) == 3 and not any("SECRET-OWNER-TOKEN" in t for t in texts), texts


def test_a_resent_try_that_fails_says_so_and_cancels():
    """A single try whose first invoke went unanswered and whose resend lock-fn answered
    `Throttled` (which cannot know about the first attempt): the error says an earlier attempt may
    have been applied, and the try cancels its owner."""
    from botocore.exceptions import ConnectionClosedError
    client = Scripted(lambda _: ConnectionClosedError(endpoint_url="http://x"),
                      lambda _: function_error_response("Throttled", "DynamoDB is throttling"),
                      lambda req: ok({"cancelled": True, "resource_id": "r", "released": False}))
    lock = dlm.DynamoDbLock("r", function_name="f", lambda_client=client)
    with pytest.raises(dlm.ThrottledError) as info:
        lock.try_acquire()
    assert info.value.may_have_been_applied
    assert [p["op"] for p in client.sent] == ["acquire", "acquire", "cancel"]
    assert len({p["owner"] for p in client.sent}) == 1


def test_an_invoke_that_was_never_sent_is_not_taken_for_one_that_may_have_run():
    """No credentials: botocore fails before sending, so nothing can have been granted and the try
    sends no `cancel`. After an earlier attempt that may have run, the same failure says so (and
    the try cancels)."""
    from botocore.exceptions import ConnectionClosedError, NoCredentialsError
    client = Scripted(lambda _: NoCredentialsError())
    lock = dlm.DynamoDbLock("r", function_name="f", lambda_client=client)
    with pytest.raises(dlm.InvokeNotSentError) as info:
        lock.try_acquire()
    assert not info.value.may_have_been_applied
    assert isinstance(info.value, dlm.InvokeError), "old except clauses still catch it"
    assert [p["op"] for p in client.sent] == ["acquire"] and not client.script

    client = Scripted(lambda _: ConnectionClosedError(endpoint_url="http://x"),
                      lambda _: NoCredentialsError(),
                      lambda req: ok({"cancelled": True, "resource_id": "r", "released": False}))
    lock = dlm.DynamoDbLock("r", function_name="f", lambda_client=client)
    with pytest.raises(dlm.InvokeError) as info:
        lock.try_acquire()
    assert not isinstance(info.value, dlm.InvokeNotSentError)
    assert info.value.may_have_been_applied and errors.MAYBE_APPLIED in info.value.msg
    assert [p["op"] for p in client.sent] == ["acquire", "acquire", "cancel"]
    assert len({p["owner"] for p in client.sent}) == 1
