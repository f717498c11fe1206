//! Clients for the local stack, from the environment `scripts/stack.sh` writes.

use lock_client::LockClient;

use test_support::lock_table::create_lock_table;

/// The local stack's endpoints; refuses anything but loopback.
pub struct Stack {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub lock: LockClient,
    pub dynamodb_endpoint: String,
    pub lambda_endpoint: String,
}

fn loopback(var: &str) -> String {
    let v = std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run `bash scripts/bench.sh`"));
    assert!(
        v.starts_with("http://127.0.0.1:"),
        "{var}={v}: benchmarks only talk to loopback"
    );
    v
}

impl Stack {
    pub async fn from_env() -> Stack {
        let dynamodb_endpoint = loopback("AWS_ENDPOINT_URL_DYNAMODB");
        let lambda_endpoint = loopback("AWS_ENDPOINT_URL_LAMBDA");
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&shared)
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        );
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&shared)
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        );
        let lock = LockClient::from_env().await.expect("lock client");
        Stack {
            dynamodb,
            lambda,
            lock,
            dynamodb_endpoint,
            lambda_endpoint,
        }
    }

    /// Creates a table with the lock schema; with `sort_key`, dynamo-dlm 2.x's.
    pub async fn create_table(&self, name: &str, sort_key: bool) {
        create_lock_table(&self.dynamodb, name, sort_key).await;
    }
}

/// A lock client of the lock-fn behind another Invoke API endpoint (a private emulator).
pub async fn client_at(endpoint: &str) -> LockClient {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .load()
        .await;
    LockClient::new(&config, "lock-fn")
}
