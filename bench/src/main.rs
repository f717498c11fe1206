//! `dlm-bench`: measures the lock on the local stack next to its floors and next to Python dynamo-dlm,
//! prints a table with ratios, and writes `results.json` for `bench/report.py`.
//! Run it through `bash scripts/bench.sh [--quick]`, which brings the stack up first.

mod contention;
mod cpu;
mod cycle;
mod env;
mod raw_callers;
mod spread;
mod startup;
mod stats;
mod store_cost;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Short runs (CI): the harness must not rot, the numbers are indicative only.
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value = "bench-out")]
    out: PathBuf,
    #[arg(long)]
    workspace: String,
    #[arg(long)]
    lock_fn_bin: String,
    #[arg(long)]
    echo_fn_bin: String,
    /// The arm64 deployment zip, when built.
    #[arg(long)]
    zip: Option<String>,
    /// Run only this section (for tuning; no report is written).
    /// (`raw-stack`, `demo-stack`: section (2c)'s raw callers, or the demo's 4 workers with 5 ms
    /// sections, against the stack's own lock-fn, whose logs stay.)
    #[arg(long, value_parser = ["cycle", "contention", "semaphore", "starve", "raw-stack", "demo-stack", "spread", "store"])]
    only: Option<String>,
    /// Contention: seconds per variant (overrides the mode's default).
    #[arg(long)]
    seconds: Option<f64>,
}

/// The critical section of the contention runs.
const CRITICAL: Duration = Duration::from_millis(5);

/// The contention section: our queue, our two barging modes and Python dynamo-dlm 1.0.0 and 2.1.0,
/// with 16 and 32 workers; and the queue with more waiters than lock-fn instances. Our variants
/// run on private emulators whose lock-fn processes reach dynalite through a counting proxy (reads,
/// writes and failed writes per grant).
async fn run_contention(
    stack: &env::Stack,
    table: &str,
    py1: &str,
    py2: &str,
    v2_table: &str,
    secs: f64,
    quick: bool,
) -> Vec<contention::ContentionResult> {
    use test_support::fault_proxy::FaultProxy;
    use test_support::local_procs::LocalLambda;
    let proxy = FaultProxy::start(&stack.dynamodb_endpoint).await;
    let settings = [("LOCK_TABLE", table), ("RUST_LOG", "error")];
    let (many, few) = (40, 8);
    let lambda_many = LocalLambda::start(many, &proxy.endpoint(), &settings).await;
    let lambda_few = LocalLambda::start(few, &proxy.endpoint(), &settings).await;
    let queue = env::client_at(&lambda_many.endpoint())
        .await
        .with_duration(Duration::from_secs(10));
    let queue_few = env::client_at(&lambda_few.endpoint())
        .await
        .with_duration(Duration::from_secs(10));
    let barging_poll = queue.with_queue(false).with_wait_chunk(Duration::ZERO);
    let barging_wait = queue.with_queue(false);
    let barging_few = queue_few.with_queue(false);
    let tag = std::process::id();
    let mut rows = Vec::new();
    for workers in [16, 32] {
        eprintln!("[bench] (2) contention, {workers} workers, {secs} s per variant");
        let mut ours: Vec<(&str, &lock_client::LockClient, usize)> = vec![
            ("ours, queue", &queue, many),
            ("ours, barging (client polling)", &barging_poll, many),
            ("ours, barging (in-function wait)", &barging_wait, many),
        ];
        if workers == 32 {
            // More waiters than function instances.
            ours.push(("ours, queue, 8 instances", &queue_few, few));
            if !quick {
                ours.push((
                    "ours, barging (in-function wait), 8 instances",
                    &barging_few,
                    few,
                ));
            }
        }
        for (name, client, instances) in ours {
            let resource = format!("bench/hot-{tag}-{workers}-{}", rows.len());
            rows.push(
                contention::ours(
                    name,
                    client,
                    instances,
                    &resource,
                    workers,
                    secs,
                    CRITICAL,
                    &proxy.counts,
                )
                .await,
            );
        }
        for (name, python, t) in [
            ("dynamo-dlm 1.0.0", py1, table),
            ("dynamo-dlm 2.1.0", py2, v2_table),
        ] {
            let resource = format!("bench/hot-{tag}-{workers}-{}", rows.len());
            rows.push(
                contention::dynamo_dlm(
                    name,
                    python,
                    t,
                    &resource,
                    4,
                    workers / 4,
                    secs,
                    CRITICAL,
                    1,
                )
                .await,
            );
        }
    }
    rows
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let stack = env::Stack::from_env().await;
    let table = std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into());
    let (cycles, secs, rounds) = if args.quick {
        (100, 3.0, 2)
    } else {
        (2000, 20.0, 10)
    };
    let secs = args.seconds.unwrap_or(secs);
    if let Some(only) = args.only.as_deref() {
        return tune(only, &stack, &table, cycles, secs).await;
    }
    let py1 = std::env::var("DLM_PY_DLM1").expect("DLM_PY_DLM1");
    let py2 = std::env::var("DLM_PY_DLM2").expect("DLM_PY_DLM2");
    let v2_table = format!("bench_v2_{}", std::process::id());
    stack.create_table(&v2_table, true).await;

    eprintln!("[bench] (1) uncontended cycle, {cycles} cycles");
    let cycle = cycle::run(&stack, &table, cycles).await;

    let contention = run_contention(&stack, &table, &py1, &py2, &v2_table, secs, args.quick).await;

    let semaphore = run_semaphore(&stack, &table, &py2, &v2_table, secs).await;

    let starve_secs = if args.quick { 2.0 } else { secs };
    let starvation = run_starvation(&stack, &table, &py1, &py2, &v2_table, starve_secs).await;

    eprintln!("[bench] (3) spread, 1000 resources x 64 workers, {secs} s");
    let spread = spread::run(&stack, &table, 1000, 64, secs).await;

    eprintln!("[bench] (4) start-up and size");
    let startup = startup::run(
        &args.workspace,
        &args.lock_fn_bin,
        &args.echo_fn_bin,
        args.zip.as_deref(),
        rounds,
        &stack.dynamodb_endpoint,
    )
    .await;

    print_table(&cycle, &contention, &spread, &startup);
    std::fs::create_dir_all(&args.out).unwrap();
    let results = json!({
        "quick": args.quick,
        "critical_section_ms": CRITICAL.as_millis() as u64,
        "cycle": cycle,
        "contention": contention,
        "semaphore": semaphore,
        "starvation": starvation,
        "spread": spread,
        "startup": startup,
    });
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    eprintln!("[bench] wrote {}", path.display());
    print_semaphore(&semaphore);
    print_starvation(&starvation);
    let overlaps: usize = contention
        .iter()
        .chain(&semaphore)
        .chain(&starvation)
        .map(|c| c.overlaps)
        .sum();
    if overlaps > 0 {
        eprintln!("[bench] OVERLAPPING GRANTS SEEN");
        std::process::exit(1);
    }
}

