//! The FIFO queue against dynalite: order, no barging, dead waiters, handoff, cancel, cap.

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lock_protocol::{AcquireRequest, AcquireResponse};
use support::*;

fn queued(resource: &str, duration_ms: u64, owner: &str, wait_ms: u64) -> AcquireRequest {
    AcquireRequest {
        wait_ms,
        queue: Some(true),
        ..acq(resource, duration_ms, Some(owner))
    }
}

#[tokio::test]
async fn a_release_hands_the_lock_to_the_waiter() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, Some("a"))).await;
    let busy = match acquire(&engine, queued("r", 60_000, "b", 0)).await {
        AcquireResponse::Busy(b) => b,
        other => panic!("{other:?}"),
    };
    assert!(busy.queued && busy.position == Some(1), "{busy:?}");
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    let b = granted(&engine, queued("r", 60_000, "b", 0)).await;
    assert_eq!(b.fence, a.fence + 1);
}

#[tokio::test]
async fn a_release_without_a_fence_hands_on_too() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, Some("a"))).await;
    assert!(refused(&engine, queued("r", 60_000, "b", 0)).await.queued);
    assert!(release(&engine, "r", "a").await.released);
    let b = granted(&engine, queued("r", 60_000, "b", 0)).await;
    assert_eq!(b.fence, a.fence + 1, "handed over in the release");
}

/// A handoff nobody claimed leaves its pending full lease behind; the next holder (a single try)
/// must not inherit it when it asks again.
#[tokio::test]
async fn a_take_after_an_unclaimed_handoff_never_inherits_its_claim() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        claim: std::time::Duration::from_millis(200),
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client, &table, config);
    let a = granted(&engine, acq("r", 60_000, Some("a"))).await;
    assert!(refused(&engine, queued("r", 60_000, "w", 0)).await.queued);
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let x = granted(&engine, acq("r", 1_000, Some("x"))).await;
    assert_eq!(x.fence, a.fence + 2, "the unclaimed handoff ran out");
    let again = granted(&engine, queued("r", 1_000, "x", 0)).await;
    assert_eq!(
        (again.fence, again.expires_at_ms),
        (x.fence, x.expires_at_ms),
        "the same 1 s grant, not the waiter's 60 s claim"
    );
}

/// A release whose every round is refused because a peer changes the queue head between its read
/// and its write (16 rounds) decided nothing: it must answer `Throttled` (retry), never
/// `released: false` - the caller still holds the lock, and a "not held" answer would have it
/// walk away from a lease that then blocks everyone until it runs out. The retry is exact.
#[tokio::test]
async fn a_release_that_keeps_losing_the_race_answers_throttled_not_not_held() {
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let peer = Arc::new(direct_engine(&table));
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    for w in ["w1", "w2"] {
        assert!(refused(&peer, queued("r", 60_000, w, 0)).await.queued);
    }
    // Before each of the release's writes, the head leaves and a new waiter joins at the tail: the
    // head the release read is never the head its write finds. (A new owner each time: an owner's
    // acquire right after its own cancel is a stale one to lock-fn - see Cancel in DESIGN.md.)
    let swaps = Arc::new(AtomicUsize::new(0));
    let (p, n) = (peer.clone(), swaps.clone());
    proxy.before_each_write(Some(Arc::new(move |_| {
        let (p, n) = (p.clone(), n.clone());
        Box::pin(async move {
            let k = n.fetch_add(1, Ordering::SeqCst);
            let cancel = lock_protocol::CancelRequest {
                resource_id: "r".into(),
                owner: format!("w{}", k + 1),
            };
            p.cancel(cancel, None).await.expect("cancel");
            let owner = format!("w{}", k + 3);
            assert!(refused(&p, queued("r", 60_000, &owner, 0)).await.queued);
        })
    })));
    let req = lock_protocol::ReleaseRequest {
        resource_id: "r".into(),
        owner: "h".into(),
        fence: Some(h.fence),
    };
    let answer = engine.release(req, None).await;
    proxy.before_each_write(None);
    assert!(swaps.load(Ordering::SeqCst) >= 16, "every round lost");
    assert_eq!(error_name(answer), "Throttled", "nothing was decided");
    let seen = describe(&peer, "r").await;
    assert_eq!(
        (seen.held, seen.fence, seen.queue_length),
        (true, Some(h.fence), 2),
        "h still holds its grant: {seen:?}"
    );
    assert!(
        release_fenced(&engine, "r", "h", Some(h.fence))
            .await
            .released,
        "the retried release ends the same grant"
    );
    let next = describe(&peer, "r").await;
    assert_eq!(
        next.fence,
        Some(h.fence + 1),
        "handed to the head: {next:?}"
    );
}

/// Owner "c"'s cancel of "r", as the two tests below send it.
fn cancel_of_c() -> lock_protocol::CancelRequest {
    lock_protocol::CancelRequest {
        resource_id: "r".into(),
        owner: "c".into(),
    }
}

/// Sends [`cancel_of_c`] while `proxy`'s write hook (counting in `rounds`) makes every round lose,
/// then takes the hook off; checks that all its rounds were played.
async fn cancel_of_c_losing_every_round(
    engine: &lock_fn::engine::LockEngine,
    proxy: &support::fault_proxy::FaultProxy,
    rounds: &AtomicUsize,
) -> Result<lock_fn::engine::Executed, lock_fn::engine::error::LockError> {
    let answer = engine.cancel(cancel_of_c(), None).await;
    proxy.before_each_write(None);
    assert!(rounds.load(Ordering::SeqCst) >= 8, "every round lost");
    answer
}

