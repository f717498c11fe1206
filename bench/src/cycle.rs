//! (1) Uncontended acquire+release cycle latency, next to the floors measured in the same run.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use lock_protocol::{new_owner_token, AcquireResponse};
use serde::Serialize;

use crate::env::Stack;
use crate::stats::{summarize, Summary};

#[derive(Debug, Serialize)]
pub struct CycleResult {
    /// client -> emulator -> lock-fn -> dynalite, acquire then release.
    pub ours: Summary,
    /// Bare conditional PutItem + DeleteItem from Rust straight to dynalite.
    pub bare_put_delete: Summary,
    /// Two bare echo invokes through the emulator (aws-sdk-lambda).
    pub echo_pair: Summary,
    /// The same two echo invokes through lock-client's own transport (reqwest + aws-sigv4), for
    /// the two transports side by side.
    pub echo_pair_client: Summary,
    /// Floor = bare writes + two echo invokes (p50s added).
    pub floor_p50_ms: f64,
    pub ratio_p50: f64,
    pub floor_p99_ms: f64,
    pub ratio_p99: f64,
    /// Raw samples (ms) for the chart.
    pub samples_ours_ms: Vec<f64>,
    pub samples_floor_ms: Vec<f64>,
}

pub async fn run(stack: &Stack, table: &str, cycles: usize) -> CycleResult {
    let (mut ours, mut bare, mut echo, mut echo_client) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let echo_fn = stack.lock.raw().invoker().with_function("echo-fn");
    let payload = serde_json::to_vec(&serde_json::json!({
        "op": "acquire", "resource_id": "bench/cycle", "owner": new_owner_token(), "duration_ms": 10000
    }))
    .unwrap();
    let warmup = cycles / 10 + 5;
    for i in 0..cycles + warmup {
        // Interleaved, so that machine noise hits all three alike.
        let t = Instant::now();
        let owner = new_owner_token();
        let (answer, _) = stack
            .lock
            .raw()
            .acquire(
                "bench/cycle",
                &owner,
                stack.lock.duration(),
                Duration::ZERO,
                lock_client::raw::Mode::Try { fresh_owner: true },
            )
            .await
            .expect("acquire");
        let AcquireResponse::Granted(grant) = answer.answer else {
            panic!("uncontended acquire must be granted")
        };
        let released = stack
            .lock
            .raw()
            .release("bench/cycle", &owner, Some(grant.fence))
            .await
            .expect("release");
        assert!(released.released());
        let d_ours = t.elapsed();

        let t = Instant::now();
        bare_cycle(stack, table, &owner).await;
        let d_bare = t.elapsed();

        let t = Instant::now();
        for _ in 0..2 {
            let out = stack
                .lambda
                .invoke()
                .function_name("echo-fn")
                .payload(Blob::new(payload.clone()))
                .send()
                .await
                .expect("echo invoke");
            assert!(out.function_error().is_none());
        }
        let d_echo = t.elapsed();

        let t = Instant::now();
        for _ in 0..2 {
            let echoed: serde_json::Value = echo_fn
                .call_raw(&serde_json::from_slice(&payload).unwrap())
                .await
                .expect("echo invoke");
            assert_eq!(echoed["op"], "acquire");
        }
        let d_echo_client = t.elapsed();
        if i >= warmup {
            echo_client.push(d_echo_client);
            ours.push(d_ours);
            bare.push(d_bare);
            echo.push(d_echo);
        }
    }
    let (s_ours, s_bare, s_echo) = (summarize(&ours), summarize(&bare), summarize(&echo));
    let floor_p50 = s_bare.p50_ms + s_echo.p50_ms;
    let floor_p99 = s_bare.p99_ms + s_echo.p99_ms;
    CycleResult {
        ours: s_ours,
        bare_put_delete: s_bare,
        echo_pair: s_echo,
        echo_pair_client: summarize(&echo_client),
        floor_p50_ms: floor_p50,
        ratio_p50: s_ours.p50_ms / floor_p50,
        floor_p99_ms: floor_p99,
        ratio_p99: s_ours.p99_ms / floor_p99,
        samples_ours_ms: ours.iter().map(|d| d.as_secs_f64() * 1000.0).collect(),
        samples_floor_ms: bare
            .iter()
            .zip(&echo)
            .map(|(b, e)| (*b + *e).as_secs_f64() * 1000.0)
            .collect(),
    }
}

/// dynamo-dlm's own cycle: a conditional PutItem, then a DeleteItem conditioned on the release code.
pub async fn bare_cycle(stack: &Stack, table: &str, owner: &str) {
    let key = format!("bare/{owner}");
    bare_put(stack, table, &key, owner).await.expect("bare put");
    stack
        .dynamodb
        .delete_item()
        .table_name(table)
        .key("resource_id", AttributeValue::S(key))
        .condition_expression("release_code = :rc")
        .expression_attribute_values(":rc", AttributeValue::S(owner.into()))
        .send()
        .await
        .expect("bare delete");
}

/// A dynamo-dlm style conditional PutItem; `Ok(false)` when the condition failed.
pub async fn bare_put(stack: &Stack, table: &str, key: &str, owner: &str) -> Result<bool, String> {
    let now = lock_protocol::now_ms() / 1000;
    let sent = stack
        .dynamodb
        .put_item()
        .table_name(table)
        .item("resource_id", AttributeValue::S(key.into()))
        .item("release_code", AttributeValue::S(owner.into()))
        .item("expires", AttributeValue::N((now + 10).to_string()))
        .condition_expression("attribute_not_exists(resource_id) OR expires <= :now")
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(lock_protocol::error_chain::error_chain(&e)),
    }
}
