//! Semaphores end to end: client -> Invoke API -> lock-fn -> dynalite, history-checked.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_client::protocol::ErrorType;
use lock_client::ClientError;
use support::*;
use test_support::history::History;

const LIMIT: usize = 4;

/// 24 callers share a semaphore of 4 for 250 grants, holding 0-40 ms; one grant in ten is never
/// released (its holder "dies"). On lock-fn's clock at most 4 grants ever overlap, fences rise,
/// 4 is reached, and each dead holder's slot is taken again soon after its lease ends.
#[tokio::test]
async fn twenty_four_callers_never_exceed_the_limit_and_dead_slots_come_back() {
    let base = client()
        .await
        .with_duration(Duration::from_millis(1500))
        .with_limit(LIMIT as u32);
    let r = resource("sem-24");
    let history = Arc::new(History::default());
    let dead = Arc::new(Mutex::new(Vec::new()));
    // Runs until GRANTS grants (not for a fixed time: a loaded machine is slower, the dead
    // holders' leases are not), within a generous ceiling.
    const GRANTS: usize = 250;
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ceiling = Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (base, r, history, dead) = (base.clone(), r.clone(), history.clone(), dead.clone());
        let taken = taken.clone();
        tasks.push(tokio::spawn(async move {
            while taken.load(std::sync::atomic::Ordering::Relaxed) < GRANTS
                && Instant::now() < ceiling
            {
                let guard = tokio::time::timeout(Duration::from_secs(20), base.acquire(&r))
                    .await
                    .expect("a slot within 20 s")
                    .unwrap();
                let g = guard.grant().clone();
                taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                assert_eq!(g.limit, Some(LIMIT as u32));
                assert!(
                    g.holders.is_some_and(|h| (1..=LIMIT as u32).contains(&h)),
                    "{g:?}"
                );
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..40))).await;
                if fastrand::u8(0..10) == 0 {
                    // Dies holding it: no release, no renewal; the lease is the bound.
                    let g = guard.into_grant();
                    history.record(&g, None);
                    dead.lock().unwrap().push(g.clone());
                    continue;
                }
                let released =
                    tokio::time::timeout(Duration::from_secs(20), guard.release_outcome())
                        .await
                        .expect("a release within 20 s");
                history.record(&g, released.unwrap().released_at_ms());
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(180), t)
            .await
            .expect("every caller ends")
            .unwrap();
    }
    let (grants, most) = history.check_limit(LIMIT).expect("the bound holds");
    assert_eq!(most, LIMIT, "concurrency reaches the limit");
    assert!(grants >= GRANTS, "only {grants} grants within the ceiling");
    let records = history.records();
    let dead = dead.lock().unwrap();
    assert!(!dead.is_empty());
    // Every dead holder's slot was taken again soon after its lease ended, except at the very end
    // of the run: within 1500 ms (one lease) of the lease end a grant began that made LIMIT grants live at
    // once, none of them the dead one - so the dead holder's slot was among them. (Any grant at
    // all in that window would prove nothing: three other slots serve meanwhile.)
    let last_start = records.iter().map(|r| r.acquired_at_ms).max().unwrap();
    let live_at = |t: u64| {
        records
            .iter()
            .filter(|r| r.acquired_at_ms <= t && t < r.ended_at_ms)
            .count()
    };
    for d in dead.iter().filter(|d| d.expires_at_ms + 2000 < last_start) {
        let end = d.expires_at_ms;
        let refilled = records.iter().find(|g| {
            g.fence != d.fence
                && g.acquired_at_ms >= end
                && g.acquired_at_ms < end + 1500
                && live_at(g.acquired_at_ms) == LIMIT
        });
        assert!(
            refilled.is_some(),
            "the slot of the dead holder with fence {} (lease end {end}) did not come back within 1500 ms",
            d.fence
        );
    }
    eprintln!(
        "{grants} grants, {} dead holders, at most {most} at once",
        dead.len()
    );
}

/// A semaphore and a mutex on one resource id are told apart with a typed error.
#[tokio::test]
async fn a_mismatched_limit_is_a_typed_error_through_the_invoke_api() {
    let base = client().await;
    let r = resource("sem-mismatch");
    let guard = base.with_limit(3).acquire(&r).await.unwrap();
    match base.with_limit(5).try_acquire(&r).await {
        Err(ClientError::Function {
            error_type,
            message,
        }) => {
            assert_eq!(error_type, "LimitMismatch", "{message}");
            assert!(message.contains("limit 3"), "{message}");
        }
        other => panic!("expected LimitMismatch, got {other:?}"),
    }
    match base.acquire_timeout(&r, Duration::from_secs(2)).await {
        Err(e) => assert_eq!(
            e.function_error_type(),
            Some(ErrorType::LimitMismatch),
            "{e}"
        ),
        other => panic!("expected LimitMismatch, got {other:?}"),
    }
    let status = base.describe(&r).await.unwrap();
    assert_eq!((status.limit, status.holders.len()), (Some(3), 1));
    assert!(guard.release().await.unwrap());
}
