//! (2) Contention: many workers on one resource for a fixed time, with short critical sections -
//! our queue, our barging modes, and Python dynamo-dlm, side by side.

use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_client::{ClientError, LockClient};
use serde::Serialize;
use test_support::fault_proxy::Counts;
use test_support::history::{check, check_limit, GrantRecord};

use crate::stats::{summarize_ms, Summary};

#[derive(Debug, Serialize, Clone)]
pub struct ContentionResult {
    pub variant: String,
    pub workers: usize,
    /// lock-fn processes serving the variant (ours only).
    pub instances: Option<usize>,
    pub seconds: f64,
    pub grants: usize,
    pub grants_per_s: f64,
    /// Failed conditional writes per grant (refused acquires, and our confirmations).
    pub failed_writes_per_grant: f64,
    /// Strongly consistent reads per grant (ours: the queue's looks).
    pub reads_per_grant: f64,
    /// All writes per grant.
    pub writes_per_grant: f64,
    /// From a holder starting its release to the next holder starting work, ms (µs resolution).
    pub handoff: Summary,
    /// From calling acquire to holding the lock, ms.
    pub wait: Summary,
    /// Grants per worker: fewest, most, and Jain's fairness index (1 = all equal).
    pub worker_grants_min: usize,
    pub worker_grants_max: usize,
    pub jain: f64,
    /// Pairs of grants that overlapped (must be 0).
    pub overlaps: usize,
    pub handoffs_ms: Vec<f64>,
    /// Semaphore runs: the limit, and the most grants seen at once (on lock-fn's clock; ours only).
    pub limit: Option<usize>,
    pub most_at_once: Option<usize>,
}

/// One observed grant, on this process's monotonic clock (and the grant itself).
#[derive(Debug, Clone)]
struct Observed {
    worker: usize,
    called: Instant,
    granted: Instant,
    releasing: Instant,
    record: Option<GrantRecord>,
}

/// Jain's fairness index of per-worker counts.
pub fn jain(counts: &[usize]) -> f64 {
    let sum: f64 = counts.iter().map(|c| *c as f64).sum();
    let squares: f64 = counts.iter().map(|c| (*c as f64).powi(2)).sum();
    if squares == 0.0 {
        return 0.0;
    }
    sum * sum / (counts.len() as f64 * squares)
}

/// What `grants` (with the per-grant write counts, and the store counts when known) add up to.
fn result(
    variant: &str,
    workers: usize,
    instances: Option<usize>,
    elapsed: f64,
    grants: Vec<Observed>,
    store: (u64, u64, u64),
    limit: usize,
) -> ContentionResult {
    let n = grants.len().max(1) as f64;
    let mut by_grant = grants.clone();
    by_grant.sort_by_key(|g| g.granted);
    let handoffs: Vec<f64> = by_grant
        .windows(2)
        .map(|w| {
            w[1].granted
                .saturating_duration_since(w[0].releasing)
                .as_secs_f64()
                * 1000.0
        })
        .collect();
    let waits = grants
        .iter()
        .map(|g| (g.granted - g.called).as_secs_f64() * 1000.0)
        .collect();
    let mut per_worker = vec![0usize; workers];
    for g in &grants {
        per_worker[g.worker] += 1;
    }
    let records: Vec<GrantRecord> = grants.iter().filter_map(|g| g.record).collect();
    let mut most_at_once = None;
    let overlaps = if limit > 1 {
        match check_limit(&records, limit) {
            Ok((_, most)) => {
                most_at_once = (!records.is_empty()).then_some(most);
                0
            }
            Err(_) => 1,
        }
    } else if records.is_empty() {
        // Client clocks only: a grant seen before the previous holder even began releasing.
        by_grant
            .windows(2)
            .filter(|w| w[1].granted < w[0].releasing)
            .count()
    } else {
        usize::from(check(&records).is_err())
    };
    let (reads, writes, failed) = store;
    ContentionResult {
        variant: variant.to_string(),
        workers,
        instances,
        seconds: elapsed,
        grants: grants.len(),
        grants_per_s: grants.len() as f64 / elapsed,
        failed_writes_per_grant: failed as f64 / n,
        reads_per_grant: reads as f64 / n,
        writes_per_grant: writes as f64 / n,
        handoff: summarize_ms(handoffs.clone()),
        wait: summarize_ms(waits),
        worker_grants_min: per_worker.iter().copied().min().unwrap_or(0),
        worker_grants_max: per_worker.iter().copied().max().unwrap_or(0),
        jain: jain(&per_worker),
        overlaps,
        handoffs_ms: handoffs,
        limit: (limit > 1).then_some(limit),
        most_at_once,
    }
}

