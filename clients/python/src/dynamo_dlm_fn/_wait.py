"""Waiting for a lock by the protocol's contract (lock-client/src/wait.rs in Python).

A waiting acquire keeps ONE owner for the whole wait and takes a place in the lock's FIFO queue:
each invoke either is the grant, or says the place and when to come back (``retry_after_ms``); near
the front of the queue an invoke waits in-region (up to the wait chunk, default 2 s) and is
answered the moment the lock is handed over. Throttling (lock-fn's ``Throttled`` or Lambda's) is
waited out with the same owner. Every way of giving up - the timeout, a cancel event, Ctrl-C or
any other exception, an error after which the owner may hold a place or a grant - leaves the queue:
``cancel`` for that owner at once (it also releases a grant made meanwhile), then the acquire
invoke still in flight is waited for (it runs on a thread of its own, so that giving up never cuts
it off unseen), a grant it brings is released with its fence, and ``cancel`` is sent once more
(that invoke may have joined the queue after the first). A give-up waits for that at most the
in-flight invoke's own wait plus a few seconds; after that it goes on in the background.
"""
from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Optional, Tuple

from ._futures import pause, prepare, spawn, wait_for
from .answers import Grant, Refusal
from .errors import (InvokeThrottledError, LockCancelledError, LockClientError,
                     LockTimeoutError, ThrottledError)
from .function import LockFunction

_log = logging.getLogger("dynamo_dlm_fn")

#: How long past its own in-function wait an acquire invoke's answer is waited for once the wait's
#: deadline has passed; then the wait times out and the cleanup takes the invoke over.
ANSWER_GRACE_S = 2.0
#: How long a give-up waits for its cleanup beyond the in-flight invoke's own wait.
CLEANUP_MARGIN_S = 3.0
#: A ``cancel`` answered with throttling is sent again, at most this many times in all.
CANCEL_ATTEMPTS = 3

#: An acquire invoke's outcome: the answer, how many invokes it took, when it was sent (monotonic).
Attempt = Tuple["Grant | Refusal", int, float]
#: Records a grant (and its send time) in the lock object, inside the wait's protection.
Take = Callable[[Grant, float], None]
#: Told that a grant it was given was given up (released) after all: the lock object forgets it.
Forget = Callable[[Grant], None]


def new_owner() -> str:
    """A fresh unguessable owner token: 128 random bits as 32 hex digits (as lock-protocol's)."""
    return secrets.token_hex(16)


def _waiting_cures(e: BaseException) -> bool:
    return isinstance(e, (ThrottledError, InvokeThrottledError))


def jittered(ms: float) -> float:
    """``ms`` give or take a fifth, in seconds, so that waiters told the same hint do not come
    back in step."""
    return max(ms, 1.0) * random.uniform(0.8, 1.2) / 1000


def poll_delay(hint_ms: int, refusals: int) -> float:
    """Delay (s) before the next single try when not queueing: the function's hint, but starting
    fast (5 ms) and doubling, with jitter."""
    ramp = 5 * (1 << max(0, min(refusals, 6) - 1))
    step = max(1, min(max(hint_ms, 1), 1000, ramp))
    return (step * 500 + random.uniform(0, step * 500)) / 1e6


