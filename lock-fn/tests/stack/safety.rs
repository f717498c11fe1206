//! The interleavings of the safety report, each driven through the fault proxy (or the item itself)
//! against dynalite: a release record of an older grant answering for a newer one, a retried
//! release ending the owner's next grant, owner tokens leaking through describe, a dynamo-dlm item
//! taken for our own grant, and a late acquire write lowering the fence after TTL deleted the item.

use crate::support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lock_fn::world::clock::now_ms;
use lock_protocol::owner_digest;
use support::fault_proxy::Step;
use support::*;

/// Owner W reuses its token across grants (as a Step Functions execution ARN does). Its unfenced
/// release of an expired grant, retried after a 500, must not be answered `released: true` from the
/// record its *earlier* grant's release left, while X holds the lock.
#[tokio::test]
async fn a_release_record_of_an_older_grant_never_answers_for_a_newer_one() {
    let (engine, proxy) = proxied_engine(4).await;
    let w = "arn:aws:states:us-east-1:1:execution:sm:w";
    granted(&engine, acq("r", 60_000, Some(w))).await;
    assert!(release(&engine, "r", w).await.released, "grant 1 released");
    let g2 = granted(&engine, acq("r", 150, Some(w))).await;
    sleep_until_ms(g2.expires_at_ms).await;
    let x = granted(&engine, acq("r", 60_000, Some("x"))).await;

    proxy.then(Step::ServerError);
    let answer = release(&engine, "r", w).await;
    assert!(
        !answer.released,
        "W's release answered {answer:?} while X holds the lock"
    );
    let d = describe_as(&engine, "r", Some("x")).await;
    assert_eq!(
        (d.held, d.yours, d.fence),
        (true, Some(true), Some(x.fence))
    );
}

