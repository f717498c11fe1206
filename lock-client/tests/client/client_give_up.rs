//! How the client gives a wait up, and how it judges a release, against a scripted stand-in for
//! the Invoke API (no stack needed): every way of giving up (timeout, cancel future, a dropped
//! future, an error after which the owner may hold a grant or a place) leaves the queue with
//! `cancel`, waits for its in-flight acquire invoke, releases with the fence what that invoke brings
//! and cancels once more; errors that applied nothing cost no cancel; a release answered after a
//! "may have been applied" throttle is unknown, not "not held"; `with_lock` keeps the work's value
//! when the release is unknown or fails but the lease was never lost.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lock_client::protocol::ErrorType;
use lock_client::raw::ReleaseOutcome;
use lock_client::ClientError;
use serde_json::{json, Value};
use support::fake_lambda::*;

const LIMIT: Duration = Duration::from_secs(20);

/// The ops seen, with the owner each named.
fn ops_and_owners(seen: &[Seen]) -> Vec<(String, String)> {
    seen.iter()
        .map(|s| {
            (
                s.op().to_string(),
                s.payload["owner"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Asserts the give-up sequence after one acquire whose invoke was in flight: the first `cancel`
/// (before that invoke answered), the release of the grant it brought (with its fence), a
/// second `cancel`; all for the wait's owner.
fn assert_cleaned_up(seen: &[Seen], fence: u64, answered_after: Duration) {
    let ops: Vec<&str> = seen.iter().map(Seen::op).collect();
    assert_eq!(
        ops,
        ["acquire", "cancel", "release", "cancel"],
        "{:?}",
        ops_and_owners(seen)
    );
    let owner = &seen[0].payload["owner"];
    assert!(owner.is_string());
    for s in &seen[1..] {
        assert_eq!(&s.payload["owner"], owner, "{:?}", s.payload);
    }
    assert_eq!(seen[2].payload["fence"], fence, "released with the fence");
    assert!(
        seen[1].at - seen[0].at < answered_after,
        "the first cancel went out {:?} after the acquire, before its answer (at {answered_after:?})",
        seen[1].at - seen[0].at
    );
}

/// A fake whose acquire invokes answer a grant (fence 7) only after `delay` (an in-function wait
/// that is handed the lock), and that answers cancel and release.
async fn slow_grant(delay: Duration) -> FakeLambda {
    FakeLambda::start(move |req: Value| async move {
        match req["op"].as_str().unwrap() {
            "acquire" => {
                tokio::time::sleep(delay).await;
                Answer::Json(grant(&req, 7, 30_000))
            }
            "cancel" => Answer::Json(cancelled(&req)),
            "release" => Answer::Json(
                json!({"released": true, "resource_id": req["resource_id"], "released_at_ms": 1}),
            ),
            op => panic!("unexpected {op}"),
        }
    })
    .await
}

/// A dropped acquire future (`tokio::time::timeout` around `acquire`, the idiomatic way) leaves the
/// queue at once, and the grant its still-running invoke is handed is released with its fence.
#[tokio::test]
async fn a_dropped_acquire_future_cancels_and_releases_what_its_invoke_brings() {
    let fake = slow_grant(Duration::from_millis(600)).await;
    let client = fake_client(&fake.endpoint());
    let dropped = tokio::time::timeout(Duration::from_millis(150), client.acquire("r")).await;
    assert!(dropped.is_err(), "the acquire was still waiting");
    let seen = fake.wait_for("cancel", 2, Duration::from_secs(5)).await;
    assert_cleaned_up(&seen, 7, Duration::from_millis(600));
}

/// `acquire_cancellable`: the cancel future fires while the acquire invoke still waits; the grant
/// that invoke brings afterwards is released, not left to run out.
#[tokio::test]
async fn a_cancelled_wait_releases_the_grant_its_in_flight_invoke_brings() {
    let fake = slow_grant(Duration::from_millis(600)).await;
    let client = fake_client(&fake.endpoint());
    let outcome = tokio::time::timeout(
        LIMIT,
        client.acquire_cancellable(
            "r",
            None,
            |_| {},
            tokio::time::sleep(Duration::from_millis(150)),
        ),
    )
    .await
    .expect("gives up");
    assert!(
        matches!(outcome, Err(ClientError::Cancelled { .. })),
        "{outcome:?}"
    );
    // The cleanup is done by the time the give-up returns.
    assert_cleaned_up(&fake.seen(), 7, Duration::from_millis(600));
}

/// `acquire_timeout` whose invoke does not answer by its own wait plus the answer grace (2 s) after
/// the deadline - a slow network, say - gives up: it does not return a grant that comes later
/// still, and releases it.
#[tokio::test]
async fn a_timed_out_wait_releases_the_grant_its_late_invoke_brings() {
    let fake = slow_grant(Duration::from_millis(3000)).await;
    let client = fake_client(&fake.endpoint());
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        LIMIT,
        client.acquire_timeout("r", Duration::from_millis(150)),
    )
    .await
    .expect("gives up");
    let gave_up = started.elapsed();
    assert!(
        matches!(outcome, Err(ClientError::Timeout { .. })),
        "{:?} after {gave_up:?}",
        outcome.map(|g| g.into_grant()),
    );
    assert!(gave_up >= Duration::from_millis(2150), "{gave_up:?}");
    assert_cleaned_up(&fake.seen(), 7, Duration::from_millis(3000));
}

/// A grant that answers the last invoke a little after the deadline (within the grace) is taken:
/// `--wait 0` on a function that takes a moment to answer is still a try.
#[tokio::test]
async fn a_grant_answered_just_after_the_deadline_is_taken() {
    let fake = slow_grant(Duration::from_millis(300)).await;
    let client = fake_client(&fake.endpoint());
    let guard = tokio::time::timeout(LIMIT, client.acquire_timeout("r", Duration::ZERO))
        .await
        .expect("answers")
        .expect("the grant");
    assert_eq!(guard.fence(), 7);
    assert_eq!(fake.ops(), ["acquire"]);
    let _ = guard.into_grant();
}

/// `with_queue(false)` (repeated single tries) cleans up the same way: its in-flight try may be
/// granted after the caller stopped waiting.
#[tokio::test]
async fn a_single_try_wait_cleans_up_too() {
    let fake = slow_grant(Duration::from_millis(600)).await;
    let client = fake_client(&fake.endpoint()).with_queue(false);
    let outcome = tokio::time::timeout(
        LIMIT,
        client.acquire_cancellable(
            "r",
            None,
            |_| {},
            tokio::time::sleep(Duration::from_millis(150)),
        ),
    )
    .await
    .expect("gives up");
    assert!(
        matches!(outcome, Err(ClientError::Cancelled { .. })),
        "{outcome:?}"
    );
    assert_cleaned_up(&fake.seen(), 7, Duration::from_millis(600));
}

/// An error after which the owner may hold a place or a grant ends the wait with a `cancel`: a
/// `StoreUnavailable` that says an earlier attempt may have been applied (queued and single-try
/// waits), and an acquire whose invokes all went unanswered (`Unreachable` after the resends).
#[tokio::test]
async fn errors_after_which_the_owner_may_hold_something_are_cancelled() {
    for queueing in [true, false] {
        // The first invoke queues; the second fails after a write that may have been applied.
        let acquires = Arc::new(AtomicUsize::new(0));
        let n = acquires.clone();
        let fake = FakeLambda::start(move |req: Value| {
            let n = n.clone();
            async move {
                match req["op"].as_str().unwrap() {
                    "acquire" if n.fetch_add(1, SeqCst) == 0 && queueing => {
                        Answer::Json(queued(&req, 10))
                    }
                    "acquire" => Answer::error(
                        "StoreUnavailable",
                        &format!("DynamoDB is unavailable: injected; {MAYBE_APPLIED}"),
                    ),
                    "cancel" => Answer::Json(cancelled(&req)),
                    op => panic!("unexpected {op}"),
                }
            }
        })
        .await;
        let client = fake_client(&fake.endpoint()).with_queue(queueing);
        let err = tokio::time::timeout(LIMIT, client.acquire_timeout("r", Duration::from_secs(10)))
            .await
            .expect("fails")
            .unwrap_err();
        assert_eq!(
            err.function_error_type(),
            Some(ErrorType::StoreUnavailable),
            "{err}"
        );
        let seen = ops_and_owners(&fake.seen());
        let (last, owner) = seen.last().unwrap();
        assert_eq!(last, "cancel", "queueing {queueing}: {seen:?}");
        assert_eq!(owner, &seen[0].1, "the wait's owner: {seen:?}");
    }

    let fake = FakeLambda::start(|req: Value| async move {
        match req["op"].as_str().unwrap() {
            "acquire" => Answer::Drop,
            "cancel" => Answer::Json(cancelled(&req)),
            op => panic!("unexpected {op}"),
        }
    })
    .await;
    let client = fake_client(&fake.endpoint());
    let err = tokio::time::timeout(LIMIT, client.acquire_timeout("r", Duration::from_secs(10)))
        .await
        .expect("fails")
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Unreachable(_) | ClientError::Invoke(_)),
        "{err:?}"
    );
    let seen = ops_and_owners(&fake.seen());
    assert_eq!(
        seen.iter().map(|(op, _)| op.as_str()).collect::<Vec<_>>(),
        ["acquire", "acquire", "acquire", "cancel"],
        "{seen:?}"
    );
    assert!(seen.iter().all(|(_, o)| o == &seen[0].1));
}

/// Errors that say nothing was written, before the owner was ever queued, cost no cancel.
#[tokio::test]
async fn errors_that_applied_nothing_send_no_cancel() {
    for (error_type, message) in [
        ("InvalidRequest", "resource_id: must not be empty"),
        ("LimitMismatch", "the resource is a semaphore of limit 3"),
        (
            "StoreUnavailable",
            "DynamoDB is unavailable: connection refused",
        ),
    ] {
        let fake =
            FakeLambda::start(move |_req: Value| async move { Answer::error(error_type, message) })
                .await;
        let client = fake_client(&fake.endpoint());
        let err = tokio::time::timeout(LIMIT, client.acquire_timeout("r", Duration::from_secs(10)))
            .await
            .expect("fails")
            .unwrap_err();
        assert_eq!(err.function_error_type().unwrap().as_str(), error_type);
        assert_eq!(fake.ops(), ["acquire"], "{error_type}");
    }
}

/// A fenced release that lock-fn answered `Throttled` saying an earlier attempt may have been
/// applied, then `released: false` to the retry, may have ended the lease itself: unknown, not
/// "not held". Without that sentence the `false` is plain.
#[tokio::test]
async fn a_release_retried_after_a_maybe_applied_throttle_is_unknown() {
    for (message, expected) in [
        (
            format!("DynamoDB is throttling: injected; {MAYBE_APPLIED}"),
            ReleaseOutcome::Unknown,
        ),
        (
            "DynamoDB is throttling: injected".to_string(),
            ReleaseOutcome::NotHeld,
        ),
    ] {
        let releases = Arc::new(AtomicUsize::new(0));
        let n = releases.clone();
        let fake = FakeLambda::start(move |req: Value| {
            let (n, message) = (n.clone(), message.clone());
            async move {
                assert_eq!(req["op"], "release");
                if n.fetch_add(1, SeqCst) == 0 {
                    Answer::error("Throttled", &message)
                } else {
                    Answer::Json(json!({"released": false, "resource_id": req["resource_id"]}))
                }
            }
        })
        .await;
        let client = fake_client(&fake.endpoint());
        let outcome = tokio::time::timeout(LIMIT, client.raw().release("r", "o", Some(3)))
            .await
            .expect("answers")
            .unwrap();
        assert_eq!(outcome, expected);
        assert_eq!(releases.load(SeqCst), 2);
    }
}

/// `with_lock` returns the work's value when the release cannot tell (`uncertain`) or fails, as
/// long as the lease was held when the release was sent; it reports `LockLost` when the release
/// says "not held" or the watch saw the loss.
#[tokio::test]
async fn with_lock_keeps_the_value_unless_the_lock_was_lost() {
    let uncertain =
        || Answer::Json(json!({"released": false, "resource_id": "r", "uncertain": true}));
    let cases = [
        ("uncertain, held", 30_000, true, uncertain(), true),
        (
            "release failed, held",
            30_000,
            true,
            Answer::error("StoreUnavailable", "DynamoDB is unavailable: injected"),
            true,
        ),
        (
            "not held",
            30_000,
            true,
            Answer::Json(json!({"released": false, "resource_id": "r"})),
            false,
        ),
        ("uncertain, renewal refused", 300, false, uncertain(), false),
    ];
    for (case, lease_ms, renew_ok, release, keeps) in cases {
        let fake = holder(9, lease_ms, renew_ok, release).await;
        let client = fake_client(&fake.endpoint()).with_duration(Duration::from_millis(lease_ms));
        let outcome = tokio::time::timeout(
            LIMIT,
            client.with_lock("r", |_lease| async move {
                tokio::time::sleep(Duration::from_millis(400)).await;
                42
            }),
        )
        .await
        .expect("ends");
        if keeps {
            assert_eq!(outcome, Ok(42), "{case}");
        } else {
            assert!(
                matches!(outcome, Err(ClientError::LockLost { fence: 9, .. })),
                "{case}: {outcome:?}"
            );
        }
    }
}

/// A fake whose first acquire goes unanswered when `lose_first` (the client resends it) and
/// whose other acquires get `then`; cancels are answered.
async fn first_acquire_lost_then(lose_first: bool, then: Answer) -> FakeLambda {
    let acquires = Arc::new(AtomicUsize::new(0));
    FakeLambda::start(move |req: Value| {
        let (acquires, then) = (acquires.clone(), then.clone());
        async move {
            match req["op"].as_str().unwrap() {
                "acquire" if lose_first && acquires.fetch_add(1, SeqCst) == 0 => Answer::Drop,
                "acquire" => then,
                "cancel" => Answer::Json(cancelled(&req)),
                op => panic!("unexpected {op}"),
            }
        }
    })
    .await
}

/// A single try whose first invoke went unanswered and whose resend was refused: the first attempt
/// may still grant after the refusal (lock-fn retries its write in-region), so the try ends with a
/// `cancel` for its owner (which releases such a grant, and stops a later write of it); a try
/// refused at its first invoke sends nothing more.
#[tokio::test]
async fn a_resent_single_try_that_is_refused_still_cancels() {
    for lose_first in [true, false] {
        let refused = Answer::Json(json!({
            "acquired": false, "resource_id": "r",
            "retry_after_ms": 50, "holder_expires_at_ms": null, "attempts": 1,
        }));
        let fake = first_acquire_lost_then(lose_first, refused).await;
        let got = fake_client(&fake.endpoint())
            .try_acquire("r")
            .await
            .unwrap();
        assert!(got.is_none());
        let seen = fake.seen();
        let ops: Vec<&str> = seen.iter().map(Seen::op).collect();
        let expected: &[&str] = if lose_first {
            &["acquire", "acquire", "cancel"]
        } else {
            &["acquire"]
        };
        assert_eq!(ops, expected, "{:?}", ops_and_owners(&seen));
        assert!(seen
            .iter()
            .all(|s| s.payload["owner"] == seen[0].payload["owner"]));
    }
}

/// A single try whose first invoke went unanswered and whose resend lock-fn answered `Throttled`
/// (which cannot know about the first attempt): the error says an earlier attempt may have been
/// applied, and the try cancels its owner.
#[tokio::test]
async fn a_resent_single_try_that_fails_says_so_and_cancels() {
    let throttled = Answer::error("Throttled", "DynamoDB is throttling: injected");
    let fake = first_acquire_lost_then(true, throttled).await;
    let err = fake_client(&fake.endpoint())
        .try_acquire("r")
        .await
        .unwrap_err();
    assert!(err.may_have_been_applied(), "{err:?}");
    let seen = fake.seen();
    let ops: Vec<&str> = seen.iter().map(Seen::op).collect();
    assert_eq!(
        ops,
        ["acquire", "acquire", "cancel"],
        "{:?}",
        ops_and_owners(&seen)
    );
}

/// Credentials found at the first lookup (about to expire, so looked up again at every use), and
/// never again.
#[derive(Debug, Default)]
struct OnlyAtFirst(AtomicUsize);

impl aws_credential_types::provider::ProvideCredentials for OnlyAtFirst {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::{error::CredentialsError, future};
        future::ProvideCredentials::ready(match self.0.fetch_add(1, SeqCst) {
            0 => Ok(aws_credential_types::Credentials::new(
                "local",
                "local",
                None,
                Some(std::time::SystemTime::now() + Duration::from_secs(5)),
                "tests",
            )),
            _ => Err(CredentialsError::not_loaded(
                "injected: no credentials any more",
            )),
        })
    }
}

/// A provider that never has credentials.
#[derive(Debug)]
struct NeverAny;

impl aws_credential_types::provider::ProvideCredentials for NeverAny {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded("none"),
        ))
    }
}

