//! `dlm-faults`: process-level faults on the real stack under contention - kill -9 of lock-fn
//! processes (some, then all) and of dynalite (restarted on its data), and a client killed while
//! holding - with the history checker, per-fault grants, recovery times and the errors callers saw;
//! then an optional soak that watches lock-fn's memory. Run it through `bash scripts/faults.sh`.

mod phases;
mod soak;
mod workers;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use lock_client::LockClient;
use serde_json::json;
use test_support::fault_proxy::{FaultProxy, Faults};
use test_support::history::History;
use test_support::stack::{Stack, StackSpec};
use tokio::process::Command;

use phases::{store_faults, Phases, ProcessFault};
use soak::soak;
use workers::{grants_in, wait_for_grant_after, worker, Observed};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    lock_fn_bin: String,
    #[arg(long)]
    dlm_bin: String,
    #[arg(long)]
    dynalite_cli: String,
    /// Seconds of 1,000 resources x 64 workers after the faults (0: none).
    #[arg(long, default_value_t = 0)]
    soak_secs: u64,
    /// Only the soak (no faults), to watch memory.
    #[arg(long)]
    soak_only: bool,
    #[arg(long, default_value = "bench-out/faults.json")]
    out: String,
}

const FUNCTIONS: usize = 4;
const WORKERS: usize = 8;
const RESOURCES: usize = 2;
const LEASE: Duration = Duration::from_millis(500);
/// Invokes whose function process dies never get an answer from the emulator: give up after a
/// while (the client then resends, and flags a resent release answered `false` as uncertain).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    // The client's WARNINGs (invoke resends and why) explain any grant with an unknown end.
    tracing_subscriber::fmt()
        .with_env_filter("lock_client=warn")
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let (soak_secs, soak_only) = (args.soak_secs, args.soak_only);
    // The data folder outlives a dynalite restart, not the suite.
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let out = args.out.clone();
    let dlm_bin = args.dlm_bin.clone();
    let data = std::env::temp_dir().join(format!("dlm-faults-{}", std::process::id()));
    let mut spec = StackSpec::new(FUNCTIONS, &args.lock_fn_bin, &args.dynalite_cli);
    spec.dynalite_path = Some(data.clone());
    let _cleanup = Cleanup(data);
    let mut stack = Stack::start(spec).await;
    // Invokes whose function process dies never get an answer: give up after ATTEMPT_TIMEOUT.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(stack.lambda_endpoint())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    let client = LockClient::new(&config, "lock-fn").with_duration(LEASE);
    if soak_only {
        let report = soak(&client, stack.function_pids(), soak_secs.max(1)).await;
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
        return;
    }

    let histories: Vec<Arc<History>> = (0..RESOURCES)
        .map(|_| Arc::new(History::default()))
        .collect();
    let seen = Arc::new(Observed::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let r = w % RESOURCES;
        tasks.push(tokio::spawn(worker(
            client.clone(),
            format!("faults/{r}"),
            histories[r].clone(),
            seen.clone(),
            stop.clone(),
        )));
    }
    let settle = Duration::from_secs(2);
    let mut phases = Phases::default();

    let t0 = Instant::now();
    tokio::time::sleep(settle).await;
    let baseline = (t0, Instant::now());

    // Process faults: kill -9 mid-request, a second of downtime, restart (dynalite on its data).
    for fault in [
        ProcessFault::OneFunction,
        ProcessFault::AllFunctions,
        ProcessFault::Dynalite,
    ] {
        let b = Instant::now();
        tokio::time::sleep(settle).await;
        fault.kill(&mut stack).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        fault.restart(&mut stack).await;
        let restarted = Instant::now();
        let after = wait_for_grant_after(&seen, restarted).await;
        tokio::time::sleep(settle).await;
        phases.record(fault.name(), (b, b + settle), restarted, after, &seen);
    }

    // Store faults through the whole stack: lock-fn processes now reach dynalite through the
    //    fault proxy, which injects one kind of fault at a time.
    let proxy = FaultProxy::start(&stack.dynamodb_endpoint()).await;
    stack.route_functions_through(proxy.endpoint()).await;
    let none = Faults::default();
    for (name, faults) in store_faults() {
        let b = Instant::now();
        proxy.set(faults);
        tokio::time::sleep(settle).await;
        proxy.set(none);
        let healed = Instant::now();
        let after = wait_for_grant_after(&seen, healed).await;
        tokio::time::sleep(settle).await;
        phases.record(name, (b, healed), healed, after, &seen);
    }
    let injected = {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &proxy.counts;
        json!({
            "throttles": c.throttled.load(Relaxed),
            "http_500s": c.server_errors.load(Relaxed),
            "resets": c.resets.load(Relaxed),
            "delays": c.delayed.load(Relaxed),
            "lost_answers": c.lost_answers.load(Relaxed),
        })
    };
    eprintln!("[faults] proxy injected {injected}");

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    // Releases that hung on a killed process end (and are judged) only after the invoke timeout.
    phases.count_unknown_ends(&seen);
    let mut rows = phases.rows;
    let total_grants = seen.grants.lock().unwrap().len();
    let mut violations = 0;
    for (r, h) in histories.iter().enumerate() {
        if let Err(v) = h.check() {
            eprintln!("[faults] VIOLATION on resource {r}: {v}");
            let detail = seen.detail.lock().unwrap();
            for f in [v.first.fence, v.second.fence] {
                eprintln!(
                    "[faults]   fence {f}: {}",
                    detail
                        .get(&(format!("faults/{r}"), f))
                        .map(String::as_str)
                        .unwrap_or("?")
                );
            }
            violations += 1;
        }
    }

    // A client killed while holding: the lock frees at expiry and not before.
    let orphan = "faults/orphan";
    let mut dlm = Command::new(&dlm_bin)
        .args(["run", orphan, "--duration", "2s", "--", "sleep", "30"])
        .env("AWS_ENDPOINT_URL_LAMBDA", stack.lambda_endpoint())
        .env("DLM_FUNCTION", "lock-fn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("dlm run");
    let held = loop {
        let d = client.describe(orphan).await.expect("describe");
        if d.held {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    dlm.kill().await.ok(); // kill -9 while holding (its renewals stop)
    let killed_at_ms = lock_protocol::now_ms();
    let probe = client.with_duration(Duration::from_secs(1));
    let granted = loop {
        if let Some(g) = probe.try_acquire(orphan).await.expect("try_acquire") {
            break g;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Its lease may have been renewed once more just before the kill: judge by the stored lease end.
    let freed_early = granted.grant().acquired_at_ms < held.expires_at_ms.unwrap_or(0);
    let orphan_row = json!({
        "fault": "client killed while holding (dlm run, 2 s lease)",
        "lease_end_seen_ms_after_kill": held.expires_at_ms.unwrap_or(0) as i64 - killed_at_ms as i64,
        "granted_ms_after_lease_end": granted.grant().acquired_at_ms as i64 - held.expires_at_ms.unwrap_or(0) as i64,
        "freed_before_expiry": freed_early,
    });
    eprintln!("[faults] {orphan_row}");
    rows.push(orphan_row);
    granted.release().await.ok();

    // Soak: many resources, many workers; lock-fn's memory should stay flat.
    let soak = if soak_secs > 0 {
        soak(&client, stack.function_pids(), soak_secs).await
    } else {
        json!(null)
    };

    let report = json!({
        "baseline_grants_per_s": grants_in(&seen, baseline.0, baseline.1) as f64 / (baseline.1 - baseline.0).as_secs_f64(),
        "total_grants": total_grants,
        "violations": violations,
        "lost_leases": histories.iter().map(|h| h.lost()).sum::<usize>(),
        "grants_with_unknown_end": histories.iter().map(|h| h.unknown_ends()).sum::<usize>(),
        "faults": rows,
        "proxy_injected": injected,
        "errors_seen_by_callers": seen.errors.lock().unwrap().clone(),
        "soak": soak,
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let recovered = report["faults"].as_array().unwrap().iter().all(|r| {
        r.get("first_grant_after_recovery_ms")
            .is_none_or(|v| v.as_u64().is_some_and(|ms| ms < 10_000))
    });
    let memory_flat = soak["memory_flat"].as_bool().unwrap_or(true);
    if violations > 0 || freed_early || !recovered || !memory_flat {
        eprintln!("[faults] FAILED: violations {violations}, orphan freed early {freed_early}, recovered {recovered}, memory flat {memory_flat}");
        std::process::exit(1);
    }
    println!(
        "faults: {} passed, 0 failed",
        report["faults"].as_array().unwrap().len() + 1
    );
}
