//! Lock semantics against dynalite (a DynamoDB whose conditional writes are atomic): grant, refusal,
//! expiry takeover, holder-only release/renew, idempotent re-acquire, waiting, fences.

use crate::support;

use std::time::Duration;

use lock_fn::engine::config::Config;
use lock_fn::world::clock::now_ms;
use lock_protocol::{owner_digest, AcquireRequest, OnBusy};
use support::*;

#[tokio::test]
async fn grant_refusal_and_takeover_after_expiry() {
    let (engine, _, _) = dynalite_engine().await;
    // 1.5 s: the refusals below must come while it lives, also on a loaded machine.
    let a = granted(&engine, acq("res", 1500, None)).await;
    assert_eq!(
        a.owner.len(),
        32,
        "a generated owner is 128 random bits in hex"
    );
    assert_eq!(a.expires_at_ms - a.acquired_at_ms, 1500);
    assert_eq!(a.duration_ms, 1500);
    assert!(!a.reacquired);

    let busy = refused(&engine, acq("res", 300, None)).await;
    assert_eq!(busy.resource_id, "res");
    assert!(busy.retry_after_ms >= 1);
    // One write; dynalite does not return the item on a failed condition (DynamoDB does, with
    // ALL_OLD), so lock-fn reads it once to tell a semaphore's item (LimitMismatch) from a holder.
    assert_eq!(
        busy.attempts, 2,
        "a refusal without waiting is one write (+ one read here)"
    );
    assert!(
        busy.holder_expires_at_ms.is_some(),
        "the read tells the holder's lease end"
    );

    // Refused all the way to the lease end, granted right after it: no attempt that began after
    // the lease end is refused (how close the last refusal comes to the end is the machine's
    // speed, not the lock's).
    let mut last_refusal = 0;
    let b = within(10, "granted after the lease end", async {
        loop {
            let tried = now_ms();
            match acquire(&engine, acq("res", 300, None)).await {
                lock_protocol::AcquireResponse::Busy(_) => last_refusal = tried,
                lock_protocol::AcquireResponse::Granted(g) => break g,
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        last_refusal > 0 && last_refusal < a.expires_at_ms,
        "refused until the lease end, never after it: last at {last_refusal}, lease end {}",
        a.expires_at_ms
    );
    assert!(
        b.fence > a.fence,
        "takeover fence {} must exceed {}",
        b.fence,
        a.fence
    );
    assert!(b.acquired_at_ms >= a.expires_at_ms);

    // The first holder lost the lock: release and renew tell it so and change nothing.
    assert!(!release(&engine, "res", &a.owner).await.released);
    assert!(!renew(&engine, "res", &a.owner, 1000).await.renewed);
    let d = describe(&engine, "res").await;
    assert_eq!(
        (d.held, d.owner, d.fence),
        (true, Some(owner_digest(&b.owner)), Some(b.fence))
    );
}

#[tokio::test]
async fn release_by_holder_frees_at_once_and_fence_rises() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, None)).await;
    let rel = release(&engine, "r", &a.owner).await;
    assert!(rel.released);
    let released_at = rel.released_at_ms.expect("released_at_ms");
    assert!(released_at >= a.acquired_at_ms && released_at < a.expires_at_ms);
    assert!(!describe(&engine, "r").await.held);

    let b = granted(&engine, acq("r", 60_000, None)).await;
    assert_eq!(
        b.fence,
        a.fence + 1,
        "the kept item counts the fence up by one"
    );
    assert!(b.acquired_at_ms >= released_at);
    // A second release by the old holder is a no-op answered `false`.
    assert!(!release(&engine, "r", &a.owner).await.released);
    assert!(describe(&engine, "r").await.held);
}

#[tokio::test]
async fn only_the_holder_can_release_or_renew() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, Some("alice"))).await;
    assert!(!release(&engine, "r", "mallory").await.released);
    assert!(!renew(&engine, "r", "mallory", 1000).await.renewed);
    let d = describe(&engine, "r").await;
    assert_eq!(
        (d.held, d.owner, d.expires_at_ms),
        (true, Some(owner_digest("alice")), Some(a.expires_at_ms))
    );
}