fn client_with_credentials(
    endpoint: &str,
    provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
) -> lock_client::LockClient {
    let config = config_at(endpoint)
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build();
    lock_client::LockClient::new(&config, "lock-fn")
}

/// An invoke that could not be sent (no credentials) is `NotSent`: nothing reached the function,
/// nothing may have been applied, it is not resent (a failed lookup is not waited for again) and
/// the try sends no `cancel`. After an earlier attempt that may have run, the same failure says
/// that attempt may have been applied (and the try then tries to cancel).
#[tokio::test]
async fn an_invoke_that_was_never_sent_is_not_taken_for_one_that_may_have_run() {
    let refused = Answer::Json(json!({
        "acquired": false, "resource_id": "r",
        "retry_after_ms": 50, "holder_expires_at_ms": null, "attempts": 1,
    }));
    let fake = first_acquire_lost_then(false, refused).await;
    let err = client_with_credentials(&fake.endpoint(), NeverAny)
        .try_acquire("r")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotSent(_)), "{err:?}");
    assert!(!err.may_have_been_applied());
    assert!(fake.ops().is_empty(), "nothing reached the function");

    let lost = first_acquire_lost_then(true, Answer::Drop).await;
    let err = client_with_credentials(&lost.endpoint(), OnlyAtFirst::default())
        .try_acquire("r")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Invoke(_)) && err.may_have_been_applied(),
        "{err:?}"
    );
    assert_eq!(lost.ops(), ["acquire"], "sent once, then never again");
}

