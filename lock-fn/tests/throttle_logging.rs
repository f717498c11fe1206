//! Throttling is logged at WARNING on every backoff. (Alone in its test binary: tracing caches which
//! log sites are enabled per process, so a log-capturing test must not share one with others.)

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::mock;
use support::mocks::{acquire_request, client_always, mock_engine, throttled};

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
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let err = mock_engine(client_always(&rule), 3)
        .acquire(acquire_request(), None)
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
