//! The FIFO queue end to end: client -> Invoke API (a private `cargo lambda watch` whose lock-fn
//! processes have short waiter and claim times, so that the bounds show in seconds) -> dynalite.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_client::protocol::{AcquireResponse, Busy, Grant};
use lock_client::raw::{Mode, RawClient};
use support::*;
use test_support::local_procs::LocalLambda;

/// The waiter TTL and claim lease of the tests that measure them.
const TTL_MS: u64 = 1500;
const CLAIM_MS: u64 = 400;
/// Theirs for every other test: long enough that no place or claim runs out on a loaded machine
/// (CI can take 50 ms and more per invoke). The claim stays shorter than the 30 s lease a
/// waiter asks for, so that a handoff is a claim (answered `reacquired: false`).
const LONG_TTL_MS: u64 = 30_000;
const LONG_CLAIM_MS: u64 = 20_000;

/// A private lock function with long waiter places and claim leases.
async fn private(max_waiters: &str) -> (LocalLambda, lock_client::LockClient) {
    private_with(max_waiters, LONG_TTL_MS, LONG_CLAIM_MS).await
}

/// A private lock function with the short places and claims of [`TTL_MS`] and [`CLAIM_MS`].
async fn private_short(max_waiters: &str) -> (LocalLambda, lock_client::LockClient) {
    private_with(max_waiters, TTL_MS, CLAIM_MS).await
}

async fn private_with(
    max_waiters: &str,
    ttl_ms: u64,
    claim_ms: u64,
) -> (LocalLambda, lock_client::LockClient) {
    let dynalite = std::env::var("DLM_TEST_DYNAMODB_ENDPOINT").expect("run via scripts/test.sh");
    let table = std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into());
    let lambda = LocalLambda::start(
        2,
        &dynalite,
        &[
            ("LOCK_TABLE", &table),
            ("LOCK_WAITER_TTL_MS", &ttl_ms.to_string()),
            ("LOCK_CLAIM_MS", &claim_ms.to_string()),
            ("LOCK_MAX_WAITERS", max_waiters),
            ("RUST_LOG", "error"),
        ],
    )
    .await;
    let client = client_at(&lambda.endpoint()).await;
    (lambda, client)
}

/// One queued attempt (no in-function wait) by `owner`.
async fn poll(raw: &RawClient, r: &str, owner: &str) -> AcquireResponse {
    raw.acquire(
        r,
        owner,
        Duration::from_secs(30),
        Duration::ZERO,
        Mode::Queue,
    )
    .await
    .unwrap()
    .0
    .answer
}

fn queued(answer: AcquireResponse) -> Busy {
    match answer {
        AcquireResponse::Busy(b) => b,
        AcquireResponse::Granted(g) => panic!("expected to wait, got {g:?}"),
    }
}

async fn hold(raw: &RawClient, r: &str, owner: &str, lease: Duration) -> Grant {
    let (answer, _) = raw
        .acquire(
            r,
            owner,
            lease,
            Duration::ZERO,
            Mode::Try { fresh_owner: true },
        )
        .await
        .unwrap();
    granted(answer.answer)
}

