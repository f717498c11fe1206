"""The package's typed exceptions.

Every exception raised by a lock operation is a :class:`LockClientError`. The ones that mean "you do
not have the lock" are also dynamo-dlm's :class:`LockNotAcquiredError` (a ``RuntimeError``), so that
``except LockNotAcquiredError`` clauses written for dynamo-dlm keep catching them::

    LockClientError(Exception)                    .msg, .may_have_been_applied
    +-- LockNotAcquiredError(RuntimeError)        dynamo-dlm's
    |   +-- LockTimeoutError(TimeoutError)        acquire(timeout=...) gave up
    |   +-- LockCancelledError                    acquire(cancel=event) gave up
    |   +-- LockBusyError(LockFunctionError)      a single try refused (wait_forever=False), or "LockBusy"
    +-- LockFunctionError                         lock-fn answered a function error: .error_type
    |   +-- InvalidRequestError(ValueError)       "InvalidRequest"
    |   +-- ThrottledError                        "Throttled"
    |   +-- StoreUnavailableError                 "StoreUnavailable"
    |   +-- MisconfiguredError                    "Misconfigured"
    |   +-- LimitMismatchError                    "LimitMismatch"
    +-- LockLostError                             the lease ended while held (ensure_held())
    +-- UnknownFunctionError                      no such function at the endpoint
    +-- EndpointUnreachableError(ConnectionError) the Lambda endpoint could not be reached
    +-- InvokeThrottledError                      Lambda refused the invoke (TooManyRequestsException)
    +-- InvokeError                               any other failure of the Invoke API
    +-- BadResponseError                          an answer that is not the protocol's

No message, ``str()`` or ``repr()`` of these ever contains an owner token.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

#: The sentence a ``Throttled`` or ``StoreUnavailable`` message ends with when a write of that
#: invocation may have been applied unseen (lock-protocol's ``MAYBE_APPLIED``).
MAYBE_APPLIED = "an earlier attempt may have been applied: retry with the same owner (and fence)"


class LockClientError(Exception):
    """Base of every error of this package. ``msg`` is the human-readable detail."""

    def __init__(self, msg: str = "") -> None:
        super().__init__(msg)
        self.msg = msg

    @property
    def may_have_been_applied(self) -> bool:
        """Whether the failed call may have changed the lock anyway (an acquire may have granted
        its owner the lock or a place in the queue; a release may have ended the lease)."""
        return False

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self.msg}"

    def __repr__(self) -> str:
        return str(self)

    def _scrub(self, secret: Optional[str]) -> "LockClientError":
        """Removes ``secret`` (an owner token) from every text this error carries."""
        if secret:
            for name, value in list(vars(self).items()):
                if isinstance(value, str) and secret in value:
                    setattr(self, name, value.replace(secret, "<owner>"))
            self.args = tuple(a.replace(secret, "<owner>") if isinstance(a, str) else a
                              for a in self.args)
        return self


class LockNotAcquiredError(LockClientError, RuntimeError):
    """dynamo-dlm's error: the lock is not (or was never) held by this object.

    ``str()`` is ``"LockNotAcquiredError: <msg>"`` as in dynamo-dlm 2.x; the subclasses below say
    why more precisely.
    """

    def __init__(self, msg: str = "Cannot release a lock that was never acquired") -> None:
        super().__init__(msg)


class LockTimeoutError(LockNotAcquiredError, TimeoutError):
    """``acquire(timeout=...)`` gave up: the lock stayed busy for the whole wait (the place in the
    queue was given up)."""

    def __init__(self, msg: str = "", *, resource_id: str = "",
                 holder_expires_at_ms: Optional[int] = None) -> None:
        super().__init__(msg)
        self.resource_id = resource_id
        #: When the holder's lease ends (epoch ms, lock-fn's clock), when it was told.
        self.holder_expires_at_ms = holder_expires_at_ms


class LockCancelledError(LockNotAcquiredError):
    """``acquire(cancel=event)`` gave up because the event was set (the place was given up)."""

    def __init__(self, msg: str = "", *, resource_id: str = "") -> None:
        super().__init__(msg)
        self.resource_id = resource_id


class LockFunctionError(LockClientError):
    """lock-fn answered with a function error. ``error_type`` is one of the stable names
    (``InvalidRequest``, ``LockBusy``, ``Throttled``, ``StoreUnavailable``, ``Misconfigured``,
    ``LimitMismatch``) or the Lambda runtime's own (``Runtime.ExitError``, ... when the function
    crashed: then this base class is raised)."""

    #: The error type this class stands for (``None``: any other).
    ERROR_TYPE: Optional[str] = None

    def __init__(self, msg: str = "", *, error_type: Optional[str] = None,
                 error_message: Optional[str] = None) -> None:
        super().__init__(msg)
        self.error_type = error_type or self.ERROR_TYPE or "Unhandled"
        self.error_message = msg if error_message is None else error_message

    @property
    def may_have_been_applied(self) -> bool:
        if self.error_type in ("Throttled", "StoreUnavailable"):
            return MAYBE_APPLIED in self.error_message
        # lock-fn's other errors decide before writing; the runtime's (a crash) came after it ran.
        return self.error_type not in _FUNCTION_ERRORS


class InvalidRequestError(LockFunctionError, ValueError):
    """``InvalidRequest``: the request was malformed (the message names the field); nothing was
    written."""

    ERROR_TYPE = "InvalidRequest"


class LockBusyError(LockFunctionError, LockNotAcquiredError):
    """The lock is held by someone else: lock-fn's ``LockBusy`` (``on_busy="error"``, or a full
    queue), or a single try refused (``wait_forever=False``)."""

    ERROR_TYPE = "LockBusy"


class ThrottledError(LockFunctionError):
    """``Throttled``: DynamoDB kept throttling after lock-fn's retries. Waiting helps; a blocking
    acquire rides it out. See ``may_have_been_applied``."""

    ERROR_TYPE = "Throttled"


class StoreUnavailableError(LockFunctionError):
    """``StoreUnavailable``: DynamoDB failed or could not be reached. See
    ``may_have_been_applied``."""

    ERROR_TYPE = "StoreUnavailable"


class MisconfiguredError(LockFunctionError):
    """``Misconfigured``: the deployment is wrong (missing table, wrong key schema, missing
    permission, bad settings)."""

    ERROR_TYPE = "Misconfigured"


class LimitMismatchError(LockFunctionError):
    """``LimitMismatch``: the acquire names another ``limit`` (``concurrency``) than the resource
    has while anyone holds or waits; nothing was written. The message names both."""

    ERROR_TYPE = "LimitMismatch"


class LockLostError(LockClientError):
    """The lease was lost while held (it expired and/or another owner took it): work done under
    it was not exclusive."""

    def __init__(self, msg: str = "", *, resource_id: str = "", fence: Optional[int] = None) -> None:
        super().__init__(msg)
        self.resource_id = resource_id
        self.fence = fence


class UnknownFunctionError(LockClientError):
    """No function by that name (or ARN) exists at the endpoint (check ``DLM_FUNCTION``)."""


class EndpointUnreachableError(LockClientError, ConnectionError):
    """The Lambda endpoint could not be reached, or its answer was lost (connection refused or
    closed, read timeout), also after the client's resends."""

    @property
    def may_have_been_applied(self) -> bool:
        return True


