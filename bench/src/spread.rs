//! (3) Spread: many resources, many workers; total grants per second against the bare write ceiling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lock_protocol::new_owner_token;
use serde::Serialize;

use crate::cycle::bare_cycle;
use crate::env::Stack;

#[derive(Debug, Serialize)]
pub struct SpreadResult {
    pub resources: usize,
    pub workers: usize,
    pub seconds: f64,
    /// Our acquire+release cycles per second (each is two invokes and two writes).
    pub grants_per_s: f64,
    pub busy_per_s: f64,
    /// Bare conditional PutItem+DeleteItem cycles per second, same worker count, straight to dynalite.
    pub bare_write_cycles_per_s: f64,
    pub ratio: f64,
}

pub async fn run(
    stack: &Stack,
    table: &str,
    resources: usize,
    workers: usize,
    seconds: f64,
) -> SpreadResult {
    let run_for = Duration::from_secs_f64(seconds);
    let grants = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, grants, busy) = (stack.lock.clone(), grants.clone(), busy.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < run_for {
                let r = format!("spread/{}", fastrand::usize(0..resources));
                match client.try_acquire(&r).await.expect("try_acquire") {
                    Some(guard) => {
                        guard.release().await.expect("release");
                        grants.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        busy.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ours_elapsed = started.elapsed().as_secs_f64();

    let cycles = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (cycles, table) = (cycles.clone(), table.to_string());
        let stack = Stack {
            dynamodb: stack.dynamodb.clone(),
            lambda: stack.lambda.clone(),
            lock: stack.lock.clone(),
            dynamodb_endpoint: stack.dynamodb_endpoint.clone(),
            lambda_endpoint: stack.lambda_endpoint.clone(),
        };
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < run_for {
                bare_cycle(&stack, &table, &new_owner_token()).await;
                cycles.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let bare_elapsed = started.elapsed().as_secs_f64();
    let grants_per_s = grants.load(Ordering::Relaxed) as f64 / ours_elapsed;
    let bare = cycles.load(Ordering::Relaxed) as f64 / bare_elapsed;
    SpreadResult {
        resources,
        workers,
        seconds,
        grants_per_s,
        busy_per_s: busy.load(Ordering::Relaxed) as f64 / ours_elapsed,
        bare_write_cycles_per_s: bare,
        ratio: grants_per_s / bare,
    }
}
