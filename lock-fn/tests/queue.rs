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
