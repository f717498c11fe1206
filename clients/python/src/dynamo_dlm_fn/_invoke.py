"""One request/response invocation of lock-fn through the Lambda Invoke API, and the mapping of
every failure to the package's typed exceptions (lock-client/src/invoke.rs in Python).

Function errors are recognised in real Lambda's form (HTTP 200 with ``X-Amz-Function-Error``:
boto3's ``FunctionError`` key) and in the form of the local emulator ``cargo lambda watch`` (HTTP
500 with the ``{"errorType", "errorMessage"}`` body, and HTTP 404 "Missing function" for an unknown
function): an ``after-call`` event handler on the Lambda client turns the emulator's answers into
real Lambda's before botocore raises, so one code path reads both. Real Lambda never answers an
Invoke with those bodies, so the handler changes nothing there.

Transport failures (connection refused or closed, a read timeout, Lambda throttling or a 5xx) are
resent a few times with the *same* request: every lock request is idempotent for its owner, so a
resend cannot make a second grant. The answer says how many invokes it took: more than one means an
earlier attempt may have run unseen (what a release needs to know to say ``uncertain``).
"""
from __future__ import annotations

import io
import json
import logging
import os
import random
import threading
import time
from typing import Any, Dict, Optional, Tuple

import boto3
from botocore.config import Config
from botocore.exceptions import (BotoCoreError, ClientError, HTTPClientError, NoCredentialsError,
                                 NoRegionError, ParamValidationError,
                                 PartialCredentialsError)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.response import StreamingBody

from .errors import (BadResponseError, EndpointUnreachableError, InvokeError,
                     InvokeNotSentError, InvokeThrottledError, LockClientError, LockFunctionError, MAYBE_APPLIED,
                     UnknownFunctionError, function_error)

_log = logging.getLogger("dynamo_dlm_fn")

#: How many times one request is sent when the transport fails (never after a function's answer).
TRANSPORT_ATTEMPTS = 3
#: The read timeout of the Lambda client this package builds. Longer than any in-function wait the
#: package asks for (a wait chunk is at most ``MAX_WAIT_CHUNK``) plus lock-fn's own work.
READ_TIMEOUT_S = 75.0
#: The longest in-function wait (``wait_ms``) one acquire invoke may ask for.
MAX_WAIT_CHUNK_S = 60.0

_HOOK_ID = "dynamo_dlm_fn.emulator_answers"


def _emulator_answers_as_lambda_does(http_response: Any, parsed: Dict[str, Any], **_: Any) -> None:
    """``after-call`` handler: the emulator's function error (HTTP 500 + error JSON) becomes real
    Lambda's (HTTP 200, ``FunctionError``, the JSON as ``Payload``); its "Missing function" 404
    becomes ``ResourceNotFoundException``. Other answers are left alone (a 200's body is a stream
    that must not be read here)."""
    status = getattr(http_response, "status_code", 200)
    if status not in (404, 500):
        return
    try:
        body = http_response.content
    except Exception:  # noqa: BLE001 - a stubbed response has no body to read
        return
    if not body:
        return
    if status == 500:
        try:
            obj = json.loads(body)
        except ValueError:
            return
        if isinstance(obj, dict) and isinstance(obj.get("errorType"), str):
            http_response.status_code = 200
            metadata = parsed.get("ResponseMetadata", {})
            parsed.clear()
            parsed.update(StatusCode=200, FunctionError="Unhandled",
                          Payload=StreamingBody(io.BytesIO(body), len(body)),
                          ResponseMetadata=metadata)
    elif b"Missing function" in body:
        parsed["Error"] = {"Code": "ResourceNotFoundException",
                           "Message": body.decode("utf-8", "replace")[:300]}


def install_emulator_handler(lambda_client: Any) -> None:
    """Registers the handler above on ``lambda_client`` (idempotent)."""
    lambda_client.meta.events.register("after-call.lambda.Invoke",
                                       _emulator_answers_as_lambda_does, unique_id=_HOOK_ID)


_shared_lock = threading.Lock()
_shared: Optional[Tuple[int, Any]] = None


def shared_lambda_client() -> Any:
    """The Lambda client of this process, built on first use: region, credentials and endpoint
    from the environment (``AWS_ENDPOINT_URL_LAMBDA`` is honoured), botocore's own retries off (the
    package resends itself, knowing what each resend means), a read timeout longer than the longest
    in-function wait. A forked child builds its own."""
    global _shared
    pid = os.getpid()
    with _shared_lock:
        if _shared is None or _shared[0] != pid:
            client = boto3.session.Session().client(
                "lambda",
                config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                              read_timeout=READ_TIMEOUT_S, connect_timeout=5,
                              max_pool_connections=64, tcp_keepalive=True))
            install_emulator_handler(client)
            _shared = (pid, client)
        return _shared[1]


