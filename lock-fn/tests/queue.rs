//! The FIFO queue against dynalite: order, no barging, dead waiters, handoff, cancel, cap.

mod support;

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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let (engine, proxy, table) = proxied_engine_with(3, None).await;
    let peer = Arc::new(engine_on(
        &client(&dynalite_endpoint()),
        &table,
        lock_fn::config::Config::default(),
    ));
    let h = granted(&engine, acq("r", 60_000, Some("h"))).await;
    for w in ["w1", "w2"] {
        assert!(refused(&peer, queued("r", 60_000, w, 0)).await.queued);
    }
    // Before each of the release's writes, the head leaves and joins again at the tail: the head
    // the release read is never the head its write finds.
    let swaps = Arc::new(AtomicUsize::new(0));
    let (p, n) = (peer.clone(), swaps.clone());
    proxy.before_each_write(Some(Arc::new(move || {
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
