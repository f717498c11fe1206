"""A held lease's state, one renewal, and the background auto-renew thread that reports loss
(lock-client/src/lease_watch.rs in Python)."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from ._futures import spawn, wait_for
from .function import LockFunction

_log = logging.getLogger("dynamo_dlm_fn")


def stop_margin(duration_s: float) -> float:
    """How long before the local deadline a lease whose renewals keep failing is given up as lost:
    a twentieth of the lease, at most 250 ms (time for the holder to stop its work)."""
    return min(duration_s / 20, 0.25)


class LeaseState:
    """One grant's lease as its holder sees it. Thread-safe."""

    def __init__(self, expires_at_ms: int, local_deadline: float) -> None:
        self._mutex = threading.Lock()
        #: Lease end by lock-fn's clock (epoch ms).
        self.expires_at_ms = expires_at_ms
        #: Conservative lease end on this machine's monotonic clock: counted from when the acquire
        #: or renew was *sent*, so it never ends later than lock-fn's lease.
        self.local_deadline = local_deadline
        #: Set when the lease is gone: a renewal was refused, or renewals failed until it ran out.
        self.lost = threading.Event()
        #: Set when the holder released (or gave the grant up): nothing more to renew or report.
        self.ended = threading.Event()
        self._on_lost: Optional[Callable[[], None]] = None

    def is_held(self) -> bool:
        return (not self.lost.is_set() and not self.ended.is_set()
                and time.monotonic() < self.local_deadline)

    def renewed(self, expires_at_ms: int, local_deadline: float) -> None:
        with self._mutex:
            if not self.lost.is_set():
                self.expires_at_ms = max(self.expires_at_ms, expires_at_ms)
                self.local_deadline = max(self.local_deadline, local_deadline)

    def mark_lost(self, why: str, resource_id: str) -> None:
        """Records the loss (once; not after the holder released) and calls ``on_lost``."""
        with self._mutex:
            if self.ended.is_set() or self.lost.is_set():
                return
            self.lost.set()
            callback = self._on_lost
        _log.warning("lock %r lost: %s", resource_id, why)
        if callback is not None:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a callback's failure must not kill the renewer
                _log.exception("on_lost callback of lock %r failed", resource_id)

    def end(self) -> None:
        with self._mutex:
            self.ended.set()


def renew_once(fn: LockFunction, resource_id: str, owner: str, fence: int, duration_ms: int,
               state: LeaseState, abandon: Optional[threading.Event] = None) -> bool:
    """One renewal for ``duration_ms`` from now, recorded in ``state``: True when renewed, False
    when refused (the lease is then marked lost). Once ``abandon`` is set it is not resent."""
    sent = time.monotonic()
    r = fn.renew(resource_id, owner, fence=fence, duration_ms=duration_ms, abandon=abandon)
    if r.renewed and r.expires_at_ms is not None:
        left_ms = r.expires_in_ms if r.expires_in_ms is not None else duration_ms
        state.renewed(r.expires_at_ms, sent + left_ms / 1000)
        return True
    state.mark_lost("a renewal was refused (the lease had ended and/or another owner took it)",
                    resource_id)
    return False


class Renewer:
    """Renews a grant every third of its lease, and never later than halfway through the time it
    has left, until stopped. Reports loss through the state: a refused renewal, or renewals failing
    (or hanging) until :func:`stop_margin` before the local deadline."""

    def __init__(self, fn: LockFunction, resource_id: str, owner: str, fence: int,
                 duration_ms: int, state: LeaseState,
                 on_lost: Optional[Callable[[], None]] = None) -> None:
        self._fn = fn
        self._resource_id = resource_id
        self._owner = owner
        self._fence = fence
        self._duration_ms = duration_ms
        self._state = state
        state._on_lost = on_lost
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"dynamo-dlm-fn-renew {resource_id[:40]}")

    def __repr__(self) -> str:
        return f"Renewer({self._resource_id!r}, fence={self._fence})"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        duration_s = self._duration_ms / 1000
        interval = max(duration_s / 3, 0.001)
        margin = stop_margin(duration_s)
        state = self._state
        while True:
            left = state.local_deadline - time.monotonic()
            if self._stop.wait(max(0.0, min(interval, left / 2))):
                return
            while True:
                stop_at = state.local_deadline - margin
                abandon = threading.Event()
                fut = spawn(renew_once, self._fn, self._resource_id, self._owner, self._fence,
                            self._duration_ms, state, abandon, name="dynamo-dlm-fn-renew-call")
                done = wait_for(fut, stop_at, self._stop)
                if not done:
                    abandon.set()  # no resends once nobody waits for it
                if done:
                    if self._stop.is_set():
                        return
                    try:
                        if fut.result():
                            break
                        return  # refused: renew_once marked the lease lost
                    except Exception as e:  # noqa: BLE001 - retried until the lease runs out
                        _log.warning("renewal of lock %r failed; retrying: %s",
                                     self._resource_id, e)
                        pause = max(interval / 10, 0.005)
                        if self._stop.wait(max(0.0, min(pause, stop_at - time.monotonic()))):
                            return
                if self._stop.is_set():
                    return
                if time.monotonic() >= stop_at:
                    state.mark_lost("the lease was about to run out before it could be renewed",
                                    self._resource_id)
                    return