class Wait:
    """One wait's owner, and what it may have left behind."""

    def __init__(self, fn: LockFunction, resource_id: str, owner: str, *,
                 limit: Optional[int], holder: Optional[str],
                 forget: Optional[Forget] = None) -> None:
        self.fn = fn
        self.forget = forget
        self.resource_id = resource_id
        self.owner = owner
        self.limit = limit
        self.holder = holder
        #: The acquire invoke in flight and the in-function wait it asked for (seconds).
        self.inflight: Optional[Tuple["Future[Attempt]", float]] = None
        #: This owner may hold a place in the queue or a grant nobody saw.
        self.may_hold = False
        #: The holder's lease end, as last told.
        self.holder_end: Optional[int] = None
        #: The grant this wait is about to return (released by a give-up that comes first).
        self.grant: Optional[Grant] = None
        #: Nothing left to clean up: the wait ended with a grant, or its cleanup was started.
        self.done = False

    def __repr__(self) -> str:
        return f"Wait({self.resource_id!r})"

    def _acquire_once(self, duration_ms: int, wait_s: float, queue: bool, fresh: bool) -> Attempt:
        sent = time.monotonic()
        answer, attempts = self.fn._acquire(
            self.resource_id, owner=self.owner, duration_ms=duration_ms,
            wait_ms=int(wait_s * 1000), queue=queue, limit=self.limit, holder=self.holder,
            fresh_owner=fresh)
        return answer, attempts, sent

    def invoke(self, duration_ms: int, wait_s: float, *, queue: bool, fresh: bool,
               give_up_at: Optional[float],
               cancel: Optional[threading.Event]) -> "Optional[Future[Attempt]]":
        """One acquire invoke on a thread of its own; its (done) future, or None when no answer
        came by ``give_up_at`` or ``cancel`` was set (the invoke stays in flight, for the cleanup).
        The invoke stays recorded as in flight until the caller has taken its answer in (and
        clears ``inflight``): a Ctrl-C before then still finds its grant and releases it."""
        fut, start = prepare(self._acquire_once, duration_ms, wait_s, queue, fresh,
                             name="dynamo-dlm-fn-acquire")
        # Recorded before it starts: a give-up (Ctrl-C can land anywhere) always knows of it.
        self.inflight = (fut, wait_s)
        start()
        if not wait_for(fut, give_up_at, cancel):
            return None
        return fut

    def give_up(self) -> None:
        """Leaves the queue and releases what this owner may hold (see the module's doc); waits for
        it at most the in-flight invoke's own wait plus :data:`CLEANUP_MARGIN_S`."""
        if self.done:
            return
        self.done = True
        inflight, self.inflight = self.inflight, None
        if inflight is None and not self.may_hold and self.grant is None:
            return
        bound = (inflight[1] if inflight else 0.0) + CLEANUP_MARGIN_S
        cleanup = spawn(_clean_up, self.fn, self.resource_id, self.owner,
                        inflight[0] if inflight else None, self.grant,
                        name="dynamo-dlm-fn-cleanup")
        if self.grant is not None and self.forget is not None:
            # It may have been recorded already; the cleanup (started first, so that a second
            # interrupt here cannot skip it) releases it.
            self.forget(self.grant)
        if not wait_for(cleanup, time.monotonic() + bound):
            _log.warning("giving up the wait for %r is taking long; it goes on in the background",
                         self.resource_id)


def _clean_up(fn: LockFunction, resource_id: str, owner: str,
              inflight: "Optional[Future[Attempt]]", grant: Optional[Grant]) -> None:
    # First cancel: leaves the queue, and releases a grant made meanwhile.
    _cancel(fn, resource_id, owner)
    if grant is not None:
        # The grant this wait was about to return (the cancel released it already; by its fence
        # a repeat is exact).
        _release(fn, resource_id, owner, grant)
    if inflight is None or inflight.cancel():
        return  # nothing in flight (or it never started)
    answer: Any = None
    try:
        answer, _, _ = inflight.result()
    except BaseException:  # noqa: BLE001 - it failed: nothing granted that we saw
        pass
    if isinstance(answer, Grant):
        _release(fn, resource_id, owner, answer)
    _cancel(fn, resource_id, owner)


def _release(fn: LockFunction, resource_id: str, owner: str, grant: Grant) -> None:
    try:
        outcome = fn.release(resource_id, owner, grant.fence)
        _log.debug("released a grant of %r (fence %d) made after the wait was given up: %s",
                   resource_id, grant.fence, outcome)
    except LockClientError as e:
        _log.warning("could not release a grant of %r (fence %d) made after the wait was given "
                     "up; its lease runs out: %s", resource_id, grant.fence, e)


def _cancel(fn: LockFunction, resource_id: str, owner: str) -> None:
    """One ``cancel``, best effort: sent again when throttled; a place runs out by itself within
    lock-fn's ``LOCK_WAITER_TTL_MS``."""
    for attempt in range(1, CANCEL_ATTEMPTS + 1):
        try:
            fn.cancel(resource_id, owner)
            return
        except LockClientError as e:
            if _waiting_cures(e) and attempt < CANCEL_ATTEMPTS:
                time.sleep(0.025 * attempt)
                continue
            _log.warning("could not leave the queue of %r; the place runs out by itself: %s",
                         resource_id, e)
            return


def _failed_with(fut: "Future[Attempt]", e: BaseException) -> bool:
    """Whether ``e`` is the invoke's own failure - not an interrupt (Ctrl-C) raised in this thread
    while it took the answer in, which may be a grant."""
    return fut.done() and not fut.cancelled() and fut.exception(timeout=0) is e


def _guarded(w: Wait, body: Any, take: Optional[Take] = None) -> Any:
    """Runs ``body()`` and hands a grant it returns to ``take``; on any exception
    (KeyboardInterrupt included, wherever it lands until then) gives the wait up first, and the
    lock object is told to forget a grant it recorded (``Wait.forget``)."""
    try:
        result = body()
        if result is not None and take is not None:
            take(*result)
    except BaseException as e:
        if isinstance(e, LockClientError):
            w.may_hold |= e.may_have_been_applied
        w.give_up()
        raise
    w.done = True
    return result


