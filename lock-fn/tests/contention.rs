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

/// Waiting never holds back the operations that end a wait: a function of two instances, two
/// contended locks, and on each a caller waiting in-function (an owner-less `wait_ms` of 3 s: what a
/// raw boto3 caller sends). The holder's release must go through at once - not queue in the
/// emulator (or be throttled by Lambda) behind the two waits. (With no waiting budget - set
/// `LOCK_WAIT_BUDGET` to 100 here - it waits 2.6 s.)
#[tokio::test]
async fn waits_on_two_locks_never_hold_back_a_release_on_two_instances() {
    use test_support::local_procs::{http_post, LocalLambda};
    let table = fresh_table(&client(&dynalite_endpoint())).await;
    let lambda = LocalLambda::start(2, &dynalite_endpoint(), &[("LOCK_TABLE", &table)]).await;
    let port: u16 = lambda
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let invoke = move |body: String| async move {
        http_post(port, "/2015-03-31/functions/lock-fn/invocations", &body).await
    };
    for r in ["a", "b"] {
        let held = invoke(format!(
            r#"{{"op":"acquire","resource_id":"{r}","owner":"h","duration_ms":60000}}"#
        ))
        .await;
        assert!(held.contains(r#""acquired":true"#), "{held}");
    }
    let waits: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|r| {
            tokio::spawn(invoke(format!(
                r#"{{"op":"acquire","resource_id":"{r}","duration_ms":60000,"wait_ms":3000}}"#
            )))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = std::time::Instant::now();
    let released = invoke(r#"{"op":"release","resource_id":"a","owner":"h"}"#.to_string()).await;
    let took = started.elapsed();
    assert!(released.contains(r#""released":true"#), "{released}");
    assert!(
        took < Duration::from_millis(1_000),
        "the release waited {took:?} for an instance"
    );
    for w in waits {
        tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("the waits end")
            .unwrap();
    }
}
