"""The single-invoke lock operations (lock-client's ``raw`` module in Python): one call, one
operation, explicit owners. :class:`~dynamo_dlm_fn.DynamoDbLock` is built on these; use them
directly to hand a lock between processes, to wait the way Step Functions does, or to ask with
``on_busy="error"``.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, Optional, Tuple, Union

from ._invoke import Invoker
from .answers import (CancelOutcome, Grant, LockStatus, Refusal, ReleaseOutcome, Renewal,
                      acquire_answer)
from .errors import BadResponseError, ThrottledError

#: The lock function's name when neither ``function_name`` nor ``DLM_FUNCTION`` names one (the
#: SAM template's default, as for the Rust client and ``dlm``).
DEFAULT_FUNCTION = "dynamo-dlm-lock"
#: The environment variable naming the lock function (name or ARN).
ENV_FUNCTION = "DLM_FUNCTION"


def resolve_function_name(function_name: Optional[str] = None) -> str:
    """``function_name``, else ``$DLM_FUNCTION``, else :data:`DEFAULT_FUNCTION`."""
    return function_name or os.environ.get(ENV_FUNCTION) or DEFAULT_FUNCTION


class LockFunction:
    """One deployment of the lock function, invoked through the Lambda Invoke API.

    ``function_name``: name or ARN (default: ``$DLM_FUNCTION``, else ``dynamo-dlm-lock``).
    ``lambda_client``: a boto3 ``lambda`` client to invoke through (default: one per process,
    built from the environment, with botocore's retries off). A client given here gets an
    ``after-call`` handler that reads the local emulator's function errors as real Lambda's (see
    ``_invoke``); its retry settings are left as they are.

    Each method is one request (resent only when the transport failed; see ``_invoke``). Thread-safe.
    """

    def __init__(self, function_name: Optional[str] = None, lambda_client: Any = None) -> None:
        self._invoker = Invoker(resolve_function_name(function_name), lambda_client)

    @property
    def function_name(self) -> str:
        """The function invoked."""
        return self._invoker.function_name

    def __repr__(self) -> str:
        return f"LockFunction({self.function_name!r})"

    def invoke(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """Sends any JSON object (e.g. one the methods below cannot express) and returns the answer."""
        return self._invoker.call(payload)[0]

    def _acquire(self, resource_id: str, *, owner: Optional[str] = None,
                 duration_ms: Optional[int] = None, wait_ms: int = 0,
                 queue: Optional[bool] = None, on_busy: str = "result",
                 limit: Optional[int] = None, holder: Optional[str] = None,
                 fresh_owner: bool = False) -> Tuple[Union[Grant, Refusal], int]:
        payload: Dict[str, Any] = {"op": "acquire", "resource_id": resource_id}
        if duration_ms is not None:
            payload["duration_ms"] = duration_ms
        if owner is not None:
            payload["owner"] = owner
        if wait_ms:
            payload["wait_ms"] = wait_ms
        if queue is not None:
            payload["queue"] = queue
        if on_busy != "result":
            payload["on_busy"] = on_busy
        if limit is not None and limit != 1:
            payload["limit"] = limit
        if holder is not None:
            payload["holder"] = holder
        if fresh_owner and self._invoker.owns_client:
            payload["fresh_owner"] = True
        answer, attempts = self._invoker.call(payload)
        return acquire_answer(answer), attempts

    def acquire(self, resource_id: str, *, owner: Optional[str] = None,
                duration_ms: Optional[int] = None, wait_ms: int = 0,
                queue: Optional[bool] = None, on_busy: str = "result",
                limit: Optional[int] = None, holder: Optional[str] = None) -> Union[Grant, Refusal]:
        """One ``acquire``: a :class:`Grant`, or a :class:`Refusal` (a :class:`LockBusyError`
        with ``on_busy="error"``). Without ``owner`` lock-fn makes one (it is in the grant).
        ``wait_ms`` > 0 waits in the lock's FIFO queue (``queue`` defaults to that); ``limit`` N > 1
        takes one of N slots of a semaphore."""
        return self._acquire(resource_id, owner=owner, duration_ms=duration_ms, wait_ms=wait_ms,
                             queue=queue, on_busy=on_busy, limit=limit, holder=holder)[0]

    def release(self, resource_id: str, owner: str, fence: Optional[int] = None) -> ReleaseOutcome:
        """One ``release`` of ``owner``'s grant (the one with ``fence``: recommended, it makes a
        repeated release exact). A release whose invoke had to be resent, or whose earlier try was
        answered "maybe applied", and that then answers ``released: false`` is reported
        ``uncertain`` (an earlier attempt may have ended the lease unseen), as is lock-fn's own
        ``uncertain``. A fenced release answered ``Throttled`` is tried again a few times."""
        payload: Dict[str, Any] = {"op": "release", "resource_id": resource_id, "owner": owner}
        if fence is not None:
            payload["fence"] = fence
        tries, maybe_applied = 0, False
        while True:
            try:
                answer, attempts = self._invoker.call(payload)
                break
            except ThrottledError as e:
                if fence is None or tries >= 5:
                    raise
                maybe_applied |= e.may_have_been_applied
                tries += 1
                time.sleep((5 << tries) / 1000)
        released = answer.get("released")
        if not isinstance(released, bool):
            raise BadResponseError(f"release answer has no boolean `released`: {sorted(answer)}")
        if released:
            at = answer.get("released_at_ms")
            return ReleaseOutcome(True, False, at if isinstance(at, int) else None)
        uncertain = bool(answer.get("uncertain")) or attempts > 1 or maybe_applied
        return ReleaseOutcome(False, uncertain, None)

    def renew(self, resource_id: str, owner: str, *, fence: Optional[int] = None,
              duration_ms: Optional[int] = None,
              abandon: Optional[threading.Event] = None) -> Renewal:
        """One ``renew`` of ``owner``'s grant (the one with ``fence``, when given) for
        ``duration_ms`` from now (lock-fn's default when absent). Once ``abandon`` is set, a
        failed invoke is not resent."""
        payload: Dict[str, Any] = {"op": "renew", "resource_id": resource_id, "owner": owner}
        if duration_ms is not None:
            payload["duration_ms"] = duration_ms
        if fence is not None:
            payload["fence"] = fence
        return Renewal.from_answer(self._invoker.call(payload, abandon)[0])

    def describe(self, resource_id: str, owner: Optional[str] = None) -> LockStatus:
        """Who holds ``resource_id`` and who waits (a consistent read). With your ``owner`` the
        answer's ``yours`` says whether you hold it (the token is sent, never shown back)."""
        payload: Dict[str, Any] = {"op": "describe", "resource_id": resource_id}
        if owner is not None:
            payload["owner"] = owner
        return LockStatus.from_answer(self._invoker.call(payload)[0])

    def cancel(self, resource_id: str, owner: str) -> CancelOutcome:
        """One ``cancel``: ``owner`` stops waiting - it leaves the queue, and a grant made to it
        meanwhile is released and handed on."""
        answer, _ = self._invoker.call({"op": "cancel", "resource_id": resource_id, "owner": owner})
        return CancelOutcome.from_answer(answer)
