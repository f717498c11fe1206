//! `dlm-bench`: measures the lock on the local stack next to its floors and next to Python dynamo-dlm,
//! prints a table with ratios, and writes `results.json` for `bench/report.py`.
//! Run it through `bash scripts/bench.sh [--quick]`, which brings the stack up first.

mod contention;
mod cycle;
mod env;
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
    #[arg(long, value_parser = ["cycle", "contention", "spread", "store"])]
    only: Option<String>,
    /// Contention: seconds per variant (overrides the mode's default).
    #[arg(long)]
    seconds: Option<f64>,
}

const CRITICAL: Duration = Duration::from_millis(1);

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

    let mut contention = Vec::new();
    let tag = std::process::id();
    eprintln!("[bench] (2) contention, 32 workers, {secs} s per variant");
    let polling = stack.lock.with_duration(Duration::from_secs(10));
    contention.push(
        contention::ours(
            "ours (client polling)",
            &polling,
            &format!("bench/hot-poll-{tag}"),
            32,
            secs,
            CRITICAL,
        )
        .await,
    );
    let waiting = polling.with_wait_chunk(Duration::from_secs(2));
    contention.push(
        contention::ours(
            "ours (in-function wait)",
            &waiting,
            &format!("bench/hot-wait-{tag}"),
            32,
            secs,
            CRITICAL,
        )
        .await,
    );
    contention.push(
        contention::dynamo_dlm(
            "dynamo-dlm 1.0.0",
            &py1,
            &table,
            &format!("bench/hot-dlm1-{tag}"),
            4,
            8,
            secs,
            CRITICAL,
        )
        .await,
    );
    contention.push(
        contention::dynamo_dlm(
            "dynamo-dlm 2.1.0",
            &py2,
            &v2_table,
            &format!("bench/hot-dlm2-{tag}"),
            4,
            8,
            secs,
            CRITICAL,
        )
        .await,
    );

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
        "spread": spread,
        "startup": startup,
    });
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    eprintln!("[bench] wrote {}", path.display());
    let overlaps: usize = contention.iter().map(|c| c.overlaps).sum();
    if overlaps > 0 {
        eprintln!("[bench] OVERLAPPING GRANTS SEEN");
        std::process::exit(1);
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
            let tag = std::process::id();
            let polling = stack.lock.with_duration(Duration::from_secs(10));
            let waiting = polling.with_wait_chunk(Duration::from_secs(2));
            let mut rows = vec![
                contention::ours(
                    "ours (client polling)",
                    &polling,
                    &format!("bench/t-poll-{tag}"),
                    32,
                    secs,
                    CRITICAL,
                )
                .await,
                contention::ours(
                    "ours (in-function wait)",
                    &waiting,
                    &format!("bench/t-wait-{tag}"),
                    32,
                    secs,
                    CRITICAL,
                )
                .await,
            ];
            rows.iter_mut().for_each(|r| r.handoffs_ms.clear());
            serde_json::to_value(rows).unwrap()
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
    let base = contention
        .iter()
        .find(|c| c.variant.starts_with("dynamo-dlm 1"))
        .map(|c| (c.grants_per_s, c.wasted_writes_per_grant));
    println!("\n(2) contention, 32 workers, 1 ms critical sections");
    println!(
        "    {:<26} {:>9} {:>12} {:>13} {:>9} {:>8}",
        "variant", "grants/s", "vs dlm 1.0", "wasted/grant", "handoff", "overlaps"
    );
    for c in contention {
        let vs = base.map(|(g, _)| c.grants_per_s / g).unwrap_or(f64::NAN);
        println!(
            "    {:<26} {:>9.1} {:>11.2}x {:>13.2} {:>7.2}ms {:>8}",
            c.variant, c.grants_per_s, vs, c.wasted_writes_per_grant, c.handoff.p50_ms, c.overlaps
        );
    }
    println!("    (targets: >= 5x dynamo-dlm's grants/s, <= 1/3 of its wasted writes per grant, median handoff <= 3 bare write round trips = {:.2} ms)", 3.0 * cycle.bare_put_delete.p50_ms / 2.0);
    println!("\n(3) spread: {} resources x {} workers: {:.0} grants/s; bare write ceiling {:.0} put+delete cycles/s; ratio {:.2}", spread.resources, spread.workers, spread.grants_per_s, spread.bare_write_cycles_per_s, spread.ratio);
    println!(
        "\n(4) arm64 zip: {}; process start -> first answered invoke: lock-fn p50 {:.1} ms, echo-fn p50 {:.1} ms",
        startup.zip_bytes.map(|b| format!("{:.2} MB", b as f64 / 1e6)).unwrap_or_else(|| "not built".into()),
        startup.lock_fn_first_answer.p50_ms,
        startup.echo_fn_first_answer.p50_ms
    );
}
