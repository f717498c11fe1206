//! Semaphores against dynalite: the bound, fences, expired holders purged, per-holder release and
//! renew, LimitMismatch, the FIFO queue with handoff, no barging, cancel, describe.

use crate::support;

use std::time::Duration;

use lock_fn::engine::reply::Reply;
use lock_protocol::{AcquireRequest, CancelRequest, RenewRequest};
use support::*;

fn sem(resource: &str, limit: u32, duration_ms: u64, owner: &str) -> AcquireRequest {
    AcquireRequest {
        limit: Some(limit),
        ..acq(resource, duration_ms, Some(owner))
    }
}

fn queued(resource: &str, limit: u32, owner: &str) -> AcquireRequest {
    AcquireRequest {
        queue: Some(true),
        ..sem(resource, limit, 60_000, owner)
    }
}

async fn cancel(
    engine: &lock_fn::engine::LockEngine,
    r: &str,
    owner: &str,
) -> lock_protocol::CancelResponse {
    let req = CancelRequest {
        resource_id: r.into(),
        owner: owner.into(),
    };
    match engine.cancel(req, None).await.expect("cancel").reply {
        Reply::Cancel(c) => c,
        other => panic!("cancel answered {other:?}"),
    }
}

#[tokio::test]
async fn at_most_limit_holders_each_with_a_rising_fence() {
    let (engine, _, _) = dynalite_engine().await;
    let mut fences = Vec::new();
    for (i, owner) in ["a", "b", "c"].iter().enumerate() {
        let g = granted(&engine, sem("r", 3, 60_000, owner)).await;
        assert_eq!((g.limit, g.holders), (Some(3), Some(i as u32 + 1)), "{g:?}");
        fences.push(g.fence);
    }
    assert!(fences.windows(2).all(|w| w[0] < w[1]), "{fences:?}");
    let full = refused(&engine, sem("r", 3, 60_000, "d")).await;
    assert_eq!((full.limit, full.holders), (Some(3), Some(3)), "{full:?}");
    assert!(full.holder_expires_at_ms.is_some());
    // The same owner asking again is the same grant.
    let again = granted(&engine, sem("r", 3, 60_000, "b")).await;
    assert!(again.reacquired && again.fence == fences[1], "{again:?}");
    assert!(
        release_fenced(&engine, "r", "b", Some(fences[1]))
            .await
            .released
    );
    let d = granted(&engine, sem("r", 3, 60_000, "d")).await;
    assert!(d.fence > fences[2]);
    let status = describe_as(&engine, "r", Some("d")).await;
    assert_eq!(status.limit, Some(3));
    assert_eq!(status.yours, Some(true));
    let owners: Vec<_> = status.holders.iter().map(|h| h.owner.clone()).collect();
    assert_eq!(
        owners,
        ["a", "c", "d"].map(lock_protocol::owner_digest),
        "by fence, digests only"
    );
}

#[tokio::test]
async fn slots_of_expired_holders_are_reused_at_once_and_purged_by_the_grant() {
    let (engine, _, _) = dynalite_engine().await;
    granted(&engine, sem("r", 2, 300, "dies-1")).await;
    granted(&engine, sem("r", 2, 300, "dies-2")).await;
    refused(&engine, sem("r", 2, 60_000, "next")).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    let g = granted(&engine, sem("r", 2, 60_000, "next")).await;
    assert_eq!(g.holders, Some(1));
    // Both purged holders ran out without a release: two lost leases; three grants made.
    use lock_fn::world::metrics::Metric;
    let counts = engine.metrics().take();
    assert_eq!(
        (
            counts.total(Metric::LostLeases),
            counts.total(Metric::Grants)
        ),
        (2, 3),
        "{counts:?}"
    );
    let status = describe(&engine, "r").await;
    assert_eq!(status.holders.len(), 1);
    // The dead holders cannot release, renew or re-acquire what is gone.
    assert!(!release(&engine, "r", "dies-1").await.released);
    assert!(!renew(&engine, "r", "dies-2", 1000).await.renewed);
}