/// The semaphore section: 32 workers on one semaphore of 4, 5 ms critical sections - ours (the
/// queue, through a counting proxy) and Python dynamo-dlm 2.1.0 with `concurrency=4`.
async fn run_semaphore(
    stack: &env::Stack,
    table: &str,
    py2: &str,
    v2_table: &str,
    secs: f64,
) -> Vec<contention::ContentionResult> {
    use test_support::fault_proxy::FaultProxy;
    use test_support::local_procs::LocalLambda;
    const LIMIT: u32 = 4;
    const WORKERS: usize = 32;
    eprintln!("[bench] (5) semaphore, limit {LIMIT}, {WORKERS} workers, {secs} s per variant");
    let proxy = FaultProxy::start(&stack.dynamodb_endpoint).await;
    let settings = [("LOCK_TABLE", table), ("RUST_LOG", "error")];
    let lambda = LocalLambda::start(40, &proxy.endpoint(), &settings).await;
    let client = env::client_at(&lambda.endpoint())
        .await
        .with_duration(Duration::from_secs(10))
        .with_limit(LIMIT);
    let tag = std::process::id();
    vec![
        contention::ours(
            "ours, semaphore queue",
            &client,
            40,
            &format!("bench/sem-{tag}"),
            WORKERS,
            secs,
            CRITICAL,
            &proxy.counts,
        )
        .await,
        contention::dynamo_dlm(
            "dynamo-dlm 2.1.0, concurrency=4",
            py2,
            v2_table,
            &format!("bench/sem-{tag}-dlm2"),
            4,
            WORKERS / 4,
            secs,
            CRITICAL,
            LIMIT as usize,
        )
        .await,
    ]
}

