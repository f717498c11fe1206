"""Leases: renew, auto-renew (kept alive; loss detected when renewals are blocked or fail), release
after a lost lease (WARNING, False, as dynamo-dlm), resends after a lost answer (same owner, same
grant), and the owner token never shown (repr, str, exception messages, logs)."""
import logging
import threading
import time

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

import dynamo_dlm_fn as dlm
from .support import Interposed, real_lambda_client


def test_renew_extends_the_lease(stack, resource):
    lock = dlm.DynamoDbLock(resource, duration=1)
    lock.acquire()
    first_end = lock.expires_at_ms
    assert lock.renew(duration=5) is True
    assert lock.expires_at_ms >= first_end + 3_500, (first_end, lock.expires_at_ms)
    assert lock.describe().expires_at_ms == lock.expires_at_ms
    assert lock.release()


def test_auto_renew_keeps_a_short_lease_past_its_length(stack, resource):
    lost_calls = []
    # A 3 s lease renewed every third of it: each renewal has about 2 s to come back, enough on
    # a loaded machine; kept for more than twice its length.
    lock = dlm.DynamoDbLock(resource, duration=3, auto_renew=True, on_lost=lost_calls.append)
    lock.acquire()
    first_end = lock.expires_at_ms
    time.sleep(6.5)
    assert lock.is_held() and not lock.lost.is_set() and lost_calls == []
    lock.ensure_held()
    assert lock.expires_at_ms > first_end + 3_000
    assert dlm.DynamoDbLock(resource).try_acquire() is False, "still ours"
    renewer = lock._renewer
    assert lock.release() is True
    renewer.thread.join(2)
    assert not renewer.thread.is_alive(), "release stops the auto-renew thread"
    assert not lock.lost.is_set()


def blocking(op, gate):
    """A `before` hook that holds every `op` invoke until the gate opens."""
    def before(payload):
        if payload["op"] == op:
            gate.wait(30)
    return before


def test_stop_margin_is_a_twentieth_of_the_lease_at_most_250_ms():
    from dynamo_dlm_fn._renew import stop_margin
    assert stop_margin(4) == pytest.approx(0.2)
    assert stop_margin(10) == pytest.approx(0.25)


def test_auto_renew_reports_loss_when_renewals_hang(stack, resource, caplog, monkeypatch):
    gate = threading.Event()
    lost_calls = []
    client = Interposed(real_lambda_client(), before=blocking("renew", gate))
    # A 4 s lease whose loss is reported 1.5 s before its end (instead of a 20th of it): room
    # for a loaded machine's scheduling in "reported before the lease ends".
    import dynamo_dlm_fn._renew
    monkeypatch.setattr(dynamo_dlm_fn._renew, "stop_margin", lambda duration_s: 1.5)
    lock = dlm.DynamoDbLock(resource, duration=4, lambda_client=client)
    lock.acquire()
    acquired = time.monotonic()
    lost = lock.auto_renew(on_lost=lost_calls.append)
    with caplog.at_level(logging.WARNING, logger="dynamo_dlm_fn"):
        assert lost.wait(8), "loss never reported"
    # Reported before the lease ends (counted here from after the grant came back: later than
    # lock-fn's start of the lease).
    assert time.monotonic() - acquired < 4.0
    # on_lost runs right after the event is set, on the renewer thread.
    deadline = time.monotonic() + 5
    while not lost_calls and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lost_calls == [lock] and lock.lost is lost
    assert not lock.is_held()
    with pytest.raises(dlm.LockLostError) as e:
        lock.ensure_held()
    assert e.value.fence == lock.fence
    assert any("lost" in r.getMessage() for r in caplog.records)
    # Someone else takes the lock once the lease is over.
    other = dlm.DynamoDbLock(resource, duration=5)
    assert other.acquire(timeout=5)
    gate.set()
    # Releasing the lost lock: False with dynamo-dlm's WARNING, and the other holder is untouched.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dynamo_dlm_fn"):
        assert lock.release() is False
    assert lock.last_release == dlm.ReleaseOutcome(False, uncertain=False)
    assert any("attempted to release after its lease had ended" in r.getMessage()
               and r.levelno == logging.WARNING for r in caplog.records), caplog.records
    assert other.describe().yours is True
    assert other.release()
    with pytest.raises(dlm.LockNotAcquiredError):
        lock.release()


def test_the_lost_event_is_set_before_on_lost_runs():
    """A worker watching `lost` stops at once, however long `on_lost` takes (an alert with a long
    timeout, or a callback that waits for the worker to stop)."""
    from dynamo_dlm_fn._renew import LeaseState
    gate = threading.Event()
    calls = []
    state = LeaseState(0, time.monotonic() + 60)

    def slow_callback():
        calls.append(True)
        gate.wait(10)

    state._on_lost = slow_callback
    marker = threading.Thread(target=state.mark_lost, args=("test", "r"))
    marker.start()
    try:
        assert state.lost.wait(5), "the event is set while the callback still runs"
        assert not state.is_held()
    finally:
        gate.set()
        marker.join(5)
    assert calls == [True]