/// Our workers: each acquires with `client` (queueing or barging, waiting in-function or not, as
/// configured), holds for `critical`, releases; until `seconds` have passed. `store` counts what
/// reached DynamoDB (a counting proxy in front of dynalite).
#[allow(clippy::too_many_arguments)]
pub async fn ours(
    variant: &str,
    client: &LockClient,
    instances: usize,
    resource: &str,
    workers: usize,
    seconds: f64,
    critical: Duration,
    store: &Counts,
) -> ContentionResult {
    let before = (
        store.reads.load(Relaxed),
        store.writes.load(Relaxed),
        store.failed_writes.load(Relaxed),
    );
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let grants: Arc<Mutex<Vec<Observed>>> = Arc::default();

    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (client, resource, grants) = (client.clone(), resource.to_string(), grants.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let called = Instant::now();
                let guard = match client.acquire_until(&resource, Some(end), |_| {}).await {
                    Ok(g) => g,
                    Err(ClientError::Timeout { .. }) => break,
                    Err(e) => panic!("acquire failed: {e}"),
                };
                let granted = Instant::now();
                tokio::time::sleep(critical).await;
                let grant = guard.grant().clone();
                let releasing = Instant::now();
                let released_at = guard
                    .release_outcome()
                    .await
                    .expect("release")
                    .released_at_ms();
                grants.lock().unwrap().push(Observed {
                    worker,
                    called,
                    granted,
                    releasing,
                    record: Some(GrantRecord::ended_by(&grant, released_at)),
                });
            }
        }));
    }
    // What reached the store by the end of the run (not the waiters' cancels after it).
    tokio::time::sleep_until(end.into()).await;
    let after = (
        store.reads.load(Relaxed),
        store.writes.load(Relaxed),
        store.failed_writes.load(Relaxed),
    );
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = seconds;
    let grants: Vec<Observed> = grants
        .lock()
        .unwrap()
        .iter()
        .filter(|g| g.granted <= end)
        .cloned()
        .collect();
    result(
        variant,
        workers,
        Some(instances),
        elapsed,
        grants,
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        client.raw().limit().unwrap_or(1) as usize,
    )
}

/// Python dynamo-dlm workers (`processes` x `threads`) on the same dynalite.
#[allow(clippy::too_many_arguments)]
pub async fn dynamo_dlm(
    variant: &str,
    python: &str,
    table: &str,
    resource: &str,
    processes: usize,
    threads: usize,
    seconds: f64,
    critical: Duration,
    concurrency: usize,
) -> ContentionResult {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/dlm_worker.py");
    let started = Instant::now();
    let t0_epoch = lock_protocol::now_ms() as f64 / 1000.0;
    let children: Vec<_> = (0..processes)
        .map(|_| {
            tokio::process::Command::new(python)
                .args([
                    script,
                    table,
                    resource,
                    &seconds.to_string(),
                    &threads.to_string(),
                    &(critical.as_secs_f64() * 1000.0).to_string(),
                    &concurrency.to_string(),
                ])
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("start a dynamo-dlm worker")
        })
        .collect();
    let mut grants = Vec::new();
    let mut writes = 0;
    let mut failed = 0;
    // Wall-clock seconds from the workers, as instants on this process's clock.
    let at = |epoch_s: f64| started + Duration::from_secs_f64((epoch_s - t0_epoch).max(0.0));
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().await.expect("dynamo-dlm worker");
        assert!(out.status.success(), "dynamo-dlm worker failed");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("worker output");
        for g in doc["grants"].as_array().unwrap() {
            let puts = g["puts"].as_u64().unwrap();
            writes += puts + 1; // its puts and the release's delete
            failed += puts.saturating_sub(1);
            grants.push(Observed {
                worker: p * threads + g["thread"].as_u64().unwrap() as usize,
                called: at(g["called"].as_f64().unwrap()),
                granted: at(g["acq"].as_f64().unwrap()),
                releasing: at(g["rel_start"].as_f64().unwrap()),
                record: None,
            });
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    result(
        variant,
        processes * threads,
        None,
        elapsed,
        grants,
        (0, writes, failed),
        concurrency,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_when_equal_and_low_when_one_worker_takes_all() {
        assert!((jain(&[5, 5, 5, 5]) - 1.0).abs() < 1e-9);
        assert!((jain(&[20, 0, 0, 0]) - 0.25).abs() < 1e-9);
    }
}