/// The demo's lease (`dlm run --duration 5s` in scripts/demo.sh).
const DEMO_LEASE: Duration = Duration::from_secs(5);

/// The section for issue 17, part C (waiting never starves releases), each run on a private emulator
/// of its own (its own table too, so that its in-function waiting budget - slot items in the lock
/// table, sized from the pool - is its own), DynamoDB requests through a counting proxy:
/// - 32 raw callers without an owner (`wait_ms` 2000, 5 ms sections) on 20 and on 8 lock-fn
///   instances; their dynamo-dlm comparison is section (2)'s 32-worker runs of the same run;
/// - the demo's configuration: 4 workers with the client's default settings (queueing, its default
///   wait chunk, as `dlm run`) on 2 instances, with 200 ms sections (the demo's) and 5 ms ones,
///   beside dynamo-dlm 1.0.0 and 2.1.0 with 4 workers.
async fn run_starvation(
    stack: &env::Stack,
    table: &str,
    py1: &str,
    py2: &str,
    v2_table: &str,
    secs: f64,
) -> Vec<contention::ContentionResult> {
    use test_support::fault_proxy::FaultProxy;
    use test_support::local_procs::LocalLambda;
    let proxy = FaultProxy::start(&stack.dynamodb_endpoint).await;
    let tag = std::process::id();
    let mut rows = Vec::new();
    for instances in [20, 8] {
        eprintln!("[bench] (2c) 32 raw callers without an owner, {instances} instances, {secs} s");
        let own_table = format!("bench_starve_{tag}_{instances}");
        stack.create_table(&own_table, false).await;
        let settings = [("LOCK_TABLE", own_table.as_str()), ("RUST_LOG", "error")];
        let lambda = LocalLambda::start(instances, &proxy.endpoint(), &settings).await;
        let client = env::client_at(&lambda.endpoint()).await;
        rows.push(
            raw_callers::run(
                &format!("ours, raw callers without owner, {instances} instances"),
                &client,
                instances,
                &format!("bench/raw-{tag}-{instances}"),
                32,
                secs,
                CRITICAL,
                raw_callers::Ask {
                    duration_ms: 5_000,
                    wait_ms: 2_000,
                },
                &proxy.counts,
            )
            .await,
        );
    }
    let own_table = format!("bench_starve_{tag}_demo");
    stack.create_table(&own_table, false).await;
    let settings = [("LOCK_TABLE", own_table.as_str()), ("RUST_LOG", "error")];
    let lambda = LocalLambda::start(2, &proxy.endpoint(), &settings).await;
    // LockClient's defaults (queueing, its default wait chunk), the demo's lease.
    let client = env::client_at(&lambda.endpoint())
        .await
        .with_duration(DEMO_LEASE);
    for critical in [Duration::from_millis(200), CRITICAL] {
        let ms = critical.as_millis();
        eprintln!("[bench] (2c) the demo's configuration, 4 workers, 2 instances, {ms} ms sections, {secs} s per variant");
        rows.push(
            contention::ours(
                "ours, client defaults, 2 instances",
                &client,
                2,
                &format!("bench/demo-{tag}-{ms}"),
                4,
                secs,
                critical,
                &proxy.counts,
            )
            .await,
        );
        for (name, python, t) in [
            ("dynamo-dlm 1.0.0", py1, table),
            ("dynamo-dlm 2.1.0", py2, v2_table),
        ] {
            rows.push(
                contention::dynamo_dlm(
                    name,
                    python,
                    t,
                    &format!("bench/demo-{tag}-{ms}-{}", rows.len()),
                    4,
                    1,
                    secs,
                    critical,
                    1,
                )
                .await,
            );
        }
    }
    rows
}