def test_auto_renew_reports_loss_when_renewals_fail(stack, resource):
    failing = threading.Event()
    failing.set()

    def unreachable_for_renew(payload):
        if payload["op"] == "renew" and failing.is_set():
            raise EndpointConnectionError(endpoint_url="http://renewals.invalid")

    client = Interposed(real_lambda_client(), before=unreachable_for_renew)
    lock = dlm.DynamoDbLock(resource, duration=1, auto_renew=True, lambda_client=client)
    lock.acquire()
    assert lock.lost.wait(5)
    failing.clear()
    time.sleep(max(0.0, (lock.expires_at_ms + 50) / 1000 - time.time()))
    assert lock.renew() is False, "a renewal after the lease ended is refused"
    assert lock.release() is False


def test_a_refused_renewal_marks_the_lease_lost(stack, resource):
    lock = dlm.DynamoDbLock(resource, duration=0.3)
    lock.acquire()
    time.sleep(0.45)
    taker = dlm.DynamoDbLock(resource)
    assert taker.try_acquire()
    assert lock.renew() is False and lock.lost.is_set()
    assert taker.release()
    assert lock.release() is False


def test_an_acquire_whose_answer_was_lost_is_resent_with_the_same_owner(stack, resource):
    lost = []

    def lose_the_first_acquire_answer(payload, answer):
        if payload["op"] == "acquire" and not lost:
            lost.append(answer)
            raise ReadTimeoutError(endpoint_url="http://lost.invalid")

    client = Interposed(real_lambda_client(), after=lose_the_first_acquire_answer)
    lock = dlm.DynamoDbLock(resource, lambda_client=client)
    lock.acquire()
    (first,) = lost
    assert first["acquired"] is True
    assert lock.fence == first["fence"] and lock.grant.reacquired, "the same grant, not a second"
    acquires = [p for p, _, _ in client.calls if p["op"] == "acquire"]
    assert len(acquires) == 2 and acquires[0]["owner"] == acquires[1]["owner"]
    assert lock.release()


def test_a_release_whose_answer_was_lost_is_resent(stack, resource):
    lost = []

    def lose_the_first_release_answer(payload, answer):
        if payload["op"] == "release" and not lost:
            lost.append(answer)
            raise ReadTimeoutError(endpoint_url="http://lost.invalid")

    client = Interposed(real_lambda_client(), after=lose_the_first_release_answer)
    lock = dlm.DynamoDbLock(resource, lambda_client=client)
    lock.acquire()
    outcome = lock.release_outcome()
    assert lost[0]["released"] is True
    # lock-fn recognises the repeat of a fenced release while its record lasts.
    assert outcome.released, outcome
    assert not dlm.LockFunction().describe(resource).held


def test_the_owner_token_is_never_shown(stack, resource, caplog):
    caplog.set_level(logging.DEBUG, logger="dynamo_dlm_fn")
    lock = dlm.DynamoDbLock(resource, duration=5, holder="test-host")
    lock.acquire()
    owner = lock.grant.owner
    assert len(owner) == 32
    shown = [repr(lock), str(lock), repr(lock.grant), str(lock.grant), repr(lock.describe()),
             lock.owner_digest]
    assert lock.describe().owner_digest == lock.owner_digest == dlm.owner_digest(owner)
    # Errors raised while holding: lock-fn's, and ones whose text would carry the token.
    with pytest.raises(dlm.LockNotAcquiredError) as again:
        lock.acquire()
    shown += [str(again.value), repr(again.value)]
    with pytest.raises(dlm.LockBusyError) as busy:
        dlm.LockFunction().acquire(resource, on_busy="error")
    shown.append(str(busy.value))
    echo = Interposed(real_lambda_client(), after=lambda p, a: (_ for _ in ()).throw(
        ReadTimeoutError(endpoint_url=f"http://x/{p.get('owner')}")) if p["op"] == "renew" else None)
    echoing = dlm.LockFunction(lambda_client=echo)
    with pytest.raises(dlm.EndpointUnreachableError) as cut:
        echoing.renew(resource, owner, fence=lock.fence)
    shown += [str(cut.value), repr(cut.value), cut.value.msg, *map(str, cut.value.args)]
    assert lock.release()
    shown += [repr(lock), repr(lock.last_release)]
    ours = [r for r in caplog.records if r.name.startswith("dynamo_dlm_fn")]
    shown += [r.getMessage() for r in ours] + [str(r.args) for r in ours]
    for text in shown:
        assert owner not in text, text
    assert "<owner>" in str(cut.value), "the token was there to scrub: the check is not vacuous"


def test_a_dropped_lock_stops_renewing(stack, resource):
    import gc
    lock = dlm.DynamoDbLock(resource, duration=0.6, auto_renew=True, on_lost=print)
    lock.acquire()
    thread = lock._renewer.thread
    assert thread.is_alive()
    del lock
    gc.collect()
    thread.join(2)
    assert not thread.is_alive(), "a lock nobody holds any more keeps renewing"
    # Its lease runs out; then the lock is free.
    taker = dlm.DynamoDbLock(resource)
    assert taker.acquire(timeout=5) and taker.release()