#[tokio::test]
async fn renew_moves_the_lease_end_and_keeps_the_fence() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 200, None)).await;
    let r = renew(&engine, "r", &a.owner, 1500).await;
    let renewal = r.renewal.expect("renewed");
    assert!(r.renewed);
    assert_eq!(renewal.fence, a.fence);
    assert_eq!(renewal.duration_ms, 1500);
    assert!(
        renewal.expires_at_ms > a.expires_at_ms + 1000,
        "the renew extends the lease: {renewal:?} after {a:?}"
    );
    let left = renewal.expires_in_ms.expect("the time left is told");
    assert!(
        left <= 1500 && left + 500 >= 1500,
        "the time left is the new lease, measured when answered: {left}"
    );
    let g_left = a.expires_in_ms.expect("the time left is told");
    assert!(g_left <= 200 && g_left + 150 >= 200, "{g_left}");
    sleep_until_ms(a.expires_at_ms).await;
    refused(&engine, acq("r", 100, None)).await;
    assert!(
        release(&engine, "r", &a.owner).await.released,
        "still the holder after the first lease end"
    );
}

#[tokio::test]
async fn same_owner_reacquire_is_idempotent_and_keeps_the_fence() {
    let (engine, _, _) = dynalite_engine().await;
    let owner = "arn:aws:states:us-east-1:123456789012:execution:sm:run-1";
    let first = granted(&engine, acq("r", 60_000, Some(owner))).await;
    let again = granted(&engine, acq("r", 60_000, Some(owner))).await;
    assert!(again.reacquired);
    assert_eq!(
        (again.fence, again.expires_at_ms, again.owner.as_str()),
        (first.fence, first.expires_at_ms, owner)
    );
    refused(&engine, acq("r", 60_000, Some("someone-else"))).await;
    assert!(release(&engine, "r", owner).await.released);
    let next = granted(&engine, acq("r", 60_000, Some(owner))).await;
    assert!(
        !next.reacquired && next.fence > first.fence,
        "after release the same owner gets a new grant"
    );
}

#[tokio::test]
async fn fence_rises_across_deletion_of_the_item() {
    let (engine, client, table) = dynalite_engine().await;
    let mut last = 0;
    for round in 0..3 {
        // A life of the item with as many grants as the store allows in a few milliseconds: each
        // adds one to the fence, which never runs ahead of its floor clock (x1000 per ms)...
        // (10 s leases: a release on a loaded machine must still find its grant; round 1's last
        // grant is short, to be let expire.)
        let first = granted(&engine, acq("r", 10_000, None)).await;
        assert!(
            first.fence > first.acquired_at_ms * lock_fn::model::fence::FENCE_FLOOR_PER_MS,
            "round {round}: a new item's fence starts at the clock floor: {first:?}"
        );
        assert!(
            first.fence > last,
            "round {round}: {} after {last}",
            first.fence
        );
        let mut g = first;
        for i in 0..20 {
            assert!(release(&engine, "r", &g.owner).await.released);
            let lease = if round == 1 && i == 19 { 200 } else { 10_000 };
            let next = granted(&engine, acq("r", lease, None)).await;
            assert_eq!(
                next.fence,
                g.fence + 1,
                "one more per grant while the item lives"
            );
            assert!(
                next.fence < (next.acquired_at_ms + 1) * lock_fn::model::fence::FENCE_FLOOR_PER_MS
            );
            g = next;
        }
        last = g.fence;
        if round == 1 {
            sleep_until_ms(g.expires_at_ms).await; // let it expire instead of releasing
        } else {
            assert!(release(&engine, "r", &g.owner).await.released);
        }
        // What TTL (or a dynamo-dlm release) does: the item disappears with its fence.
        delete_item(&client, &table, "r").await;
    }
    let g = granted(&engine, acq("r", 50, None)).await;
    assert!(g.fence > last);
}