/// From the second review of the cancel marks: a cancel whose every round is refused (the queue
/// keeps changing under it) has left no mark and may not have taken its entry out: it must answer
/// `Throttled` (retry), never `cancelled: false` - its caller would go, and a later handoff grant
/// the lock to an owner nobody waits for.
#[tokio::test]
async fn a_cancel_that_keeps_losing_the_race_answers_throttled_not_not_cancelled() {
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let peer = Arc::new(direct_engine(&table));
    granted(&peer, acq("r", 60_000, Some("h"))).await;
    assert!(refused(&peer, queued("r", 60_000, "c", 0)).await.queued);
    // Before each of the cancel's writes a dead entry is put at the head of the queue: the entry
    // the cancel read is never at the index its write finds it.
    let rounds = Arc::new(AtomicUsize::new(0));
    let direct = client(&dynalite_endpoint());
    let (n, c, t) = (rounds.clone(), direct.clone(), table.clone());
    proxy.before_each_write(Some(Arc::new(move |_| {
        let (n, c, t) = (n.clone(), c.clone(), t.clone());
        Box::pin(async move {
            let k = n.fetch_add(1, Ordering::SeqCst);
            let dead = AttributeValue::M(
                [
                    ("w", AttributeValue::S(format!("dead{k}"))),
                    ("d", AttributeValue::N("1000".into())),
                    ("x", AttributeValue::N("1".into())),
                    ("a", AttributeValue::N("0".into())),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            );
            c.update_item()
                .table_name(&t)
                .key("resource_id", AttributeValue::S("r".into()))
                .update_expression("SET waiters = list_append(:dead, waiters)")
                .expression_attribute_values(":dead", AttributeValue::L(vec![dead]))
                .send()
                .await
                .unwrap();
        })
    })));
    let answer = cancel_of_c_losing_every_round(&engine, &proxy, &rounds).await;
    assert_eq!(error_name(answer), "Throttled", "nothing was decided");
    let retried = engine.cancel(cancel_of_c(), None).await.expect("cancel");
    match retried.reply {
        lock_fn::engine::reply::Reply::Cancel(r) => assert!(r.cancelled, "{r:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(describe(&peer, "r").await.queue_length, 0);
}

/// The same for an owner that holds the lock: every round's mark write is refused (a peer sets the
/// owner's mark ahead before one write and takes it away before the next), and the cancel still
/// releases the grant its last read showed before it answers `Throttled` - which then says the
/// release may have been applied.
#[tokio::test]
async fn a_holders_cancel_that_keeps_losing_the_race_still_releases_its_grant() {
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let peer = Arc::new(direct_engine(&table));
    let g = granted(&peer, queued("r", 60_000, "c", 0)).await;
    let rounds = Arc::new(AtomicUsize::new(0));
    let direct = client(&dynalite_endpoint());
    let digest = lock_protocol::owner_digest("c");
    let (n, c, t) = (rounds.clone(), direct.clone(), table.clone());
    proxy.before_each_write(Some(Arc::new(move |request: String| {
        let (n, c, t, digest) = (n.clone(), c.clone(), t.clone(), digest.clone());
        Box::pin(async move {
            if !request.contains("cx") {
                return; // the release that follows
            }
            let k = n.fetch_add(1, Ordering::SeqCst);
            let update = || {
                c.update_item()
                    .table_name(&t)
                    .key("resource_id", AttributeValue::S("r".into()))
            };
            if k % 2 == 0 {
                let marks = AttributeValue::M(Default::default());
                update()
                    .update_expression("SET cx = if_not_exists(cx, :marks)")
                    .expression_attribute_values(":marks", marks)
                    .send()
                    .await
                    .unwrap();
                let ahead = lock_fn::world::clock::now_ms() + 600_000;
                update()
                    .expression_attribute_names("#me", digest)
                    .update_expression("SET cx.#me = :ahead")
                    .expression_attribute_values(":ahead", AttributeValue::N(ahead.to_string()))
                    .send()
                    .await
                    .unwrap();
            } else {
                update()
                    .expression_attribute_names("#me", digest)
                    .update_expression("REMOVE cx.#me")
                    .send()
                    .await
                    .unwrap();
            }
        })
    })));
    let answer = cancel_of_c_losing_every_round(&engine, &proxy, &rounds).await;
    let e = answer.expect_err("Throttled");
    assert_eq!(e.error_type().as_str(), "Throttled");
    assert!(e.to_string().contains("may have been applied"), "{e}");
    let seen = describe(&peer, "r").await;
    assert!(!seen.held, "the grant {} was released: {seen:?}", g.fence);
}

/// A peer that deletes the item between a waiter's read and its join (dynamo-dlm's release is a
/// DeleteItem) must not leave behind an item that holds only a queue: it would have no lease
/// attributes, so no acquire - ours or dynamo-dlm's - could succeed on it again, and no TTL time.
#[tokio::test]
async fn a_join_never_recreates_a_deleted_item_as_a_bare_queue() {
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let direct = client(&dynalite_endpoint());
    // A dynamo-dlm 1.0 holder with 10 s left.
    let expires = lock_fn::world::clock::now_ms() / 1000 + 10;
    put_dynamo_dlm_item(&direct, &table, "r", "py-holder", expires).await;
    let deleted = Arc::new(AtomicBool::new(false));
    let (d, c, t) = (deleted.clone(), direct.clone(), table.clone());
    proxy.before_each_write(Some(Arc::new(move |request: String| {
        let (d, c, t) = (d.clone(), c.clone(), t.clone());
        Box::pin(async move {
            // The holder releases just before the waiter's join lands.
            if request.contains("list_append") && !d.swap(true, Ordering::SeqCst) {
                let key = AttributeValue::S("r".into());
                c.delete_item()
                    .table_name(&t)
                    .key("resource_id", key)
                    .send()
                    .await
                    .unwrap();
            }
        })
    })));
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        engine.acquire(queued("r", 1_000, "w", 2_000), None),
    )
    .await
    .expect("answered within its wait");
    proxy.before_each_write(None);
    assert!(deleted.load(Ordering::SeqCst), "the join raced the delete");
    match answer.expect("acquire").reply {
        lock_fn::engine::reply::Reply::Acquire(AcquireResponse::Granted(g)) => assert!(g.fence > 0),
        other => panic!("the lock is free after the delete: {other:?}"),
    }
    let item = raw_item(&direct, &table, "r")
        .await
        .expect("the grant's item");
    for attribute in ["release_code", "expires", "expires_at_ms", "purge_at"] {
        assert!(
            item.contains_key(attribute),
            "{attribute} missing: {item:?}"
        );
    }
}

async fn cancel(
    engine: &lock_fn::engine::LockEngine,
    r: &str,
    owner: &str,
) -> lock_protocol::CancelResponse {
    let req = lock_protocol::CancelRequest {
        resource_id: r.into(),
        owner: owner.into(),
    };
    match engine.cancel(req, None).await.expect("cancel").reply {
        lock_fn::engine::reply::Reply::Cancel(c) => c,
        other => panic!("cancel answered {other:?}"),
    }
}

fn task(resource: &str, owner: &str, token: &str, wait_ms: u64) -> AcquireRequest {
    AcquireRequest {
        task_token: Some(token.into()),
        wait_ms,
        ..acq(resource, 60_000, Some(owner))
    }
}

/// A normal waiter's keep-place must never lower the queue mark (`qx`) below the place of a Step
/// Functions task queued behind it: a release on an instance that saw no queue lately would end the
/// lease without handing it on, skipping the live task, and a stranger's try would barge past it.
#[tokio::test]
async fn a_short_place_never_hides_a_task_queued_behind_it() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        waiter_ttl: Duration::from_millis(1_000),
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client, &table, config.clone());
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    assert!(refused(&engine, queued("r", 60_000, "d", 0)).await.queued);
    assert!(
        refused(&engine, task("r", "t", "token-t", 300_000))
            .await
            .queued
    );
    // Well within d's 1 s place (a loaded machine's store calls can take a few hundred ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = refused(&engine, queued("r", 60_000, "d", 0)).await;
    assert_eq!(
        (again.queued, again.position),
        (true, Some(1)),
        "d keeps its place"
    );
    assert!(
        release_fenced(&engine, "r", "h", Some(h.fence))
            .await
            .released
    );
    let d = granted(&engine, queued("r", 60_000, "d", 0)).await;
    // d's place (and every mark it wrote) has passed; the task's has not.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let fresh_instance = engine_on(&client, &table, config);
    assert!(
        release_fenced(&fresh_instance, "r", "d", Some(d.fence))
            .await
            .released
    );
    let after = describe(&fresh_instance, "r").await;
    assert_eq!(
        (after.held, after.owner.clone()),
        (true, Some(lock_protocol::owner_digest("t"))),
        "handed to the task waiting behind: {after:?}"
    );
    let stranger = refused(&fresh_instance, acq("r", 1_000, Some("x"))).await;
    assert!(!stranger.queued, "{stranger:?}");
}