/// A guard of a client whose leases end with an invocation (`with_lease_until`): its renewals ask
/// for the time left until that end, never for the length it had at the grant, so no renewal
/// extends the lease past the end; auto-renew then reports the lease lost as it runs out.
#[tokio::test]
async fn renewals_of_a_deadline_lease_never_extend_it_past_the_deadline() {
    let fake = holder(9, 60_000, true, Answer::Json(json!({"released": true}))).await;
    let end = lock_client::protocol::now_ms() + 2_000;
    let client = fake_client(&fake.endpoint()).with_lease_until(end);
    let mut guard = client.acquire("r").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(guard.renew().await.unwrap());
    let asked = |s: &Seen| s.payload["duration_ms"].as_u64().unwrap();
    let renewals: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.op() == "renew")
        .collect();
    assert_eq!(renewals.len(), 1);
    assert!(
        asked(&renewals[0]) <= 1_300,
        "asked {}",
        asked(&renewals[0])
    );
    assert!(guard.expires_at_ms() <= end + 50, "extended past the end");

    let mut lease = guard.auto_renew();
    tokio::time::timeout(Duration::from_secs(5), lease.lost())
        .await
        .expect("auto-renew reports the loss as the lease runs out");
    assert!(
        lock_client::protocol::now_ms() <= end + 1_500,
        "reported about the end"
    );
    let renewals: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.op() == "renew")
        .collect();
    // The manual renewal already reached the end: auto-renew has nothing to add.
    assert!(!renewals.is_empty());
    for r in &renewals {
        let at = lock_client::protocol::now_ms() - r.at.elapsed().as_millis() as u64;
        assert!(at + asked(r) <= end + 50, "a renewal asked past the end");
    }
    assert!(guard.expires_at_ms() <= end + 50, "extended past the end");
}