#[tokio::test]
async fn waiting_acquire_gets_the_lock_when_the_holder_releases() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, None)).await;
    let waiter = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let req = AcquireRequest {
                wait_ms: 5_000,
                ..acq("r", 1000, None)
            };
            granted(&engine, req).await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rel = release(&engine, "r", &a.owner).await;
    let b = waiter.await.unwrap();
    let released_at = rel.released_at_ms.unwrap();
    assert!(b.acquired_at_ms >= released_at);
    assert!(
        b.acquired_at_ms - released_at < 1000,
        "handoff took {} ms",
        b.acquired_at_ms - released_at
    );
    assert!(b.fence > a.fence);
}

#[tokio::test]
async fn waiting_acquire_takes_over_at_expiry_and_gives_up_when_wait_ends() {
    let (engine, _, _) = dynalite_engine().await;
    // 2 s: the 100 ms wait below ends well inside it, also on a loaded machine.
    let a = granted(&engine, acq("r", 2000, None)).await;
    let started = now_ms();
    let gave_up = refused(
        &engine,
        AcquireRequest {
            wait_ms: 100,
            ..acq("r", 300, None)
        },
    )
    .await;
    let waited = now_ms() - started;
    assert!(
        (90..1000).contains(&waited),
        "waited {waited} ms for a 100 ms wait"
    );
    assert!(gave_up.attempts > 1, "waiting retries in-function");

    let b = granted(
        &engine,
        AcquireRequest {
            wait_ms: 5_000,
            ..acq("r", 300, None)
        },
    )
    .await;
    assert!(b.acquired_at_ms >= a.expires_at_ms);
}

/// Through the real handler, with the invocation deadline in the Lambda context as real Lambda
/// sends it (epoch ms): a long wait answers busy before the deadline, leaving the margin.
#[tokio::test]
async fn waiting_answers_before_the_invocation_deadline() {
    let (engine, _, _) = dynalite_engine().await;
    let holder = granted(&engine, acq("r", 60_000, None)).await;
    let margin = engine.config().deadline_margin.as_millis() as u64;
    let deadline = now_ms() + margin + 400;
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline;
    let event = serde_json::json!({
        "op": "acquire", "resource_id": "r", "duration_ms": 1000, "wait_ms": 60_000
    });
    let started = now_ms();
    let answer =
        lock_fn::lambda::handler::handle(&engine, lambda_runtime::LambdaEvent::new(event, context))
            .await
            .unwrap();
    let answered = now_ms();
    assert!(
        answered <= deadline - margin + 100,
        "answered {} ms after the margin began",
        answered - (deadline - margin)
    );
    assert!(
        answered - started >= 300,
        "it did wait ({} ms)",
        answered - started
    );
    assert_eq!(answer["acquired"], false, "{answer}");
    assert!(
        answer["attempts"].as_u64() > Some(1),
        "it retried: {answer}"
    );
    let status = describe(&engine, "r").await;
    assert_eq!((status.held, status.fence), (true, Some(holder.fence)));
}

#[tokio::test]
async fn on_busy_error_gives_lock_busy() {
    let (engine, _, _) = dynalite_engine().await;
    granted(&engine, acq("r", 60_000, None)).await;
    let req = AcquireRequest {
        on_busy: OnBusy::Error,
        ..acq("r", 1000, None)
    };
    assert_eq!(error_name(engine.acquire(req, None).await), "LockBusy");
}

#[tokio::test]
async fn too_long_a_lease_is_invalid_and_writes_nothing() {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = Config {
        max_duration: Duration::from_secs(60),
        ..Config::default()
    };
    let engine = engine_on(&client, &table, config);
    let err = engine
        .acquire(acq("r", 60_001, None), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type().as_str(), "InvalidRequest");
    assert!(err.to_string().contains("duration_ms"), "{err}");
    let g = granted(&engine, acq("other", 60_000, None)).await;
    assert_eq!(
        error_name(
            engine
                .renew(
                    lock_protocol::RenewRequest {
                        resource_id: "other".into(),
                        owner: g.owner,
                        duration_ms: Some(61_000),
                        fence: None,
                    },
                    None
                )
                .await
        ),
        "InvalidRequest"
    );
    let scan = client.scan().table_name(&table).send().await.unwrap();
    assert_eq!(scan.count(), 1, "only the valid grant wrote an item");
}