#[tokio::test]
async fn another_limit_or_the_mutex_is_a_limit_mismatch_and_writes_nothing() {
    let (engine, client, table) = dynalite_engine().await;
    let g = granted(&engine, sem("s", 3, 60_000, "a")).await;
    let before = raw_item(&client, &table, "s").await;
    let err = engine
        .acquire(sem("s", 4, 60_000, "b"), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type().as_str(), "LimitMismatch");
    assert!(
        err.to_string().contains("limit 3") && err.to_string().contains("limit 4"),
        "{err}"
    );
    let queued_mutex = AcquireRequest {
        queue: Some(true),
        ..acq("s", 60_000, Some("b"))
    };
    assert_eq!(
        error_name(engine.acquire(queued_mutex, None).await),
        "LimitMismatch"
    );
    let status = describe(&engine, "s").await;
    assert_eq!(
        (status.holders.len(), status.queue_length),
        (1, 0),
        "nothing written"
    );
    assert_eq!(status.holders[0].fence, g.fence);
    assert_eq!(
        raw_item(&client, &table, "s").await,
        before,
        "nothing written"
    );
    // A mutex is not a semaphore either.
    granted(&engine, acq("m", 60_000, Some("a"))).await;
    let before = raw_item(&client, &table, "m").await;
    assert_eq!(
        error_name(engine.acquire(sem("m", 2, 60_000, "b"), None).await),
        "LimitMismatch"
    );
    assert_eq!(
        raw_item(&client, &table, "m").await,
        before,
        "nothing written"
    );
    // An idle semaphore takes the new limit.
    assert!(
        release_fenced(&engine, "s", "a", Some(g.fence))
            .await
            .released
    );
    let g4 = granted(&engine, sem("s", 4, 60_000, "b")).await;
    assert_eq!(g4.limit, Some(4));
    assert!(g4.fence > g.fence);
}

#[tokio::test]
async fn release_and_renew_are_per_holder_and_exact() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, sem("r", 2, 60_000, "a")).await;
    let b = granted(&engine, sem("r", 2, 60_000, "b")).await;
    assert!(
        !release_fenced(&engine, "r", "a", Some(b.fence))
            .await
            .released,
        "b's fence"
    );
    let renewed = engine
        .renew(
            RenewRequest {
                resource_id: "r".into(),
                owner: "b".into(),
                duration_ms: Some(120_000),
                fence: Some(b.fence),
            },
            None,
        )
        .await
        .unwrap();
    match renewed.reply {
        Reply::Renew(r) => {
            let r = r.renewal.expect("renewed");
            assert_eq!(r.fence, b.fence);
            assert!(r.expires_at_ms > b.expires_at_ms);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    // Repeated after a lost answer: recognised by its fence.
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    let status = describe(&engine, "r").await;
    assert_eq!(status.holders.len(), 1);
    assert_eq!(status.holders[0].fence, b.fence);
}

#[tokio::test]
async fn a_full_semaphore_queues_fifo_hands_slots_over_and_never_lets_a_try_barge() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, sem("r", 2, 60_000, "a")).await;
    let b = granted(&engine, sem("r", 2, 60_000, "b")).await;
    for (i, w) in ["w1", "w2", "w3"].iter().enumerate() {
        let busy = refused(&engine, queued("r", 2, w)).await;
        assert!(
            busy.queued && busy.position == Some(i as u32 + 1),
            "{busy:?}"
        );
    }
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    // The freed slot went to w1 in the release's write; a try cannot take anything.
    refused(&engine, sem("r", 2, 60_000, "barger")).await;
    let w1 = granted(&engine, queued("r", 2, "w1")).await;
    assert_eq!(w1.fence, b.fence + 1, "handed over with the next fence");
    assert!(!w1.reacquired);
    assert_eq!(
        refused(&engine, queued("r", 2, "w3")).await.position,
        Some(2)
    );
    assert!(
        release_fenced(&engine, "r", "b", Some(b.fence))
            .await
            .released
    );
    let w2 = granted(&engine, queued("r", 2, "w2")).await;
    assert_eq!(w2.fence, w1.fence + 1);
    // w3 gives up; a grant made to it meanwhile would be handed on.
    let c = cancel(&engine, "r", "w3").await;
    assert!(c.cancelled, "{c:?}");
    assert_eq!(describe(&engine, "r").await.queue_length, 0);
    // A holder that cancels releases its slot.
    let c = cancel(&engine, "r", "w1").await;
    assert!(c.released, "{c:?}");
    granted(&engine, sem("r", 2, 60_000, "later")).await;
}