/// An unfenced release whose first attempt was applied but answered late (the answer lost, the
/// connection held): lock-fn retries it. Meanwhile the same owner takes a new grant. The retry must
/// recognise its own first attempt (released: true) and leave the new grant alone.
#[tokio::test]
async fn a_retried_unfenced_release_never_ends_the_owners_next_grant() {
    let (engine, proxy) = proxied_engine(4).await;
    let direct = direct_engine(&table_of(&engine));
    let w = "arn:aws:states:us-east-1:1:execution:sm:w";
    granted(&engine, acq("r", 60_000, Some(w))).await;

    proxy.then(Step::LoseAnswer(Duration::from_millis(400)));
    let releasing = {
        let engine = engine.clone();
        tokio::spawn(async move { release(&engine, "r", w).await })
    };
    // While the first attempt's answer hangs, the released lock is taken again by the same owner.
    let g2 = within(10, "the released lock taken again", async {
        loop {
            if let lock_protocol::AcquireResponse::Granted(g) =
                acquire(&direct, acq("r", 60_000, Some(w))).await
            {
                break g;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(!g2.reacquired, "a new grant, not the released one");
    let answer = releasing.await.unwrap();
    assert!(
        answer.released,
        "the first attempt released grant 1: {answer:?}"
    );
    let d = describe_as(&direct, "r", Some(w)).await;
    assert_eq!(
        (d.held, d.yours, d.fence),
        (true, Some(true), Some(g2.fence)),
        "the retry must not end grant 2"
    );
}

/// Owner W reuses its token. Its unfenced renew of grant 1 is delayed on the way to the store;
/// meanwhile W releases grant 1 and is granted grant 2 (60 s). The late renew must not move grant
/// 2's lease - to its own 1 s it would cut the lease short under a holder told 60 s.
#[tokio::test]
async fn a_late_unfenced_renew_never_touches_a_newer_grant_of_the_owner() {
    let (engine, proxy) = proxied_engine(1).await;
    let direct = direct_engine(&table_of(&engine));
    let w = "arn:aws:states:us-east-1:1:execution:sm:w";
    let g1 = granted(&direct, acq("r", 60_000, Some(w))).await;

    proxy.then(Step::Delay(Duration::from_millis(400)));
    let renewing = {
        let engine = engine.clone();
        tokio::spawn(async move { renew(&engine, "r", w, 1_000).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        release_fenced(&direct, "r", w, Some(g1.fence))
            .await
            .released
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let g2 = granted(&direct, acq("r", 60_000, Some(w))).await;
    assert_eq!(g2.fence, g1.fence + 1);
    let answer = renewing.await.unwrap();
    assert!(!answer.renewed, "grant 1 had ended: {answer:?}");
    let d = describe_as(&direct, "r", Some(w)).await;
    assert_eq!(
        (d.fence, d.expires_at_ms),
        (Some(g2.fence), Some(g2.expires_at_ms)),
        "grant 2's lease is its own"
    );
}

/// `describe` tells a caller whether it holds the lock and shows others the owner digest and the
/// holder label, never the token; the digest is no credential (no re-acquire, renew or release).
#[tokio::test]
async fn describe_never_shows_a_token_and_a_digest_is_no_credential() {
    let (engine, _, _) = dynalite_engine().await;
    let owner = "a-secret-owner-token";
    let g = granted(
        &engine,
        lock_protocol::AcquireRequest {
            holder: Some("worker-7".into()),
            ..acq("r", 60_000, Some(owner))
        },
    )
    .await;
    let seen = describe(&engine, "r").await;
    let text = serde_json::to_string(&seen).unwrap();
    assert!(!text.contains(owner), "describe leaks the token: {text}");
    assert_eq!(seen.owner, Some(owner_digest(owner)));
    assert_eq!(seen.holder.as_deref(), Some("worker-7"));
    assert_eq!(seen.yours, None, "not asked");
    assert_eq!(
        describe_as(&engine, "r", Some(owner)).await.yours,
        Some(true)
    );
    assert_eq!(
        describe_as(&engine, "r", Some("other")).await.yours,
        Some(false)
    );

    let digest = seen.owner.unwrap();
    refused(&engine, acq("r", 60_000, Some(&digest))).await;
    assert!(!renew(&engine, "r", &digest, 1).await.renewed);
    assert!(!release(&engine, "r", &digest).await.released);
    let d = describe(&engine, "r").await;
    assert_eq!((d.held, d.expires_at_ms), (true, Some(g.expires_at_ms)));
}

/// An item Python dynamo-dlm wrote (no `expires_at_ms`) is never answered as our re-acquire, even
/// by a caller that names its release code: that caller is refused with the holder's expiry.
#[tokio::test]
async fn a_dynamo_dlm_item_is_never_reacquired_by_naming_its_release_code() {
    let (engine, client, table) = dynalite_engine().await;
    let expires = now_ms() / 1000 + 30;
    put_dynamo_dlm_item(&client, &table, "py", "5f2b0c", expires).await;
    let busy = refused(&engine, acq("py", 1000, Some("5f2b0c"))).await;
    assert_eq!(busy.holder_fence, None);
    let d = describe_as(&engine, "py", Some("5f2b0c")).await;
    assert_eq!(
        (d.held, d.yours, d.expires_at_ms),
        (true, Some(false), Some(expires * 1000))
    );
    assert_ne!(
        d.owner.as_deref(),
        Some("5f2b0c"),
        "dynamo-dlm's code is not shown either"
    );
}

/// The TTL attribute the SAM template enables on the lock table.
fn template_ttl_attribute() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let t: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    t["Resources"]["LockTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What DynamoDB TTL does (dynalite has none): deletes every item whose TTL attribute is due.
async fn ttl_sweep(client: &aws_sdk_dynamodb::Client, table: &str, attribute: &str) -> usize {
    let now_s = now_ms() / 1000;
    let items = client.scan().table_name(table).send().await.unwrap();
    let mut deleted = 0;
    for item in items.items() {
        let due = matches!(item.get(attribute), Some(AttributeValue::N(n)) if n.parse::<u64>().unwrap() <= now_s);
        if due {
            client
                .delete_item()
                .table_name(table)
                .key("resource_id", item["resource_id"].clone())
                .send()
                .await
                .unwrap();
            deleted += 1;
        }
    }
    deleted
}

/// An acquire attempt built at t1 is delayed past its attempt timeout; the retry grants A; A
/// releases; TTL runs (by the template's attribute); then the delayed attempt lands. On a table only
/// lock-fn writes, the item is still there (TTL waits an hour past the lease end), so the late
/// write is refused by the lease condition and every fence stays above the earlier ones.
#[tokio::test]
async fn a_late_acquire_write_never_lowers_the_fence() {
    let (engine, proxy, table) = proxied_engine_with(4, Some(Duration::from_millis(150))).await;
    let direct_client = client(&dynalite_endpoint());
    let direct = engine_on(
        &direct_client,
        &table,
        lock_fn::engine::config::Config::default(),
    );
    let ttl = template_ttl_attribute();

    proxy.then(Step::Delay(Duration::from_millis(1200)));
    let a = granted(&engine, acq("r", 60_000, Some("a"))).await;
    let landed_by = now_ms() + 1200;
    assert!(release(&direct, "r", "a").await.released);
    ttl_sweep(&direct_client, &table, &ttl).await;
    sleep_until_ms(landed_by + 200).await;
    assert_eq!(
        proxy
            .counts
            .delayed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    ttl_sweep(&direct_client, &table, &ttl).await;

    let b = granted(&direct, acq("r", 60_000, Some("b"))).await;
    assert!(
        b.fence > a.fence,
        "fence went down: {} after {} (a late write landed after a deletion)",
        b.fence,
        a.fence
    );
    let d = describe_as(&direct, "r", Some("b")).await;
    assert_eq!((d.yours, d.fence), (Some(true), Some(b.fence)));
}

/// The table an engine writes to.
fn table_of(engine: &lock_fn::engine::LockEngine) -> String {
    engine.config().table.clone()
}

/// DynamoDB hangs (every request held for 5 s): the invocation still answers before its deadline,
/// with `StoreUnavailable` saying an attempt may have been applied - never killed mid-write.
#[tokio::test]
async fn store_calls_end_before_the_invocation_deadline() {
    let (engine, proxy) = proxied_engine(6).await;
    proxy.set(support::fault_proxy::Faults {
        slow: 1.0,
        latency: Duration::from_secs(5),
        ..Default::default()
    });
    let margin = engine.config().deadline_margin.as_millis() as u64;
    let deadline = now_ms() + 1500;
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline;
    let event = serde_json::json!({"op": "release", "resource_id": "r", "owner": "o", "fence": 1});
    let err =
        lock_fn::lambda::handler::handle(&engine, lambda_runtime::LambdaEvent::new(event, context))
            .await
            .unwrap_err();
    let answered = now_ms();
    proxy.set(support::fault_proxy::Faults::default());
    assert!(
        answered <= deadline - margin / 2 + 50,
        "answered {} ms before the deadline",
        deadline as i64 - answered as i64
    );
    assert_eq!(err.error_type().as_str(), "StoreUnavailable");
    assert!(err.to_string().contains("may have been applied"), "{err}");
}

/// A renew's first write is held up past its attempt timeout; lock-fn's retry of it and a later
/// renew are applied; then the held write lands. The lease end must not move back: the holder's
/// deadline comes from the later renew's answer, and a lease ending before it lets another owner
/// in while the holder still works.
#[tokio::test]
async fn a_late_renew_never_moves_the_lease_end_back() {
    for fenced in [false, true] {
        let (engine, proxy, table) = proxied_engine_with(3, Some(Duration::from_millis(300))).await;
        let direct = direct_engine(&table);
        let g = granted(&direct, acq("r", 6_000, Some("o"))).await;
        proxy.then(Step::Delay(Duration::from_millis(1_500)));
        let fence = fenced.then_some(g.fence);
        let first = renew_fenced(&engine, "r", "o", fence, 6_000).await;
        assert!(first.renewed, "{first:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = renew_fenced(&direct, "r", "o", fence, 6_000).await;
        let promised = second.renewal.expect("renewed").expires_at_ms;
        tokio::time::sleep(Duration::from_millis(1_500)).await; // the held write has landed
        assert_eq!(delayed(&proxy), 1);
        let d = describe(&direct, "r").await;
        assert!(
            d.expires_at_ms.unwrap() >= promised,
            "fenced {fenced}: the lease ends at {:?}, before the {promised} the last renew answered",
            d.expires_at_ms
        );
    }
}

/// Found by the simulator (seed 2103, issue 18): a renew held up in the network lands after the
/// lease it renews ran out and after its owner was told `renewed: false` (or `released: false`).
/// Its condition compares the lease end with its sender's clock, so it brought the grant back: the
/// lock stayed held for a whole lease by an owner that had been told it lost it, and the owner's
/// next turn was answered the old grant. The refused renew or release now ends that grant for good.
#[tokio::test]
async fn a_late_renew_never_brings_back_a_grant_its_owner_was_told_it_lost() {
    for (fenced, then_release) in [(true, false), (false, false), (true, true), (false, true)] {
        let (engine, proxy, table) = proxied_engine_with(1, Some(Duration::from_millis(300))).await;
        let direct = direct_engine(&table);
        let g = granted(&direct, acq("r", 1_000, Some("o"))).await;
        let fence = fenced.then_some(g.fence);
        // Held 3 s: the refused renew or release below (at 1.2 s) has 1.8 s to finish first.
        proxy.then(Step::Delay(Duration::from_millis(3_000)));
        let start = tokio::time::Instant::now();
        let held = {
            let engine = engine.clone();
            tokio::spawn(async move {
                let req = lock_protocol::RenewRequest {
                    resource_id: "r".into(),
                    owner: "o".into(),
                    duration_ms: Some(6_000),
                    fence,
                };
                // Its answer does not matter (its attempt times out): its write lands late.
                let _ = engine.renew(req, None).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(1_200)).await; // the lease has run out
        if then_release {
            assert!(!release_fenced(&direct, "r", "o", fence).await.released);
        } else {
            assert!(!renew_fenced(&direct, "r", "o", fence, 6_000).await.renewed);
        }
        let _ = held.await;
        // The held write has landed.
        tokio::time::sleep_until(start + Duration::from_millis(3_600)).await;
        assert_eq!(delayed(&proxy), 1);
        let d = describe(&direct, "r").await;
        assert!(
            !d.held,
            "fenced {fenced}, release {then_release}: the grant came back: {d:?}"
        );
        let next = granted(&direct, acq("r", 1_000, Some("o"))).await;
        assert!(next.fence > g.fence, "a new turn, a new fence: {next:?}");
    }
}

/// The end of an ended grant keeps being refused because the item keeps changing - late renews
/// landing one after another, each bringing the grant back for a moment (here a peer moves the lease
/// end by 1 ms before each end write, so the next read finds it run out again): the release and the
/// renew answer `Throttled`, never `released: false` / `renewed: false` while the grant may be live
/// again (found by the review of issue 18's eighth stop: the release gave up after its second pass).
/// Once the item holds still, the release ends it and answers plainly.
#[tokio::test]
async fn an_ended_grant_that_keeps_coming_back_is_answered_throttled_not_false() {
    for release in [true, false] {
        let (engine, proxy, table) = proxied_engine_with(3, None).await;
        let direct = direct_engine(&table);
        let g = granted(&direct, acq("r", 300, Some("o"))).await;
        let (c, t) = (client(&dynalite_endpoint()), table.clone());
        proxy.before_each_write(Some(std::sync::Arc::new(move |request: String| {
            let (c, t) = (c.clone(), t.clone());
            Box::pin(async move {
                if !request.contains(":lease_end") {
                    return; // not an end write
                }
                c.update_item()
                    .table_name(&t)
                    .key("resource_id", AttributeValue::S("r".into()))
                    .update_expression("SET expires_at_ms = expires_at_ms + :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .send()
                    .await
                    .unwrap();
            })
        })));
        tokio::time::sleep(Duration::from_millis(400)).await; // the lease has run out
        let answer = if release {
            let req = lock_protocol::ReleaseRequest {
                resource_id: "r".into(),
                owner: "o".into(),
                fence: Some(g.fence),
            };
            engine.release(req, None).await.map(|_| ())
        } else {
            let req = lock_protocol::RenewRequest {
                resource_id: "r".into(),
                owner: "o".into(),
                duration_ms: Some(1_000),
                fence: Some(g.fence),
            };
            engine.renew(req, None).await.map(|_| ())
        };
        let e = answer.expect_err("Throttled");
        assert_eq!(
            e.error_type().as_str(),
            "Throttled",
            "release {release}: {e}"
        );
        proxy.before_each_write(None);
        let plain = release_fenced(&engine, "r", "o", Some(g.fence)).await;
        assert!(!plain.released && !plain.uncertain, "{plain:?}");
        assert!(!describe(&direct, "r").await.held);
        let next = granted(&direct, acq("r", 300, Some("o"))).await;
        assert!(next.fence > g.fence, "{next:?}");
    }
}

/// Requests the proxy held up (`Step::Delay`).
fn delayed(proxy: &support::fault_proxy::FaultProxy) -> usize {
    proxy
        .counts
        .delayed
        .load(std::sync::atomic::Ordering::SeqCst) as usize
}