fn print_starvation(rows: &[contention::ContentionResult]) {
    println!(
        "\n(2c) waiting never starves: raw callers without owner, and the demo's configuration"
    );
    println!(
        "    {:<44} {:>3} {:>5} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8} {:>5} {:>7}",
        "variant",
        "w",
        "cs",
        "grants/s",
        "jain",
        "min/max",
        "p99 wait",
        "max gap",
        "p99 gap",
        ">100",
        "unused"
    );
    for c in rows {
        let g = c.gaps.unwrap_or_default();
        println!(
            "    {:<44} {:>3} {:>3.0}ms {:>8.1} {:>6.3} {:>4}/{:<4} {:>6.0}ms {:>6.0}ms {:>6.0}ms {:>5} {:>7}{}",
            c.variant,
            c.workers,
            c.critical_ms,
            c.grants_per_s,
            c.jain,
            c.worker_grants_min,
            c.worker_grants_max,
            c.wait.p99_ms,
            g.max_ms,
            g.p99_ms,
            g.over_100ms,
            c.unused_grants.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            if c.overlaps > 0 { "  OVERLAPS" } else { "" }
        );
    }
}

fn print_semaphore(rows: &[contention::ContentionResult]) {
    println!(
        "\n(5) semaphore, limit 4, 32 workers, {} ms critical sections",
        CRITICAL.as_millis()
    );
    println!(
        "    {:<40} {:>8} {:>7} {:>6} {:>6} {:>9} {:>8} {:>5}",
        "variant", "grants/s", "failed", "reads", "jain", "min/max", "p99 wait", "most"
    );
    for c in rows {
        println!(
            "    {:<40} {:>8.1} {:>7.2} {:>6.2} {:>6.3} {:>4}/{:<4} {:>6.0}ms {:>5}{}",
            c.variant,
            c.grants_per_s,
            c.failed_writes_per_grant,
            c.reads_per_grant,
            c.jain,
            c.worker_grants_min,
            c.worker_grants_max,
            c.wait.p99_ms,
            c.most_at_once
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            if c.overlaps > 0 {
                "  OVER THE LIMIT"
            } else {
                ""
            }
        );
    }
    if let [ours, dlm2] = rows {
        println!(
            "    ours / dynamo-dlm 2.1.0 grants/s: {:.1}x (target >= 5x)",
            ours.grants_per_s / dlm2.grants_per_s.max(1e-9)
        );
    }
}

