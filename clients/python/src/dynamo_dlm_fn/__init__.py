"""dynamo-dlm-fn: the Python client of the Lambda-native distributed lock (lock-fn).

dynamo-dlm's API, served by the lock function: code written for dynamo-dlm changes its import
line only::

    import dynamo_dlm_fn as dlm

    with dlm.DynamoDbLock("orders/42", duration=30) as lock:
        write(..., fence=lock.fence)

plus what the lock function offers: ``acquire(timeout=...)``, ``try_acquire()``, fences, ``renew()``
and ``auto_renew()`` with loss detection, semaphores (``concurrency=N``), ``describe()``, FIFO
waiting, and typed exceptions. See the package README.
"""
#: dynamo-dlm's default table name. Kept for compatibility: the lock function decides the table
#: (see ``DynamoDbLock``'s ``table_name``). Read when a lock is constructed.
DEFAULT_TABLE_NAME = "dynamo_dlm_locks"
#: The lease, in seconds, of locks constructed without ``duration``. Read when a lock is constructed.
DEFAULT_DURATION = 10

from .answers import (CancelOutcome, Grant, HolderInfo, LockStatus, QueuedWaiter,  # noqa: E402
                      Refusal, ReleaseOutcome, Renewal, owner_digest)
from .errors import (ERROR_TYPES, BadResponseError, EndpointUnreachableError,  # noqa: E402
                     InvalidRequestError, InvokeError, InvokeNotSentError, InvokeThrottledError,
                     LimitMismatchError,
                     LockBusyError, LockCancelledError, LockClientError, LockFunctionError,
                     LockLostError, LockNotAcquiredError, LockTimeoutError, MisconfiguredError,
                     StoreUnavailableError, ThrottledError, UnknownFunctionError)
from .function import DEFAULT_FUNCTION, ENV_FUNCTION, LockFunction  # noqa: E402
from .lock import DEFAULT_WAIT_CHUNK, DynamoDbLock, TableNameIgnoredWarning  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    # dynamo-dlm's names
    "DynamoDbLock", "LockNotAcquiredError", "DEFAULT_TABLE_NAME", "DEFAULT_DURATION",
    # the lock function
    "LockFunction", "DEFAULT_FUNCTION", "ENV_FUNCTION", "DEFAULT_WAIT_CHUNK",
    "TableNameIgnoredWarning",
    # answers
    "Grant", "Refusal", "ReleaseOutcome", "Renewal", "LockStatus", "QueuedWaiter", "HolderInfo",
    "CancelOutcome", "owner_digest",
    # errors
    "ERROR_TYPES", "LockClientError", "LockTimeoutError", "LockCancelledError", "LockBusyError",
    "LockFunctionError", "InvalidRequestError", "ThrottledError", "StoreUnavailableError",
    "MisconfiguredError", "LimitMismatchError", "LockLostError", "UnknownFunctionError",
    "EndpointUnreachableError", "InvokeThrottledError", "InvokeError",
    "InvokeNotSentError", "BadResponseError",
]
