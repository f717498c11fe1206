//! The client end to end: client -> cargo lambda watch (real Invoke API) -> lock-fn -> dynalite.

use crate::support;

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use lock_client::protocol::ErrorType;
use lock_client::raw::ReleaseOutcome;
use lock_client::ClientError;
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn acquire_release_and_try_acquire() {
    let client = client().await.with_duration(Duration::from_secs(30));
    let r = resource("basic");
    let guard = client.acquire(&r).await.unwrap();
    assert_eq!(guard.resource(), r);
    assert_eq!(guard.owner().len(), 32);
    assert!(
        client.try_acquire(&r).await.unwrap().is_none(),
        "held: try_acquire must refuse"
    );
    let status = client.describe(&r).await.unwrap();
    assert_eq!((status.held, status.fence), (true, Some(guard.fence())));
    let fence = guard.fence();
    assert!(guard.release().await.unwrap());
    let again = client
        .try_acquire(&r)
        .await
        .unwrap()
        .expect("free after release");
    assert!(again.fence() > fence);
    assert!(again.release().await.unwrap());
}

#[tokio::test]
async fn acquire_timeout_gives_up_and_acquire_waits_for_release() {
    let client = client().await.with_duration(Duration::from_secs(30));
    let r = resource("timeout");
    let holder = client.acquire(&r).await.unwrap();
    let started = Instant::now();
    let err = client
        .acquire_timeout(&r, Duration::from_millis(300))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    let waiter = {
        let (client, r) = (client.clone(), r.clone());
        tokio::spawn(async move { client.acquire(&r).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fence = holder.fence();
    assert!(holder.release().await.unwrap());
    let next = waiter.await.unwrap().unwrap();
    assert!(next.fence() > fence);
    next.release().await.unwrap();
}

#[tokio::test]
async fn renew_extends_and_auto_renew_keeps_a_short_lease_alive() {
    // 2.5 s, not shorter: under the full suite `cargo lambda watch` queues an invoke while all its
    // function processes hold in-function waits, so a renewal can wait several hundred ms before it
    // runs (real Lambda would start another instance); CI once lost a 1.2 s lease so.
    let client = client().await.with_duration(Duration::from_millis(2500));
    let r = resource("renew");
    let mut guard = client.acquire(&r).await.unwrap();
    let first_end = guard.expires_at_ms();
    assert!(guard.renew().await.unwrap());
    assert!(guard.expires_at_ms() >= first_end);
    let lease = guard.auto_renew();
    tokio::time::sleep(Duration::from_millis(7500)).await; // three lease lengths
    assert!(
        lease.is_held(),
        "auto-renew must keep the lease: {:?}",
        lease.state()
    );
    assert!(client.try_acquire(&r).await.unwrap().is_none());
    assert!(guard.release().await.unwrap());
}

#[tokio::test]
async fn a_lost_lock_is_reported_to_the_holder() {
    let client = client().await.with_duration(Duration::from_millis(300));
    let r = resource("lost");
    let guard = client.acquire(&r).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await; // the lease runs out
    let thief = client
        .with_duration(Duration::from_secs(30))
        .acquire(&r)
        .await
        .unwrap();
    assert!(thief.fence() > guard.fence());
    assert!(!guard.is_held());
    assert!(
        !guard.release().await.unwrap(),
        "release must say the lock was lost"
    );

    thief.release().await.unwrap();
}

#[tokio::test]
async fn with_lock_reports_a_loss_instead_of_the_result() {
    let client = client().await;
    let r = resource("lost-with-lock");
    // Short enough that auto-renew (every third of it) notices the loss soon, long enough that a
    // slow renewal does not lose it first.
    let short = client.with_duration(Duration::from_millis(1500));
    let outcome = short
        .with_lock(&r, |mut lease| {
            let (client, r) = (client.clone(), r.clone());
            async move {
                // An operator deletes the lock item (nobody else can release it: describe shows
                // no owner token) and someone else takes the lock mid-work.
                assert!(client.describe(&r).await.unwrap().held);
                delete_lock_item(&r).await;
                let thief = client
                    .with_duration(Duration::from_secs(30))
                    .acquire(&r)
                    .await
                    .unwrap();
                tokio::time::timeout(Duration::from_secs(5), lease.lost())
                    .await
                    .expect("auto-renew notices the loss");
                assert!(!lease.is_held());
                thief.release().await.unwrap()
            }
        })
        .await;
    assert!(
        matches!(outcome, Err(ClientError::LockLost { .. })),
        "{outcome:?}"
    );

    let fine = short
        .with_lock(&r, |lease| async move { lease.is_held() })
        .await;
    assert_eq!(fine, Ok(true));
}

#[tokio::test]
async fn renewal_refused_after_takeover_marks_the_lease_lost() {
    let client = client().await.with_duration(Duration::from_millis(300));
    let r = resource("lost-watch");
    let mut guard = client.acquire(&r).await.unwrap();
    // The holder pauses past its lease (no auto-renew), someone else takes the lock, then it renews.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let thief = client
        .with_duration(Duration::from_secs(30))
        .acquire(&r)
        .await
        .unwrap();
    assert!(!guard.renew().await.unwrap());
    assert!(guard.watch().state().lost);
    thief.release().await.unwrap();
    assert!(!guard.release().await.unwrap());
}

#[tokio::test]
async fn function_errors_arrive_typed() {
    let client = client().await;
    let err = client.try_acquire("").await.unwrap_err();
    assert_eq!(
        err.function_error_type(),
        Some(ErrorType::InvalidRequest),
        "{err:?}"
    );
    assert!(err.to_string().contains("resource_id"));
    let err = client
        .with_duration(Duration::from_secs(100 * 24 * 3600))
        .try_acquire("x")
        .await
        .unwrap_err();
    assert_eq!(
        err.function_error_type(),
        Some(ErrorType::InvalidRequest),
        "{err:?}"
    );
}

#[tokio::test]
async fn every_invalid_request_is_rejected_by_the_real_handler() {
    let client = client().await;
    let long = "x".repeat(2049);
    let cases = [
        json!(["not", "an", "object"]),
        json!({"resource_id": "r"}),
        json!({"op": "unlock", "resource_id": "r"}),
        json!({"op": "acquire"}),
        json!({"op": "acquire", "resource_id": ""}),
        json!({"op": "acquire", "resource_id": long}),
        json!({"op": "acquire", "resource_id": 5}),
        json!({"op": "acquire", "resource_id": "r", "duration_ms": 0}),
        json!({"op": "acquire", "resource_id": "r", "duration_ms": -1}),
        json!({"op": "acquire", "resource_id": "r", "duration_ms": "10"}),
        json!({"op": "acquire", "resource_id": "r", "duration_ms": 99_999_999_999u64}),
        json!({"op": "acquire", "resource_id": "r", "owner": ""}),
        json!({"op": "acquire", "resource_id": "r", "owner": "o".repeat(1025)}),
        json!({"op": "acquire", "resource_id": "r", "wait_ms": -5}),
        json!({"op": "acquire", "resource_id": "r", "on_busy": "maybe"}),
        json!({"op": "acquire", "resource_id": "r", "extra": true}),
        json!({"op": "release", "resource_id": "r"}),
        json!({"op": "renew", "resource_id": "r", "owner": 3}),
    ];
    for payload in cases {
        let err = client
            .raw()
            .invoker()
            .call_raw::<Value>(&payload)
            .await
            .unwrap_err();
        assert_eq!(
            err.function_error_type(),
            Some(ErrorType::InvalidRequest),
            "{payload}: {err:?}"
        );
    }
    // Nothing was written for any of them.
    let d = client.describe("r").await.unwrap();
    assert!(!d.held);
}

#[tokio::test]
async fn on_busy_error_is_lock_busy_through_the_invoke_api() {
    let client = client().await.with_duration(Duration::from_secs(30));
    let r = resource("busy-error");
    let guard = client.acquire(&r).await.unwrap();
    let err = client
        .raw()
        .invoker()
        .call_raw::<Value>(&json!({"op":"acquire","resource_id":r,"on_busy":"error"}))
        .await
        .unwrap_err();
    assert_eq!(err.function_error_type(), Some(ErrorType::LockBusy));
    guard.release().await.unwrap();
}

#[tokio::test]
async fn unknown_function_and_unreachable_endpoint_are_told_apart() {
    let client = client().await;
    let err = client
        .with_function("no-such-function")
        .try_acquire("x")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::UnknownFunction(_)), "{err:?}");

    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let offline = lock_client::LockClient::new(
        &support::fake_lambda::config_at(&format!("http://127.0.0.1:{port}")),
        "lock-fn",
    );
    let err = offline.try_acquire("x").await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
}

/// Invoke answers lost on the way back (the function ran): the client resends the same request,
/// and a resent acquire converges on one grant, a resent release still answers `released: true`,
/// and a resent release answered `false` is flagged `uncertain` (it may be answering for itself).
#[tokio::test]
async fn lost_invoke_answers_converge_and_flag_uncertain_releases() {
    let (client, proxy) = proxied_client().await;
    let client = client.with_duration(Duration::from_secs(30));
    let r = resource("lost-invoke");

    proxy.lose_next_answers(1);
    let guard = client.acquire(&r).await.unwrap();
    assert_eq!(proxy.counts.lost_answers.load(Relaxed), 1);
    let status = client.describe(&r).await.unwrap();
    assert_eq!(
        (status.held, status.fence),
        (true, Some(guard.fence())),
        "the resent acquire must be the same grant"
    );
    assert!(
        guard.grant().reacquired,
        "the first attempt granted it: {:?}",
        guard.grant()
    );

    let grant = guard.into_grant();
    proxy.lose_next_answers(1);
    let answer = client
        .raw()
        .release(&r, &grant.owner, Some(grant.fence))
        .await
        .unwrap();
    assert_eq!(proxy.counts.lost_answers.load(Relaxed), 2);
    assert!(answer.released(), "{answer:?}");
    assert!(!client.describe(&r).await.unwrap().held);

    // Nothing to release any more: told plainly when sent once, unknown when resent.
    let plain = client.raw().release(&r, "never-held", None).await.unwrap();
    assert_eq!(plain, ReleaseOutcome::NotHeld);
    proxy.lose_next_answers(1);
    let resent = client.raw().release(&r, "never-held", None).await.unwrap();
    assert_eq!(proxy.counts.lost_answers.load(Relaxed), 3);
    assert_eq!(resent, ReleaseOutcome::Unknown);
}