/// When the waiter that set the queue mark leaves (a task's cancel) and only dead entries remain, a
/// release must not be refused round after round by the mark until it passes (a task's mark lasts
/// its `wait_ms`, up to 15 minutes), and a try must not be refused by it either.
#[tokio::test]
async fn a_mark_left_by_a_waiter_that_left_holds_nothing_back() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        waiter_ttl: Duration::from_millis(300),
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client, &table, config);
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    assert!(refused(&engine, queued("r", 60_000, "a", 0)).await.queued);
    assert!(
        refused(&engine, task("r", "t", "token-t", 300_000))
            .await
            .queued
    );
    assert!(cancel(&engine, "r", "t").await.cancelled);
    tokio::time::sleep(Duration::from_millis(600)).await; // a's place has passed
    let req = lock_protocol::ReleaseRequest {
        resource_id: "r".into(),
        owner: "h".into(),
        fence: Some(h.fence),
    };
    let released = engine.release(req, None).await;
    assert!(
        matches!(&released, Ok(done) if matches!(&done.reply, lock_fn::engine::reply::Reply::Release(r) if r.released)),
        "{released:?}"
    );
    granted(&engine, acq("r", 1_000, Some("x"))).await;
}

/// `cancel` answered `cancelled: true` must hold against the owner's own invocation still waiting
/// in-function: it must not find itself unqueued, join again and be granted (a ghost grant nobody
/// releases, blocking everyone for a full lease).
#[tokio::test]
async fn a_cancelled_wait_never_comes_back_as_a_grant() {
    let (engine, _, _) = dynalite_engine().await;
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move { acquire(&engine, queued("r", 20_000, "w", 2_500)).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(cancel(&engine, "r", "w").await.cancelled);
    assert!(
        release_fenced(&engine, "r", "h", Some(h.fence))
            .await
            .released
    );
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the wait ends")
        .unwrap();
    assert!(
        matches!(&answer, AcquireResponse::Busy(b) if !b.queued),
        "the cancelled wait answers busy, not queued: {answer:?}"
    );
    let d = describe(&engine, "r").await;
    assert!(!d.held && d.queue_length == 0, "{d:?}");
}

/// A release never hands the lock back to the releasing owner, even when that owner also has a live
/// queue entry; the entry goes with the release.
#[tokio::test]
async fn a_release_never_hands_the_lock_back_to_its_own_owner() {
    let (engine, client, table) = dynalite_engine().await;
    let o = granted(&engine, acq("r", 60_000, Some("o"))).await;
    put_waiter_entry(&client, &table, "r", "o", 60_000).await;
    assert!(
        release_fenced(&engine, "r", "o", Some(o.fence))
            .await
            .released
    );
    let d = describe(&engine, "r").await;
    assert!(!d.held && d.queue_length == 0, "{d:?}");
}

/// A holder asking again with a live queue entry of its own (two invocations of one owner) is
/// answered its grant and leaves the queue: its stale entry must not wait for a handoff to itself.
#[tokio::test]
async fn a_holder_asking_again_leaves_the_queue() {
    let (engine, client, table) = dynalite_engine().await;
    let o = granted(&engine, acq("r", 60_000, Some("o"))).await;
    put_waiter_entry(&client, &table, "r", "o", 60_000).await;
    let again = granted(&engine, queued("r", 60_000, "o", 0)).await;
    assert_eq!(again.fence, o.fence);
    assert_eq!(describe(&engine, "r").await.queue_length, 0);
}

/// Two invocations of one owner race: one takes the free lock while the other's join, decided
/// from a read that showed the lock held by someone else, lands. The join must be refused (the
/// owner holds): a holder with a live entry of its own is handed the lock back by its release.
#[tokio::test]
async fn a_join_is_refused_to_the_owner_holding_the_lock() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use support::fault_proxy::WriteHook;
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let direct = std::sync::Arc::new(direct_engine(&table));
    let h = granted(&direct, acq("r", 60_000, Some("h"))).await;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let (d, once) = (direct.clone(), done.clone());
    let hook: WriteHook = std::sync::Arc::new(move |request: String| {
        let (d, once) = (d.clone(), once.clone());
        Box::pin(async move {
            if request.contains("list_append") && !once.swap(true, Ordering::SeqCst) {
                // Before o's join lands: h releases and o's other invocation takes the lock.
                assert!(release_fenced(&d, "r", "h", Some(h.fence)).await.released);
                granted(&d, acq("r", 60_000, Some("o"))).await;
            }
        })
    });
    proxy.before_each_write(Some(hook));
    let answer = acquire(&engine, queued("r", 60_000, "o", 0)).await;
    proxy.before_each_write(None);
    assert!(done.load(Ordering::SeqCst), "the race was run");
    assert!(matches!(answer, AcquireResponse::Granted(_)), "{answer:?}");
    assert_eq!(describe(&direct, "r").await.queue_length, 0);
}

