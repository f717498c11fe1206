//! The ReturnValuesOnConditionCheckFailure=ALL_OLD path, which dynalite ignores, checked on moto with a
//! single client (moto is never used to test mutual exclusion).

mod support;

use lock_fn::config::Config;
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
    let hint = a.expires_at_ms - lock_fn::clock::now_ms();
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
    let lock_fn::reply::Reply::Acquire(lock_protocol::AcquireResponse::Granted(again)) = done.reply
    else {
        panic!("expected the same grant again");
    };
    assert!(again.reacquired);
    assert_eq!(
        (again.fence, again.expires_at_ms),
        (first.fence, first.expires_at_ms)
    );
}
