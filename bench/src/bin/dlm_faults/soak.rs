//! The soak: many resources, many workers, and lock-fn's memory watched against the invocations it
//! served.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lock_client::LockClient;
use serde_json::json;

use crate::workers::Observed;

/// The resident set of `pid` in KB; `None` when the process is gone.
fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
}

/// Memory growth per invocation: the least-squares slope of RSS bytes over invocations served.
pub fn bytes_per_invocation(samples: &[(u64, u64)]) -> f64 {
    let n = samples.len() as f64;
    let (mx, my) = samples.iter().fold((0.0, 0.0), |(x, y), (i, kb)| {
        (x + *i as f64 / n, y + (*kb * 1024) as f64 / n)
    });
    let (num, den) = samples.iter().fold((0.0, 0.0), |(num, den), (i, kb)| {
        let dx = *i as f64 - mx;
        (num + dx * ((*kb * 1024) as f64 - my), den + dx * dx)
    });
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// The soak's memory criterion: the leak it guards against grew ~140 B per invocation.
pub const MAX_BYTES_PER_INVOCATION: f64 = 40.0;

/// 1,000 resources x 64 workers for `secs` through `client`, sampling the RSS of `pids` (lock-fn
/// processes) every second against the number of invocations served so far. Memory is flat when
/// every process is still alive and the fitted growth, after a warm-up fifth, stays under
/// [`MAX_BYTES_PER_INVOCATION`].
pub async fn soak(client: &LockClient, pids: Vec<u32>, secs: u64) -> serde_json::Value {
    let rss = |pids: &[u32]| -> Option<u64> { pids.iter().map(|p| rss_kb(*p)).sum() };
    let start_rss = rss(&pids).unwrap_or(0);
    let seen = Arc::new(Observed::default());
    let invocations = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut soakers = Vec::new();
    for _ in 0..64 {
        let (client, seen, invocations) = (client.clone(), seen.clone(), invocations.clone());
        soakers.push(tokio::spawn(async move {
            while Instant::now() < end {
                let r = format!("soak/{}", fastrand::usize(0..1000));
                invocations.fetch_add(1, Ordering::Relaxed);
                match client.try_acquire(&r).await {
                    Ok(Some(g)) => {
                        seen.grants.lock().unwrap().push(Instant::now());
                        invocations.fetch_add(1, Ordering::Relaxed);
                        if let Err(e) = g.release().await {
                            seen.count_error(&e);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => seen.count_error(&e),
                }
            }
        }));
    }
    let mut samples = vec![(0, start_rss)];
    let mut vanished = false;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match rss(&pids) {
            Some(kb) => samples.push((invocations.load(Ordering::Relaxed), kb)),
            None => vanished = true,
        }
    }
    for s in soakers {
        s.await.unwrap();
    }
    let warm = &samples[samples.len() / 5..];
    let growth = bytes_per_invocation(warm);
    let flat = !vanished && growth < MAX_BYTES_PER_INVOCATION;
    let n = samples.len();
    let soak = json!({
        "seconds": secs,
        "memory_flat": flat,
        "process_vanished": vanished,
        "bytes_per_invocation": (growth * 10.0).round() / 10.0,
        "max_bytes_per_invocation": MAX_BYTES_PER_INVOCATION,
        "invocations": invocations.load(Ordering::Relaxed),
        "grants": seen.grants.lock().unwrap().len(),
        "errors": seen.errors.lock().unwrap().clone(),
        "lock_fn_rss_kb_start": start_rss,
        "lock_fn_rss_kb_max_first_half": samples[..n / 2].iter().map(|s| s.1).max().unwrap_or(0),
        "lock_fn_rss_kb_max_second_half": samples[n / 2..].iter().map(|s| s.1).max().unwrap_or(0),
        "lock_fn_rss_kb_end": samples.last().map(|s| s.1).unwrap_or(0),
        "lock_fn_rss_kb_every_10s": samples.iter().step_by(10).map(|s| s.1).collect::<Vec<_>>(),
    });
    eprintln!("[faults] soak {soak}");
    soak
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_fitted_per_invocation() {
        // 140 B per invocation (the leak the soak guards against) over 10,000 invocations.
        let leak: Vec<(u64, u64)> = (0..10)
            .map(|i| (i * 1000, 40_000 + i * 140 * 1000 / 1024))
            .collect();
        assert!((bytes_per_invocation(&leak) - 140.0).abs() < 5.0);
        let flat: Vec<(u64, u64)> = (0..10).map(|i| (i * 1000, 40_000 + (i % 2) * 4)).collect();
        assert!(bytes_per_invocation(&flat).abs() < MAX_BYTES_PER_INVOCATION);
        assert_eq!(bytes_per_invocation(&[(5, 1)]), 0.0);
    }
}
