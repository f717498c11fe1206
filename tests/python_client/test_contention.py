"""Threads contending for one resource through `with DynamoDbLock(...)`, judged by the project's
history check on lock-fn's clock: sorted by `acquired_at_ms`, no grant begins before the one before
it was released, fences strictly rise, and every thread is served every round (nobody starves)."""
import threading
import time

import dynamo_dlm_fn as dlm


def contend(worker, threads, rounds, timeout=60):
    records, errors = [], []
    mutex = threading.Lock()

    def run(i):
        try:
            for r in range(rounds):
                rec = worker(i, r)
                with mutex:
                    records.append(rec)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in ts), "a waiter hung"
    assert not errors, errors
    return records


def check_history(records):
    """No overlap on lock-fn's clock, fences strictly rising in grant order."""
    records.sort(key=lambda g: g["acquired_at_ms"])
    for g in records:
        assert g["released_at_ms"] >= g["acquired_at_ms"], g
    for before, after in zip(records, records[1:]):
        assert after["acquired_at_ms"] >= before["released_at_ms"], (before, after)
        assert after["fence"] > before["fence"], (before, after)


def test_threads_take_turns_with_rising_fences(stack, resource):
    threads, rounds = 8, 5

    def worker(i, r):
        with dlm.DynamoDbLock(resource, duration=10, holder=f"thread-{i}") as lock:
            assert lock.is_held()
            grant = lock.grant
            time.sleep(0.003)
        outcome = lock.last_release
        assert outcome.released, outcome
        return {"worker": i, "round": r, "fence": grant.fence,
                "acquired_at_ms": grant.acquired_at_ms, "released_at_ms": outcome.released_at_ms}

    records = contend(worker, threads, rounds)
    assert len(records) == threads * rounds
    check_history(records)
    # Nobody starved: every thread finished its rounds within `contend`'s join timeout.
    status = dlm.LockFunction().describe(resource)
    assert not status.held and status.queue_length == 0, status


def test_the_history_check_catches_an_overlap():
    """The check above can fail: two grants that overlap on lock-fn's clock, or a fence that does
    not rise, are caught."""
    a = {"fence": 1, "acquired_at_ms": 100, "released_at_ms": 200}
    overlapping = {"fence": 2, "acquired_at_ms": 150, "released_at_ms": 250}
    stale_fence = {"fence": 1, "acquired_at_ms": 300, "released_at_ms": 350}
    for bad in (overlapping, stale_fence):
        try:
            check_history([dict(a), dict(bad)])
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {bad}")


def test_a_semaphore_admits_at_most_its_limit(stack, resource):
    threads, rounds, limit = 5, 3, 2

    def worker(i, r):
        lock = dlm.DynamoDbLock(resource, duration=10, concurrency=limit)
        with lock:
            grant = lock.grant
            assert grant.limit == limit and 1 <= grant.holders <= limit, grant
            time.sleep(0.01)
        return {"worker": i, "fence": grant.fence, "acquired_at_ms": grant.acquired_at_ms,
                "released_at_ms": lock.last_release.released_at_ms}

    records = contend(worker, threads, rounds)
    assert len(records) == threads * rounds
    # At most `limit` leases at any instant of lock-fn's clock (a release at t frees before a
    # grant at t), and fences rise in grant order.
    events = sorted([(g["acquired_at_ms"], 1) for g in records] +
                    [(g["released_at_ms"], -1) for g in records], key=lambda e: (e[0], e[1]))
    held = peak = 0
    for _, step in events:
        held += step
        peak = max(peak, held)
    assert 1 <= peak <= limit, peak
    by_grant = sorted(records, key=lambda g: (g["acquired_at_ms"], g["fence"]))
    assert [g["fence"] for g in by_grant] == sorted(g["fence"] for g in records)
    assert len({g["fence"] for g in records}) == len(records)


def test_waiting_by_single_tries_is_safe_too(stack, resource):
    """`queue=False` (barging: repeated single tries, no place kept) keeps exclusion and rising
    fences; nobody is left queued."""
    def worker(i, r):
        lock = dlm.DynamoDbLock(resource, duration=10, queue=False)
        with lock:
            grant = lock.grant
            time.sleep(0.003)
        return {"worker": i, "fence": grant.fence, "acquired_at_ms": grant.acquired_at_ms,
                "released_at_ms": lock.last_release.released_at_ms}

    records = contend(worker, threads=4, rounds=3)
    assert len(records) == 12
    check_history(records)
    assert dlm.LockFunction().describe(resource).queue_length == 0
