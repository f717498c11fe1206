//! The FIFO queue against dynalite: order, no barging, dead waiters, handoff, cancel, cap.

mod support;

use std::time::Duration;

use lock_protocol::{AcquireRequest, AcquireResponse};
use support::*;

fn queued(resource: &str, duration_ms: u64, owner: &str, wait_ms: u64) -> AcquireRequest {
    AcquireRequest {
        wait_ms,
        queue: Some(true),
        ..acq(resource, duration_ms, Some(owner))
    }
}

#[tokio::test]
async fn a_release_hands_the_lock_to_the_waiter() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, Some("a"))).await;
    let busy = match acquire(&engine, queued("r", 60_000, "b", 0)).await {
        AcquireResponse::Busy(b) => b,
        other => panic!("{other:?}"),
    };
    assert!(busy.queued && busy.position == Some(1), "{busy:?}");
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    let b = granted(&engine, queued("r", 60_000, "b", 0)).await;
    assert_eq!(b.fence, a.fence + 1);
    eprintln!("{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn debug_contention() {
    let (engine, _, _) = dynalite_engine().await;
    let mut tasks = Vec::new();
    for w in 0..32 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut grants = 0;
            let mut calls = 0;
            while grants < 3 {
                calls += 1;
                let started = std::time::Instant::now();
                let done = engine
                    .acquire(queued("hot", fastrand::u64(100..=200), &owner, 200), None)
                    .await
                    .unwrap();
                if started.elapsed() > Duration::from_millis(500) {
                    eprintln!(
                        "{owner}: slow call {:?} requests {}",
                        started.elapsed(),
                        done.requests
                    );
                }
                if let lock_fn::reply::Reply::Acquire(AcquireResponse::Busy(b)) = &done.reply {
                    tokio::time::sleep(Duration::from_millis(b.retry_after_ms.min(200))).await;
                }
                if let lock_fn::reply::Reply::Acquire(AcquireResponse::Granted(g)) = done.reply {
                    grants += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    release(&engine, "hot", &g.owner).await;
                } else if calls % 50 == 0 {
                    eprintln!(
                        "{owner}: {calls} calls, {grants} grants, last {:?}",
                        done.reply
                    );
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("stuck")
            .unwrap();
    }
}

#[tokio::test]
async fn debug_unfenced_handoff() {
    let (engine, _, _) = dynalite_engine().await;
    let a = granted(&engine, acq("r", 60_000, Some("a"))).await;
    let _ = acquire(&engine, queued("r", 60_000, "b", 0)).await;
    let r = engine
        .release(
            lock_protocol::ReleaseRequest {
                resource_id: "r".into(),
                owner: "a".into(),
                fence: None,
            },
            None,
        )
        .await;
    eprintln!("{r:?}");
    let b = granted(&engine, queued("r", 60_000, "b", 0)).await;
    assert_eq!(b.fence, a.fence + 1);
}