def wait_for_grant(fn: LockFunction, resource_id: str, *, duration_ms: int,
                   limit: Optional[int], holder: Optional[str], deadline: Optional[float],
                   wait_chunk_s: float, queue: bool = True,
                   cancel: Optional[threading.Event] = None, take: Optional[Take] = None,
                   forget: Optional[Forget] = None) -> Tuple[Grant, float]:
    """Takes the lock, waiting until the monotonic ``deadline`` (forever when None); returns the
    grant and when the invoke that brought it was sent. Raises :class:`LockTimeoutError` at the
    deadline, :class:`LockCancelledError` when ``cancel`` is set, and errors waiting cannot cure;
    each after leaving the queue. ``take``/``forget``: see :func:`_guarded`."""
    w = Wait(fn, resource_id, new_owner(), limit=limit, holder=holder, forget=forget)
    return _guarded(w, lambda: _wait_loop(w, duration_ms, deadline, wait_chunk_s, queue, cancel),
                    take)


def _stopped(w: Wait, cancel: Optional[threading.Event], holder_end: Optional[int]) -> Exception:
    if cancel is not None and cancel.is_set():
        return LockCancelledError(f"stopped waiting for lock {w.resource_id!r}",
                                  resource_id=w.resource_id)
    detail = f" (holder's lease ends at {holder_end} epoch ms)" if holder_end else ""
    return LockTimeoutError(f"timed out waiting for lock {w.resource_id!r}{detail}",
                            resource_id=w.resource_id, holder_expires_at_ms=holder_end)


def _wait_loop(w: Wait, duration_ms: int, deadline: Optional[float], wait_chunk_s: float,
               queue: bool, cancel: Optional[threading.Event]) -> Tuple[Grant, float]:
    # Until an invoke goes unanswered (or fails), this owner cannot hold the lock unseen.
    fresh = True
    refusals = 0
    while True:
        now = time.monotonic()
        left = None if deadline is None else max(0.0, deadline - now)
        wait_s = wait_chunk_s if left is None else min(left, wait_chunk_s)
        give_up_at = None if deadline is None else max(deadline, now + wait_s + ANSWER_GRACE_S)
        fut = w.invoke(duration_ms, wait_s, queue=queue, fresh=fresh and not queue,
                       give_up_at=give_up_at, cancel=cancel)
        if fut is None:
            raise _stopped(w, cancel, w.holder_end)
        holder_end: Optional[int] = None
        try:
            answer, attempts, sent = fut.result()
        except BaseException as e:
            if not _failed_with(fut, e):
                raise  # interrupted here (Ctrl-C): the answer stays the cleanup's to judge
            # Judged by what the error says (``may_have_been_applied``), not as in flight.
            w.inflight = None
            if not _waiting_cures(e):
                raise
            # The failed invoke may have granted this owner unseen.
            fresh = False
            w.may_hold |= e.may_have_been_applied  # type: ignore[attr-defined]
            hint_ms = 100
        else:
            if attempts > 1:
                # A resent invoke means an earlier one went unanswered: it may yet grant.
                fresh = False
                w.may_hold = True
            if isinstance(answer, Grant):
                w.grant = answer
                w.inflight = None
                return answer, sent
            w.may_hold |= answer.queued
            w.inflight = None
            hint_ms = answer.retry_after_ms
            holder_end = answer.holder_expires_at_ms
        w.holder_end = holder_end or w.holder_end
        refusals += 1
        delay = jittered(hint_ms) if queue else poll_delay(hint_ms, refusals)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _stopped(w, cancel, w.holder_end)
            delay = min(delay, left)
        if pause(delay, cancel):
            raise _stopped(w, cancel, w.holder_end)


def try_once(fn: LockFunction, resource_id: str, *, duration_ms: int, limit: Optional[int],
             holder: Optional[str], take: Optional[Take] = None,
             forget: Optional[Forget] = None) -> Optional[Tuple[Grant, float]]:
    """One single try (refused while anyone is queued): the grant and its send time, or None.
    Interrupted (Ctrl-C) or failed in a way that may have been applied, it cleans up as a wait
    does. ``take``/``forget``: see :func:`_guarded`."""
    w = Wait(fn, resource_id, new_owner(), limit=limit, holder=holder, forget=forget)

    def body() -> Optional[Tuple[Grant, float]]:
        fut = w.invoke(duration_ms, 0.0, queue=False, fresh=True, give_up_at=None, cancel=None)
        assert fut is not None
        try:
            answer, attempts, sent = fut.result()
        except BaseException as e:
            if _failed_with(fut, e):
                w.inflight = None  # judged by what the error says (``may_have_been_applied``)
            raise
        if isinstance(answer, Grant):
            w.grant = answer
            w.inflight = None
            return answer, sent
        w.inflight = None
        if attempts > 1:
            # The try was resent: its unanswered first attempt may still grant (lock-fn retries
            # its write in-region) after this refusal. ``cancel`` ends that: it releases a grant
            # already made and marks the owner so that a later write of it never takes the lock.
            w.may_hold = True
            w.give_up()
        return None

    return _guarded(w, body, take)
