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

use crate::stats::{fillable_gaps, summarize_ms, GapSummary, Summary};

#[derive(Debug, Serialize, Clone)]
pub struct ContentionResult {
    pub variant: String,
    pub workers: usize,
    /// lock-fn processes serving the variant (ours only).
    pub instances: Option<usize>,
    /// The critical section, ms.
    pub critical_ms: f64,
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
    /// Mutex runs: the idle time between consecutive grants that a live waiter could have filled
    /// (see [`fillable_gaps`]); on lock-fn's clock for ours, on the workers' wall clock for
    /// dynamo-dlm.
    pub gaps: Option<GapSummary>,
    /// Where the gaps were measured: "lock-fn" or "workers".
    pub gap_clock: &'static str,
    /// Ours: fences skipped between consecutive observed grants (grants made that no worker used:
    /// handoffs nobody claimed, grants whose answer was lost).
    pub unused_grants: Option<u64>,
    /// Raw callers: acquire invokes per grant, and function or invoke errors seen.
    pub invokes_per_grant: Option<f64>,
    pub errors: Option<u64>,
    /// CPU time spent meanwhile, ms per grant, by process kind (ours: see `cpu.rs`).
    pub cpu_ms_per_grant: Option<crate::cpu::CpuShare>,
}

/// Wall-clock epoch milliseconds (the clock lock-fn's times are on, on this machine).
pub fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// One observed grant, on this process's monotonic clock (and the grant itself).
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub worker: usize,
    pub called: Instant,
    pub granted: Instant,
    pub releasing: Instant,
    pub record: Option<GrantRecord>,
    /// When the wait began, epoch ms (wall clock).
    pub called_ms: f64,
    /// dynamo-dlm (no record): the grant's start and end as its worker saw them, epoch ms.
    pub span_ms: Option<(f64, f64)>,
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

/// What a run observed: its grants in the measured window, and the waits that had not ended in one
/// of them by the window's end (their start, epoch ms).
pub(crate) struct Run {
    pub grants: Vec<Observed>,
    pub pending_ms: Vec<f64>,
}

/// What `run` (with the per-grant write counts, and the store counts when known) adds up to.
#[allow(clippy::too_many_arguments)]
pub(crate) fn result(
    variant: &str,
    workers: usize,
    instances: Option<usize>,
    critical: Duration,
    elapsed: f64,
    run: Run,
    store: (u64, u64, u64),
    limit: usize,
) -> ContentionResult {
    let Run { grants, pending_ms } = run;
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
    // Gaps: consecutive grants on one clock, and every wait (the grants' own, and those still
    // waiting at the end) as (began, granted).
    let (gaps, gap_clock, unused_grants) = if limit > 1 || grants.is_empty() {
        (None, "-", None)
    } else if records.len() == grants.len() {
        let spans: Vec<(f64, f64)> = records
            .iter()
            .map(|r| (r.acquired_at_ms as f64, r.ended_at_ms as f64))
            .collect();
        let mut fences: Vec<u64> = records.iter().map(|r| r.fence).collect();
        fences.sort_unstable();
        let unused = fences.windows(2).map(|w| w[1] - w[0] - 1).sum();
        (
            Some(gaps_of(&grants, &spans, &pending_ms)),
            "lock-fn",
            Some(unused),
        )
    } else {
        let spans: Vec<(f64, f64)> = grants.iter().filter_map(|g| g.span_ms).collect();
        (Some(gaps_of(&grants, &spans, &pending_ms)), "workers", None)
    };
    ContentionResult {
        variant: variant.to_string(),
        workers,
        instances,
        critical_ms: critical.as_secs_f64() * 1000.0,
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
        gaps,
        gap_clock,
        unused_grants,
        invokes_per_grant: None,
        errors: None,
        cpu_ms_per_grant: None,
    }
}

