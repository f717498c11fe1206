//! Throttling is logged at WARNING on every backoff. (Alone in its test binary: tracing caches which
//! log sites are enabled per process, so a log-capturing test must not share one with others.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lock_client::protocol::{AcquireRequest, OnBusy};
use lock_fn::config::Config;
use lock_fn::engine::LockEngine;
use lock_fn::store::LockStore;

/// Collects log lines written while `f` runs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);
impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn throttling_is_retried_with_warnings_then_surfaces_as_throttled() {
    let rule = mock!(Client::update_item).then_error(|| {
        UpdateItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .message("slow down")
                        .build(),
                )
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let config = Config {
        store_attempts: 3,
        table: "locks".into(),
        ..Config::default()
    };
    let engine = LockEngine::new(LockStore::new(client, "locks", 3), config);
    let request = AcquireRequest {
        resource_id: "r".into(),
        duration_ms: Some(1000),
        owner: None,
        wait_ms: 0,
        on_busy: OnBusy::Result,
    };
    let err = engine.acquire(request, None).await.unwrap_err();
    assert_eq!(err.error_type().as_str(), "Throttled");
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(rule.num_calls(), 3);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("WARN").count(),
        3,
        "one WARNING per backoff and one at the end:\n{text}"
    );
    assert!(text.contains("backing off"));
}
