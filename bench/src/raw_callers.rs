//! Raw callers: the loop a boto3 user writes from the protocol section, without an owner -
//! `{"op":"acquire","resource_id":R,"duration_ms":D,"wait_ms":W}` until granted, sleeping the
//! answer's `retry_after_ms` between refusals; then the work, then a release with the grant's owner
//! and fence. (Issue 17, part C: such waits must never starve the releases that end them.)

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_client::LockClient;
use serde_json::{json, Value};
use test_support::fault_proxy::Counts;
use test_support::history::GrantRecord;

use crate::contention::{epoch_ms, result, window, ContentionResult, Observed};

/// How a raw caller asks.
pub struct Ask {
    pub duration_ms: u64,
    pub wait_ms: u64,
}

/// After an error (a function error or a failed invoke), a raw caller waits this long and goes on.
const AFTER_ERROR: Duration = Duration::from_millis(100);

/// `callers` raw callers on `resource` through `client`'s invoker for `seconds`, each holding for
/// `critical`; `store` counts what reached DynamoDB.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    variant: &str,
    client: &LockClient,
    instances: usize,
    resource: &str,
    callers: usize,
    seconds: f64,
    critical: Duration,
    ask: Ask,
    store: &Counts,
) -> ContentionResult {
    let invoker = client.raw().invoker().clone();
    let before = (
        store.reads.load(Relaxed),
        store.writes.load(Relaxed),
        store.failed_writes.load(Relaxed),
    );
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let grants: Arc<Mutex<Vec<Observed>>> = Arc::default();
    let pending: Arc<Mutex<Vec<f64>>> = Arc::default();
    let invokes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let cpu = crate::cpu::Meter::start();
    let acquire = json!({
        "op": "acquire",
        "resource_id": resource,
        "duration_ms": ask.duration_ms,
        "wait_ms": ask.wait_ms,
    });
    let mut tasks = Vec::new();
    for worker in 0..callers {
        let (invoker, grants, pending, invokes, errors, acquire) = (
            invoker.clone(),
            grants.clone(),
            pending.clone(),
            invokes.clone(),
            errors.clone(),
            acquire.clone(),
        );
        let resource = resource.to_string();
        tasks.push(tokio::spawn(async move {
            'calls: while Instant::now() < end {
                let called = Instant::now();
                let called_ms = epoch_ms();
                // Until granted; a wait still going at the end is left there (the run is over).
                let grant = loop {
                    if Instant::now() >= end {
                        pending.lock().unwrap().push(called_ms);
                        break 'calls;
                    }
                    invokes.fetch_add(1, Ordering::Relaxed);
                    match invoker.call_raw::<Value>(&acquire).await {
                        Ok(a) if a["acquired"] == json!(true) => break a,
                        Ok(a) => {
                            let hint = a["retry_after_ms"].as_u64().unwrap_or(100);
                            tokio::time::sleep(Duration::from_millis(hint)).await;
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(AFTER_ERROR).await;
                        }
                    }
                };
                let granted = Instant::now();
                tokio::time::sleep(critical).await;
                let releasing = Instant::now();
                let release = json!({
                    "op": "release",
                    "resource_id": resource,
                    "owner": grant["owner"],
                    "fence": grant["fence"],
                });
                let mut released_at = None;
                for _ in 0..5 {
                    match invoker.call_raw::<Value>(&release).await {
                        Ok(r) => {
                            // Not released: the lease ran out first (the history checker then
                            // judges the grant by its expiry).
                            if r["released"] == json!(true) {
                                released_at = r["released_at_ms"].as_u64();
                            } else {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            break;
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(AFTER_ERROR).await;
                        }
                    }
                }
                let n = |k: &str| grant[k].as_u64().expect("a grant's numbers");
                grants.lock().unwrap().push(Observed {
                    worker,
                    called,
                    granted,
                    releasing,
                    record: Some(GrantRecord {
                        fence: n("fence"),
                        acquired_at_ms: n("acquired_at_ms"),
                        ended_at_ms: released_at.unwrap_or(n("expires_at_ms")),
                    }),
                    called_ms,
                    span_ms: None,
                });
            }
        }));
    }
    tokio::time::sleep_until(end.into()).await;
    let after = (
        store.reads.load(Relaxed),
        store.writes.load(Relaxed),
        store.failed_writes.load(Relaxed),
    );
    let cpu = cpu.stop();
    let invokes_by_end = invokes.load(Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let run = window(&grants.lock().unwrap(), &pending.lock().unwrap(), end);
    let mut row = result(
        variant,
        callers,
        Some(instances),
        critical,
        seconds,
        run,
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        1,
    );
    row.invokes_per_grant = Some(invokes_by_end as f64 / row.grants.max(1) as f64);
    row.errors = Some(errors.load(Relaxed));
    row.cpu_ms_per_grant = Some(cpu.per_grant(row.grants));
    row
}
