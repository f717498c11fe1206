//! Throttling is logged at WARNING on every backoff. (Alone in its test binary: tracing caches which
//! log sites are enabled per process, so a log-capturing test must not share one with others.)

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lock_client::protocol::{AcquireRequest, OnBusy};
use support::mocks::{mock_engine, no_sdk_retries, throttled};

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
    let rule = mock!(Client::update_item).then_error(throttled);
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&rule],
        no_sdk_retries
    );
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let request = AcquireRequest {
        resource_id: "r".into(),
        duration_ms: Some(1000),
        owner: None,
        wait_ms: 0,
        on_busy: OnBusy::Result,
        fresh_owner: false,
    };
    let err = mock_engine(client, 3)
        .acquire(request, None)
        .await
        .unwrap_err();
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
