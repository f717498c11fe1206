"""Calls run on threads of their own, so that the thread that waits for them can stop waiting (a
timeout, a cancel event, Ctrl-C) without cutting the call off unseen: whoever gives up takes the
call's future over and deals with what it brings (lock-client runs its invokes as tokio tasks for
the same reason)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import wait as _wait_all
from typing import Any, Callable, Optional, Tuple

#: How often a wait that also watches a cancel event looks at it.
_CANCEL_POLL_S = 0.02
#: The longest a wait blocks in one piece, so that Ctrl-C is handled promptly wherever it lands
#: (a blocked lock acquire is not interrupted by signals everywhere, nor by `interrupt_main`).
_SLICE_S = 0.1


def spawn(fn: Callable[..., Any], *args: Any, name: str = "dynamo-dlm-fn") -> "Future[Any]":
    """Runs ``fn(*args)`` on a new daemon thread; its result or exception lands in the future."""
    fut, start = prepare(fn, *args, name=name)
    start()
    return fut


def prepare(fn: Callable[..., Any], *args: Any,
            name: str = "dynamo-dlm-fn") -> "Tuple[Future[Any], Callable[[], None]]":
    """As :func:`spawn`, but the thread starts only when the returned ``start`` is called: the
    caller can record the future first. A future cancelled before its thread runs never runs."""
    fut: "Future[Any]" = Future()

    def run() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits
            fut.set_exception(e)

    return fut, threading.Thread(target=run, name=name, daemon=True).start


def wait_for(fut: "Future[Any]", until: Optional[float] = None,
             cancel: Optional[threading.Event] = None) -> bool:
    """Waits until ``fut`` is done (True), or the monotonic time ``until`` passes or ``cancel`` is
    set (False). Interruptible by signals (KeyboardInterrupt)."""
    while True:
        if cancel is not None and cancel.is_set():
            return fut.done()
        timeout = _SLICE_S if until is None else min(_SLICE_S, max(0.0, until - time.monotonic()))
        if cancel is not None:
            timeout = min(timeout, _CANCEL_POLL_S)
        done, _ = _wait_all([fut], timeout=timeout)
        if done:
            return True
        if until is not None and time.monotonic() >= until:
            return False


def pause(seconds: float, cancel: Optional[threading.Event] = None) -> bool:
    """Sleeps ``seconds`` in short slices (Ctrl-C lands promptly); True when ``cancel`` was set."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return cancel is not None and cancel.is_set()
        step = min(left, _SLICE_S)
        if cancel is not None:
            if cancel.wait(step):
                return True
        else:
            time.sleep(step)