#[tokio::test]
async fn a_waiter_waiting_in_function_is_handed_its_slot() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, sem("r", 1 + 1, 60_000, "a")).await;
    granted(&engine, sem("r", 2, 60_000, "b")).await;
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let req = AcquireRequest {
                wait_ms: 5_000,
                ..queued("r", 2, "w")
            };
            engine.acquire(req, None).await
        })
    };
    // Release only once the waiter is queued and waiting in-function (no sleep as a stand-in).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !describe(&engine, "r")
        .await
        .queue
        .iter()
        .any(|w| w.waiting_now)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiter never queued"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let released = release_fenced(&engine, "r", "a", Some(a.fence)).await;
    let done = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the wait ends")
        .unwrap()
        .unwrap();
    match done.reply {
        Reply::Acquire(lock_protocol::AcquireResponse::Granted(g)) => {
            assert_eq!(g.duration_ms, 60_000, "its own lease, no claim window");
            assert_eq!(g.holders, Some(2));
            assert_eq!(
                Some(g.acquired_at_ms),
                released.released_at_ms,
                "granted by the releasing write itself (a handoff)"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A semaphore whose queue never empties is served by handoffs alone: each must move the item's TTL
/// time (`purge_at`) past the longest lease it can hold, or TTL deletes an item with live holders
/// and the next acquire creates a fresh one beside them (up to 2N holders).
#[tokio::test]
async fn a_handoff_moves_the_items_ttl_time_past_every_lease() {
    let (engine, client, table) = dynalite_engine().await;
    let a = granted(&engine, sem("r", 2, 60_000, "a")).await;
    granted(&engine, sem("r", 2, 60_000, "b")).await;
    assert!(refused(&engine, queued("r", 2, "w")).await.queued);
    // The takes set purge_at from their time; the handoff comes seconds later.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let before = lock_fn::world::clock::now_ms();
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    let item = raw_item(&client, &table, "r").await.expect("item");
    let purge: u64 = item["purge_at"].as_n().unwrap().parse().unwrap();
    let max = lock_fn::engine::config::Config::default()
        .max_duration
        .as_millis() as u64;
    assert!(
        purge >= lock_fn::model::item::purge_at(before + max),
        "purge_at {purge} is before an hour past the longest lease the handoff could grant"
    );
    let seen = describe(&engine, "r").await;
    assert_eq!(seen.holders.len(), 2, "w holds a's slot: {seen:?}");
}

/// Y's fenced release is applied but its answer lost; before lock-fn's retry, X - an older holder
/// whose fence shares Y's release slot (fence - 8) - releases and overwrites the slot. The retry
/// is refused and no record is found: that is no proof Y's release did nothing (in a semaphore an
/// older grant can reuse the slot), so the answer must say `uncertain`, never a plain "not held".
#[tokio::test]
async fn an_older_holder_reusing_the_release_slot_leaves_the_answer_uncertain() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use support::fault_proxy::Step;

    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let direct = Arc::new(direct_engine(&table));
    let x = granted(&direct, sem("r", 2, 60_000, "x")).await;
    for i in 0..7 {
        let owner = format!("o{i}");
        let g = granted(&direct, sem("r", 2, 60_000, &owner)).await;
        assert!(
            release_fenced(&direct, "r", &owner, Some(g.fence))
                .await
                .released
        );
    }
    let y = granted(&direct, sem("r", 2, 60_000, "y")).await;
    assert_eq!(y.fence, x.fence + 8, "one release slot for both");

    // Y's release: a blind mutex write (refused), a read, then its semaphore write - applied, the
    // answer lost. X releases just before lock-fn's retry of that write.
    proxy.then(Step::Forward);
    proxy.then(Step::Forward);
    proxy.then(Step::LoseAnswer(Duration::ZERO));
    let sem_writes = Arc::new(AtomicUsize::new(0));
    let (d, n, x_fence) = (direct.clone(), sem_writes.clone(), x.fence);
    proxy.before_each_write(Some(Arc::new(move |request: String| {
        let (d, n) = (d.clone(), n.clone());
        Box::pin(async move {
            if request.contains("sem_holders") && n.fetch_add(1, Ordering::SeqCst) == 1 {
                assert!(release_fenced(&d, "r", "x", Some(x_fence)).await.released);
            }
        })
    })));
    let answer = release_fenced(&engine, "r", "y", Some(y.fence)).await;
    proxy.before_each_write(None);
    assert!(sem_writes.load(Ordering::SeqCst) >= 2, "the retry happened");
    assert!(
        describe(&direct, "r").await.holders.is_empty(),
        "both releases were applied"
    );
    assert!(
        !answer.released && answer.uncertain,
        "Y's release ended its grant, but no record can show it: uncertain, never a plain \
         \"not held\" (nor a \"released\" nothing proves): {answer:?}"
    );
}

/// One write purges at most 16 expired holders. H's renew is built just before its lease ends and
/// lands late; meanwhile a lower limit is asked of the idle semaphore twice. Counting the expired
/// holders no write checked (H among them) as free slots would admit 2 holders beside H, which the
/// late renew then brings back: 3 holders under a limit of 2.
#[tokio::test]
async fn expired_holders_no_write_checks_are_never_counted_free() {
    use support::fault_proxy::Step;

    let (engine, proxy, table) = proxied_engine_with(1, None).await;
    let direct = direct_engine(&table);
    for i in 0..33 {
        granted(&direct, sem("r", 40, 1_500, &format!("s{i:02}"))).await;
    }
    let h = granted(&direct, sem("r", 40, 1_800, "h")).await;
    let h_fence = h.fence;
    sleep_until_ms(h.expires_at_ms - 150).await;
    // H's renew: a blind mutex renew (refused), a read, then its semaphore renew - held 400 ms.
    proxy.then(Step::Forward);
    proxy.then(Step::Forward);
    proxy.then(Step::Delay(Duration::from_millis(400)));
    let renewing = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let req = RenewRequest {
                resource_id: "r".into(),
                owner: "h".into(),
                duration_ms: Some(5_000),
                fence: Some(h.fence),
            };
            engine.renew(req, None).await.expect("renew")
        })
    };
    sleep_until_ms(h.expires_at_ms + 20).await;
    for owner in ["t1", "t2"] {
        let answer = direct.acquire(sem("r", 2, 60_000, owner), None).await;
        assert_eq!(
            error_name(answer),
            "LimitMismatch",
            "18 expired holders no write checks still count as taken"
        );
    }
    let late = match renewing.await.unwrap().reply {
        Reply::Renew(r) => r,
        other => panic!("{other:?}"),
    };
    assert!(
        late.renewed,
        "the late renew was built before H's lease ended and brought it back: {late:?}"
    );
    let seen = describe(&direct, "r").await;
    assert!(
        seen.holders.iter().any(|h| h.fence == h_fence),
        "H is back: {seen:?}"
    );
    assert!(
        seen.holders.len() <= seen.limit.unwrap_or(1) as usize,
        "{} live holders under a limit of {:?}",
        seen.holders.len(),
        seen.limit
    );
}