/// The owner's idempotent re-acquire confirms a grant only while its lease runs: an expired lease
/// nobody took (a waiter is queued, so the try is refused) is not "held".
#[tokio::test]
async fn an_expired_untaken_lease_is_never_confirmed_as_held() {
    let (engine, _, _) = dynalite_engine().await;
    granted(&engine, acq("r", 300, Some("o"))).await;
    assert!(refused(&engine, queued("r", 60_000, "w", 0)).await.queued);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = refused(&engine, acq("r", 300, Some("o"))).await;
    assert!(!again.queued, "{again:?}");
}

/// Task-token entries are up to ~4.4 KB: a queue bounded only by count (`LOCK_MAX_WAITERS` up to
/// 256) passes DynamoDB's 400 KB item limit, and joins then fail as `Misconfigured`. The queue is
/// bounded by bytes too: a join that would not fit answers busy (a task: `LockBusy`).
#[tokio::test]
async fn a_queue_of_large_task_entries_is_full_before_the_item_limit() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        max_waiters: 256,
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client, &table, config);
    granted(&engine, acq("r", 60_000, Some("h"))).await;
    let token = "t".repeat(4_000);
    let mut full = None;
    for i in 0..120 {
        let mut req = task("r", &format!("exec-{i}"), &token, 300_000);
        req.holder = Some("x".repeat(256));
        let b = match engine.acquire(req, None).await {
            Ok(done) => match done.reply {
                lock_fn::engine::reply::Reply::Acquire(AcquireResponse::Busy(b)) => b,
                other => panic!("join {i}: {other:?}"),
            },
            Err(e) => panic!("join {i} failed: {e}"),
        };
        if !b.queued {
            full = Some(i);
            break;
        }
    }
    let full = full.expect("the queue fills up before 120 large entries");
    assert!(full >= 60, "only {full} entries fit");
    let item = raw_item(&client, &table, "r").await.expect("item");
    let bytes: usize = format!("{item:?}").len();
    assert!(bytes < 400_000, "{bytes}");
}

/// An engine on a fresh dynalite table with a waiting budget of `slots`.
async fn budget_engine(slots: usize) -> lock_fn::engine::LockEngine {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        wait_budget: Some(slots),
        ..lock_fn::engine::config::Config::default()
    };
    engine_on(&client, &table, config)
}