#[tokio::test]
async fn a_missing_table_or_a_sort_key_table_is_misconfigured() {
    let client = client(&dynalite_endpoint());
    let missing = engine_on(&client, "no-such-table", Config::default());
    assert_eq!(
        error_name(missing.acquire(acq("r", 1000, None), None).await),
        "Misconfigured"
    );

    let name = format!("v2-{}", std::process::id());
    create_table(&client, &name, true).await;
    let v2 = engine_on(&client, &name, Config::default());
    let err = v2.acquire(acq("r", 1000, None), None).await.unwrap_err();
    assert_eq!(err.error_type().as_str(), "Misconfigured");
    assert!(err.to_string().contains(&name), "names the table: {err}");
}

#[tokio::test]
async fn items_written_by_dynamo_dlm_are_honoured_by_whole_seconds() {
    let (engine, client, table) = dynalite_engine().await;
    let now_s = now_ms() / 1000;
    let put = |expires: u64| put_dynamo_dlm_item(&client, &table, "py", "0123abcd", expires);
    put(now_s + 2).await;
    let busy = refused(&engine, acq("py", 1000, None)).await;
    assert_eq!(busy.holder_fence, None);
    let d = describe(&engine, "py").await;
    assert_eq!(
        (d.held, d.fence, d.expires_at_ms),
        (true, None, Some((now_s + 2) * 1000))
    );
    put(now_s).await; // dynamo-dlm's own test: expires <= now is free
    let g = granted(&engine, acq("py", 1000, None)).await;
    assert!(
        g.fence >= g.acquired_at_ms * 1000,
        "a fence-less item starts at the clock floor"
    );
}

#[tokio::test]
async fn a_repeated_release_naming_the_fence_is_answered_like_the_first() {
    let (engine, _, _) = dynalite_engine().await;
    let release_fenced = |owner: &str, fence: Option<u64>| {
        let req = lock_protocol::ReleaseRequest {
            resource_id: "r".into(),
            owner: owner.into(),
            fence,
        };
        let engine = engine.clone();
        async move {
            match engine.release(req, None).await.unwrap().reply {
                lock_fn::engine::reply::Reply::Release(r) => r,
                other => panic!("{other:?}"),
            }
        }
    };
    let g = granted(&engine, acq("r", 60_000, Some("o"))).await;
    let first = release_fenced("o", Some(g.fence)).await;
    assert!(first.released);
    let again = release_fenced("o", Some(g.fence)).await;
    assert_eq!(
        (again.released, again.released_at_ms),
        (true, first.released_at_ms),
        "same answer again"
    );
    assert!(
        !release_fenced("o", None).await.released,
        "without the fence a repeat is not recognised"
    );
    // A fence above the item's counter is no grant of this life of the item: its records cannot
    // tell, so `uncertain` (never `released: true`).
    let other = release_fenced("o", Some(g.fence + 1)).await;
    assert!(
        !other.released && other.uncertain,
        "another grant's fence is not ours: {other:?}"
    );

    let h = granted(&engine, acq("r", 60_000, Some("p"))).await;
    assert_eq!(
        release_fenced("o", Some(g.fence)).await.released_at_ms,
        first.released_at_ms,
        "still recognised while p holds"
    );
    assert!(
        describe(&engine, "r").await.held,
        "and p's lock is untouched"
    );
    assert!(release_fenced("p", Some(h.fence)).await.released);
    assert_eq!(
        release_fenced("o", Some(g.fence)).await.released_at_ms,
        first.released_at_ms,
        "its slot keeps o's release recognisable after p's release"
    );
    // Eight grants later the slot is reused.
    for _ in 0..8 {
        let x = granted(&engine, acq("r", 60_000, None)).await;
        assert!(release_fenced(&x.owner, Some(x.fence)).await.released);
    }
    assert!(
        !release_fenced("o", Some(g.fence)).await.released,
        "the slot now holds a later release"
    );
}
