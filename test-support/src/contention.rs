//! The contention loop the mutual-exclusion tests share: callers race one resource until enough
//! grants were made, with short leases of which some run out while held, and every grant goes
//! into a [`History`] for the checker.

use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lock_protocol::Grant;

use crate::history::History;

/// How to race.
#[derive(Debug, Clone)]
pub struct Race {
    /// Concurrent callers.
    pub callers: usize,
    /// Stop once this many grants were made.
    pub grants: usize,
    /// Lease lengths to ask for, ms (drawn per attempt).
    pub lease_ms: RangeInclusive<u64>,
    /// One critical section in this many outlives its lease (the others take 0-2 ms).
    pub outlive_one_in: u8,
    /// Pause after a refusal, ms (drawn), so that refused callers do not spin.
    pub pause_ms: RangeInclusive<u64>,
}

/// Runs the race: each caller (numbered) repeatedly calls `attempt(caller, lease_ms)` (a grant or
/// `None`), holds, then `release(grant)` (when the release ended the lease, or `None`), until
/// `race.grants` grants.
pub async fn race<A, AF, R, RF>(race: Race, attempt: A, release: R) -> Arc<History>
where
    A: Fn(usize, u64) -> AF + Clone + Send + Sync + 'static,
    AF: Future<Output = Option<Grant>> + Send,
    R: Fn(Grant) -> RF + Clone + Send + Sync + 'static,
    RF: Future<Output = Option<u64>> + Send,
{
    let grants = Arc::new(AtomicUsize::new(0));
    let history = Arc::new(History::default());
    let mut tasks = Vec::new();
    for caller in 0..race.callers {
        let (grants, history, race) = (grants.clone(), history.clone(), race.clone());
        let (attempt, release) = (attempt.clone(), release.clone());
        tasks.push(tokio::spawn(async move {
            while grants.load(Ordering::SeqCst) < race.grants {
                let lease = fastrand::u64(race.lease_ms.clone());
                let Some(g) = attempt(caller, lease).await else {
                    let pause = fastrand::u64(race.pause_ms.clone());
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    continue;
                };
                grants.fetch_add(1, Ordering::SeqCst);
                let hold = if fastrand::u8(0..race.outlive_one_in) == 0 {
                    lease + 10
                } else {
                    fastrand::u64(0..3)
                };
                tokio::time::sleep(Duration::from_millis(hold)).await;
                let released_at = release(g.clone()).await;
                history.record(&g, released_at);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a racing caller panicked");
    }
    history
}
