//! counter-fn end to end through the Invoke API: its processes serve the local stack's `cargo
//! lambda watch` beside lock-fn, take locks through it and write their counter in dynalite.
//! The emulator gives every invocation 600 s; `COUNTER_TIMEOUT_MS` shortens it, as a function's
//! timeout would, and a test kills a process the way Lambda stops a timed-out invocation.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use counter_fn::request::Incremented;
use lock_client::lambda_lease::DEADLINE_GRACE;
use lock_client::protocol::new_owner_token;
use lock_client::LockClient;
use serde_json::{json, Value};
use test_support::local_procs::{function_command, start_private_watch, workspace_dir};
use tokio::process::Child;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run via scripts/test.sh"))
}

fn unique(name: &str) -> String {
    format!("{name}-{}", &new_owner_token()[..12])
}

async fn shared() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

async fn lambda() -> aws_config::SdkConfig {
    let endpoint = env("AWS_ENDPOINT_URL_LAMBDA");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    shared().await
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&shared().await)
}

/// A client of the stack's lock-fn.
async fn locks() -> LockClient {
    LockClient::new(&lambda().await, env("DLM_FUNCTION"))
}

/// A fresh counter table.
async fn counter_table() -> String {
    let name = unique("counters");
    dynamodb()
        .await
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    name
}

/// counter-fn: `processes` processes serving it through an emulator of its own (the emulator
/// knows functions by their binary's name, and each test sets its processes up differently),
/// writing to `table`, with the invocation time capped at `timeout_ms`. They take locks through
/// the stack's emulator.
struct CounterFn {
    invoke_at: String,
    processes: Vec<Child>,
    _watch: Child,
}

impl CounterFn {
    async fn start(processes: usize, table: &str, timeout_ms: u64) -> CounterFn {
        let (watch, port) = start_private_watch(&workspace_dir()).await;
        let processes = (0..processes)
            .map(|_| {
                function_command(
                    env!("CARGO_BIN_EXE_counter-fn"),
                    port,
                    "counter-fn",
                    &env("DLM_TEST_DYNAMODB_ENDPOINT"),
                )
                .env("AWS_ENDPOINT_URL_LAMBDA", env("AWS_ENDPOINT_URL_LAMBDA"))
                .env("DLM_FUNCTION", env("DLM_FUNCTION"))
                .env("COUNTER_TABLE", table)
                .env("COUNTER_TIMEOUT_MS", timeout_ms.to_string())
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .spawn()
                .expect("start counter-fn")
            })
            .collect();
        CounterFn {
            invoke_at: format!("http://127.0.0.1:{port}"),
            processes,
            _watch: watch,
        }
    }