/// A deadline lease that outlives its end (granted at the end of an in-function wait) and is then
/// auto-renewed: no renewal is sent (none could extend it), and the loss is reported shortly
/// before the lease runs out - not at once, and not through a stream of renewals.
#[tokio::test]
async fn auto_renew_of_a_deadline_lease_past_its_end_sends_nothing_and_reports_the_loss() {
    let fake = holder(9, 1_500, true, Answer::Json(json!({"released": true}))).await;
    let client = fake_client(&fake.endpoint()).with_lease_until(lock_client::protocol::now_ms());
    let mut guard = client.acquire("r").await.unwrap();
    let granted = Instant::now();
    let mut lease = guard.auto_renew();
    tokio::time::timeout(Duration::from_secs(5), lease.lost())
        .await
        .expect("the loss is reported");
    let after = granted.elapsed();
    assert!(
        after >= Duration::from_millis(1_000),
        "reported lost too soon: {after:?}"
    );
    assert!(
        !fake.ops().iter().any(|op| op == "renew"),
        "{:?}",
        fake.ops()
    );
}

/// A deadline lease whose local deadline falls well before its end (its grant answered late, as
/// after a resend): auto-renew renews it once, so that the loss is reported at the end, not when
/// the early local deadline would have run out.
#[tokio::test]
async fn auto_renew_of_a_deadline_lease_renews_once_when_that_moves_its_local_deadline() {
    let fake = FakeLambda::start(|req: Value| async move {
        match req["op"].as_str().unwrap() {
            "acquire" => {
                let asked = req["duration_ms"].as_u64().unwrap();
                let mut g = grant(&req, 9, asked);
                // As a reacquire answered late: 800 ms less left than the lease runs.
                g["expires_in_ms"] = json!(asked - 800);
                Answer::Json(g)
            }
            "renew" => Answer::Json(renewed(&req, 9)),
            "release" => Answer::Json(json!({"released": true})),
            op => panic!("unexpected {op}"),
        }
    })
    .await;
    let end = lock_client::protocol::now_ms() + 6_000;
    let client = fake_client(&fake.endpoint()).with_lease_until(end);
    let mut guard = client.acquire("r").await.unwrap();
    let mut lease = guard.auto_renew();
    tokio::time::timeout(Duration::from_secs(10), lease.lost())
        .await
        .expect("the loss is reported");
    let reported = lock_client::protocol::now_ms();
    assert!(
        reported + 500 >= end,
        "reported lost {} ms before the end",
        end - reported
    );
    let renewals = fake.ops().iter().filter(|op| *op == "renew").count();
    assert!((1..=3).contains(&renewals), "{renewals} renewals");
}
