//! The ReturnValuesOnConditionCheckFailure=ALL_OLD path, which dynalite ignores, checked on moto with a
//! single client (moto is never used to test mutual exclusion).

use crate::support;

use lock_fn::engine::config::Config;
use support::*;

#[tokio::test]
async fn a_refusal_reports_the_holders_expiry_and_fence() {
    let client = client(&moto_endpoint());
    let table = fresh_table(&client).await;
    let engine = engine_on(&client, &table, Config::default());
    let a = granted(&engine, acq("r", 60_000, Some("alice"))).await;
    let busy = refused(&engine, acq("r", 1000, Some("bob"))).await;
    assert_eq!(busy.holder_expires_at_ms, Some(a.expires_at_ms));
    assert_eq!(busy.holder_fence, Some(a.fence));
    assert_eq!(
        busy.attempts, 1,
        "with the old item returned, no confirming write is needed"
    );
    let hint = a.expires_at_ms - lock_fn::world::clock::now_ms();
    assert!(busy.retry_after_ms <= hint.min(100));
}

#[tokio::test]
async fn same_owner_reacquire_is_answered_from_the_returned_item() {
    let client = client(&moto_endpoint());
    let table = fresh_table(&client).await;
    let engine = engine_on(&client, &table, Config::default());
    let first = granted(&engine, acq("r", 60_000, Some("exec-1"))).await;
    let done = engine
        .acquire(acq("r", 60_000, Some("exec-1")), None)
        .await
        .unwrap();
    assert_eq!(
        done.requests, 1,
        "one write: the refusal carried the holder"
    );
    let lock_fn::engine::reply::Reply::Acquire(lock_protocol::AcquireResponse::Granted(again)) =
        done.reply
    else {
        panic!("expected the same grant again");
    };
    assert!(again.reacquired);
    assert_eq!(
        (again.fence, again.expires_at_ms),
        (first.fence, first.expires_at_ms)
    );
}

/// Release refusals that carry the old item (DynamoDB's ALL_OLD): a repeated fenced release is
/// recognised from its slot in that item, a stranger's release and an expired holder's are not.
#[tokio::test]
async fn release_refusals_are_judged_from_the_returned_item() {
    let client = client(&moto_endpoint());
    let table = fresh_table(&client).await;
    let engine = engine_on(&client, &table, Config::default());
    let g = granted(&engine, acq("r", 60_000, Some("alice"))).await;
    let first = release_fenced(&engine, "r", "alice", Some(g.fence)).await;
    assert!(first.released);
    let again = engine
        .release(
            lock_protocol::ReleaseRequest {
                resource_id: "r".into(),
                owner: "alice".into(),
                fence: Some(g.fence),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        again.requests, 1,
        "recognised from the returned item, no confirming write"
    );
    let lock_fn::engine::reply::Reply::Release(again) = again.reply else {
        panic!()
    };
    assert_eq!(
        (again.released, again.released_at_ms),
        (true, first.released_at_ms)
    );
    // A stranger naming a real fence, and a grant that ran out untouched: proof, a plain `false`.
    let m = release_fenced(&engine, "r", "mallory", Some(g.fence)).await;
    assert!(!m.released && !m.uncertain, "{m:?}");

    let short = granted(&engine, acq("r", 100, Some("bob"))).await;
    sleep_until_ms(short.expires_at_ms).await;
    let b = release_fenced(&engine, "r", "bob", Some(short.fence)).await;
    assert!(!b.released && !b.uncertain, "{b:?}");
    assert!(!renew(&engine, "r", "bob", 1000).await.renewed);
}

/// While Python dynamo-dlm holds the lock, an acquire that names dynamo-dlm's release code (read
/// from the table, say) is refused with the holder's expiry from `expires`: never a re-acquire.
#[tokio::test]
async fn a_dynamo_dlm_holder_is_never_answered_as_a_reacquire() {
    let client = client(&moto_endpoint());
    let table = fresh_table(&client).await;
    let engine = engine_on(&client, &table, Config::default());
    let expires = lock_fn::world::clock::now_ms() / 1000 + 30;
    client
        .put_item()
        .table_name(&table)
        .item(
            "resource_id",
            aws_sdk_dynamodb::types::AttributeValue::S("py".into()),
        )
        .item(
            "release_code",
            aws_sdk_dynamodb::types::AttributeValue::S("9c1d".into()),
        )
        .item(
            "expires",
            aws_sdk_dynamodb::types::AttributeValue::N(expires.to_string()),
        )
        .send()
        .await
        .unwrap();
    let busy = refused(&engine, acq("py", 1000, Some("9c1d"))).await;
    assert_eq!(busy.holder_expires_at_ms, Some(expires * 1000));
    assert_eq!(busy.holder_fence, None);

    let labelled = granted(
        &engine,
        lock_protocol::AcquireRequest {
            holder: Some("host-1".into()),
            ..acq("lab", 60_000, Some("carol"))
        },
    )
    .await;
    let refusal = refused(&engine, acq("lab", 1000, Some("dave"))).await;
    assert_eq!(
        (refusal.holder.as_deref(), refusal.holder_fence),
        (Some("host-1"), Some(labelled.fence))
    );
}
