"""``DynamoDbLock``: dynamo-dlm's lock object, served by the lock function."""
from __future__ import annotations

import importlib
import logging
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Dict, Optional, Set

from ._invoke import MAX_WAIT_CHUNK_S
from ._renew import LeaseState, Renewer, renew_once
from ._wait import try_once, wait_for_grant
from .answers import Grant, LockStatus, ReleaseOutcome, owner_digest
from .errors import LockBusyError, LockLostError, LockNotAcquiredError, LockTimeoutError
from .function import LockFunction

_log = logging.getLogger("dynamo_dlm_fn")

#: How long one waiting acquire invoke may wait in-region (seconds), as lock-client's default.
DEFAULT_WAIT_CHUNK = 2.0
#: The table name dynamo-dlm uses by default; any other ``table_name`` draws a warning (once).
_DYNAMO_DLM_TABLE = "dynamo_dlm_locks"

_warned_tables: Set[str] = set()
_warned_lock = threading.Lock()


class TableNameIgnoredWarning(UserWarning):
    """A ``table_name`` other than ``dynamo_dlm_locks`` was given: the lock function decides the
    table (its ``LOCK_TABLE``), so that name does not isolate these locks from others."""


def _warn_table(name: str) -> None:
    with _warned_lock:
        if name in _warned_tables:
            return
        _warned_tables.add(name)
    warnings.warn(
        f"dynamo_dlm_fn ignores table_name={name!r}: the lock function decides the table (its "
        f"LOCK_TABLE), so these locks share it with every other caller of that function. To use "
        f"another table, deploy another lock function and pass function_name= (or DLM_FUNCTION).",
        TableNameIgnoredWarning, stacklevel=3)


def _package() -> Any:
    # The package module itself, for the defaults users assign (dlm.DEFAULT_DURATION = 5).
    return importlib.import_module(__package__ or "dynamo_dlm_fn")