class InvokeThrottledError(LockClientError):
    """Lambda refused the invocation (``TooManyRequestsException``: the function's concurrency is
    exhausted). Waiting helps; a blocking acquire rides it out."""

    @property
    def may_have_been_applied(self) -> bool:
        return True


class InvokeError(LockClientError):
    """The Invoke API refused or failed the call (permissions, a Lambda 5xx, credentials, ...)."""

    @property
    def may_have_been_applied(self) -> bool:
        return True


class InvokeNotSentError(InvokeError):
    """The invocation was never sent, so nothing reached the function: no credentials or Region
    could be found, or the request could not be built (botocore failed before sending)."""

    @property
    def may_have_been_applied(self) -> bool:
        return False


class BadResponseError(LockClientError):
    """The function's answer did not match the protocol."""

    @property
    def may_have_been_applied(self) -> bool:
        return True


_FUNCTION_ERRORS: Dict[str, Type[LockFunctionError]] = {
    cls.ERROR_TYPE: cls  # type: ignore[misc]
    for cls in (InvalidRequestError, LockBusyError, ThrottledError, StoreUnavailableError,
                MisconfiguredError, LimitMismatchError)
}

#: lock-fn's stable error types, by wire name.
ERROR_TYPES = tuple(_FUNCTION_ERRORS)


def function_error(error_type: str, error_message: str) -> LockFunctionError:
    """The typed exception for a function error ``{"errorType", "errorMessage"}``."""
    cls = _FUNCTION_ERRORS.get(error_type)
    if cls is None:
        return LockFunctionError(f"{error_type}: {error_message}", error_type=error_type,
                                 error_message=error_message)
    return cls(error_message, error_type=error_type, error_message=error_message)