/// The in-function waiting budget is the whole function's: with a budget of one, one caller waits
/// in-function; a second one (another lock) is answered at once - queued (with its owner) or not
/// queued at all (without one, or a try with `wait_ms`).
#[tokio::test]
async fn the_waiting_budget_bounds_in_function_waits_across_locks() {
    let engine = budget_engine(1).await;
    for r in ["a", "b", "c", "d"] {
        granted(&engine, acq(r, 60_000, Some("h"))).await;
    }
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move { acquire(&engine, queued("a", 60_000, "wa", 2_000)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let b = refused(&engine, queued("b", 60_000, "wb", 2_000)).await;
    assert!(b.queued && b.position == Some(1), "{b:?}");
    let ownerless = AcquireRequest {
        wait_ms: 2_000,
        ..acq("c", 60_000, None)
    };
    let c = refused(&engine, ownerless).await;
    assert!(!c.queued && c.retry_after_ms >= 5, "{c:?}");
    assert_eq!(describe(&engine, "c").await.queue_length, 0, "never queued");
    let polling = AcquireRequest {
        wait_ms: 2_000,
        queue: Some(false),
        ..acq("d", 60_000, Some("wd"))
    };
    assert!(!refused(&engine, polling).await.queued);
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "none of them waited: {:?}",
        started.elapsed()
    );
    let d = describe(&engine, "a").await;
    assert!(d.queue[0].waiting_now, "the first waits in-function: {d:?}");
    waiting.abort();
}

/// A budget of two: two callers wait in-function on two locks (the second found the instance's own
/// slot taken and took the other one), a third is answered at once (no slot beyond the budget), and
/// a slot given back when a wait ends is taken again at once - not when that wait would have ended.
#[tokio::test]
async fn a_budget_of_two_lets_two_wait_and_a_slot_given_back_serves_the_next_wait() {
    let engine = budget_engine(2).await;
    let mut held = Vec::new();
    for r in ["a", "b", "c"] {
        held.push(granted(&engine, acq(r, 60_000, Some("h"))).await);
    }
    let wait = |r: &'static str, owner: &'static str| {
        let engine = engine.clone();
        tokio::spawn(async move { acquire(&engine, queued(r, 60_000, owner, 5_000)).await })
    };
    let waiting_now = |r: &'static str| {
        let engine = engine.clone();
        async move {
            let d = describe(&engine, r).await;
            d.queue.first().is_some_and(|w| w.waiting_now)
        }
    };
    let wa = wait("a", "wa");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wb = wait("b", "wb");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(waiting_now("a").await, "the first waits in-function");
    assert!(waiting_now("b").await, "the second takes the other slot");
    let started = std::time::Instant::now();
    let c = refused(&engine, queued("c", 60_000, "wc", 5_000)).await;
    assert!(c.queued, "{c:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1_000),
        "a third never waits: {:?}",
        started.elapsed()
    );
    // The first wait ends early (a grant); its slot is given back after the answer (the
    // invocation loop finishes that work before the next invocation).
    let a = &held[0];
    assert!(
        release_fenced(&engine, "a", &a.owner, Some(a.fence))
            .await
            .released
    );
    let got = wa.await.unwrap();
    assert!(
        matches!(got, lock_protocol::AcquireResponse::Granted(_)),
        "{got:?}"
    );
    lock_fn::engine::after_answer::finish().await;
    let wc = wait("c", "wc");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        waiting_now("c").await,
        "the slot given back serves the next wait at once"
    );
    wb.abort();
    wc.abort();
}

