//! `dlm-faults`: process-level faults on the real stack under contention - kill -9 of lock-fn
//! processes (some, then all) and of dynalite (restarted on its data), and a client killed while
//! holding - with the history checker, per-fault grants, recovery times and the errors callers saw;
//! then an optional soak that watches lock-fn's memory. Run it through `bash scripts/faults.sh`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use lock_client::raw::ReleaseOutcome;
use lock_client::{ClientError, LockClient};
use serde_json::json;
use test_support::history::History;
use tokio::process::{Child, Command};

use test_support::fault_proxy::{FaultProxy, Faults};
use test_support::local_procs::{free_port, function_command, start_watch, wait_port};
use test_support::lock_table;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    workspace: String,
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

struct Stack {
    args: Args,
    data: tempdir::Dir,
    dynalite_port: u16,
    watch_port: u16,
    dynalite: Option<Child>,
    watch: Option<Child>,
    functions: Vec<Option<Child>>,
    /// Where lock-fn processes send DynamoDB requests, when not straight to dynalite.
    via: Option<String>,
}

mod tempdir {
    /// A folder removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Stack {
    async fn start(args: Args) -> Stack {
        let data =
            tempdir::Dir(std::env::temp_dir().join(format!("dlm-faults-{}", std::process::id())));
        std::fs::create_dir_all(&data.0).unwrap();
        let mut s = Stack {
            args,
            data,
            dynalite_port: free_port(),
            watch_port: free_port(),
            dynalite: None,
            watch: None,
            functions: Vec::new(),
            via: None,
        };
        s.start_dynalite().await;
        s.watch = Some(start_watch(&s.args.workspace, s.watch_port).await);
        for i in 0..FUNCTIONS {
            s.functions.push(None);
            s.start_function(i);
        }
        s
    }

    async fn start_dynalite(&mut self) {
        self.dynalite = Some(
            Command::new("node")
                .args([
                    &self.args.dynalite_cli,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &self.dynalite_port.to_string(),
                ])
                .args([
                    "--createTableMs",
                    "0",
                    "--deleteTableMs",
                    "0",
                    "--updateTableMs",
                    "0",
                    "--path",
                ])
                .arg(&self.data.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("dynalite"),
        );
        wait_port(self.dynalite_port).await;
    }

    fn start_function(&mut self, i: usize) {
        let dynamodb = self.via.clone().unwrap_or_else(|| self.dynamodb());
        self.functions[i] = Some(
            function_command(
                &self.args.lock_fn_bin,
                self.watch_port,
                "lock-fn",
                &dynamodb,
            )
            .env("LOCK_TABLE", "dynamo_dlm_locks")
            .env("RUST_LOG", "error")
            .spawn()
            .expect("lock-fn"),
        );
    }

    async fn kill_function(&mut self, i: usize) {
        if let Some(mut c) = self.functions[i].take() {
            c.kill().await.ok(); // SIGKILL
        }
    }

    /// kill -9 what `fault` names.
    async fn kill(&mut self, fault: ProcessFault) {
        match fault {
            ProcessFault::OneFunction => self.kill_function(0).await,
            ProcessFault::AllFunctions => {
                for i in 0..FUNCTIONS {
                    self.kill_function(i).await;
                }
            }
            ProcessFault::Dynalite => {
                if let Some(mut d) = self.dynalite.take() {
                    d.kill().await.ok();
                }
            }
        }
    }

    /// Starts again what [`Stack::kill`] killed.
    async fn restart(&mut self, fault: ProcessFault) {
        match fault {
            ProcessFault::OneFunction => self.start_function(0),
            ProcessFault::AllFunctions => (0..FUNCTIONS).for_each(|i| self.start_function(i)),
            ProcessFault::Dynalite => self.start_dynalite().await,
        }
    }

    fn dynamodb(&self) -> String {
        format!("http://127.0.0.1:{}", self.dynalite_port)
    }

    fn lambda(&self) -> String {
        format!("http://127.0.0.1:{}", self.watch_port)
    }

    fn function_pids(&self) -> Vec<u32> {
        self.functions
            .iter()
            .flatten()
            .filter_map(|c| c.id())
            .collect()
    }
}

/// A process-level fault: which processes get kill -9.
#[derive(Clone, Copy)]
enum ProcessFault {
    OneFunction,
    AllFunctions,
    Dynalite,
}

impl ProcessFault {
    fn name(self) -> &'static str {
        match self {
            ProcessFault::OneFunction => "kill -9 one of 4 lock-fn processes",
            ProcessFault::AllFunctions => "kill -9 all lock-fn processes",
            ProcessFault::Dynalite => "kill -9 dynalite, restart on its data",
        }
    }
}

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
fn bytes_per_invocation(samples: &[(u64, u64)]) -> f64 {
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
const MAX_BYTES_PER_INVOCATION: f64 = 40.0;

#[derive(Default)]
struct Observed {
    grants: Mutex<Vec<Instant>>,
    /// When grants began whose end is unknowable (their release outcome was uncertain).
    unknown_ends: Mutex<Vec<Instant>>,
    errors: Mutex<BTreeMap<String, usize>>,
    /// (resource, fence) -> the grant and the release answer, to explain a violation.
    detail: Mutex<BTreeMap<(String, u64), String>>,
}

impl Observed {
    fn count_error(&self, e: &ClientError) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(error_kind(e))
            .or_default() += 1;
    }
}

