//! Mocked DynamoDB answers for failures dynalite cannot produce (throttling, 5xx).

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::error::{
    ProvisionedThroughputExceededException, ResourceNotFoundException,
};
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock_client, Rule, RuleMode};
use lock_fn::engine::config::Config;
use lock_fn::engine::LockEngine;
use lock_fn::store::LockStore;
use lock_protocol::{AcquireRequest, OnBusy};

/// A throttling answer, with the error code real DynamoDB sends.
pub fn throttled() -> UpdateItemError {
    UpdateItemError::ProvisionedThroughputExceededException(
        ProvisionedThroughputExceededException::builder()
            .message("slow down")
            .meta(
                ErrorMetadata::builder()
                    .code("ProvisionedThroughputExceededException")
                    .message("slow down")
                    .build(),
            )
            .build(),
    )
}

/// A missing-table answer, with the error code real DynamoDB sends.
pub fn not_found() -> ResourceNotFoundException {
    ResourceNotFoundException::builder()
        .meta(
            ErrorMetadata::builder()
                .code("ResourceNotFoundException")
                .build(),
        )
        .build()
}

/// lock-fn turns SDK retries off and retries itself (see `LockStore::from_env`); so do the mocks.
pub fn no_sdk_retries(c: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    c.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
}

/// An engine on a mocked client that tries each write `attempts` times.
pub fn mock_engine(client: Client, attempts: u32) -> LockEngine {
    let config = Config {
        store_attempts: attempts,
        table: "locks".into(),
        ..Config::default()
    };
    LockEngine::new(LockStore::new(client, "locks", attempts), config)
}

/// A mocked client on which `rule` answers every request (SDK retries off).
pub fn client_always(rule: &Rule) -> Client {
    mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [rule], no_sdk_retries)
}

/// A plain acquire of resource `r` for one second, answered at once.
pub fn acquire_request() -> AcquireRequest {
    AcquireRequest {
        resource_id: "r".into(),
        duration_ms: Some(1000),
        owner: None,
        wait_ms: 0,
        on_busy: OnBusy::Result,
        ..AcquireRequest::default()
    }
}
