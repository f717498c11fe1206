//! Throttling is logged at WARNING on every backoff. (Alone in its test binary: tracing caches which
//! log sites are enabled per process, so a log-capturing test must not share one with others.)

mod support;

use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::mock;
use support::logs::Logs;
use support::mocks::{acquire_request, client_always, mock_engine, throttled};

#[tokio::test]
async fn throttling_is_retried_with_warnings_then_surfaces_as_throttled() {
    let rule = mock!(Client::update_item).then_error(throttled);
    let (logs, _guard) = Logs::capture();

    let err = mock_engine(client_always(&rule), 3)
        .acquire(acquire_request(), None)
        .await
        .unwrap_err();
    assert_eq!(err.error_type().as_str(), "Throttled");
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(rule.num_calls(), 3);
    let text = logs.text();
    assert_eq!(
        text.matches("WARN").count(),
        3,
        "one WARNING per backoff and one at the end:\n{text}"
    );
    assert!(text.contains("backing off"));
}
