//! Mutual exclusion under contention: 32 queueing callers race one resource on dynalite until 600 grants are
//! made, with short leases so that some expire while held; the whole history is then checked.

mod support;

use std::time::Duration;

use lock_protocol::{AcquireRequest, AcquireResponse};
use support::*;
use test_support::contention::{race, Race};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_callers_never_overlap_and_fences_rise() {
    let (engine, _, _) = dynalite_engine().await;
    let race_spec = Race {
        callers: 32,
        grants: 600,
        lease_ms: 100..=200,
        outlive_one_in: 16,
        pause_ms: 0..=0,
    };
    let acquiring = engine.clone();
    let history = race(
        race_spec,
        move |caller, lease| {
            let engine = acquiring.clone();
            async move {
                // One owner per caller: a queued caller keeps its place across attempts.
                let owner = format!("caller-{caller}");
                let req = AcquireRequest {
                    wait_ms: 200,
                    ..acq("hot", lease, Some(&owner))
                };
                match acquire(&engine, req).await {
                    AcquireResponse::Granted(g) => Some(g),
                    AcquireResponse::Busy(b) => {
                        // Come back when told (a queued waiter keeps its place meanwhile).
                        let pause = b.retry_after_ms.min(200);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        None
                    }
                }
            }
        },
        move |g| {
            let engine = engine.clone();
            async move { release(&engine, "hot", &g.owner).await.released_at_ms }
        },
    )
    .await;
    let checked = history.check().unwrap_or_else(|v| panic!("{v}"));
    let lost = history.lost();
    eprintln!("{checked} grants checked, {lost} leases expired before release");
    assert!(checked >= 600);
    assert!(
        lost > 0,
        "the test must include leases that expired while held"
    );
    assert!(lost < checked / 2);
}
