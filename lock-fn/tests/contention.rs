//! Mutual exclusion under contention: 32 callers race one resource on dynalite until 2,000 grants are
//! made, with short leases so that some expire while held; the whole history is then checked.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lock_client::history::{check, GrantRecord};
use lock_client::protocol::AcquireRequest;
use support::*;

const CALLERS: usize = 32;
const GRANTS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_callers_never_overlap_and_fences_rise() {
    let (engine, _, _) = dynalite_engine().await;
    let grants = Arc::new(AtomicUsize::new(0));
    let history = Arc::new(Mutex::new(Vec::<GrantRecord>::new()));
    let lost = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let (engine, grants, history, lost) = (
            engine.clone(),
            grants.clone(),
            history.clone(),
            lost.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while grants.load(Ordering::SeqCst) < GRANTS {
                let duration = fastrand::u64(25..=50);
                let req = AcquireRequest {
                    wait_ms: 200,
                    ..acq("hot", duration, None)
                };
                let lock_client::protocol::AcquireResponse::Granted(g) =
                    acquire(&engine, req).await
                else {
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
                let rel = release(&engine, "hot", &g.owner).await;
                let ended_at_ms = match rel.released_at_ms {
                    Some(at) if rel.released => at,
                    _ => {
                        lost.fetch_add(1, Ordering::SeqCst);
                        g.expires_at_ms
                    }
                };
                history.lock().unwrap().push(GrantRecord {
                    fence: g.fence,
                    acquired_at_ms: g.acquired_at_ms,
                    ended_at_ms,
                });
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let history = history.lock().unwrap();
    let checked = check(&history).unwrap_or_else(|v| panic!("{v}"));
    let lost = lost.load(Ordering::SeqCst);
    eprintln!("{checked} grants checked, {lost} leases expired before release");
    assert!(checked >= GRANTS);
    assert!(
        lost > 0,
        "the test must include leases that expired while held"
    );
    assert!(lost < checked / 2);
}