/// Eight waiters join one after another behind a holder; each release hands the lock to exactly
/// the next of them, in the order they joined, with a rising fence; nobody else is ever granted.
#[tokio::test]
async fn waiters_are_served_in_the_order_they_joined() {
    let (_lambda, client) = private("64").await;
    let raw = client.raw();
    let r = resource("fifo");
    let mut holder = hold(raw, &r, "holder", Duration::from_secs(30)).await;
    let waiters: Vec<String> = (0..8).map(|i| format!("waiter-{i}")).collect();
    for (i, w) in waiters.iter().enumerate() {
        let b = queued(poll(raw, &r, w).await);
        assert!(b.queued, "{b:?}");
        assert_eq!(b.position, Some(i as u32 + 1));
    }
    let status = client.describe(&r).await.unwrap();
    assert_eq!(status.queue_length, 8);
    assert_eq!(
        status
            .queue
            .iter()
            .map(|q| q.owner.clone())
            .collect::<Vec<_>>(),
        waiters
            .iter()
            .map(|w| lock_client::protocol::owner_digest(w))
            .collect::<Vec<_>>()
    );
    for (i, next) in waiters.iter().enumerate() {
        assert!(raw
            .release(&r, &holder.owner, Some(holder.fence))
            .await
            .unwrap()
            .released());
        // Everyone still waiting keeps polling: only the head gets it.
        for (j, w) in waiters.iter().enumerate().skip(i + 1) {
            let b = queued(poll(raw, &r, w).await);
            assert_eq!(b.position, Some((j - i) as u32), "{w} after {i} handoffs");
        }
        let g = granted(poll(raw, &r, next).await);
        assert_eq!(g.fence, holder.fence + 1, "handed over with the next fence");
        assert!(!g.reacquired);
        holder = g;
    }
    assert!(raw
        .release(&r, &holder.owner, Some(holder.fence))
        .await
        .unwrap()
        .released());
    assert_eq!(client.describe(&r).await.unwrap().queue_length, 0);
}

/// A single try is refused while anyone is queued and alive - even when the lock is momentarily
/// free (the holder's lease ran out and the waiter has not come back yet).
#[tokio::test]
async fn a_try_never_barges_past_a_live_waiter() {
    let (_lambda, client) = private("64").await;
    let raw = client.raw();
    let r = resource("no-barging");
    let h = hold(raw, &r, "holder", Duration::from_millis(1000)).await;
    queued(poll(raw, &r, "waiter").await);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        !client.describe(&r).await.unwrap().held,
        "the lease ran out"
    );
    assert!(
        client.try_acquire(&r).await.unwrap().is_none(),
        "no barging"
    );
    let g = granted(poll(raw, &r, "waiter").await);
    assert!(g.fence > h.fence);
}

/// A waiter that stops trying loses its place within LOCK_WAITER_TTL_MS: the release hands the
/// lock past it to the next live waiter.
#[tokio::test]
async fn a_dead_waiter_is_skipped_once_its_place_ran_out() {
    let (_lambda, client) = private_short("64").await;
    let raw = client.raw();
    let r = resource("dead-waiter");
    let h = hold(raw, &r, "holder", Duration::from_secs(30)).await;
    queued(poll(raw, &r, "dies").await);
    queued(poll(raw, &r, "lives").await);
    // "dies" never comes back; "lives" keeps its place.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(TTL_MS + 200) {
        queued(poll(raw, &r, "lives").await);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let status = client.describe(&r).await.unwrap();
    assert_eq!(
        status.queue_length, 1,
        "only the live waiter counts: {status:?}"
    );
    assert!(raw
        .release(&r, "holder", Some(h.fence))
        .await
        .unwrap()
        .released());
    let g = granted(poll(raw, &r, "lives").await);
    assert_eq!(g.fence, h.fence + 1, "handed straight to the live waiter");
}

