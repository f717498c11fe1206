//! Shared set-up for lock-fn's integration tests: a DynamoDB client on the local stack's dynalite (or
//! moto), fresh tables, engines, and request shorthands.
#![allow(dead_code)]

pub mod logs;
pub mod mocks;
pub use test_support::fault_proxy;
use test_support::lock_table;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use lock_fn::engine::config::Config;
use lock_fn::engine::error::LockError;
use lock_fn::engine::reply::Reply;
use lock_fn::engine::LockEngine;
use lock_fn::store::LockStore;
use lock_protocol::{
    AcquireRequest, AcquireResponse, DescribeRequest, DescribeResponse, OnBusy, ReleaseRequest,
    ReleaseResponse, RenewRequest, RenewResponse,
};

/// The dynalite endpoint the stack script exported.
pub fn dynalite_endpoint() -> String {
    std::env::var("DLM_TEST_DYNAMODB_ENDPOINT").expect(
        "DLM_TEST_DYNAMODB_ENDPOINT is not set: run the tests with `bash scripts/test.sh` \
         (or `bash scripts/stack.sh up && source .stack/env` first)",
    )
}

/// The moto endpoint the stack script exported (`--moto`).
pub fn moto_endpoint() -> String {
    std::env::var("DLM_TEST_MOTO_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("DLM_TEST_MOTO_ENDPOINT is not set: run the tests with `bash scripts/test.sh`")
}

/// A DynamoDB client for a local endpoint (SDK retries off, as in lock-fn).
pub fn client(endpoint: &str) -> Client {
    client_with(endpoint, None)
}

/// [`client`] with an SDK attempt timeout (lock-fn's own is 3 s).
pub fn client_with(endpoint: &str, attempt_timeout: Option<Duration>) -> Client {
    let mut timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder();
    timeouts.set_operation_attempt_timeout(attempt_timeout);
    let timeouts = timeouts.build();
    let config = aws_sdk_dynamodb::Config::builder()
        .timeout_config(timeouts)
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A new table with the lock schema (partition key `resource_id` S, no sort key).
pub async fn fresh_table(client: &Client) -> String {
    let name = format!(
        "locks-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::SeqCst)
    );
    create_table(client, &name, false).await;
    name
}

/// Creates `name`; with `sort_key`, the dynamo-dlm 2.x schema (sort key `concurrency_id` N).
pub async fn create_table(client: &Client, name: &str, sort_key: bool) {
    lock_table::create_lock_table(client, name, sort_key).await;
}

/// An engine on a fresh dynalite table, with the default settings.
pub async fn dynalite_engine() -> (LockEngine, Client, String) {
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    (engine_on(&client, &table, Config::default()), client, table)
}

/// An engine on a fresh dynalite table whose DynamoDB requests pass through a new fault proxy
/// (no faults until the test sets some); each write is tried `store_attempts` times.
pub async fn proxied_engine(store_attempts: u32) -> (LockEngine, fault_proxy::FaultProxy) {
    let (engine, proxy, _) = proxied_engine_with(store_attempts, None).await;
    (engine, proxy)
}

/// [`proxied_engine`] with an SDK attempt timeout; also returns the table.
pub async fn proxied_engine_with(
    store_attempts: u32,
    attempt_timeout: Option<Duration>,
) -> (LockEngine, fault_proxy::FaultProxy, String) {
    let table = fresh_table(&client(&dynalite_endpoint())).await;
    let proxy = fault_proxy::FaultProxy::start(&dynalite_endpoint()).await;
    let config = Config {
        store_attempts,
        ..Config::default()
    };
    let proxied = client_with(&proxy.endpoint(), attempt_timeout);
    (engine_on(&proxied, &table, config), proxy, table)
}

/// An engine straight on dynalite's `table` (no proxy), default settings: the peer beside a
/// proxied engine.
pub fn direct_engine(table: &str) -> LockEngine {
    engine_on(&client(&dynalite_endpoint()), table, Config::default())
}

/// Deletes `resource`'s item, as TTL or a dynamo-dlm release does: the item goes with its fence
/// and records.
pub async fn delete_item(client: &Client, table: &str, resource: &str) {
    client
        .delete_item()
        .table_name(table)
        .key(
            "resource_id",
            aws_sdk_dynamodb::types::AttributeValue::S(resource.into()),
        )
        .send()
        .await
        .expect("delete the item");
}

/// Writes the item Python dynamo-dlm 1.0 writes for a holder: `{resource_id, release_code,
/// expires}` (`expires` in epoch seconds).
pub async fn put_dynamo_dlm_item(
    client: &Client,
    table: &str,
    resource: &str,
    release_code: &str,
    expires_s: u64,
) {
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    client
        .put_item()
        .table_name(table)
        .item("resource_id", S(resource.into()))
        .item("release_code", S(release_code.into()))
        .item("expires", N(expires_s.to_string()))
        .send()
        .await
        .expect("put the dynamo-dlm item");
}

/// Writes a live queue entry of `resource` for `owner` straight into the item, as a join would, but without any
/// condition (the state two racing invocations of one owner can leave: one took the lock while the
/// other's join landed).
pub async fn put_waiter_entry(
    client: &Client,
    table: &str,
    resource: &str,
    owner: &str,
    alive_ms: u64,
) {
    let digest = lock_protocol::owner_digest(owner);
    let x = lock_fn::world::clock::now_ms() + alive_ms;
    let entry = aws_sdk_dynamodb::types::AttributeValue::M(
        [
            (
                "w".to_string(),
                aws_sdk_dynamodb::types::AttributeValue::S(digest.clone()),
            ),
            (
                "d".to_string(),
                aws_sdk_dynamodb::types::AttributeValue::N("60000".into()),
            ),
            (
                "x".to_string(),
                aws_sdk_dynamodb::types::AttributeValue::N(x.to_string()),
            ),
            (
                "a".to_string(),
                aws_sdk_dynamodb::types::AttributeValue::N("0".into()),
            ),
        ]
        .into(),
    );
    client
        .update_item()
        .table_name(table)
        .key(
            "resource_id",
            aws_sdk_dynamodb::types::AttributeValue::S(resource.into()),
        )
        .update_expression(
            "SET waiters = list_append(if_not_exists(waiters, :empty), :entry), qx = :x \
             ADD wset :me, qv :one",
        )
        .expression_attribute_values(":empty", aws_sdk_dynamodb::types::AttributeValue::L(vec![]))
        .expression_attribute_values(
            ":entry",
            aws_sdk_dynamodb::types::AttributeValue::L(vec![entry]),
        )
        .expression_attribute_values(
            ":x",
            aws_sdk_dynamodb::types::AttributeValue::N(x.to_string()),
        )
        .expression_attribute_values(
            ":me",
            aws_sdk_dynamodb::types::AttributeValue::Ss(vec![digest]),
        )
        .expression_attribute_values(
            ":one",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .expect("write the entry");
}

/// The stored item of `resource`, read consistently and raw (every attribute).
pub async fn raw_item(
    client: &Client,
    table: &str,
    resource: &str,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key(
            "resource_id",
            aws_sdk_dynamodb::types::AttributeValue::S(resource.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read the item")
        .item
}

/// An engine on `table` with `config` (its table name is replaced by `table`).
pub fn engine_on(client: &Client, table: &str, config: Config) -> LockEngine {
    let config = Config {
        table: table.to_string(),
        ..config
    };
    LockEngine::new(
        LockStore::new(client.clone(), table, config.store_attempts),
        config,
    )
}

/// `acquire` with a lease, an optional owner and no waiting.
pub fn acq(resource: &str, duration_ms: u64, owner: Option<&str>) -> AcquireRequest {
    AcquireRequest {
        resource_id: resource.into(),
        duration_ms: Some(duration_ms),
        owner: owner.map(Into::into),
        wait_ms: 0,
        on_busy: OnBusy::Result,
        ..AcquireRequest::default()
    }
}

/// Runs an acquire and returns its answer (panics on errors).
pub async fn acquire(engine: &LockEngine, req: AcquireRequest) -> AcquireResponse {
    match engine.acquire(req, None).await.expect("acquire").reply {
        Reply::Acquire(r) => r,
        other => panic!("acquire answered {other:?}"),
    }
}

/// Runs an acquire that must be granted; returns the grant.
pub async fn granted(engine: &LockEngine, req: AcquireRequest) -> lock_protocol::Grant {
    match acquire(engine, req).await {
        AcquireResponse::Granted(g) => g,
        AcquireResponse::Busy(b) => panic!("expected a grant, got {b:?}"),
    }
}

/// Runs an acquire that must be refused; returns the refusal.
pub async fn refused(engine: &LockEngine, req: AcquireRequest) -> lock_protocol::Busy {
    match acquire(engine, req).await {
        AcquireResponse::Busy(b) => b,
        AcquireResponse::Granted(g) => panic!("expected a refusal, got {g:?}"),
    }
}

/// Releases (without naming the fence) and returns the answer.
pub async fn release(engine: &LockEngine, resource: &str, owner: &str) -> ReleaseResponse {
    release_fenced(engine, resource, owner, None).await
}

/// Releases, naming the grant's `fence` when given, and returns the answer.
pub async fn release_fenced(
    engine: &LockEngine,
    resource: &str,
    owner: &str,
    fence: Option<u64>,
) -> ReleaseResponse {
    let req = ReleaseRequest {
        fence,
        resource_id: resource.into(),
        owner: owner.into(),
    };
    match engine.release(req, None).await.expect("release").reply {
        Reply::Release(r) => r,
        other => panic!("release answered {other:?}"),
    }
}

/// Renews and returns the answer.
pub async fn renew(
    engine: &LockEngine,
    resource: &str,
    owner: &str,
    duration_ms: u64,
) -> RenewResponse {
    renew_fenced(engine, resource, owner, None, duration_ms).await
}

/// Renews the grant with `fence` when given (else the owner's grant) and returns the answer.
pub async fn renew_fenced(
    engine: &LockEngine,
    resource: &str,
    owner: &str,
    fence: Option<u64>,
    duration_ms: u64,
) -> RenewResponse {
    let req = RenewRequest {
        resource_id: resource.into(),
        owner: owner.into(),
        duration_ms: Some(duration_ms),
        fence,
    };
    match engine.renew(req, None).await.expect("renew").reply {
        Reply::Renew(r) => r,
        other => panic!("renew answered {other:?}"),
    }
}

/// Describes and returns the answer.
pub async fn describe(engine: &LockEngine, resource: &str) -> DescribeResponse {
    describe_as(engine, resource, None).await
}

/// Describes as the caller with `owner` (the answer then says whether it is `yours`).
pub async fn describe_as(
    engine: &LockEngine,
    resource: &str,
    owner: Option<&str>,
) -> DescribeResponse {
    match engine
        .describe(
            DescribeRequest {
                resource_id: resource.into(),
                owner: owner.map(Into::into),
            },
            None,
        )
        .await
        .expect("describe")
        .reply
    {
        Reply::Describe(r) => r,
        other => panic!("describe answered {other:?}"),
    }
}

/// The error type name of a failed operation.
pub fn error_name(result: Result<lock_fn::engine::Executed, LockError>) -> &'static str {
    result.expect_err("expected an error").error_type().as_str()
}

/// Runs `work` (a loop that ends when the lock does something), failing the test after `secs`
/// instead of hanging: a broken guarantee must be a failure, never a stuck run.
pub async fn within<T>(secs: u64, what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), work)
        .await
        .unwrap_or_else(|_| panic!("{what}: still not done after {secs} s"))
}

/// Sleeps until the function's clock passes `epoch_ms`.
pub async fn sleep_until_ms(epoch_ms: u64) {
    let now = lock_fn::world::clock::now_ms();
    if epoch_ms >= now {
        tokio::time::sleep(Duration::from_millis(epoch_ms - now + 2)).await;
    }
}
