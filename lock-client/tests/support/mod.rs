//! Set-up for end-to-end tests: a client of lock-fn behind the local stack's `cargo lambda watch`.
#![allow(dead_code)]

use lock_client::LockClient;

pub use test_support::fault_proxy;

pub mod fake_lambda;

/// The local emulator's endpoint; refuses anything but loopback so tests never reach AWS.
pub fn lambda_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_LAMBDA").expect(
        "AWS_ENDPOINT_URL_LAMBDA is not set: run the tests with `bash scripts/test.sh` \
         (or `bash scripts/stack.sh up && source .stack/env` first)",
    );
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "tests only talk to loopback, not {endpoint}"
    );
    endpoint
}

/// A client of the stack's lock-fn (an invoke that hangs fails after 30 s instead of hanging the
/// test run).
pub async fn client() -> LockClient {
    client_at(&lambda_endpoint()).await
}

/// A client of lock-fn behind another Invoke API endpoint (a private emulator, say).
pub async fn client_at(endpoint: &str) -> LockClient {
    // Set on the loader, the endpoint wins over AWS_ENDPOINT_URL_LAMBDA (as with the SDK).
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(30))
                .build(),
        )
        .load()
        .await;
    let function = std::env::var("DLM_FUNCTION").unwrap_or_else(|_| "lock-fn".into());
    LockClient::new(&config, function)
}

/// A resource name no other test uses.
pub fn resource(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        lock_client::protocol::new_owner_token()
    )
}

/// A client of the stack's lock-fn whose invokes go through a fault proxy in front of the emulator.
pub async fn proxied_client() -> (LockClient, fault_proxy::FaultProxy) {
    let proxy = fault_proxy::FaultProxy::start(&lambda_endpoint()).await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(proxy.endpoint())
        .load()
        .await;
    let function = client().await.function().to_string();
    (LockClient::new(&config, function), proxy)
}

/// Deletes `resource`'s lock item in the stack's table, as an operator with table access would.
pub async fn delete_lock_item(resource: &str) {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&shared);
    let table = std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into());
    dynamodb
        .delete_item()
        .table_name(table)
        .key(
            "resource_id",
            aws_sdk_dynamodb::types::AttributeValue::S(resource.into()),
        )
        .send()
        .await
        .expect("delete the lock item");
}

/// The grant in `answer`; panics on a refusal.
pub fn granted(answer: lock_client::protocol::AcquireResponse) -> lock_client::protocol::Grant {
    match answer {
        lock_client::protocol::AcquireResponse::Granted(g) => g,
        lock_client::protocol::AcquireResponse::Busy(b) => {
            panic!("expected the grant, got {b:?}")
        }
    }
}