    /// A Lambda client of this emulator.
    async fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&shared().await)
                .endpoint_url(&self.invoke_at)
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    /// One invocation: `Ok(answer)` or `Err((errorType, errorMessage))`. The emulator answers a
    /// function error with HTTP 500 (Lambda: 200 and `X-Amz-Function-Error`), which the SDK would
    /// retry - invoking again - so the client never retries.
    async fn invoke(&self, event: Value) -> Result<Incremented, (String, String)> {
        let sent = self
            .lambda()
            .await
            .invoke()
            .function_name("counter-fn")
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await;
        let (body, failed) = match sent {
            Ok(out) => (
                out.payload().unwrap().as_ref().to_vec(),
                out.function_error().is_some(),
            ),
            Err(e) => (
                e.raw_response()
                    .and_then(|r| r.body().bytes())
                    .expect("the emulator answers")
                    .to_vec(),
                true,
            ),
        };
        let body: Value = serde_json::from_slice(&body).unwrap();
        if !failed {
            return Ok(serde_json::from_value(body).unwrap());
        }
        Err((
            body["errorType"].as_str().unwrap_or_default().to_string(),
            body["errorMessage"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    }
}

async fn counter_item(table: &str, id: &str) -> (Option<u64>, Option<u64>) {
    let item = dynamodb()
        .await
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    let number = |k: &str| item.get(k).and_then(|v| v.as_n().ok()?.parse().ok());
    (number("n"), number("dlm_fence"))
}

/// Whether someone holds `lock` now.
async fn held(lock: &str) -> bool {
    let d = locks().await.describe(lock).await.unwrap();
    d.held
}

async fn wait_until_held(lock: &str) -> Instant {
    let until = Instant::now() + Duration::from_secs(20);
    while !held(lock).await {
        assert!(Instant::now() < until, "{lock} was never taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Instant::now()
}

#[tokio::test]
async fn concurrent_invocations_increment_one_counter_with_no_lost_update() {
    const INVOKES: u64 = 16;
    let table = counter_table().await;
    let f = std::sync::Arc::new(CounterFn::start(4, &table, 60_000).await);
    let counter = unique("c");
    let calls: Vec<_> = (0..INVOKES)
        .map(|i| {
            let (f, counter) = (f.clone(), counter.clone());
            tokio::spawn(async move {
                f.invoke(json!({"counter": counter, "work_ms": i % 3 * 20}))
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap().expect("every invocation increments"));
    }
    answers.sort_by_key(|a| a.value);
    let values: Vec<u64> = answers.iter().map(|a| a.value).collect();
    assert_eq!(values, (1..=INVOKES).collect::<Vec<_>>(), "a lost update");
    assert!(
        answers.windows(2).all(|w| w[0].fence < w[1].fence),
        "fences rise with the value"
    );
    assert_eq!(counter_item(&table, &counter).await.0, Some(INVOKES));
    assert!(
        !held(&format!("counter/{counter}")).await,
        "every invocation released"
    );
}

/// Invokes `f` to increment `counter` with a minute of work under the lock (longer than any of
/// these timeouts); the invoke's task.
async fn invoke_working_for_a_minute(
    f: &CounterFn,
    counter: String,
) -> tokio::task::JoinHandle<()> {
    let lambda_of_f = f.lambda().await;
    tokio::spawn(async move {
        let _ = lambda_of_f
            .invoke()
            .function_name("counter-fn")
            .payload(aws_sdk_lambda::primitives::Blob::new(
                json!({"counter": counter, "work_ms": 60_000}).to_string(),
            ))
            .send()
            .await;
    })
}

/// Takes `lock` by single tries, each sent before `bound` (judged by when each try was sent: a
/// slow answer does not count against the bound); `sent`: when the invocation was sent.
async fn taken_before(
    lock: &str,
    bound: Instant,
    sent: Instant,
    why: &str,
) -> lock_client::LockGuard {
    let taker = locks().await.with_duration(Duration::from_secs(5));
    loop {
        let tried = Instant::now();
        if let Some(g) = taker.try_acquire(lock).await.unwrap() {
            return g;
        }
        assert!(
            tried < bound,
            "still held {:?} after the send{why}",
            tried - sent
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_timed_out_invocation_leaves_the_lock_free_by_its_deadline_plus_the_grace() {
    const TIMEOUT_MS: u64 = 2_000;
    let table = counter_table().await;
    let mut f = CounterFn::start(1, &table, TIMEOUT_MS).await;
    let counter = unique("c");
    let lock = format!("counter/{counter}");
    let sent = Instant::now();
    let stuck = invoke_working_for_a_minute(&f, counter).await;
    let seen_held = wait_until_held(&lock).await;
    // Lambda stops the invocation at its timeout: the process dies holding the lock.
    tokio::time::sleep_until((sent + Duration::from_millis(TIMEOUT_MS)).into()).await;
    f.processes[0].kill().await.unwrap();
    assert!(held(&lock).await, "the lease covers the whole invocation");
    // The handler started after `sent` and before the lock was seen held; its deadline is its start
    // plus the timeout, and its lease ends by then plus the grace and at most one wait chunk.
    let bound = seen_held
        + Duration::from_millis(TIMEOUT_MS)
        + DEADLINE_GRACE
        + counter_fn::app::WAIT_CHUNK
        + Duration::from_millis(300);
    let guard = taken_before(&lock, bound, sent, "").await;
    assert!(
        sent.elapsed()
            >= Duration::from_millis(TIMEOUT_MS) + DEADLINE_GRACE - Duration::from_millis(300),
        "freed before the deadline plus the grace: {:?}",
        sent.elapsed()
    );
    guard.release().await.unwrap();
    stuck.abort();
}

#[tokio::test]
async fn a_write_after_the_lock_was_lost_is_refused_and_the_newer_one_kept() {
    let table = counter_table().await;
    let f = std::sync::Arc::new(CounterFn::start(2, &table, 60_000).await);
    let counter = unique("c");
    let lock = format!("counter/{counter}");
    let slow = {
        let (f, counter) = (f.clone(), counter.clone());
        tokio::spawn(async move {
            f.invoke(json!({"counter": counter, "work_ms": 6_000}))
                .await
        })
    };
    wait_until_held(&lock).await;
    // It has claimed the counter; a peer deletes the lock item (an operator, a dynamo-dlm release),
    // and another invocation takes the lock and increments.
    let until = Instant::now() + Duration::from_secs(5);
    while counter_item(&table, &counter).await.1.is_none() {
        assert!(
            Instant::now() < until,
            "the slow invocation never claimed the counter"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dynamodb()
        .await
        .delete_item()
        .table_name(env("LOCK_TABLE"))
        .key("resource_id", AttributeValue::S(lock.clone()))
        .send()
        .await
        .unwrap();
    let newer = f
        .invoke(json!({"counter": counter}))
        .await
        .expect("the newer invocation increments");
    assert_eq!(newer.value, 1);
    let (error_type, message) = slow.await.unwrap().expect_err("the stale write is refused");
    assert_eq!(error_type, "LockLost", "{message}");
    assert_eq!(
        counter_item(&table, &counter).await,
        (Some(1), Some(newer.fence)),
        "the newer write stays"
    );
}

#[tokio::test]
async fn failing_and_panicking_work_releases_the_lock_and_writes_nothing() {
    let table = counter_table().await;
    let f = CounterFn::start(1, &table, 60_000).await;
    let counter = unique("c");
    let lock = format!("counter/{counter}");
    for (event, expected) in [
        (json!({"counter": counter, "fail": true}), "WorkFailed"),
        (json!({"counter": counter, "panic": true}), "Panicked"),
    ] {
        let (error_type, _) = f.invoke(event).await.unwrap_err();
        assert_eq!(error_type, expected);
        assert!(
            !held(&lock).await,
            "{expected}: the lock must be released at once"
        );
        assert_eq!(counter_item(&table, &counter).await.0, None);
    }
    // The process still serves after the panic.
    assert_eq!(
        f.invoke(json!({"counter": counter})).await.unwrap().value,
        1
    );
}

#[tokio::test]
async fn too_little_time_is_refused_without_taking_the_lock() {
    let table = counter_table().await;
    let f = CounterFn::start(1, &table, 600).await;
    let counter = unique("c");
    let (error_type, message) = f.invoke(json!({"counter": counter})).await.unwrap_err();
    assert_eq!(error_type, "InsufficientTime", "{message}");
    let d = locks()
        .await
        .describe(&format!("counter/{counter}"))
        .await
        .unwrap();
    assert!(!d.held && d.fence.is_none(), "no lock was taken: {d:?}");
}

/// An invocation that waits in the lock's queue for most of its time, is handed the lock, and is
/// then stopped at its timeout: the lock is free by its deadline plus the grace and one wait chunk,
/// not later by its time in the queue (lock-fn hands a waiter the lease it asks for now).
#[tokio::test]
async fn a_timed_out_invocation_that_queued_first_leaves_the_lock_free_by_its_deadline_too() {
    const TIMEOUT_MS: u64 = 6_000;
    let table = counter_table().await;
    let mut f = CounterFn::start(1, &table, TIMEOUT_MS).await;
    let counter = unique("c");
    let lock = format!("counter/{counter}");
    let holder = locks()
        .await
        .with_duration(Duration::from_secs(60))
        .acquire(&lock)
        .await
        .unwrap();
    let sent = Instant::now();
    let stuck = invoke_working_for_a_minute(&f, counter).await;
    let observer = locks().await;
    let queued = loop {
        if observer.describe(&lock).await.unwrap().queue_length == 1 {
            break Instant::now();
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Most of its time in the queue, then handed the lock.
    tokio::time::sleep_until((sent + Duration::from_millis(3_500)).into()).await;
    assert!(holder.release().await.unwrap());
    tokio::time::sleep_until((sent + Duration::from_millis(TIMEOUT_MS)).into()).await;
    f.processes[0].kill().await.unwrap();
    assert!(
        held(&lock).await,
        "it was handed the lock and held it at its timeout"
    );
    // Its handler started before it was seen queued: its deadline is by then plus the timeout.
    // A second of slack for a loaded machine; the lease it asked for at its join would last 3.5 s
    // (its time in the queue) past the deadline plus the grace.
    let bound = queued
        + Duration::from_millis(TIMEOUT_MS)
        + DEADLINE_GRACE
        + counter_fn::app::WAIT_CHUNK
        + Duration::from_millis(1_000);
    let guard = taken_before(
        &lock,
        bound,
        sent,
        " (its time in the queue added to its lease)",
    )
    .await;
    guard.release().await.unwrap();
    stuck.abort();
}
