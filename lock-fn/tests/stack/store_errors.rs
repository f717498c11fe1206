//! Mapping of DynamoDB failures (mocked: throttling cannot be provoked on dynalite) to retries,
//! WARNING logs and typed errors.

use crate::support;

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::{InternalServerError, TransactionConflictException};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lock_fn::world::metrics::Metric;
use support::mocks::{
    acquire_request, client_always, mock_engine, no_sdk_retries, not_found, throttled,
};

#[tokio::test]
async fn throttling_that_clears_is_invisible_to_the_caller() {
    let rule = mock!(Client::update_item)
        .sequence()
        .error(throttled)
        .output(|| {
            UpdateItemOutput::builder()
                .attributes("resource_id", AttributeValue::S("r".into()))
                .attributes("release_code", AttributeValue::S("o".into()))
                .attributes("expires_at_ms", AttributeValue::N("2000".into()))
                .attributes("acquired_at_ms", AttributeValue::N("1000".into()))
                .attributes("fence", AttributeValue::N("5".into()))
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::Sequential,
        [&rule],
        no_sdk_retries
    );
    let engine = mock_engine(client, 3);
    let done = engine.acquire(acquire_request(), None).await.unwrap();
    assert_eq!(done.reply.outcome(), "granted");
    assert_eq!((done.reply.fence(), done.requests), (Some(5), 2));
    // Operators see it: one throttle, one request sent again, one grant.
    let counts = engine.metrics().take();
    assert_eq!(
        [
            Metric::StoreThrottles,
            Metric::StoreRetries,
            Metric::StoreConflicts,
            Metric::Grants
        ]
        .map(|m| counts.total(m)),
        [1, 1, 0, 1]
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_then_store_unavailable() {
    let rule = mock!(Client::update_item).then_error(|| {
        UpdateItemError::InternalServerError(
            InternalServerError::builder()
                .message("boom")
                .meta(ErrorMetadata::builder().code("InternalServerError").build())
                .build(),
        )
    });
    let err = mock_engine(client_always(&rule), 2)
        .acquire(acquire_request(), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type().as_str(), "StoreUnavailable");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn a_missing_table_is_misconfigured_at_once() {
    let rule = mock!(Client::update_item)
        .then_error(|| UpdateItemError::ResourceNotFoundException(not_found()));
    let err = mock_engine(client_always(&rule), 5)
        .acquire(acquire_request(), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type().as_str(), "Misconfigured");
    assert_eq!(rule.num_calls(), 1, "no retry can fix a missing table");
}

/// A caller's fenced transaction (`lock_client::fenced`) holds a ConditionCheck on the lock item;
/// DynamoDB rejects lock-fn's writes to that item meanwhile with TransactionConflictException. The
/// write was not applied: retried, and in the end answered Throttled, never "may have been applied".
#[tokio::test]
async fn a_write_rejected_for_a_callers_transaction_was_not_applied() {
    let rule = mock!(Client::update_item).then_error(|| {
        UpdateItemError::TransactionConflictException(
            TransactionConflictException::builder()
                .message(
                    "Operation was rejected because there is an ongoing transaction for the item",
                )
                .meta(
                    ErrorMetadata::builder()
                        .code("TransactionConflictException")
                        .build(),
                )
                .build(),
        )
    });
    let engine = mock_engine(client_always(&rule), 2);
    let err = engine.acquire(acquire_request(), None).await.unwrap_err();
    assert_eq!(err.error_type().as_str(), "Throttled", "{err}");
    // A conflict is not DynamoDB short of capacity: counted apart, so the throttling alarm
    // does not fire on callers' fenced transactions.
    let counts = engine.metrics().take();
    assert_eq!(
        [
            Metric::StoreConflicts,
            Metric::StoreThrottles,
            Metric::StoreRetries
        ]
        .map(|m| counts.total(m)),
        [2, 0, 1]
    );
    assert!(
        !err.to_string().contains(lock_protocol::MAYBE_APPLIED),
        "nothing was applied: {err}"
    );
    assert_eq!(rule.num_calls(), 2);
}