/// Y's fenced release is applied and answered, but the answer never reaches Y's caller; then X - an
/// older holder whose fence shares Y's release slot - releases and overwrites the slot; then Y's
/// caller repeats the release (a new invocation, nothing ambiguous in it). No record is found, and
/// that is no proof Y's release did nothing: the answer must say `uncertain`, never "not held"
/// (the client would throw finished work away as done without the lock).
#[tokio::test]
async fn a_repeated_release_whose_slot_was_reused_is_uncertain_not_refused() {
    let (engine, _, _) = dynalite_engine().await;
    let x = granted(&engine, sem("r", 2, 60_000, "x")).await;
    for i in 0..7 {
        let owner = format!("o{i}");
        let g = granted(&engine, sem("r", 2, 60_000, &owner)).await;
        assert!(
            release_fenced(&engine, "r", &owner, Some(g.fence))
                .await
                .released
        );
    }
    let y = granted(&engine, sem("r", 2, 60_000, "y")).await;
    assert_eq!(y.fence, x.fence + 8, "one release slot for both");
    assert!(
        release_fenced(&engine, "r", "y", Some(y.fence))
            .await
            .released
    );
    assert!(
        release_fenced(&engine, "r", "x", Some(x.fence))
            .await
            .released
    );
    let again = release_fenced(&engine, "r", "y", Some(y.fence)).await;
    assert!(!again.released && again.uncertain, "{again:?}");
}