fn error_kind(e: &ClientError) -> String {
    match e {
        ClientError::Function { error_type, .. } => error_type.clone(),
        ClientError::Timeout { .. } => "Timeout (still busy)".into(),
        ClientError::Unreachable(_) => "Unreachable".into(),
        ClientError::Invoke(_) => "Invoke".into(),
        ClientError::UnknownFunction(_) => "UnknownFunction".into(),
        other => format!("{other:?}").chars().take(30).collect(),
    }
}

async fn worker(
    client: LockClient,
    resource: String,
    history: Arc<History>,
    seen: Arc<Observed>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let guard = match client
            .acquire_timeout(&resource, Duration::from_secs(2))
            .await
        {
            Ok(g) => g,
            Err(e) => {
                seen.count_error(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let granted_at = Instant::now();
        seen.grants.lock().unwrap().push(granted_at);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..5))).await;
        let grant = guard.into_grant(); // released below, explicitly and until answered
        let release_sent_ms = lock_protocol::now_ms();
        let mut retried = false;
        let answer = loop {
            match client
                .raw()
                .release(&resource, &grant.owner, Some(grant.fence))
                .await
            {
                Ok(a) => break a,
                Err(e) => {
                    retried = true;
                    seen.count_error(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        seen.detail.lock().unwrap().insert(
            (resource.clone(), grant.fence),
            format!("{grant:?} / release retried here: {retried} / {answer:?}"),
        );
        // `uncertain` covers the client's own resends; a release this loop had to repeat after an
        // error is just as unknowable when answered `false`.
        if (retried && !answer.released()) || answer == ReleaseOutcome::Unknown {
            eprintln!(
                "[faults] unknown end: {resource} fence {} (release retried here: {retried}, {answer:?})",
                grant.fence
            );
            seen.unknown_ends.lock().unwrap().push(granted_at);
            history.record_unknown_end(&grant, release_sent_ms);
        } else {
            history.record(&grant, answer.released_at_ms());
        }
    }
}

fn grants_in(seen: &Observed, from: Instant, to: Instant) -> usize {
    seen.grants
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t >= from && **t < to)
        .count()
}

fn first_grant_after(seen: &Observed, t: Instant) -> Option<Duration> {
    seen.grants
        .lock()
        .unwrap()
        .iter()
        .filter(|g| **g >= t)
        .min()
        .map(|g| *g - t)
}

async fn wait_for_grant_after(seen: &Observed, t: Instant) -> Option<Duration> {
    for _ in 0..300 {
        if let Some(d) = first_grant_after(seen, t) {
            return Some(d);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

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
    let out = args.out.clone();
    let dlm_bin = args.dlm_bin.clone();
    let mut stack = Stack::start(args).await;
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&shared)
            .endpoint_url(stack.dynamodb())
            .build(),
    );
    lock_table::create_lock_table(&dynamodb, "dynamo_dlm_locks", false).await;
    // Invokes whose function process dies never get an answer: give up after ATTEMPT_TIMEOUT.
    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&shared)
            .endpoint_url(stack.lambda())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .build(),
    );
    let client = LockClient::new(lambda, "lock-fn").with_duration(LEASE);
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
    let mut rows = Vec::new();
    let mut windows = Vec::new();
    let mut errors_before = BTreeMap::new();
    let mut phase = |name: &str,
                     before: (Instant, Instant),
                     recovered_at: Instant,
                     after: Option<Duration>,
                     seen: &Observed| {
        let now = seen.errors.lock().unwrap().clone();
        let delta: BTreeMap<String, usize> = now
            .iter()
            .map(|(k, v)| (k.clone(), v - errors_before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        errors_before = now;
        let window = Duration::from_secs(2);
        let row = json!({
            "fault": name,
            "grants_per_s_before_or_during": grants_in(seen, before.0, before.1) as f64 / (before.1 - before.0).as_secs_f64(),
            "grants_per_s_after": grants_in(seen, recovered_at, recovered_at + window) as f64 / window.as_secs_f64(),
            "first_grant_after_recovery_ms": after.map(|d| d.as_millis() as u64),
            "errors_seen_by_callers": delta,
        });
        eprintln!("[faults] {row}");
        rows.push(row);
        windows.push((before.0, recovered_at + window));
    };

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
        stack.kill(fault).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        stack.restart(fault).await;
        let restarted = Instant::now();
        let after = wait_for_grant_after(&seen, restarted).await;
        tokio::time::sleep(settle).await;
        phase(fault.name(), (b, b + settle), restarted, after, &seen);
    }

    // Store faults through the whole stack: lock-fn processes now reach dynalite through the
    //    fault proxy, which injects one kind of fault at a time.
    let proxy = FaultProxy::start(&stack.dynamodb()).await;
    stack.via = Some(proxy.endpoint());
    for i in 0..FUNCTIONS {
        stack.kill_function(i).await;
        stack.start_function(i);
    }
    let none = Faults::default();
    for (name, faults) in [
        (
            "DynamoDB throttling 30%",
            Faults {
                throttle: 0.3,
                ..none
            },
        ),
        (
            "DynamoDB HTTP 500 20%",
            Faults {
                server_error: 0.2,
                ..none
            },
        ),
        ("connection resets 10%", Faults { reset: 0.1, ..none }),
        (
            "+40 ms latency 30%",
            Faults {
                slow: 0.3,
                latency: Duration::from_millis(40),
                ..none
            },
        ),
        (
            "writes applied, answers lost 20%",
            Faults {
                lose_answer: 0.2,
                ..none
            },
        ),
    ] {
        let b = Instant::now();
        proxy.set(faults);
        tokio::time::sleep(settle).await;
        proxy.set(none);
        let healed = Instant::now();
        let after = wait_for_grant_after(&seen, healed).await;
        tokio::time::sleep(settle).await;
        phase(name, (b, healed), healed, after, &seen);
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
    let unknown = seen.unknown_ends.lock().unwrap().clone();
    for (row, (from, to)) in rows.iter_mut().zip(&windows) {
        row["grants_with_unknown_end"] =
            json!(unknown.iter().filter(|t| *t >= from && *t < to).count());
    }
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
        .env("AWS_ENDPOINT_URL_LAMBDA", stack.lambda())
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

/// 1,000 resources x 64 workers for `secs` through `client`, sampling the RSS of `pids` (lock-fn
/// processes) every second against the number of invocations served so far. Memory is flat when
/// every process is still alive and the fitted growth, after a warm-up fifth, stays under
/// [`MAX_BYTES_PER_INVOCATION`].
async fn soak(client: &LockClient, pids: Vec<u32>, secs: u64) -> serde_json::Value {
    let rss = |pids: &[u32]| -> Option<u64> { pids.iter().map(|p| rss_kb(*p)).sum() };
    let start_rss = rss(&pids).unwrap_or(0);
    let seen = Arc::new(Observed::default());
    let invocations = Arc::new(std::sync::atomic::AtomicU64::new(0));
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
