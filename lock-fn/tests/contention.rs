//! Mutual exclusion under contention: 32 callers race one resource on dynalite until 2,000 grants are
//! made, with short leases so that some expire while held; the whole history is then checked.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lock_protocol::AcquireRequest;
use support::*;
use test_support::history::History;

const CALLERS: usize = 32;
const GRANTS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_callers_never_overlap_and_fences_rise() {
    let (engine, _, _) = dynalite_engine().await;
    let grants = Arc::new(AtomicUsize::new(0));
    let history = Arc::new(History::default());
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (engine, grants, history) = (engine.clone(), grants.clone(), history.clone());
        tasks.push(tokio::spawn(async move {
            while grants.load(Ordering::SeqCst) < GRANTS {
                let duration = fastrand::u64(25..=50);
                let req = AcquireRequest {
                    wait_ms: 200,
                    ..acq("hot", duration, None)
                };
                let lock_protocol::AcquireResponse::Granted(g) = acquire(&engine, req).await else {
                    continue;
                };
                grants.fetch_add(1, Ordering::SeqCst);
                // Mostly short critical sections; one in sixteen outlives its lease.
                let hold = if fastrand::u8(0..16) == 0 {
                    duration + 5
                } else {
                    fastrand::u64(0..3)
                };
                tokio::time::sleep(Duration::from_millis(hold)).await;
                history.record(&g, release(&engine, "hot", &g.owner).await.released_at_ms);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let checked = history.check().unwrap_or_else(|v| panic!("{v}"));
    let lost = history.lost();
    eprintln!("{checked} grants checked, {lost} leases expired before release");
    assert!(checked >= GRANTS);
    assert!(
        lost > 0,
        "the test must include leases that expired while held"
    );
    assert!(lost < checked / 2);
}
