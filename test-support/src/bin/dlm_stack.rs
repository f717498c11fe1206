//! `dlm-stack`: brings the local stack up (and leaves it running) or down, for `scripts/stack.sh`.
//!
//!   dlm-stack up --state DIR --lock-fn-bin BIN --dynalite-cli JS [--functions N] [--echo N --echo-fn-bin BIN]
//!                [--moto-server BIN] [--dynalite-path DIR] [--table NAME]
//!   dlm-stack down --state DIR
//!
//! `up` writes DIR/env (endpoints and credentials, to `source`) and one DIR/NAME.pid per process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use test_support::stack::{Stack, StackSpec};

fn usage() -> ! {
    eprintln!("usage: dlm-stack up --state DIR --lock-fn-bin BIN --dynalite-cli JS [--functions N] [--echo N --echo-fn-bin BIN] [--moto-server BIN] [--dynalite-path DIR] [--table NAME] | down --state DIR");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let state = PathBuf::from(value("--state").unwrap_or_else(|| usage()));
    match args.first().map(String::as_str) {
        Some("up") => up(&state, &value).await,
        Some("down") => down(&state),
        _ => usage(),
    }
}

async fn up(state: &Path, value: &dyn Fn(&str) -> Option<String>) {
    down(state);
    std::fs::create_dir_all(state).expect("state folder");
    let number = |name: &str, default: usize| {
        value(name).map_or(default, |v| v.parse().unwrap_or_else(|_| usage()))
    };
    let mut spec = StackSpec::new(
        number("--functions", 2),
        value("--lock-fn-bin").unwrap_or_else(|| usage()),
        value("--dynalite-cli").unwrap_or_else(|| usage()),
    );
    let echo = number("--echo", 0);
    if echo > 0 {
        spec.echo = Some((
            echo,
            value("--echo-fn-bin").unwrap_or_else(|| usage()).into(),
        ));
    }
    spec.moto_server = value("--moto-server").map(PathBuf::from);
    spec.dynalite_path = value("--dynalite-path").map(PathBuf::from);
    spec.table = value("--table").unwrap_or(spec.table);
    spec.log_dir = Some(state.to_path_buf());
    spec.rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let started = Instant::now();
    let stack = Stack::start(spec).await;
    let mut env = String::new();
    for (k, v) in stack.env() {
        env.push_str(&format!("export {k}={v}\n"));
    }
    std::fs::write(state.join("env"), env).expect("write env");
    for (name, pid) in stack.pids() {
        std::fs::write(state.join(format!("{name}.pid")), pid.to_string()).expect("write pid");
    }
    eprintln!(
        "[stack] up in {:.1} s: dynalite {}, {}Lambda emulator {}, {} lock-fn process(es)",
        started.elapsed().as_secs_f64(),
        stack.dynamodb_endpoint(),
        stack
            .sfn_endpoint()
            .map(|m| format!("moto {m}, "))
            .unwrap_or_default(),
        stack.lambda_endpoint(),
        stack.function_count()
    );
    stack.detach();
}

/// Stops every process with a PID file in `state` (SIGTERM, then SIGKILL after a second), all at
/// once, and removes the env file.
fn down(state: &Path) {
    let Ok(entries) = std::fs::read_dir(state) else {
        return;
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                pids.push(pid);
            }
            std::fs::remove_file(&path).ok();
        }
    }
    std::fs::remove_file(state.join("env")).ok();
    if pids.is_empty() {
        return;
    }
    eprintln!("[stack] stopping {} process(es)", pids.len());
    // SAFETY: kill(2) on PIDs this tool started (recorded in its own state folder).
    let alive = |pid: i32| unsafe { libc::kill(pid, 0) == 0 };
    for &pid in &pids {
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pid in pids.iter().filter(|&&p| alive(p)) {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