class DynamoDbLock:
    """A distributed lock on ``resource_id``, taken through the lock function (lock-fn).

    dynamo-dlm's API - ``DynamoDbLock(resource_id, duration=..., table_name=...)``, ``acquire()``,
    ``release()``, ``with DynamoDbLock(...):`` - plus the lock function's: ``acquire(timeout=...)``,
    :meth:`try_acquire`, :attr:`fence`, :meth:`renew`, :meth:`auto_renew` with loss detection,
    semaphores (``concurrency=N``), :meth:`describe`.

    Parameters (the first five as dynamo-dlm 1.0 / 2.1 name them):

    - ``duration``: the lease in seconds (int or float); ``None`` or 0 means the module's
      ``DEFAULT_DURATION`` as it is when the lock is constructed.
    - ``table_name``: accepted for compatibility and kept as :attr:`table_name`, but the lock
      function decides the table (its ``LOCK_TABLE``). A name other than ``dynamo_dlm_locks``
      (given, or set as ``DEFAULT_TABLE_NAME``) draws a :class:`TableNameIgnoredWarning` once per
      name: it does not isolate these locks. Another table means another lock function.
    - ``concurrency``: N > 1 makes a semaphore of N holders (lock-fn's ``limit``); every caller of
      a resource must name the same N (else :class:`LimitMismatchError`).
    - ``wait_forever``: ``False`` makes ``acquire()`` one try that raises :class:`LockBusyError`
      (a :class:`LockNotAcquiredError`) when refused.
    - ``function_name``: the lock function (default ``$DLM_FUNCTION``, else ``dynamo-dlm-lock``);
      ``lambda_client``: a boto3 ``lambda`` client (default: one per process, see
      :class:`LockFunction`).
    - ``holder``: a public label shown by ``describe`` (never a credential).
    - ``wait_chunk``: how long one waiting invoke may wait in-region (seconds, default 2).
    - ``queue``: wait in the lock's FIFO queue (default) or by repeated single tries (barging).
    - ``auto_renew`` / ``on_lost``: start :meth:`auto_renew` at every acquire.

    One object holds at most one grant at a time; use it from one thread at a time (the
    auto-renew thread is the package's own).
    """

    def __init__(self, resource_id: str, duration: Optional[float] = None,
                 table_name: Optional[str] = None, concurrency: int = 1,
                 wait_forever: bool = True, *, function_name: Optional[str] = None,
                 lambda_client: Any = None, holder: Optional[str] = None,
                 wait_chunk: float = DEFAULT_WAIT_CHUNK, queue: bool = True,
                 auto_renew: bool = False,
                 on_lost: Optional[Callable[["DynamoDbLock"], None]] = None) -> None:
        if not isinstance(resource_id, str):
            raise TypeError(f"resource_id must be a str, not {type(resource_id).__name__}")
        pkg = _package()
        seconds = duration or pkg.DEFAULT_DURATION
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"duration must be a positive number of seconds, not {seconds!r}")
        if not 0 <= wait_chunk <= MAX_WAIT_CHUNK_S:
            raise ValueError(f"wait_chunk must be within 0..{MAX_WAIT_CHUNK_S} s")
        self._resource_id = resource_id
        self._duration_ms = max(1, round(seconds * 1000))
        self._table_name = table_name or pkg.DEFAULT_TABLE_NAME
        if self._table_name != _DYNAMO_DLM_TABLE:
            _warn_table(self._table_name)
        self._limit = concurrency if concurrency != 1 else None
        self._wait_forever = wait_forever
        self._fn = LockFunction(function_name, lambda_client)
        self._holder = holder
        self._wait_chunk = float(wait_chunk)
        self._queue = queue
        self._auto_renew = auto_renew
        self._on_lost = on_lost
        self._mutex = threading.RLock()
        self._owner: Optional[str] = None
        self._grant: Optional[Grant] = None
        self._lease: Optional[LeaseState] = None
        self._renewer: Optional[Renewer] = None
        self._last_release: Optional[ReleaseOutcome] = None

    # --- what it is -------------------------------------------------------------------------

    @property
    def resource_id(self) -> str:
        return self._resource_id

    @property
    def duration(self) -> float:
        """The lease length asked for, in seconds."""
        return self._duration_ms / 1000

    @property
    def table_name(self) -> str:
        """The table name given (or the module default at construction). Informational only: the
        lock function decides the table."""
        return self._table_name

    @property
    def concurrency(self) -> int:
        """The semaphore's N (1: a mutex)."""
        return self._limit or 1

    @property
    def function_name(self) -> str:
        return self._fn.function_name

    @property
    def function(self) -> LockFunction:
        """The single-invoke operations underneath."""
        return self._fn

    # --- the grant ---------------------------------------------------------------------------

    @property
    def grant(self) -> Optional[Grant]:
        """The current grant, or the last one after release; None before the first acquire."""
        return self._grant

    @property
    def fence(self) -> Optional[int]:
        """The fencing token of the current (or, after release, the last) grant: pass it to what
        you write, and let that reject smaller ones. None before the first acquire."""
        return self._grant.fence if self._grant is not None else None

    @property
    def expires_at_ms(self) -> Optional[int]:
        """The current lease end by lock-fn's clock (epoch ms; follows renewals)."""
        lease = self._lease
        return lease.expires_at_ms if lease is not None else None

    @property
    def owner_digest(self) -> Optional[str]:
        """The public digest of this grant's owner (what ``describe`` shows for it)."""
        return owner_digest(self._grant.owner) if self._grant is not None else None

    @property
    def lost(self) -> threading.Event:
        """Set when the current grant's lease is known lost: a renewal was refused, or renewals
        failed until the lease was about to end. A new Event for each grant."""
        lease = self._lease
        if lease is None:
            return threading.Event()
        return lease.lost

    @property
    def last_release(self) -> Optional[ReleaseOutcome]:
        """What the last :meth:`release` achieved (released, or not held, or uncertain)."""
        return self._last_release

    def is_held(self) -> bool:
        """Whether the lease is ours, as far as this process can tell: acquired, not released, not
        reported lost, and not past its conservative local deadline (send time + lease left)."""
        lease = self._lease
        return self._owner is not None and lease is not None and lease.is_held()

    def ensure_held(self) -> None:
        """Raises :class:`LockLostError` unless :meth:`is_held` (call it before protected work)."""
        if self._owner is None:
            raise LockNotAcquiredError(f"lock {self._resource_id!r} is not held by this object")
        if not self.is_held():
            raise LockLostError(f"lock {self._resource_id!r} (fence {self.fence}) was lost while "
                                f"held: it expired and/or another owner took it",
                                resource_id=self._resource_id, fence=self.fence)

    def __repr__(self) -> str:
        state = "held" if self._owner is not None else "not held"
        fence = f", fence={self.fence}" if self._grant is not None else ""
        return f"<DynamoDbLock {self._resource_id!r} {state}{fence} via {self.function_name!r}>"

    # --- acquire -----------------------------------------------------------------------------

    def _check_not_held(self) -> None:
        if self._owner is not None:
            raise LockNotAcquiredError("Cannot reacquire lock that hasn't been released yet")

    def acquire(self, timeout: Optional[float] = None, *,
                cancel: Optional[threading.Event] = None) -> bool:
        """Takes the lock and returns True.

        Without ``timeout``, waits in the lock's FIFO queue as long as it takes (dynamo-dlm's
        behaviour); with ``wait_forever=False`` (and no ``timeout``), makes one try and raises
        :class:`LockBusyError` when refused. ``timeout`` (seconds) gives up with
        :class:`LockTimeoutError` after that long (0: one try). Setting ``cancel`` gives up with
        :class:`LockCancelledError`. Every give-up - those, Ctrl-C, an error - leaves the queue and
        releases a grant made meanwhile. All three are :class:`LockNotAcquiredError` s.

        Raises :class:`LockNotAcquiredError` when this object already holds the lock (as
        dynamo-dlm 2.1).
        """
        with self._mutex:
            self._check_not_held()
            # The grant is recorded (``_take``) inside the wait's protection: a Ctrl-C landing
            # anywhere before that is done gives it up, and ``_forget`` undoes a partial record.
            hooks = self._hooks()
            if (timeout is None and not self._wait_forever) or (timeout is not None
                                                               and timeout <= 0):
                got = try_once(self._fn, self._resource_id, duration_ms=self._duration_ms,
                               limit=self._limit, holder=self._holder, **hooks)
                if got is None and timeout is None:
                    raise LockBusyError("Failed to acquire immediately and wait_forever is false",
                                        error_type="LockBusy")
                if got is None:
                    raise LockTimeoutError(f"lock {self._resource_id!r} is busy (timeout 0)",
                                           resource_id=self._resource_id)
            else:
                deadline = None if timeout is None else time.monotonic() + timeout
                wait_for_grant(self._fn, self._resource_id, duration_ms=self._duration_ms,
                               limit=self._limit, holder=self._holder, deadline=deadline,
                               wait_chunk_s=self._wait_chunk, queue=self._queue,
                               cancel=cancel, **hooks)
            return True

    def try_acquire(self) -> bool:
        """One try (one invoke): True when the lock was free and nobody queued for it, else False.
        Interrupted or failed in a way that may have been applied, it cleans up as a wait does."""
        with self._mutex:
            self._check_not_held()
            got = try_once(self._fn, self._resource_id, duration_ms=self._duration_ms,
                           limit=self._limit, holder=self._holder, **self._hooks())
            return got is not None

    def _end_lease(self) -> None:
        """Stops the auto-renew thread and ends the lease's reporting (``lost`` is not set after)."""
        if self._renewer is not None:
            self._renewer.stop()
            self._renewer = None
        if self._lease is not None:
            self._lease.end()

    def _hooks(self) -> Dict[str, Any]:
        """``take`` and ``forget`` for a wait: ``forget`` undoes a (partial) :meth:`_take` of the
        grant its wait gave up (and releases) after all, back to what the object showed before."""
        before = (self._grant, self._lease, self._last_release)

        def forget(grant: Grant) -> None:
            if self._grant is not grant:
                return  # not recorded (yet): nothing to undo
            self._end_lease()
            self._owner = None
            self._grant, self._lease, self._last_release = before

        return {"take": self._take, "forget": forget}

    def _take(self, grant: Grant, sent: float) -> None:
        self._grant = grant
        self._owner = grant.owner
        self._last_release = None
        self._lease = LeaseState(grant.expires_at_ms, sent + grant.lease_left_ms / 1000)
        self._renewer = None
        if self._auto_renew:
            self.auto_renew(self._on_lost)

    # --- while held --------------------------------------------------------------------------

    def _held(self) -> Grant:
        if self._owner is None or self._grant is None:
            raise LockNotAcquiredError(f"lock {self._resource_id!r} is not held by this object")
        return self._grant

    def auto_renew(self, on_lost: Optional[Callable[["DynamoDbLock"], None]] = None
                   ) -> threading.Event:
        """Starts renewing in the background (a daemon thread) every third of the lease; returns
        the :attr:`lost` event, set when a renewal is refused or renewals keep failing until the
        lease is about to end (a 20th of it before, at most 250 ms). ``on_lost(lock)`` is then
        called once, from that thread, right after the event is set. Stopped by :meth:`release` (or when the lock object is
        garbage-collected unreleased: its lease then runs out). Calling it again only returns the
        event."""
        with self._mutex:
            grant = self._held()
            assert self._lease is not None
            if self._renewer is None:
                callback = None
                if on_lost is not None:
                    me = weakref.ref(self)  # the renewer must not keep a dropped lock alive

                    def callback() -> None:
                        lock = me()
                        if lock is not None:
                            on_lost(lock)
                self._renewer = Renewer(self._fn, self._resource_id, grant.owner, grant.fence,
                                        self._duration_ms, self._lease, callback)
                # A lock dropped without release stops renewing (its lease then runs out).
                weakref.finalize(self, self._renewer.stop).atexit = False
                self._renewer.start()
            return self._lease.lost

    def renew(self, duration: Optional[float] = None) -> bool:
        """Extends the lease by ``duration`` seconds (default: the lock's) from now. False when the
        lock was already lost (then :attr:`lost` is set)."""
        grant = self._held()
        assert self._lease is not None
        ms = self._duration_ms if not duration else max(1, round(duration * 1000))
        return renew_once(self._fn, self._resource_id, grant.owner, grant.fence, ms, self._lease)

    # --- release -----------------------------------------------------------------------------

    def release(self) -> bool:
        """Releases the lock (the grant, by its fence). True when this release ended the lease.

        False - after a WARNING on the ``dynamo_dlm_fn`` logger, as dynamo-dlm logs one - when the
        lease had already ended (the holder took too long; another caller may have taken the lock)
        or when that cannot be told (:attr:`last_release` ``.uncertain``). Raises
        :class:`LockNotAcquiredError` when this object holds no grant (never acquired, or already
        released). If the release call itself fails (an error is raised), the object still holds
        the grant and ``release()`` may be called again; auto-renewal has stopped and
        :meth:`is_held` is False.
        """
        return self.release_outcome().released

    def release_outcome(self) -> ReleaseOutcome:
        """:meth:`release`, telling "not held" apart from "uncertain", with lock-fn's release time."""
        with self._mutex:
            if self._owner is None or self._grant is None:
                raise LockNotAcquiredError("Cannot release a lock that was never acquired")
            grant = self._grant
            # From here on a renewal still on its way reports nothing (it may be refused because
            # of this very release).
            self._end_lease()
            outcome = self._fn.release(self._resource_id, grant.owner, grant.fence)
            self._owner = None
            self._last_release = outcome
        if outcome.uncertain:
            _log.warning(
                "DynamoDbLock for resource %s (fence %d): release outcome unknown - an earlier "
                "attempt may have released the lock unseen, or its lease had ended; it is free "
                "of this grant either way", self._resource_id, grant.fence)
        elif not outcome.released:
            _log.warning(
                "Warning: DynamoDbLock for resource %s (fence %d) attempted to release after its "
                "lease had ended. This means the caller took too long to release the lock, it "
                "expired, and may have been acquired by another caller.",
                self._resource_id, grant.fence)
        return outcome

    # --- looking -----------------------------------------------------------------------------

    def describe(self) -> LockStatus:
        """Who holds the lock and who waits (a consistent read); ``yours`` tells whether this
        object's grant is the holder (while it holds one)."""
        return self._fn.describe(self._resource_id, self._owner)

    def locked(self) -> bool:
        """Whether anyone holds the lock now (one ``describe``)."""
        return self.describe().held

    # --- context manager ---------------------------------------------------------------------

    def __enter__(self) -> "DynamoDbLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.release()
