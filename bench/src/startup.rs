//! (4) Deployable size and the time from process start to the first answered invoke.

use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use serde::Serialize;

use crate::stats::{summarize, Summary};
use test_support::local_procs::{free_port, function_command, start_watch};

#[derive(Debug, Serialize)]
pub struct StartupResult {
    /// Size of the arm64 deployment zip (`cargo lambda build --release --arm64 --output-format zip`).
    pub zip_bytes: Option<u64>,
    /// Process start to first answered invoke (release build on this machine).
    pub lock_fn_first_answer: Summary,
    pub echo_fn_first_answer: Summary,
}

pub async fn run(
    workspace: &str,
    lock_fn_bin: &str,
    echo_fn_bin: &str,
    zip: Option<&str>,
    rounds: usize,
    dynamodb_endpoint: &str,
) -> StartupResult {
    let port = free_port();
    let mut watch = start_watch(workspace, port).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&shared)
            .endpoint_url(&endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build(),
    );
    let lock_fn = first_answers(
        &lambda,
        port,
        "lock-fn",
        lock_fn_bin,
        rounds,
        dynamodb_endpoint,
    )
    .await;
    let echo_fn = first_answers(
        &lambda,
        port,
        "echo-fn",
        echo_fn_bin,
        rounds,
        dynamodb_endpoint,
    )
    .await;
    watch.kill().await.ok();
    StartupResult {
        zip_bytes: zip.and_then(|z| std::fs::metadata(z).ok()).map(|m| m.len()),
        lock_fn_first_answer: summarize(&lock_fn),
        echo_fn_first_answer: summarize(&echo_fn),
    }
}

async fn first_answers(
    lambda: &aws_sdk_lambda::Client,
    port: u16,
    name: &str,
    bin: &str,
    rounds: usize,
    dynamodb_endpoint: &str,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..rounds {
        // The invoke waits in the emulator until a runtime process picks it up.
        let invoke = {
            let lambda = lambda.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                let payload = br#"{"op":"describe","resource_id":"bench/startup"}"#.to_vec();
                lambda
                    .invoke()
                    .function_name(name)
                    .payload(Blob::new(payload))
                    .send()
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let mut child = function_command(bin, port, name, dynamodb_endpoint)
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("start function");
        let answer = invoke.await.unwrap().expect("first invoke");
        out.push(started.elapsed());
        assert!(answer.function_error().is_none());
        child.kill().await.ok();
    }
    out
}
