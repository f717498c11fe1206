//! The FIFO queue against dynalite: order, no barging, dead waiters, handoff, cancel, cap.

mod support;

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
    let config = lock_fn::config::Config {
        claim: std::time::Duration::from_millis(200),
        ..lock_fn::config::Config::default()
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
    // Before each of the release's writes, the head leaves and joins again at the tail: the head
    // the release read is never the head its write finds.
    let swaps = Arc::new(AtomicUsize::new(0));
    let (p, n) = (peer.clone(), swaps.clone());
    proxy.before_each_write(Some(Arc::new(move |_| {
        let (p, n) = (p.clone(), n.clone());
        Box::pin(async move {
            let owner = ["w1", "w2"][n.fetch_add(1, Ordering::SeqCst) % 2];
            let cancel = lock_protocol::CancelRequest {
                resource_id: "r".into(),
                owner: owner.into(),
            };
            p.cancel(cancel, None).await.expect("cancel");
            assert!(refused(&p, queued("r", 60_000, owner, 0)).await.queued);
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

/// A peer that deletes the item between a waiter's read and its join (dynamo-dlm's release is a
/// DeleteItem) must not leave behind an item that holds only a queue: it would have no lease
/// attributes, so no acquire - ours or dynamo-dlm's - could succeed on it again, and no TTL time.
#[tokio::test]
async fn a_join_never_recreates_a_deleted_item_as_a_bare_queue() {
    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let direct = client(&dynalite_endpoint());
    // A dynamo-dlm 1.0 holder with 10 s left.
    let expires = lock_fn::clock::now_ms() / 1000 + 10;
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
        lock_fn::reply::Reply::Acquire(AcquireResponse::Granted(g)) => assert!(g.fence > 0),
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
