//! Mutual exclusion through the real handler: 32 clients -> cargo lambda watch -> several lock-fn
//! processes -> dynalite, with the history checker.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lock_client::protocol::{new_owner_token, AcquireResponse};
use lock_client::raw::Mode;
use support::*;
use test_support::contention::{race, Race};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_through_the_invoke_api_never_overlap() {
    let base = client().await;
    let r = resource("hot");
    let race_spec = Race {
        callers: 32,
        grants: 300,
        lease_ms: 100..=200,
        outlive_one_in: 10,
        pause_ms: 20..=60,
    };
    let (acquiring, releasing) = (base.raw().clone(), base.raw().clone());
    let (r1, r2) = (r.clone(), r.clone());
    let history = race(
        race_spec,
        move |_, lease| {
            let (client, r) = (acquiring.clone(), r1.clone());
            async move {
                let owner = new_owner_token();
                let lease = Duration::from_millis(lease);
                let (answer, _) = client
                    .acquire(
                        &r,
                        &owner,
                        lease,
                        Duration::ZERO,
                        Mode::Try { fresh_owner: true },
                    )
                    .await
                    .unwrap();
                match answer.answer {
                    AcquireResponse::Granted(g) => Some(g),
                    AcquireResponse::Busy(_) => None,
                }
            }
        },
        move |g| {
            let (client, r) = (releasing.clone(), r2.clone());
            async move {
                client
                    .release(&r, &g.owner, None)
                    .await
                    .unwrap()
                    .released_at_ms()
            }
        },
    )
    .await;
    let checked = history.check().unwrap_or_else(|v| panic!("{v}"));
    let lost = history.lost();
    eprintln!("{checked} grants through the Invoke API checked; {lost} leases expired while held");
    assert!(checked >= 300);
    assert!(lost > 0, "some leases must expire while held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_blocking_clients_each_get_the_lock_with_rising_fences() {
    let base = client().await.with_duration(Duration::from_secs(5));
    let r = resource("queue");
    let history = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (base, r, history) = (base.clone(), r.clone(), history.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                let guard = base.acquire(&r).await.unwrap();
                let g = guard.grant().clone();
                tokio::time::sleep(Duration::from_millis(2)).await;
                assert!(
                    guard.release().await.unwrap(),
                    "a 5 s lease cannot run out here"
                );
                let d = base.describe(&r).await.unwrap();
                assert!(d.fence.is_none_or(|f| f > g.fence));
                history.lock().unwrap().push(g);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let grants = history.lock().unwrap();
    assert_eq!(
        grants.len(),
        48,
        "every blocking acquire eventually succeeds"
    );
    let mut fences: Vec<u64> = grants.iter().map(|g| g.fence).collect();
    fences.sort();
    fences.dedup();
    assert_eq!(fences.len(), 48, "no fence granted twice");
}
