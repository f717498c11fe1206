//! Store faults under contention: a fault proxy between lock-fn's engine and dynalite injects
//! throttling, 500s, connection resets, added latency and - the dangerous one - writes that are
//! applied but whose answer is lost. Every phase is checked with the history checker (no overlapping
//! grants by the function's clock, fences rising with grant time), must keep granting, must surface
//! only typed errors, and must recover at once when the faults stop.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_fn::engine::error::LockError;
use lock_fn::engine::reply::Reply;
use lock_fn::engine::LockEngine;
use lock_protocol::{AcquireRequest, AcquireResponse, ReleaseRequest};
use support::fault_proxy::Faults;
use support::*;
use test_support::history::History;

const WORKERS: usize = 16;
const RESOURCES: usize = 2;
const PHASE: Duration = Duration::from_millis(2500);

struct Outcome {
    grants: usize,
    errors: BTreeMap<&'static str, usize>,
}

async fn run_phase(
    engine: &LockEngine,
    histories: &Arc<Vec<History>>,
    limit: Option<u32>,
) -> Outcome {
    let grants = Arc::new(Mutex::new(0usize));
    let errors: Arc<Mutex<BTreeMap<&'static str, usize>>> = Arc::default();
    let end = Instant::now() + PHASE;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (engine, histories, grants, errors) = (
            engine.clone(),
            histories.clone(),
            grants.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = w % RESOURCES;
            let resource = resource_name(r, limit);
            // One owner per worker: a queued worker keeps its place across attempts.
            let owner = format!("worker-{w}");
            while Instant::now() < end {
                let req = AcquireRequest {
                    wait_ms: 100,
                    limit,
                    // A semaphore's release reads before it writes (two requests, under the
                    // phase's faults and latency): its leases are half as long again.
                    ..acq(&resource, lease_ms(limit), Some(&owner))
                };
                let g = match engine.acquire(req, None).await {
                    Ok(done) => match done.reply {
                        Reply::Acquire(AcquireResponse::Granted(g)) => g,
                        Reply::Acquire(AcquireResponse::Busy(b)) => {
                            let pause = b.retry_after_ms.min(100);
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                            continue;
                        }
                        _ => continue,
                    },
                    Err(e) => {
                        *errors
                            .lock()
                            .unwrap()
                            .entry(e.error_type().as_str())
                            .or_default() += 1;
                        continue;
                    }
                };
                *grants.lock().unwrap() += 1;
                tokio::time::sleep(Duration::from_millis(fastrand::u64(0..3))).await;
                // Release until there is an answer: naming the fence makes a repeat exact, as long as
                // fewer than eight grants came in between (see DESIGN.md, release slots).
                let release_sent_ms = lock_fn::world::clock::now_ms();
                let mut maybe_applied = false;
                let give_up = Instant::now() + Duration::from_secs(30);
                let answer = loop {
                    assert!(
                        Instant::now() < give_up,
                        "a release got no answer in 30 s of retries"
                    );
                    let req = ReleaseRequest {
                        resource_id: resource.clone(),
                        owner: g.owner.clone(),
                        fence: Some(g.fence),
                    };
                    match engine.release(req, None).await {
                        Ok(done) => match done.reply {
                            Reply::Release(answer) => break answer,
                            other => panic!("release answered {other:?}"),
                        },
                        Err(e) => {
                            // Only an error that says an attempt may have been applied leaves the
                            // end unknowable; one that applied nothing (a release that kept losing
                            // the race for the item) is followed by an exact answer.
                            maybe_applied |= matches!(&e, LockError::Store(s) if s.maybe_applied());
                            *errors
                                .lock()
                                .unwrap()
                                .entry(e.error_type().as_str())
                                .or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                };
                if release_sent_ms >= g.expires_at_ms && !answer.released {
                    // The lease had run out before the first release was sent (lock-fn's clock):
                    // its end is the lease end, whatever the answer can still tell.
                    histories[r].record(&g, None);
                } else if (maybe_applied && !answer.released) || answer.uncertain {
                    // The failed attempts may have released it unseen, and more than eight grants
                    // may have followed during their retries: this grant's end is unknowable.
                    histories[r].record_unknown_end(&g, release_sent_ms);
                } else {
                    histories[r].record(&g, answer.released_at_ms.filter(|_| answer.released));
                }
            }
            // A worker that stops waiting gives its place up (and a grant made meanwhile).
            let cancel = lock_protocol::CancelRequest {
                resource_id: resource.clone(),
                owner: owner.clone(),
            };
            for _ in 0..20 {
                if engine.cancel(cancel.clone(), None).await.is_ok() {
                    break;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("a worker panicked");
    }
    let grants = *grants.lock().unwrap();
    let errors = errors.lock().unwrap().clone();
    Outcome { grants, errors }
}

/// Time until a fresh caller is granted once the faults stop (the leases of the last phase may
/// still run: at most 300 ms, a semaphore's 600 ms).
async fn recovery(engine: &LockEngine, limit: Option<u32>) -> Duration {
    let started = Instant::now();
    for r in 0..RESOURCES {
        loop {
            let req = AcquireRequest {
                wait_ms: 1000,
                limit,
                ..acq(&resource_name(r, limit), 1, None)
            };
            if let Ok(done) = engine.acquire(req, None).await {
                if done.reply.outcome() == "granted" {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no grant 10 s after the faults stopped"
            );
        }
    }
    started.elapsed()
}

fn lease_ms(limit: Option<u32>) -> u64 {
    match limit {
        // A semaphore's item is larger and its release contends with the other holders' (each
        // handoff raises the counter the others' conditions name): under this suite's load a
        // request to dynalite takes tens of milliseconds, and 150-300 ms leases ran out before
        // their release got through for one grant in six even without faults.
        Some(_) => fastrand::u64(300..=600),
        None => fastrand::u64(150..=300),
    }
}

fn resource_name(r: usize, limit: Option<u32>) -> String {
    match limit {
        Some(n) => format!("faulty-sem{n}-{r}"),
        None => format!("faulty-{r}"),
    }
}

/// The two fault suites share the machine's two cores: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_double_grant_and_fast_recovery_under_store_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    store_faults(None).await;
}

/// The same phases with semaphore callers (limit 3): never more than 3 holders at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_more_than_the_limit_and_fast_recovery_under_store_faults() {
    let _one = ONE_AT_A_TIME.lock().await;
    store_faults(Some(3)).await;
}

async fn store_faults(limit: Option<u32>) {
    let (engine, proxy) = proxied_engine(6).await;
    let histories = Arc::new(
        (0..RESOURCES)
            .map(|_| History::default())
            .collect::<Vec<_>>(),
    );
    let none = Faults::default();
    let phases = [
        ("no faults", none),
        (
            "throttling 30%",
            Faults {
                throttle: 0.3,
                ..none
            },
        ),
        (
            "HTTP 500 20%",
            Faults {
                server_error: 0.2,
                ..none
            },
        ),
        ("connection resets 10%", Faults { reset: 0.1, ..none }),
        (
            "applied, answer lost 20%",
            Faults {
                lose_answer: 0.2,
                ..none
            },
        ),
        (
            "+40 ms latency 30%",
            Faults {
                slow: 0.3,
                latency: Duration::from_millis(40),
                ..none
            },
        ),
        (
            "all of them",
            Faults {
                throttle: 0.1,
                server_error: 0.1,
                reset: 0.05,
                lose_answer: 0.1,
                slow: 0.2,
                latency: Duration::from_millis(40),
            },
        ),
    ];
    eprintln!(
        "{:<26} {:>7} {:>8} {:>5} {:>12} {:>36}",
        "phase", "grants", "unknown", "lost", "recovery ms", "errors seen by callers (typed)"
    );
    let counted = |f: fn(&History) -> usize| histories.iter().map(f).sum::<usize>();
    for (name, faults) in phases {
        let (unknown_before, lost_before) =
            (counted(History::unknown_ends), counted(History::lost));
        proxy.set(faults);
        let outcome = run_phase(&engine, &histories, limit).await;
        proxy.set(none);
        let recovered = recovery(&engine, limit).await;
        let unknown = counted(History::unknown_ends) - unknown_before;
        let lost = counted(History::lost) - lost_before;
        eprintln!(
            "{name:<26} {:>7} {unknown:>8} {lost:>5} {:>12} {:>36}",
            outcome.grants,
            recovered.as_millis(),
            format!("{:?}", outcome.errors)
        );
        // Unknowable ends come only from faults, and only a few: a release recognised again after a
        // lost answer is not unknown, nor one whose slot proves it never applied. Leases that ran
        // out before their release got through (leases of 150-300 ms, 300-600 ms on a semaphore;
        // store backoffs of up to 800 ms) are bounded too.
        if faults == none {
            assert_eq!(unknown, 0, "{name}: without faults every end is known");
        }
        assert!(
            unknown * 100 <= outcome.grants * 5,
            "{name}: {unknown} of {} grants have an unknown end",
            outcome.grants
        );
        assert!(
            lost * 100 <= outcome.grants * 25,
            "{name}: {lost} of {} grants lost their lease before the release",
            outcome.grants
        );
        assert!(
            outcome.grants > 20,
            "{name}: grants must continue under faults ({} granted)",
            outcome.grants
        );
        for kind in outcome.errors.keys() {
            assert!(
                ["Throttled", "StoreUnavailable"].contains(kind),
                "{name}: unexpected error type {kind}"
            );
        }
        assert!(
            recovered < Duration::from_secs(2),
            "{name}: recovery took {recovered:?}"
        );
        for (r, h) in histories.iter().enumerate() {
            match limit {
                None => h.check().map(|_| ()),
                Some(n) => h.check_limit(n as usize).map(|_| ()),
            }
            .unwrap_or_else(|v| panic!("{name}, resource {r}: {v}"));
        }
    }
    let c = &proxy.counts;
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "proxy: {} forwarded, {} throttled, {} 500s, {} resets, {} answers lost, {} delayed; {} leases lost while held; {} grants with an unknown end",
        c.forwarded.load(Relaxed), c.throttled.load(Relaxed), c.server_errors.load(Relaxed), c.resets.load(Relaxed),
        c.lost_answers.load(Relaxed), c.delayed.load(Relaxed), histories.iter().map(History::lost).sum::<usize>(),
        histories.iter().map(History::unknown_ends).sum::<usize>()
    );
    for (what, n) in [
        ("throttled", &c.throttled),
        ("500s", &c.server_errors),
        ("resets", &c.resets),
        ("lost answers", &c.lost_answers),
        ("delays", &c.delayed),
    ] {
        assert!(
            n.load(Relaxed) > 50,
            "too few {what} injected to prove anything"
        );
    }
}
