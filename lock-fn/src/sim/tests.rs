use super::*;

fn seeds() -> std::ops::Range<u64> {
    if let Some(seed) = std::env::var("DLM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seed..seed + 1;
    }
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let first = var("DLM_SIM_FIRST", 0);
    first..first + var("DLM_SIM_SEEDS", 3000)
}

/// Runs every seed, on as many threads as the machine has cores (each seed is a run of its own on
/// its thread); with `DLM_SIM_STOP_AT_FIRST`, no seed after a failing one is started, so the lowest
/// failing seed is found exactly.
#[test]
fn every_seed_passes_the_history_check() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    let seeds = seeds();
    let next = AtomicU64::new(seeds.start);
    let stop_after = AtomicU64::new(u64::MAX);
    let stop_at_first = std::env::var_os("DLM_SIM_STOP_AT_FIRST").is_some();
    let failed = Mutex::new(Vec::new());
    let ops = AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= seeds.end || seed > stop_after.load(Ordering::SeqCst) {
                    return;
                }
                // A seed whose run panics (the engine, or a client) fails like any other.
                let outcome = std::panic::catch_unwind(|| {
                    let run = run(seed, None);
                    let v = check::violations(&run);
                    (run, v)
                });
                let (settings, v) = match outcome {
                    Ok((run, v)) => {
                        ops.fetch_add(run.operations() as u64, Ordering::Relaxed);
                        (format!("{:?}", run.settings), v)
                    }
                    Err(_) => ("?".into(), vec!["the run panicked".into()]),
                };
                if !v.is_empty() {
                    eprintln!("seed {seed}: {settings}\n  {}", v.join("\n  "));
                    failed.lock().unwrap().push(seed);
                    if stop_at_first {
                        stop_after.fetch_min(seed, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap();
    failed.sort();
    if let Some(&first) = failed
        .first()
        .filter(|_| std::env::var_os("DLM_SIM_NO_SHRINK").is_none())
    {
        let original = run(first, None);
        let operations = original.operations();
        let small = shrink::shrink(original, |r| !check::violations(r).is_empty());
        eprintln!(
            "seed {first} shrinks from {} to {} operations: {:?}\n  {}\n\
             (its history: DLM_SIM_SEED={first} DLM_SIM_SHRINK=1 cargo test -p lock-fn --lib \
             show_history -- --ignored --nocapture)",
            operations,
            small.operations(),
            small.settings,
            check::violations(&small).join("\n  ")
        );
    }
    eprintln!(
        "{} operations simulated in {} seeds on {threads} threads",
        ops.into_inner(),
        seeds.end - seeds.start
    );
    assert!(
        failed.is_empty(),
        "failing seeds (replay with DLM_SIM_SEED=<seed>): {failed:?}"
    );
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [1, 7, 42, 49, 74, CROWD_EVERY - 1] {
        assert_eq!(
            run(seed, None).fingerprint(),
            run(seed, None).fingerprint(),
            "seed {seed}"
        );
    }
}

/// The release-slot churn worlds ([`actors::Mix::churn`]) are there for a release repeated after
/// a holder eight grants older (the same release slot) released in between: across the first ten
/// of them, some semaphore grant runs while eight or more later grants are made, and releases are
/// sent again; and they pass.
#[test]
fn churn_worlds_keep_older_holders_running_past_eight_grants() {
    let (mut outlived, mut repeats) = (0, 0);
    for seed in (0..10).map(|k| k * SPECIAL_EVERY + 49) {
        let r = run(seed, None);
        assert_eq!(check::violations(&r), Vec::<String>::new(), "seed {seed}");
        let held: Vec<(u64, u64, u64)> = r
            .events
            .iter()
            .filter_map(|e| match e {
                history::Event::Held {
                    resource,
                    fence,
                    from_ms,
                    until_ms,
                    ..
                } if resource == actors::SEMAPHORE => Some((*fence, *from_ms, *until_ms)),
                _ => None,
            })
            .collect();
        outlived += held
            .iter()
            .filter(|(f, _, until)| {
                held.iter()
                    .filter(|(g, from, _)| g > f && from < until)
                    .count()
                    >= 8
            })
            .count();
        let mut releases = std::collections::BTreeMap::new();
        for e in &r.events {
            if let history::Event::Answer {
                op: "release",
                request,
                client,
                ..
            } = e
            {
                *releases.entry((*client, request.clone())).or_insert(0) += 1;
            }
        }
        repeats += releases.values().filter(|n| **n > 1).count();
    }
    assert!(
        outlived >= 5,
        "grants outliving eight later ones: {outlived}"
    );
    assert!(repeats >= 10, "releases sent again: {repeats}");
}

/// The rolling-deployment worlds ([`actors::Mix::old_version`]) are there for a release that finds
/// its own owner queued alive: across the first ten of them, the table shows that state, and they
/// pass.
#[test]
fn rolling_deployment_worlds_queue_holders_behind_themselves() {
    let mut seen = 0;
    for seed in (0..10).map(|k| k * SPECIAL_EVERY + 74) {
        let r = run(seed, None);
        assert_eq!(check::violations(&r), Vec::<String>::new(), "seed {seed}");
        seen += r
            .log
            .iter()
            .filter_map(|c| {
                c.after
                    .as_ref()
                    .and_then(|i| crate::model::item::LockItem::try_from(i).ok())
                    .map(|item| (c.at_ms, item))
            })
            .filter(|(at, item)| {
                item.release_code.as_ref().is_some_and(|code| {
                    item.lease_end_ms().is_some_and(|end| end > *at)
                        && item
                            .waiters
                            .iter()
                            .any(|w| &w.digest == code && w.alive_at(*at))
                })
            })
            .count();
    }
    assert!(seen >= 5, "changes leaving a holder queued alive: {seen}");
}

/// A crowd world ([`actors::Mix::crowd`]) fills the mutex's queue to its byte bound, well past
/// what a queue of small entries would weigh and below its entry cap: the world is there to catch
/// a queue bounded by entries alone (an item over DynamoDB's 400 KB, refused as malformed).
#[test]
fn a_crowd_fills_the_queue_to_its_byte_bound() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let r = run(CROWD_EVERY - 1, None);
    assert_eq!(r.settings.clients.crowd, CROWD);
    let items = || r.log.iter().filter_map(|c| c.after.as_ref());
    let most = items()
        .filter_map(|i| match i.get("waiters") {
            Some(AttributeValue::L(l)) => Some(l.len()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let bytes = items()
        .map(crate::store::memory::item_bytes)
        .max()
        .unwrap_or(0);
    assert!(
        (60..100).contains(&most) && bytes > 300_000,
        "{most} entries, {bytes} bytes at most"
    );
    // Some crowd execution found the queue full: with 125 clients under a cap of 128 only the byte
    // bound fills it (a task is told `LockBusy`).
    let busy = r
        .events
        .iter()
        .filter(|e| matches!(e, history::Event::Answer { op: "callback", json, .. } if json.contains("LockBusy")))
        .count();
    assert!(busy > 0, "no crowd task met a full queue");
    assert_eq!(check::violations(&r), Vec::<String>::new());
}

/// Prints a seed's history of one resource (`DLM_SIM_SEED`, `DLM_SIM_KEY`) for a person to read.
#[test]
#[ignore]
fn show_history() {
    let seed = std::env::var("DLM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let key = std::env::var("DLM_SIM_KEY").unwrap_or_else(|_| actors::MUTEX.into());
    let run = run(seed, None);
    let run = if std::env::var_os("DLM_SIM_SHRINK").is_some() {
        shrink::shrink(run, |r| !check::violations(r).is_empty())
    } else {
        run
    };
    for v in check::violations(&run) {
        println!("VIOLATION {v}");
    }
    let mut lines: Vec<(u64, String)> = Vec::new();
    for e in &run.events {
        match e {
            history::Event::Answer {
                resource, at_ms, ..
            }
            | history::Event::Probe {
                resource, at_ms, ..
            } if *resource == key => lines.push((*at_ms - EPOCH_MS, format!("{e:?}"))),
            history::Event::Held {
                resource, from_ms, ..
            } if *resource == key => lines.push((*from_ms - EPOCH_MS, format!("{e:?}"))),
            _ => {}
        }
    }
    for c in run.log.iter().filter(|c| c.key == key) {
        let item = c
            .after
            .as_ref()
            .and_then(|i| crate::model::item::LockItem::try_from(i).ok());
        lines.push((
            c.at_ms - EPOCH_MS,
            format!("CHANGE by {}: {}\n       -> {item:?}", c.by, c.what),
        ));
    }
    lines.sort_by_key(|l| l.0);
    for (t, l) in lines {
        println!("{t:>6} {l}");
    }
}

#[test]
fn a_failing_run_shrinks_to_a_smaller_one_that_still_fails() {
    // A stand-in for a failure: a Step Functions execution was answered a grant on the mutex.
    let task_granted = |r: &Run| {
        r.events.iter().any(|e| matches!(e,
            history::Event::Answer { op, resource, json, .. }
                if *op == "callback" && resource == actors::MUTEX && json.contains("\"acquired\":true")))
    };
    let seed = (0..50)
        .find(|&s| task_granted(&run(s, None)))
        .expect("a seed where an execution is granted the mutex");
    let original = run(seed, None);
    let small = shrink::shrink(original.clone(), task_granted);
    assert!(task_granted(&small), "the shrunk run still fails");
    assert!(
        small.operations() * 2 < original.operations(),
        "shrunk from {} to {} operations",
        original.operations(),
        small.operations()
    );
    // Fewer clients, one execution among them (what the failure needs); the rest of the world
    // shrinks as far as the seed's random draws allow (leaving a client out changes them).
    let clients = |m: &actors::Mix| m.queued + m.sem_queued + m.tries + m.pollers + m.peers;
    let (m, o) = (&small.settings.clients, &original.settings.clients);
    assert!(
        m.executions >= 1 && clients(m) + m.executions < clients(o) + o.executions,
        "{:?} from {:?}",
        small.settings,
        original.settings
    );
    assert_eq!(
        run(seed, Some(small.settings.clone())).fingerprint(),
        small.fingerprint()
    );
}