class Invoker:
    """Invokes one function (name or ARN) through a Lambda client (the process's shared one when
    ``lambda_client`` is None). Thread-safe."""

    def __init__(self, function_name: str, lambda_client: Any = None) -> None:
        self.function_name = function_name
        self._client = lambda_client
        #: Whether the client is this package's own (botocore retries off): only then may an
        #: acquire promise lock-fn a fresh owner (a botocore resend would break the promise unseen).
        self.owns_client = lambda_client is None
        if lambda_client is not None:
            install_emulator_handler(lambda_client)

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else shared_lambda_client()

    def call(self, payload: Dict[str, Any],
             abandon: Optional[threading.Event] = None) -> Tuple[Dict[str, Any], int]:
        """Sends ``payload`` and returns lock-fn's answer (a JSON object) and how many invokes it
        took. Raises the typed errors of :mod:`dynamo_dlm_fn.errors`; an owner token in the payload
        never appears in their messages. Once ``abandon`` is set, a failed invoke is not resent
        (its caller stopped waiting for it: a late resend must not act for it)."""
        try:
            return self._call(payload, abandon)
        except LockClientError as e:
            error = e._scrub(payload.get("owner"))
        # Raised outside the handler and with no chain: the chained exceptions (the resend loop's)
        # still carry the unscrubbed text.
        error.__cause__ = None
        error.__context__ = None
        raise error

    def _call(self, payload: Dict[str, Any],
              abandon: Optional[threading.Event]) -> Tuple[Dict[str, Any], int]:
        body = json.dumps(payload).encode()
        attempt = 1
        while True:
            try:
                return self._answer(self._invoke_once(body)), attempt
            except LockFunctionError as e:
                if attempt > 1:
                    _after_resend(e)
                raise
            except InvokeNotSentError as e:
                if attempt > 1:
                    # Not sent now, but an earlier attempt may have run unseen.
                    raise InvokeError(f"{e.msg}; {MAYBE_APPLIED}") from None
                raise
            except _Transient as t:
                t.error._scrub(payload.get("owner"))
                if attempt >= TRANSPORT_ATTEMPTS or (abandon is not None and abandon.is_set()):
                    raise t.error from None
                _log.warning("invoke of %s failed (attempt %d); retrying: %s",
                             self.function_name, attempt, t.error.msg)
                if "fresh_owner" in payload:
                    # The failed invoke may have run: the owner may hold the lock now.
                    payload = {k: v for k, v in payload.items() if k != "fresh_owner"}
                    body = json.dumps(payload).encode()
                time.sleep((20 * attempt + random.uniform(0, 20)) / 1000)
                if abandon is not None and abandon.is_set():
                    raise t.error from None
                attempt += 1

    def _invoke_once(self, body: bytes) -> Tuple[bytes, Optional[str], int]:
        try:
            out = self.client.invoke(FunctionName=self.function_name, Payload=body)
            data = out["Payload"].read() if out.get("Payload") is not None else b""
            return data, out.get("FunctionError"), int(out.get("StatusCode", 200))
        except ClientError as e:
            raise self._client_error(e) from None
        except (HTTPClientError, BotoConnectionError) as e:
            # Connection refused/reset/closed, read timeout, an answer cut off: the invoke may have
            # run (its answer lost), so it is resent as it was.
            raise _Transient(EndpointUnreachableError(f"{type(e).__name__}: {e}")) from None
        except (NoCredentialsError, PartialCredentialsError, NoRegionError,
                ParamValidationError) as e:
            raise InvokeNotSentError(f"{type(e).__name__}: {e}") from None
        except BotoCoreError as e:
            if "IncompleteRead" in type(e).__name__ or "ReadTimeout" in type(e).__name__:
                raise _Transient(EndpointUnreachableError(f"{type(e).__name__}: {e}")) from None
            raise InvokeError(f"{type(e).__name__}: {e}") from None

    def _client_error(self, e: ClientError) -> Exception:
        err = e.response.get("Error", {})
        code = str(err.get("Code", ""))
        message = str(err.get("Message", "")) or str(e)
        status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        detail = f"{code or 'error'}: {message} (HTTP {status})"
        if code == "ResourceNotFoundException":
            return UnknownFunctionError(f"{self.function_name}: {detail}")
        if code in ("TooManyRequestsException", "ThrottlingException") or status == 429:
            return _Transient(InvokeThrottledError(detail))
        if code == "ServiceException" or status >= 500:
            return _Transient(InvokeError(detail))
        return InvokeError(detail)

    @staticmethod
    def _answer(sent: Tuple[bytes, Optional[str], int]) -> Dict[str, Any]:
        data, fn_error, status = sent
        try:
            obj = json.loads(data) if data else None
        except ValueError:
            obj = None
        if fn_error:
            if isinstance(obj, dict) and isinstance(obj.get("errorType"), str):
                raise function_error(obj["errorType"], str(obj.get("errorMessage", "")))
            raise function_error(
                "Unhandled", f"HTTP {status}: {data[:300].decode('utf-8', 'replace')}")
        if not isinstance(obj, dict):
            raise BadResponseError(f"not a JSON object: {data[:300].decode('utf-8', 'replace')}")
        return obj


def _after_resend(e: LockFunctionError) -> None:
    """A resent request's earlier attempt went unanswered and may have been applied (granted,
    say), which lock-fn's ``Throttled``/``StoreUnavailable`` answer to the resend cannot know: the
    error then says so (``may_have_been_applied``), so that the caller cancels or retries with the
    same owner instead of leaving a grant behind."""
    if e.error_type in ("Throttled", "StoreUnavailable") and MAYBE_APPLIED not in e.error_message:
        e.error_message = f"{e.error_message}; {MAYBE_APPLIED}"
        e.msg = f"{e.msg}; {MAYBE_APPLIED}"
        e.args = (e.msg,)


class _Transient(Exception):
    """A failure worth resending the same request for."""

    def __init__(self, error: LockClientError) -> None:
        super().__init__(error.msg)
        self.error = error