/// Two deployments share a table, or the maximum lease was lowered: a holder took a 10 h lease
/// under the old maximum. A later grant under a 1 h maximum must not bring the item's TTL time
/// (`purge_at`) before an hour past that holder's lease: TTL would delete the item under it and a
/// new item would admit N more.
#[tokio::test]
async fn a_lower_maximum_never_brings_the_ttl_time_before_a_live_lease() {
    let (long, client, table) = dynalite_engine().await;
    let short = engine_on(
        &client,
        &table,
        lock_fn::engine::config::Config {
            max_duration: Duration::from_secs(3600),
            ..lock_fn::engine::config::Config::default()
        },
    );
    let a = granted(&long, sem("r", 2, 10 * 3600 * 1000, "a")).await;
    granted(&short, sem("r", 2, 1_000, "b")).await;
    let item = raw_item(&client, &table, "r").await.expect("item");
    let purge: u64 = item["purge_at"].as_n().unwrap().parse().unwrap();
    assert!(
        purge >= lock_fn::model::item::purge_at(a.expires_at_ms),
        "purge_at {purge} is before an hour past a's lease end {}",
        a.expires_at_ms
    );
}

/// A holder whose own stale queue entry is the only live waiter (two invocations of one owner)
/// must be able to release: its entry goes with the release, instead of every round being refused
/// by the live queue until the release answers `Throttled`.
#[tokio::test]
async fn a_holder_whose_own_entry_is_the_only_waiter_can_release() {
    let (engine, client, table) = dynalite_engine().await;
    let a = granted(&engine, sem("r", 2, 60_000, "a")).await;
    put_waiter_entry(&client, &table, "r", "a", 60_000).await;
    let req = lock_protocol::ReleaseRequest {
        resource_id: "r".into(),
        owner: "a".into(),
        fence: Some(a.fence),
    };
    let done = engine.release(req, None).await;
    assert!(
        matches!(&done, Ok(d) if matches!(&d.reply, Reply::Release(r) if r.released)),
        "{done:?}"
    );
    let d = describe(&engine, "r").await;
    assert!(d.holders.is_empty() && d.queue_length == 0, "{d:?}");
}

/// A holder whose lease ran out, eight grants after its own (its release slot may be reused), is
/// still told plainly that its release did nothing: its expired entry is still in the item, and a
/// release would have removed it. (The lost-lease signal stays crisp where it can be proved.)
#[tokio::test]
async fn an_expired_holder_still_in_the_item_is_told_plainly_not_held() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, sem("r", 2, 1_500, "a")).await;
    for i in 0..8 {
        let owner = format!("o{i}");
        let g = granted(&engine, sem("r", 2, 60_000, &owner)).await;
        assert!(
            release_fenced(&engine, "r", &owner, Some(g.fence))
                .await
                .released
        );
    }
    let d = describe(&engine, "r").await;
    assert!(
        d.holders.iter().any(|h| h.fence == a.fence),
        "a still holds: {d:?}"
    );
    sleep_until_ms(a.expires_at_ms).await;
    let late = release_fenced(&engine, "r", "a", Some(a.fence)).await;
    assert!(!late.released && !late.uncertain, "{late:?}");
}