/// A handoff to a waiter that never comes back to claim it lasts only the claim lease
/// (LOCK_CLAIM_MS); then the next waiter takes the lock.
#[tokio::test]
async fn a_handoff_nobody_claims_ends_with_the_claim_lease() {
    let (_lambda, client) = private_short("64").await;
    let raw = client.raw();
    let r = resource("unclaimed");
    let h = hold(raw, &r, "holder", Duration::from_secs(30)).await;
    queued(poll(raw, &r, "vanishes").await);
    queued(poll(raw, &r, "next").await);
    let released = raw.release(&r, "holder", Some(h.fence)).await.unwrap();
    let released_at = released.released_at_ms().unwrap();
    let d = client.describe(&r).await.unwrap();
    assert_eq!(d.fence, Some(h.fence + 1), "handed to the first waiter");
    assert!(
        d.expires_at_ms.unwrap() <= released_at + CLAIM_MS,
        "with the claim lease only: {d:?}"
    );
    let g = loop {
        match poll(raw, &r, "next").await {
            AcquireResponse::Granted(g) => break g,
            AcquireResponse::Busy(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(
        g.acquired_at_ms >= released_at + CLAIM_MS
            && g.acquired_at_ms < released_at + CLAIM_MS + 1000,
        "the next waiter took over {} ms after the handoff",
        g.acquired_at_ms - released_at
    );
    assert_eq!(g.fence, h.fence + 2);
}

/// `cancel` takes a waiter out of the queue; a grant handed to it meanwhile is released and
/// handed on to the next waiter.
#[tokio::test]
async fn cancel_leaves_the_queue_and_hands_on_a_grant_made_meanwhile() {
    let (_lambda, client) = private("64").await;
    let raw = client.raw();
    let r = resource("cancel");
    let h = hold(raw, &r, "holder", Duration::from_secs(30)).await;
    queued(poll(raw, &r, "quitter").await);
    let c = raw.cancel(&r, "quitter").await.unwrap();
    assert!(c.cancelled && !c.released, "{c:?}");
    assert_eq!(client.describe(&r).await.unwrap().queue_length, 0);
    assert!(
        !raw.cancel(&r, "quitter").await.unwrap().cancelled,
        "nothing left to cancel"
    );

    queued(poll(raw, &r, "gives-up").await);
    queued(poll(raw, &r, "patient").await);
    assert!(raw
        .release(&r, "holder", Some(h.fence))
        .await
        .unwrap()
        .released());
    // The lock went to "gives-up", which cancels without ever learning it.
    let c = raw.cancel(&r, "gives-up").await.unwrap();
    assert!(c.cancelled && c.released, "{c:?}");
    let g = granted(poll(raw, &r, "patient").await);
    assert_eq!(g.fence, h.fence + 2);
}

/// A full queue answers busy without a place (`queued: false`), with its length.
#[tokio::test]
async fn a_full_queue_answers_busy() {
    let (_lambda, client) = private("3").await;
    let raw = client.raw();
    let r = resource("full");
    hold(raw, &r, "holder", Duration::from_secs(30)).await;
    for i in 0..3 {
        assert!(queued(poll(raw, &r, &format!("w{i}")).await).queued);
    }
    let full = queued(poll(raw, &r, "one-too-many").await);
    assert!(!full.queued, "{full:?}");
    assert_eq!((full.position, full.queue_length), (None, Some(3)));
}

/// A blocking acquire that times out leaves the queue (the client cancels).
#[tokio::test]
async fn a_timed_out_acquire_gives_its_place_up() {
    let (_lambda, client) = private("64").await;
    let r = resource("timeout-cancel");
    hold(client.raw(), &r, "holder", Duration::from_secs(30)).await;
    let err = client
        .acquire_timeout(&r, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(err, lock_client::ClientError::Timeout { .. }),
        "{err:?}"
    );
    assert_eq!(client.describe(&r).await.unwrap().queue_length, 0);
}

/// 32 blocking (queueing) clients, 3 grants each, through the Invoke API: no overlap on lock-fn's
/// clock, fences rising, everyone served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_queueing_clients_never_overlap() {
    let base = client().await.with_duration(Duration::from_secs(30));
    let r = resource("queue-32");
    let history = Arc::new(test_support::history::History::default());
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..32 {
        let (base, r, history, served) = (base.clone(), r.clone(), history.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let guard = base.acquire(&r).await.unwrap();
                let g = guard.grant().clone();
                tokio::time::sleep(Duration::from_millis(2)).await;
                let at = guard.release_outcome().await.unwrap().released_at_ms();
                history.record(&g, at);
                served.lock().unwrap().push(i);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(history.check(), Ok(96));
    assert_eq!(history.lost(), 0, "30 s leases never run out here");
    let served = served.lock().unwrap();
    for i in 0..32 {
        assert_eq!(served.iter().filter(|s| **s == i).count(), 3);
    }
}
