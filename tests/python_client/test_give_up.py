"""Giving up a wait leaves the queue: after `acquire(timeout=...)` times out, after a cancel event,
and after Ctrl-C (KeyboardInterrupt) in the middle of a wait, while another holds the lock, the
queue is empty (describe), and when the holder releases nobody is handed the lock (no ghost grant):
the lock is free and a single try takes it at once."""
import _thread
import signal
import threading
import time

import pytest

import dynamo_dlm_fn as dlm


def hold(resource):
    holder = dlm.DynamoDbLock(resource, duration=20)
    holder.acquire()
    return holder


def nobody_left_behind(resource, holder):
    fn = dlm.LockFunction()
    status = fn.describe(resource)
    assert status.held and status.owner_digest == holder.owner_digest, status
    assert status.queue_length == 0 and status.queue == (), status
    assert holder.release() is True
    status = fn.describe(resource)
    assert not status.held, f"the release handed the lock to a waiter that gave up: {status}"
    single_try = dlm.DynamoDbLock(resource, duration=5, wait_forever=False)
    single_try.acquire()  # at once, or LockBusyError
    assert single_try.release()


def test_a_timed_out_acquire_leaves_the_queue(stack, resource):
    holder = hold(resource)
    waiter = dlm.DynamoDbLock(resource, duration=20)
    started = time.monotonic()
    with pytest.raises(dlm.LockTimeoutError) as timed_out:
        waiter.acquire(timeout=0.6)
    waited = time.monotonic() - started
    assert 0.6 <= waited < 8, waited
    e = timed_out.value
    assert isinstance(e, dlm.LockNotAcquiredError) and isinstance(e, TimeoutError)
    assert e.resource_id == resource
    assert e.holder_expires_at_ms == holder.expires_at_ms, (e.holder_expires_at_ms, holder.expires_at_ms)
    assert not waiter.is_held() and waiter.fence is None
    nobody_left_behind(resource, holder)


def test_many_waiters_that_time_out_all_leave(stack, resource):
    holder = hold(resource)
    outcomes = []

    def wait(i):
        try:
            dlm.DynamoDbLock(resource, duration=20).acquire(timeout=0.3 + 0.2 * i)
            outcomes.append("acquired")
        except dlm.LockTimeoutError:
            outcomes.append("timed out")

    ts = [threading.Thread(target=wait, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert outcomes == ["timed out"] * 4
    nobody_left_behind(resource, holder)


def test_a_zero_timeout_is_one_try(stack, resource):
    holder = hold(resource)
    with pytest.raises(dlm.LockTimeoutError):
        dlm.DynamoDbLock(resource).acquire(timeout=0)
    nobody_left_behind(resource, holder)


def test_a_cancel_event_gives_the_place_up(stack, resource):
    holder = hold(resource)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    waiter = dlm.DynamoDbLock(resource, duration=20)
    with pytest.raises(dlm.LockCancelledError):
        waiter.acquire(cancel=cancel)
    nobody_left_behind(resource, holder)


def test_ctrl_c_during_a_wait_gives_the_place_up(stack, resource):
    assert threading.current_thread() is threading.main_thread(), "SIGINT goes to the main thread"
    holder = hold(resource)
    # A 10 s in-region wait: giving up "promptly" is told from waiting it out by a wide margin.
    waiter = dlm.DynamoDbLock(resource, duration=20, wait_chunk=10)
    sent = []

    def ctrl_c():
        sent.append(time.monotonic())
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    # The waiter is queued (first place: its invoke waits in-region for up to 2 s) when the
    # SIGINT comes, as a Ctrl-C in a terminal sends it.
    timer = threading.Timer(0.7, ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        timer.start()
        waiter.acquire()
    gave_up_in = time.monotonic() - sent[0]
    # Promptly: the cancel ends the in-flight invoke's in-region wait (waiting it out: ~10 s).
    assert gave_up_in < 4.0, gave_up_in
    assert not waiter.is_held()
    nobody_left_behind(resource, holder)


def test_interrupt_main_is_handled_too(stack, resource):
    """`_thread.interrupt_main` sets the flag without interrupting a blocked call: the waits are
    sliced so that it lands within a slice."""
    holder = hold(resource)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    with pytest.raises(KeyboardInterrupt):
        timer.start()
        dlm.DynamoDbLock(resource, duration=20).acquire()
    nobody_left_behind(resource, holder)


def test_a_place_kept_without_giving_up_is_served(stack, resource):
    """Control for the tests above: a waiter that does not give up is queued, and the holder's
    release hands it the lock (so "no ghost grant" above is not vacuous)."""
    holder = hold(resource)
    got = []
    waiter = dlm.DynamoDbLock(resource, duration=20)
    t = threading.Thread(target=lambda: got.append(waiter.acquire(timeout=20)))
    t.start()
    deadline = time.monotonic() + 10
    while dlm.LockFunction().describe(resource).queue_length != 1:
        assert time.monotonic() < deadline, "the waiter never queued"
        time.sleep(0.02)
    assert holder.release()
    t.join(20)
    assert got == [True] and waiter.is_held() and waiter.fence > holder.fence
    assert waiter.release()


def test_an_interrupt_while_taking_an_answer_in_is_not_the_invokes_failure():
    """A Ctrl-C raised in the waiting thread while it takes a done invoke's answer in (which may
    be a grant) must leave that invoke to the give-up's cleanup, not be taken for its failure."""
    from concurrent.futures import Future
    from dynamo_dlm_fn._wait import _failed_with
    granted = Future()
    granted.set_result(("a grant", 1, 0.0))
    assert not _failed_with(granted, KeyboardInterrupt())
    failed = Future()
    error = RuntimeError("the invoke's own failure")
    failed.set_exception(error)
    assert _failed_with(failed, error)
    assert not _failed_with(failed, KeyboardInterrupt())


@pytest.mark.parametrize("how", ["acquire", "try_acquire", "acquire(timeout=0)"])
@pytest.mark.parametrize("where", ["before", "midway", "after"])
def test_a_ctrl_c_while_the_grant_is_being_recorded_gives_it_up(stack, resource, how, where):
    """A Ctrl-C that lands as the lock object records a grant (before or after): the grant is
    released and the object does not think it holds it - never a grant that nobody records and
    whose lease blocks everyone (the lease here is 30 s)."""
    lock = dlm.DynamoDbLock(resource, duration=30, auto_renew=True)
    record = lock._take

    def interrupted(grant, sent):
        if where == "after":
            record(grant, sent)
        if where == "midway":
            lock._grant, lock._owner = grant, grant.owner
        raise KeyboardInterrupt

    lock._take = interrupted
    with pytest.raises(KeyboardInterrupt):
        {"acquire": lambda: lock.acquire(),
         "try_acquire": lambda: lock.try_acquire(),
         "acquire(timeout=0)": lambda: lock.acquire(timeout=0)}[how]()
    assert not lock.is_held()
    assert lock._renewer is None
    assert lock.fence is None and lock.expires_at_ms is None, "shows no grant it never held"
    other = dlm.DynamoDbLock(resource, duration=5)
    assert other.try_acquire(), "the grant was released"
    assert other.release()
    del lock._take
    assert lock.acquire(timeout=5) and lock.release()