/// The gaps between the grants `spans` (start, end; in the order of `grants`), with every wait:
/// the grants' own (from `called_ms` to the grant's start) and the `pending` ones (never granted).
fn gaps_of(grants: &[Observed], spans: &[(f64, f64)], pending: &[f64]) -> GapSummary {
    let waits: Vec<(f64, f64)> = grants
        .iter()
        .zip(spans)
        .map(|(g, s)| (g.called_ms, s.0))
        .chain(pending.iter().map(|p| (*p, f64::INFINITY)))
        .collect();
    fillable_gaps(spans, &waits)
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
    let pending: Arc<Mutex<Vec<f64>>> = Arc::default();
    let cpu = crate::cpu::Meter::start();

    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (client, resource, grants, pending) = (
            client.clone(),
            resource.to_string(),
            grants.clone(),
            pending.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let called = Instant::now();
                let called_ms = epoch_ms();
                let guard = match client.acquire_until(&resource, Some(end), |_| {}).await {
                    Ok(g) => g,
                    Err(ClientError::Timeout { .. }) => {
                        pending.lock().unwrap().push(called_ms);
                        break;
                    }
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
                    called_ms,
                    span_ms: None,
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
    let cpu = cpu.stop();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = seconds;
    let run = window(&grants.lock().unwrap(), &pending.lock().unwrap(), end);
    let mut row = result(
        variant,
        workers,
        Some(instances),
        critical,
        elapsed,
        run,
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        client.raw().limit().unwrap_or(1) as usize,
    );
    row.cpu_ms_per_grant = Some(cpu.per_grant(row.grants));
    row
}

/// The grants made by `end` (the measured window); grants after it count as waits still pending.
pub(crate) fn window(grants: &[Observed], pending: &[f64], end: Instant) -> Run {
    let (inside, after): (Vec<Observed>, Vec<Observed>) =
        grants.iter().cloned().partition(|g| g.granted <= end);
    Run {
        grants: inside,
        pending_ms: pending
            .iter()
            .copied()
            .chain(after.iter().map(|g| g.called_ms))
            .collect(),
    }
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
    // Every process starts its workers at the same moment, after its imports (start-up is not run
    // time); the run is the `seconds` from then, as for ours.
    let start_at = t0_epoch + PYTHON_START_S;
    let deadline = start_at + seconds;
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
                    &format!("{start_at:.3}"),
                ])
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("start a dynamo-dlm worker")
        })
        .collect();
    let mut grants = Vec::new();
    let mut pending_ms = Vec::new();
    let mut writes = 0;
    let mut failed = 0;
    // Wall-clock seconds from the workers, as instants on this process's clock.
    let at = |epoch_s: f64| started + Duration::from_secs_f64((epoch_s - t0_epoch).max(0.0));
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().await.expect("dynamo-dlm worker");
        assert!(out.status.success(), "dynamo-dlm worker failed");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("worker output");
        for g in doc["grants"].as_array().unwrap() {
            let s = |k: &str| g[k].as_f64().unwrap();
            if s("acq") > deadline {
                // Granted after the run: a wait still going at its end.
                pending_ms.push(s("called") * 1000.0);
                continue;
            }
            let puts = g["puts"].as_u64().unwrap();
            writes += puts + 1; // its puts and the release's delete
            failed += puts.saturating_sub(1);
            grants.push(Observed {
                worker: p * threads + g["thread"].as_u64().unwrap() as usize,
                called: at(s("called")),
                granted: at(s("acq")),
                releasing: at(s("rel_start")),
                record: None,
                called_ms: s("called") * 1000.0,
                span_ms: Some((s("acq") * 1000.0, s("rel_end") * 1000.0)),
            });
        }
    }
    let run = Run { grants, pending_ms };
    result(
        variant,
        processes * threads,
        None,
        critical,
        seconds,
        run,
        (0, writes, failed),
        concurrency,
    )
}

/// How long after their start dynamo-dlm worker processes begin (their imports take about a second
/// on this machine).
const PYTHON_START_S: f64 = 2.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_when_equal_and_low_when_one_worker_takes_all() {
        assert!((jain(&[5, 5, 5, 5]) - 1.0).abs() < 1e-9);
        assert!((jain(&[20, 0, 0, 0]) - 0.25).abs() < 1e-9);
    }
}
