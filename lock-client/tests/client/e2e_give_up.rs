//! Giving a wait up through the whole stack (client -> Invoke API -> lock-fn -> dynalite) while its
//! acquire invoke still waits in-function: a timed-out, cancelled or dropped wait must leave no
//! holder and no place behind, so that the lock is free the moment its holder releases (not a
//! whole lease later, held by an owner nobody will release for).

use crate::support;

use std::time::{Duration, Instant};

use lock_client::protocol::{new_owner_token, AcquireResponse, Grant};
use lock_client::raw::{Mode, RawClient};
use lock_client::{ClientError, LockClient};
use support::fault_proxy::Step;
use support::*;

/// The waiter's lease: long enough that a ghost grant shows.
const GHOST_LEASE: Duration = Duration::from_secs(20);

async fn hold(raw: &RawClient, r: &str) -> Grant {
    let owner = new_owner_token();
    let (answer, _) = raw
        .acquire(
            r,
            &owner,
            Duration::from_secs(30),
            Duration::ZERO,
            Mode::Try { fresh_owner: true },
        )
        .await
        .unwrap();
    match answer.answer {
        AcquireResponse::Granted(g) => g,
        AcquireResponse::Busy(b) => panic!("{b:?}"),
    }
}

/// Releases `h` after `after`, from another task.
fn release_later(
    client: &LockClient,
    r: &str,
    h: &Grant,
    after: Duration,
) -> tokio::task::JoinHandle<()> {
    let (raw, r, owner, fence) = (
        client.raw().clone(),
        r.to_string(),
        h.owner.clone(),
        h.fence,
    );
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let out = raw.release(&r, &owner, Some(fence)).await.unwrap();
        assert!(out.released(), "{out:?}");
    })
}

/// Once the holder released, the lock is free for a single try within `within` (a try is refused
/// while anyone holds it or waits alive in its queue): no ghost grant, no ghost place. The first
/// try comes 300 ms after the release: time for an in-function wait that polls (about every 64 ms)
/// to have taken the lock, had it gone on.
async fn free_within(client: &LockClient, r: &str, within: Duration) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let until = Instant::now() + within;
    loop {
        if let Some(g) = client.try_acquire(r).await.unwrap() {
            assert!(g.release().await.unwrap());
            return;
        }
        if Instant::now() >= until {
            panic!(
                "the lock is still taken {within:?} after its holder released: {:?}",
                client.describe(r).await.unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// H holds; W waits in-function (the head of the queue); W's cancel future fires at 300 ms; H
/// releases at 500 ms, while W's acquire invoke may still be waiting. The cancelled W must not end
/// up holding the lock (a 20 s ghost lease), nor keep a place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_wait_leaves_no_ghost_grant() {
    let client = client().await;
    let r = resource("ghost-cancel");
    let h = hold(client.raw(), &r).await;
    let releaser = release_later(&client, &r, &h, Duration::from_millis(500));
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        client.with_duration(GHOST_LEASE).acquire_cancellable(
            &r,
            None,
            |_| {},
            tokio::time::sleep(Duration::from_millis(300)),
        ),
    )
    .await
    .expect("the give-up ends");
    assert!(
        matches!(outcome, Err(ClientError::Cancelled { .. })),
        "{:?}",
        outcome.map(|g| g.into_grant())
    );
    releaser.await.unwrap();
    free_within(&client, &r, Duration::from_secs(1)).await;
}

/// The same with the idiomatic Rust time-out: the acquire future is dropped at 300 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_wait_leaves_no_ghost_grant() {
    let client = client().await;
    let r = resource("ghost-drop");
    let h = hold(client.raw(), &r).await;
    let releaser = release_later(&client, &r, &h, Duration::from_millis(500));
    let dropped = tokio::time::timeout(
        Duration::from_millis(300),
        client.with_duration(GHOST_LEASE).acquire(&r),
    )
    .await;
    assert!(dropped.is_err(), "still waiting at 300 ms");
    releaser.await.unwrap();
    // The cleanup runs in the background: it waits for the dropped wait's invoke.
    free_within(&client, &r, Duration::from_secs(3)).await;
}