/// FIFO among waiters that join at the same moment: whatever order their joins commit in (the
/// queue shows it), the lock is handed over in exactly that order - passive waiters (claiming
/// their handoff when they come back) and waiters waiting in-function alike.
#[tokio::test]
async fn concurrent_joiners_are_served_in_the_order_their_joins_landed() {
    for in_function in [false, true] {
        let (engine, _, _) = dynalite_engine().await;
        let mut holder = granted(&engine, acq("r", 60_000, Some("h"))).await;
        let owners: Vec<String> = (0..6).map(|i| format!("w{i}")).collect();
        let wait_ms = if in_function { 10_000 } else { 0 };
        let joins: Vec<_> = owners
            .iter()
            .map(|o| {
                let (engine, o) = (engine.clone(), o.clone());
                tokio::spawn(
                    async move { acquire(&engine, queued("r", 60_000, &o, wait_ms)).await },
                )
            })
            .collect();
        // Every one has joined (in-function waiters are still waiting).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let order = loop {
            let d = describe(&engine, "r").await;
            if d.queue.len() == owners.len() {
                break d.queue.iter().map(|w| w.owner.clone()).collect::<Vec<_>>();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not all joined: {d:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let by_digest = |digest: &str| {
            owners
                .iter()
                .find(|o| lock_protocol::owner_digest(o) == digest)
                .unwrap()
                .clone()
        };
        let mut joins = joins;
        for (turn, digest) in order.iter().enumerate() {
            let next = by_digest(digest);
            let released = release_fenced(&engine, "r", &holder.owner, Some(holder.fence)).await;
            assert!(released.released, "{released:?}");
            let d = describe(&engine, "r").await;
            assert_eq!(d.owner.as_deref(), Some(digest.as_str()), "turn {turn}");
            holder = if in_function {
                // Its own waiting invocation is answered the grant.
                let i = owners.iter().position(|o| *o == next).unwrap();
                let answer = tokio::time::timeout(Duration::from_secs(5), &mut joins[i])
                    .await
                    .expect("answered")
                    .unwrap();
                match answer {
                    AcquireResponse::Granted(g) => g,
                    // Beyond the in-function places it was answered at once: it comes back.
                    AcquireResponse::Busy(b) if b.queued && turn >= 3 => {
                        granted(&engine, queued("r", 60_000, &next, 0)).await
                    }
                    other => panic!("turn {turn}: {other:?}"),
                }
            } else {
                granted(&engine, queued("r", 60_000, &next, 0)).await
            };
            assert_eq!(holder.owner, next);
        }
        for j in joins {
            j.abort();
        }
    }
}

/// The cancel lands between the waiting invocation's read (the lock free, it first in line) and its
/// take: the take is refused (its entry is gone), and on the next read the lock is free and nobody
/// is queued - it must not take it as a caller that was never queued: it was cancelled.
#[tokio::test]
async fn a_cancel_racing_the_waits_own_take_still_holds() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let direct = Arc::new(direct_engine(&table));
    granted(&direct, acq("r", 300, Some("h"))).await;
    let once = Arc::new(AtomicBool::new(false));
    let (d, o) = (direct.clone(), once.clone());
    proxy.before_each_write(Some(Arc::new(move |request: String| {
        let (d, o) = (d.clone(), o.clone());
        Box::pin(async move {
            if request.contains("waiters[0].w = :qw") && !o.swap(true, Ordering::SeqCst) {
                assert!(cancel(&d, "r", "w").await.cancelled);
            }
        })
    })));
    let answer = within(
        10,
        "the wait ends",
        acquire(&engine, queued("r", 20_000, "w", 3_000)),
    )
    .await;
    proxy.before_each_write(None);
    assert!(once.load(Ordering::SeqCst), "the cancel raced the take");
    assert!(
        matches!(&answer, AcquireResponse::Busy(b) if !b.queued),
        "{answer:?}"
    );
    let d = describe(&direct, "r").await;
    assert!(!d.held && d.queue_length == 0, "{d:?}");
}

/// A join applied but answered only after the attempt timeout; meanwhile the owner's `cancel` takes
/// the entry out. Re-sending the join would queue the cancelled owner again (and grant it later):
/// a join is sent at most once, and its unseen outcome counts as a place the cancel took away.
#[tokio::test]
async fn a_join_whose_answer_was_lost_is_never_sent_again_after_a_cancel() {
    let (engine, proxy, table) = proxied_engine_with(3, Some(Duration::from_millis(300))).await;
    let direct = Arc::new(direct_engine(&table));
    let h = granted(&direct, acq("r", 60_000, Some("h"))).await;
    proxy.then_matching(
        "list_append",
        support::fault_proxy::Step::LoseAnswer(Duration::from_millis(800)),
    );
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move { acquire(&engine, queued("r", 20_000, "w", 2_000)).await })
    };
    // The join has landed (its answer is held back): cancel it.
    within(5, "the join lands", async {
        while describe(&direct, "r").await.queue_length == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(cancel(&direct, "r", "w").await.cancelled);
    let answer = within(10, "the wait ends", waiting).await.unwrap();
    assert!(
        matches!(&answer, AcquireResponse::Busy(b) if !b.queued),
        "{answer:?}"
    );
    assert!(
        release_fenced(&direct, "r", "h", Some(h.fence))
            .await
            .released
    );
    let d = describe(&direct, "r").await;
    assert!(!d.held && d.queue_length == 0, "{d:?}");
}

/// Starts an acquire of owner "w" on "r" through `engine` whose first request containing `held`
/// the proxy holds for 800 ms, and returns once that request is held: the acquire has started and
/// waits on it.
async fn stale_acquire_of_w(
    engine: &lock_fn::engine::LockEngine,
    proxy: &support::fault_proxy::FaultProxy,
    held: &str,
) -> tokio::task::JoinHandle<AcquireResponse> {
    stale_acquire_of_w_held(engine, proxy, held, Duration::from_millis(800)).await
}

/// As [`stale_acquire_of_w`], its request held up `delay`.
async fn stale_acquire_of_w_held(
    engine: &lock_fn::engine::LockEngine,
    proxy: &support::fault_proxy::FaultProxy,
    held: &str,
    delay: Duration,
) -> tokio::task::JoinHandle<AcquireResponse> {
    proxy.then_matching(held, support::fault_proxy::Step::Delay(delay));
    let stale = {
        let engine = engine.clone();
        tokio::spawn(async move { acquire(&engine, queued("r", 20_000, "w", 0)).await })
    };
    within(5, "the request is held", async {
        while proxy.aimed() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    stale
}

/// Found by the simulator (seed 2568): an acquire invocation that started before its owner's
/// `cancel` but read the item only after it (its read held up; an abandoned invoke that runs on)
/// never saw its own entry, so it could not tell the cancel from a first visit and queued the owner
/// afresh - a later handoff then granted the lock to a caller told `cancelled: true`. The cancel's
/// mark (`cx`) tells it. (On dynalite, which returns no item on a refused write, the stale acquire's
/// first view of the item is the held read; on DynamoDB or moto the refused blind try would show
/// it its own entry, before the cancel, and it would answer queued at once.)
#[tokio::test]
async fn an_acquire_that_reads_after_its_owners_cancel_never_queues_it_again() {
    let (engine, proxy, table) = proxied_engine_with(3, Some(Duration::from_millis(3_000))).await;
    let direct = Arc::new(direct_engine(&table));
    let h = granted(&direct, acq("r", 60_000, Some("h"))).await;
    assert!(refused(&direct, queued("r", 20_000, "w", 0)).await.queued);
    let stale = stale_acquire_of_w(&engine, &proxy, "ConsistentRead").await;
    assert!(cancel(&direct, "r", "w").await.cancelled);
    let answer = within(10, "the stale acquire ends", stale).await.unwrap();
    assert!(
        matches!(&answer, AcquireResponse::Busy(b) if !b.queued),
        "{answer:?}"
    );
    let d = describe(&direct, "r").await;
    assert_eq!(d.queue_length, 0, "{d:?}");
    assert!(
        release_fenced(&direct, "r", "h", Some(h.fence))
            .await
            .released
    );
    // The owner's next turn, started after the cancel, queues as usual.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let g = granted(&direct, queued("r", 20_000, "w", 2_000)).await;
    assert!(g.fence > h.fence);
}

/// From the review of the cancel marks: a stale invocation (started before its owner's cancel)
/// that finds the owner queued again by a later turn, at the head of a free lock, must not keep
/// sending the take its mark refuses until its deadline: it answers busy, and the later turn takes
/// the lock.
#[tokio::test]
async fn a_stale_acquire_finding_its_owners_next_turn_at_the_head_answers_at_once() {
    // h's 1.5 s lease outlives the steps up to w's next turn on a loaded machine, and ends before
    // the held read (3 s) lands.
    let (engine, proxy, table) = proxied_engine_with(3, Some(Duration::from_millis(6_000))).await;
    let direct = Arc::new(direct_engine(&table));
    granted(&direct, acq("r", 1_500, Some("h"))).await;
    assert!(refused(&direct, queued("r", 20_000, "w", 0)).await.queued);
    let stale = stale_acquire_of_w_held(
        &engine,
        &proxy,
        "ConsistentRead",
        Duration::from_millis(3_000),
    )
    .await;
    assert!(cancel(&direct, "r", "w").await.cancelled);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(refused(&direct, queued("r", 20_000, "w", 0)).await.queued);
    // h's lease has ended when the held read lands: w, its next turn, heads a free lock.
    let answer = within(10, "the stale acquire answers", stale)
        .await
        .unwrap();
    match &answer {
        AcquireResponse::Busy(b) => assert!(!b.queued && b.attempts < 10, "{b:?}"),
        other => panic!("a stale acquire was answered {other:?}"),
    }
    let g = granted(&direct, queued("r", 20_000, "w", 2_000)).await;
    assert!(g.expires_at_ms > 0);
}

/// A join held up in the network (a signed request stays valid for minutes) that lands after its
/// owner's `cancel` is refused by the cancel's mark: the write carries its invocation's start.
#[tokio::test]
async fn a_join_that_lands_after_its_owners_cancel_is_refused() {
    let (engine, proxy, table) = proxied_engine_with(3, Some(Duration::from_millis(3_000))).await;
    let direct = Arc::new(direct_engine(&table));
    let h = granted(&direct, acq("r", 60_000, Some("h"))).await;
    let stale = stale_acquire_of_w(&engine, &proxy, "list_append").await;
    // The owner is not queued yet: nothing to leave, but the mark is left.
    assert!(!cancel(&direct, "r", "w").await.cancelled);
    let answer = within(10, "the stale acquire ends", stale).await.unwrap();
    assert!(
        matches!(&answer, AcquireResponse::Busy(b) if !b.queued),
        "{answer:?}"
    );
    let d = describe(&direct, "r").await;
    assert_eq!(d.queue_length, 0, "{d:?}");
    assert!(
        release_fenced(&direct, "r", "h", Some(h.fence))
            .await
            .released
    );
}

/// An item whose mark an older lock-fn lowered below a live task entry (the old rule set `qx` to
/// the writer's own `x`): the next keep-place repairs it from the entries, so the task is not
/// skipped by a release and no try barges past it.
#[tokio::test]
async fn a_mark_lowered_by_an_older_version_is_repaired_from_the_entries() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        waiter_ttl: Duration::from_millis(1_000),
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client, &table, config.clone());
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    assert!(refused(&engine, queued("r", 60_000, "d", 0)).await.queued);
    assert!(
        refused(&engine, task("r", "t", "token-t", 300_000))
            .await
            .queued
    );
    // The older version's state: the mark at d's place, no queue version.
    let d_x = lock_fn::world::clock::now_ms() + 1_000;
    client
        .update_item()
        .table_name(&table)
        .key("resource_id", AttributeValue::S("r".into()))
        .update_expression("SET qx = :x REMOVE qv")
        .expression_attribute_values(":x", AttributeValue::N(d_x.to_string()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        refused(&engine, queued("r", 60_000, "d", 0)).await.queued,
        "d keeps its place"
    );
    tokio::time::sleep(Duration::from_millis(1_300)).await; // d's place has passed
    let fresh_instance = engine_on(&client, &table, config);
    assert!(
        release_fenced(&fresh_instance, "r", "h", Some(h.fence))
            .await
            .released
    );
    let after = describe(&fresh_instance, "r").await;
    assert_eq!(
        after.owner,
        Some(lock_protocol::owner_digest("t")),
        "handed to the task: {after:?}"
    );
}

/// Owner "o" granted "r" on a fresh table, then released with its fence through a proxy that loses
/// the answer (the release applied): an engine straight on the table, the table, the grant.
async fn a_fenced_release_applied_with_its_answer_lost(
) -> (lock_fn::engine::LockEngine, String, lock_protocol::Grant) {
    let (engine, proxy, table) = proxied_engine_with(1, None).await;
    let direct = direct_engine(&table);
    let o = granted(&direct, acq("r", 60_000, Some("o"))).await;
    proxy.then_matching(
        "released_nonce",
        support::fault_proxy::Step::LoseAnswer(Duration::ZERO),
    );
    let lost = engine
        .release(
            lock_protocol::ReleaseRequest {
                resource_id: "r".into(),
                owner: "o".into(),
                fence: Some(o.fence),
            },
            None,
        )
        .await;
    assert!(lost.is_err(), "the answer was lost: {lost:?}");
    (direct, table, o)
}

/// A fenced release applied with its answer lost; eight more grants overwrite its record; the
/// caller repeats it (a new invocation). Nothing proves the first did not apply: `uncertain`,
/// never a plain "not held" (it did end the lease).
#[tokio::test]
async fn a_repeated_mutex_release_after_eight_grants_is_uncertain() {
    let (direct, _, o) = a_fenced_release_applied_with_its_answer_lost().await;
    for i in 0..8 {
        let owner = format!("x{i}");
        let g = granted(&direct, acq("r", 60_000, Some(&owner))).await;
        assert!(
            release_fenced(&direct, "r", &owner, Some(g.fence))
                .await
                .released
        );
    }
    let again = release_fenced(&direct, "r", "o", Some(o.fence)).await;
    assert!(!again.released && again.uncertain, "{again:?}");
}

/// A fenced release applied with its answer lost; then a dynamo-dlm peer (or TTL) deletes the item,
/// records and all; the caller repeats the release. Nothing proves the first did not apply:
/// `uncertain`, never a plain "not held" (found by the simulator, seed 901).
#[tokio::test]
async fn a_repeated_release_after_the_item_was_deleted_is_uncertain() {
    let (direct, table, o) = a_fenced_release_applied_with_its_answer_lost().await;
    delete_item(&client(&dynalite_endpoint()), &table, "r").await;
    let again = release_fenced(&direct, "r", "o", Some(o.fence)).await;
    assert!(!again.released && again.uncertain, "{again:?}");
}

/// A stale mark (a task's 15-minute place that left while another waiter was still queued, who then
/// died) must not refuse single tries on a free lock until it passes.
#[tokio::test]
async fn a_try_is_not_refused_by_a_mark_no_waiter_needs() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = lock_fn::engine::config::Config {
        waiter_ttl: Duration::from_millis(300),
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client, &table, config);
    granted(&engine, acq("r", 500, Some("h"))).await;
    assert!(refused(&engine, queued("r", 60_000, "d", 0)).await.queued);
    assert!(
        refused(&engine, task("r", "t", "token-t", 300_000))
            .await
            .queued
    );
    assert!(cancel(&engine, "r", "t").await.cancelled);
    tokio::time::sleep(Duration::from_millis(700)).await; // d died, h's lease ran out
    let g = granted(&engine, acq("r", 1_000, Some("x"))).await;
    assert!(g.fence > 0);
    // The mark is gone with the take that relied on the entries.
    let item = raw_item(&client, &table, "r").await.expect("item");
    assert!(!item.contains_key("qx"), "{item:?}");
}

/// The waiting budget's slot write applied with its answer lost: the retry finds the slot its own
/// (not someone else's), so with a budget of one the wait still waits in-function.
#[tokio::test]
async fn a_budget_slot_whose_answer_was_lost_is_still_this_waits() {
    let (_, proxy, table) = proxied_engine_with(3, None).await;
    let config = lock_fn::engine::config::Config {
        wait_budget: Some(1),
        store_attempts: 3,
        ..lock_fn::engine::config::Config::default()
    };
    let engine = engine_on(&client(&proxy.endpoint()), &table, config);
    let direct = Arc::new(direct_engine(&table));
    let h = granted(&direct, acq("r", 60_000, Some("h"))).await;
    proxy.then_matching(
        "wait_by = :nonce",
        support::fault_proxy::Step::LoseAnswer(Duration::ZERO),
    );
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move { acquire(&engine, queued("r", 60_000, "w", 3_000)).await })
    };
    until_a_waiter_waits_in_function(&direct, "r", 5).await;
    assert_eq!(proxy.aimed(), 0, "the slot's answer was lost");
    assert!(
        release_fenced(&direct, "r", "h", Some(h.fence))
            .await
            .released
    );
    let answer = within(5, "handed over", waiting).await.unwrap();
    assert!(matches!(answer, AcquireResponse::Granted(_)), "{answer:?}");
}

