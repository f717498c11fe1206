//! (2) Contention: many workers on one resource for a fixed time, with short critical sections.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_client::{ClientError, LockClient};
use lock_protocol::Grant;
use serde::Serialize;
use test_support::history::{check, GrantRecord};

use crate::stats::{summarize_ms, Summary};

/// A grant and when its release ended it (`None`: it ran out first).
type Released = (Grant, Option<u64>);

#[derive(Debug, Serialize, Clone)]
pub struct ContentionResult {
    pub variant: String,
    pub workers: usize,
    pub seconds: f64,
    pub grants: usize,
    pub grants_per_s: f64,
    /// Failed conditional writes (and confirmations) spent per grant.
    pub wasted_writes_per_grant: f64,
    /// Release (or expiry) to the next grant, ms.
    pub handoff: Summary,
    /// Grant to release, by the function's clock (ours only), ms.
    pub hold: Summary,
    /// Pairs of grants that overlapped (must be 0).
    pub overlaps: usize,
    pub handoffs_ms: Vec<f64>,
}

/// Our workers: each acquires with the client (polling or waiting in-function, per `client`),
/// holds for `critical`, releases; until `seconds` have passed.
pub async fn ours(
    variant: &str,
    client: &LockClient,
    resource: &str,
    workers: usize,
    seconds: f64,
    critical: Duration,
) -> ContentionResult {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let records: Arc<Mutex<Vec<Released>>> = Arc::default();
    let wasted = Arc::new(Mutex::new(0u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, resource, records, wasted) = (
            client.clone(),
            resource.to_string(),
            records.clone(),
            wasted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let mut spent = 0u64;
                let guard = match client
                    .acquire_until(&resource, Some(end), |p| {
                        spent += u64::from(p.last_attempts)
                    })
                    .await
                {
                    Ok(g) => g,
                    Err(ClientError::Timeout { .. }) => {
                        *wasted.lock().unwrap() += spent;
                        break;
                    }
                    Err(e) => panic!("acquire failed: {e}"),
                };
                spent += u64::from(guard.grant().attempts.saturating_sub(1));
                *wasted.lock().unwrap() += spent;
                tokio::time::sleep(critical).await;
                let grant = guard.grant().clone();
                let released_at = guard
                    .release_outcome()
                    .await
                    .expect("release")
                    .released_at_ms();
                records.lock().unwrap().push((grant, released_at));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let records = records.lock().unwrap().clone();
    let history: Vec<GrantRecord> = records
        .iter()
        .map(|(g, r)| GrantRecord::ended_by(g, *r))
        .collect();
    let overlaps = usize::from(check(&history).is_err());
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort_by_key(|(g, _)| (g.acquired_at_ms, g.fence));
    let handoffs: Vec<f64> = sorted
        .windows(2)
        .filter_map(|w| {
            w[0].1
                .map(|rel| w[1].0.acquired_at_ms.saturating_sub(rel) as f64)
        })
        .collect();
    let wasted = *wasted.lock().unwrap();
    let holds: Vec<f64> = history
        .iter()
        .map(|h| h.ended_at_ms.saturating_sub(h.acquired_at_ms) as f64)
        .collect();
    ContentionResult {
        hold: summarize_ms(holds),
        variant: variant.to_string(),
        workers,
        seconds: elapsed,
        grants: records.len(),
        grants_per_s: records.len() as f64 / elapsed,
        wasted_writes_per_grant: wasted as f64 / records.len().max(1) as f64,
        handoff: summarize_ms(handoffs.clone()),
        overlaps,
        handoffs_ms: handoffs,
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
) -> ContentionResult {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/dlm_worker.py");
    let started = Instant::now();
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
                ])
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("start a dynamo-dlm worker")
        })
        .collect();
    let mut grants = Vec::new();
    for child in children {
        let out = child.wait_with_output().await.expect("dynamo-dlm worker");
        assert!(out.status.success(), "dynamo-dlm worker failed");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("worker output");
        grants.extend(doc["grants"].as_array().unwrap().iter().map(|g| {
            (
                g["acq"].as_f64().unwrap() * 1000.0,
                g["rel_start"].as_f64().unwrap() * 1000.0,
                g["rel_end"].as_f64().unwrap() * 1000.0,
                g["puts"].as_u64().unwrap(),
            )
        }));
    }
    let elapsed = started.elapsed().as_secs_f64();
    grants.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    // Client clocks only: a grant observed before the previous holder even began releasing overlapped.
    let overlaps = grants.windows(2).filter(|w| w[1].0 < w[0].1).count();
    let handoffs: Vec<f64> = grants
        .windows(2)
        .map(|w| (w[1].0 - w[0].2).max(0.0))
        .collect();
    let wasted: u64 = grants.iter().map(|g| g.3.saturating_sub(1)).sum();
    let holds: Vec<f64> = grants.iter().map(|g| g.1 - g.0).collect();
    ContentionResult {
        hold: summarize_ms(holds),
        variant: variant.to_string(),
        workers: processes * threads,
        seconds: elapsed,
        grants: grants.len(),
        grants_per_s: grants.len() as f64 / elapsed,
        wasted_writes_per_grant: wasted as f64 / grants.len().max(1) as f64,
        handoff: summarize_ms(handoffs.clone()),
        overlaps,
        handoffs_ms: handoffs,
    }
}