/// `with_queue(false)`: a wait by single tries whose in-function try barges in after the caller
/// gave up must not keep the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_single_try_wait_leaves_no_ghost_grant() {
    let client = client().await;
    let r = resource("ghost-try");
    let h = hold(client.raw(), &r).await;
    let releaser = release_later(&client, &r, &h, Duration::from_millis(500));
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        client
            .with_duration(GHOST_LEASE)
            .with_queue(false)
            .acquire_cancellable(
                &r,
                None,
                |_| {},
                tokio::time::sleep(Duration::from_millis(300)),
            ),
    )
    .await
    .expect("the give-up ends");
    assert!(
        matches!(outcome, Err(ClientError::Cancelled { .. })),
        "{:?}",
        outcome.map(|g| g.into_grant())
    );
    releaser.await.unwrap();
    free_within(&client, &r, Duration::from_secs(1)).await;
}

/// `acquire_timeout` whose invoke is still on its way well past the deadline (held 2.6 s by a proxy
/// in front of the Invoke API, past the 300 ms deadline plus the client's 2 s answer grace; it then
/// waits in-function and is handed the lock at 2.7 s): the wait times out - it does not return a
/// grant made that late - and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_wait_whose_invoke_is_late_leaves_no_ghost_grant() {
    let (proxied, proxy) = proxied_client().await;
    let client = client().await;
    let r = resource("ghost-timeout");
    let h = hold(client.raw(), &r).await;
    proxy.then(Step::Delay(Duration::from_millis(2600)));
    let releaser = release_later(&client, &r, &h, Duration::from_millis(2700));
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        proxied
            .with_duration(GHOST_LEASE)
            .acquire_timeout(&r, Duration::from_millis(300)),
    )
    .await
    .expect("the give-up ends");
    assert!(
        matches!(outcome, Err(ClientError::Timeout { .. })),
        "{:?}",
        outcome.map(|g| g.into_grant())
    );
    releaser.await.unwrap();
    free_within(&client, &r, Duration::from_secs(1)).await;
}

/// Depends on lock-fn's side of issue 17 (an in-flight wait whose entry a cancel removed answers
/// at once, `queued: false`, instead of joining again): a cancelled in-function wait gives up
/// within moments - not when its 2 s in-function wait would have ended - and no place of it is
/// left in the queue at any time afterwards (checked for 1.5 s, less than the waiter TTL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_in_function_wait_gives_up_at_once_and_leaves_the_queue() {
    let client = client().await;
    let r = resource("prompt-cancel");
    let h = hold(client.raw(), &r).await;
    let cancel_at = Duration::from_millis(300);
    // A long in-function wait: giving up "at once" must end the wait well before the invoke's own
    // wait would have ended (the bound is a fraction of the chunk, not a timing goal).
    let chunk = Duration::from_secs(10);
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        client
            .with_duration(GHOST_LEASE)
            .with_wait_chunk(chunk)
            .acquire_cancellable(&r, None, |_| {}, tokio::time::sleep(cancel_at)),
    )
    .await
    .expect("the give-up ends");
    let gave_up_in = started.elapsed().saturating_sub(cancel_at);
    assert!(
        matches!(outcome, Err(ClientError::Cancelled { .. })),
        "{:?}",
        outcome.map(|g| g.into_grant())
    );
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        let d = client.describe(&r).await.unwrap();
        assert_eq!(d.queue_length, 0, "a place is left: {d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gave_up_in < chunk / 4, "giving up took {gave_up_in:?}");
    assert!(client
        .raw()
        .release(&r, &h.owner, Some(h.fence))
        .await
        .unwrap()
        .released());
}