/// One section alone, printed as JSON (for tuning runs).
async fn tune(only: &str, stack: &env::Stack, table: &str, cycles: usize, secs: f64) {
    let out = match only {
        "cycle" => {
            let mut c = serde_json::to_value(cycle::run(stack, table, cycles).await).unwrap();
            c.as_object_mut()
                .unwrap()
                .retain(|k, _| !k.starts_with("samples"));
            c
        }
        "contention" => {
            let py1 = std::env::var("DLM_PY_DLM1").expect("DLM_PY_DLM1");
            let py2 = std::env::var("DLM_PY_DLM2").expect("DLM_PY_DLM2");
            let v2_table = format!("bench_v2_{}", std::process::id());
            stack.create_table(&v2_table, true).await;
            let mut rows = run_contention(stack, table, &py1, &py2, &v2_table, secs, true).await;
            rows.iter_mut().for_each(|r| r.handoffs_ms.clear());
            serde_json::to_value(rows).unwrap()
        }
        "semaphore" => {
            let py2 = std::env::var("DLM_PY_DLM2").expect("DLM_PY_DLM2");
            let v2_table = format!("bench_v2_{}", std::process::id());
            stack.create_table(&v2_table, true).await;
            let rows = run_semaphore(stack, table, &py2, &v2_table, secs).await;
            print_semaphore(&rows);
            let mut rows = rows;
            rows.iter_mut().for_each(|r| r.handoffs_ms.clear());
            serde_json::to_value(rows).unwrap()
        }
        "starve" => {
            let py1 = std::env::var("DLM_PY_DLM1").expect("DLM_PY_DLM1");
            let py2 = std::env::var("DLM_PY_DLM2").expect("DLM_PY_DLM2");
            let v2_table = format!("bench_v2_{}", std::process::id());
            stack.create_table(&v2_table, true).await;
            let mut rows = run_starvation(stack, table, &py1, &py2, &v2_table, secs).await;
            print_starvation(&rows);
            rows.iter_mut().for_each(|r| r.handoffs_ms.clear());
            serde_json::to_value(rows).unwrap()
        }
        "raw-stack" => {
            let counts = test_support::fault_proxy::Counts::default();
            let ask = raw_callers::Ask {
                duration_ms: 5_000,
                wait_ms: 2_000,
            };
            let resource = format!("bench/raw-stack-{}", std::process::id());
            let mut row = raw_callers::run(
                "ours, raw callers without owner, the stack's lock-fn",
                &stack.lock,
                0,
                &resource,
                32,
                secs,
                CRITICAL,
                ask,
                &counts,
            )
            .await;
            row.handoffs_ms.clear();
            serde_json::to_value(vec![row]).unwrap()
        }
        "demo-stack" => {
            let counts = test_support::fault_proxy::Counts::default();
            let client = stack.lock.with_duration(DEMO_LEASE);
            let resource = format!("bench/demo-stack-{}", std::process::id());
            let mut row = contention::ours(
                "ours, client defaults, the stack's lock-fn",
                &client,
                0,
                &resource,
                4,
                secs,
                CRITICAL,
                &counts,
            )
            .await;
            row.handoffs_ms.clear();
            serde_json::to_value(vec![row]).unwrap()
        }
        "spread" => serde_json::to_value(spread::run(stack, table, 1000, 64, secs).await).unwrap(),
        "store" => store_cost::run(stack, table, cycles).await,
        other => panic!("--only {other} is not supported here"),
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

fn print_table(
    cycle: &cycle::CycleResult,
    contention: &[contention::ContentionResult],
    spread: &spread::SpreadResult,
    startup: &startup::StartupResult,
) {
    println!("\n(1) uncontended acquire+release cycle (ms)        p50      p99");
    println!(
        "    ours: client -> emulator -> lock-fn -> db   {:7.2}  {:7.2}",
        cycle.ours.p50_ms, cycle.ours.p99_ms
    );
    println!(
        "    floor: bare PutItem+DeleteItem              {:7.2}  {:7.2}",
        cycle.bare_put_delete.p50_ms, cycle.bare_put_delete.p99_ms
    );
    println!(
        "    floor: two bare echo invokes                {:7.2}  {:7.2}",
        cycle.echo_pair.p50_ms, cycle.echo_pair.p99_ms
    );
    println!(
        "    ours / floor                                {:7.2}x {:7.2}x   (target <= 1.3x)",
        cycle.ratio_p50, cycle.ratio_p99
    );
    let bare_write = cycle.bare_put_delete.p50_ms / 2.0;
    let bare_invoke = cycle.echo_pair.p50_ms / 2.0;
    let limit = 1000.0 / (CRITICAL.as_secs_f64() * 1000.0 + bare_write + bare_invoke);
    println!(
        "\n(2) contention, one resource, {} ms critical sections; handoff limit 1/(cs + write {bare_write:.2} ms + invoke {bare_invoke:.2} ms) = {limit:.0} grants/s",
        CRITICAL.as_millis()
    );
    println!(
        "    {:<46} {:>3} {:>8} {:>8} {:>7} {:>6} {:>8} {:>6} {:>9} {:>8}",
        "variant",
        "w",
        "grants/s",
        "of limit",
        "failed",
        "reads",
        "handoff",
        "jain",
        "min/max",
        "p99 wait"
    );
    for c in contention {
        println!(
            "    {:<46} {:>3} {:>8.1} {:>7.0}% {:>7.2} {:>6.2} {:>6.2}ms {:>6.3} {:>4}/{:<4} {:>6.0}ms{}",
            c.variant,
            c.workers,
            c.grants_per_s,
            100.0 * c.grants_per_s / limit,
            c.failed_writes_per_grant,
            c.reads_per_grant,
            c.handoff.p50_ms,
            c.jain,
            c.worker_grants_min,
            c.worker_grants_max,
            c.wait.p99_ms,
            if c.overlaps > 0 { "  OVERLAPS" } else { "" }
        );
    }
    println!("\n(3) spread: {} resources x {} workers: {:.0} grants/s; bare write ceiling {:.0} put+delete cycles/s; ratio {:.2}", spread.resources, spread.workers, spread.grants_per_s, spread.bare_write_cycles_per_s, spread.ratio);
    println!(
        "\n(4) arm64 zip: {}; process start -> first answered invoke: lock-fn p50 {:.1} ms, echo-fn p50 {:.1} ms",
        startup.zip_bytes.map(|b| format!("{:.2} MB", b as f64 / 1e6)).unwrap_or_else(|| "not built".into()),
        startup.lock_fn_first_answer.p50_ms,
        startup.echo_fn_first_answer.p50_ms
    );
}