/// Waits (up to `secs`) until a waiter in `r`'s queue waits in-function.
async fn until_a_waiter_waits_in_function(
    engine: &lock_fn::engine::LockEngine,
    r: &str,
    secs: u64,
) {
    within(secs, "a waiter waits in-function", async {
        while !describe(engine, r)
            .await
            .queue
            .iter()
            .any(|w| w.waiting_now)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A waiter that sizes its lease from its own deadline asks for less each time it comes back: the
/// handoff grants the lease it asks for now, not the one it asked for when it joined (a caller
/// killed at its deadline then holds the lock no longer than that deadline).
#[tokio::test]
async fn a_handoff_grants_the_lease_the_waiter_asks_for_now_not_at_its_join() {
    let (engine, _, _) = dynalite_engine().await;
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    assert!(refused(&engine, queued("r", 60_000, "w", 0)).await.queued);
    // It comes back, waiting in-function, with 3 s left to it.
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move { granted(&engine, queued("r", 3_000, "w", 10_000)).await })
    };
    until_a_waiter_waits_in_function(&engine, "r", 10).await;
    assert!(
        release_fenced(&engine, "r", "h", Some(h.fence))
            .await
            .released
    );
    let g = within(10, "the handoff", waiting).await.unwrap();
    assert_eq!(g.expires_at_ms - g.acquired_at_ms, 3_000, "{g:?}");
}

/// `h` holds `r` for 60 s, `w` joins its queue asking for 60 s and does not wait in-function, and
/// `h` releases: the lock is handed to `w` with a claim lease.
async fn handed_to_w_between_its_invokes(engine: &lock_fn::engine::LockEngine, r: &str) {
    let h = granted(engine, acq(r, 60_000, Some("h"))).await;
    assert!(refused(engine, queued(r, 60_000, "w", 0)).await.queued);
    assert!(release_fenced(engine, r, "h", Some(h.fence)).await.released);
}

/// The same for a waiter that is not waiting in-function when the lock is handed to it: it comes
/// back to claim its grant asking for less than at its join, and the claim grants no more.
#[tokio::test]
async fn a_claim_grants_no_more_than_the_claimer_asks_for_now() {
    let (engine, _, _) = dynalite_engine().await;
    handed_to_w_between_its_invokes(&engine, "r").await;
    let before = lock_fn::world::clock::now_ms();
    let g = granted(&engine, queued("r", 2_500, "w", 0)).await;
    assert!(!g.reacquired, "a claim is the first the waiter hears of it");
    assert!(
        g.expires_at_ms <= lock_fn::world::clock::now_ms() + 2_500 && g.expires_at_ms >= before,
        "{g:?}"
    );

    // Asking for less than the claim lease has left: the claim never moves the end back.
    handed_to_w_between_its_invokes(&engine, "s").await;
    let claim_end = describe(&engine, "s").await.expires_at_ms.unwrap();
    let g = granted(&engine, queued("s", 1, "w", 0)).await;
    assert!(g.expires_at_ms >= claim_end, "{g:?} before {claim_end}");
}
