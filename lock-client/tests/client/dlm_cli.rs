//! The `dlm` binary end to end against the local stack.

use crate::support;

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::fake_lambda::{self, Answer};
use support::*;

/// Longer than any dlm call here may take: a hang fails the test instead of stalling the run.
const DLM_LIMIT: Duration = Duration::from_secs(60);

fn dlm(args: &[&str]) -> Output {
    dlm_with(args, &[], None)
}

/// `dlm` with extra environment variables and, when given, `stdin` as its standard input.
fn dlm_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    lambda_endpoint();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dlm");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    finish(child, DLM_LIMIT)
}

/// Waits for `child` (its stdout and stderr piped) at most `within`; kills it and fails the test
/// after that.
fn finish(mut child: Child, within: Duration) -> Output {
    let until = Instant::now() + within;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .map(|pipe| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            let _ = tx.send(bytes);
        });
        rx
    })
    .collect();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dlm did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut outputs = readers.into_iter().map(|rx| {
        rx.recv_timeout(until.saturating_duration_since(Instant::now()) + Duration::from_secs(5))
            .expect("dlm's output stays open: a process it started still runs")
    });
    Output {
        status,
        stdout: outputs.next().unwrap(),
        stderr: outputs.next().unwrap(),
    }
}

/// A `dlm` process started in the background (output piped).
fn spawn_dlm(args: &[&str]) -> Child {
    lambda_endpoint();
    Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (at most `within`) until `path` has content; fails the test otherwise.
fn wait_for_file(path: &std::path::Path, within: Duration) -> String {
    let until = Instant::now() + within;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text;
            }
        }
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` exists (a zombie counts: it was not reaped).
fn exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dlm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn status_of(r: &str) -> Value {
    serde_json::from_slice(&dlm(&["status", r]).stdout).unwrap()
}

#[test]
fn dlm_run_serializes_read_modify_write_across_processes() {
    let r = resource("counter");
    let dir = std::env::temp_dir().join(format!("dlm-counter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counter = dir.join("counter");
    let fences = dir.join("fences");
    std::fs::write(&counter, "0").unwrap();
    std::fs::write(&fences, "").unwrap();
    // A racy read-modify-write: without the lock, concurrent runs lose updates.
    let script = format!(
        "n=$(cat {c}); sleep 0.02; echo $((n+1)) > {c}; echo $DLM_FENCE >> {f}",
        c = counter.display(),
        f = fences.display()
    );
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (r, script) = (r.clone(), script.clone());
            std::thread::spawn(move || {
                for _ in 0..8 {
                    let out = dlm(&["run", &r, "--duration", "5s", "--", "sh", "-c", &script]);
                    assert!(
                        out.status.success(),
                        "dlm run failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().trim(),
        "32",
        "no update may be lost"
    );
    let fences: Vec<u64> = std::fs::read_to_string(&fences)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(fences.len(), 32);
    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences rise in the order the work ran: {fences:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dlm_run_passes_the_exit_code_and_frees_the_lock() {
    let r = resource("exit-code");
    let out = dlm(&["run", &r, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let status: Value = serde_json::from_slice(&dlm(&["status", &r]).stdout).unwrap();
    assert_eq!(status["held"], false);
}

/// The lock is lost while the command runs: dlm says so, stops the command (long before it would
/// have ended by itself) and exits 6.
#[test]
fn dlm_run_says_loudly_when_the_lock_is_lost() {
    let r = resource("run-lost");
    let dir = scratch("run-lost");
    let finished = dir.join("finished");
    // The command force-releases its own lock through dlm, then another owner takes it; the
    // command would go on for 30 s more. (A 3 s lease, renewed every second: a loaded machine's
    // slow renewal does not lose it before the command's own release.)
    let script = format!(
        "dlm_bin={bin}; $dlm_bin release {r} --owner $DLM_OWNER >/dev/null && $dlm_bin acquire {r} --duration 30s >/dev/null && sleep 30; touch {f}",
        bin = env!("CARGO_BIN_EXE_dlm"),
        f = finished.display()
    );
    let started = Instant::now();
    let out = dlm(&["run", &r, "--duration", "3s", "--", "sh", "-c", &script]);
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(6),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOCK LOST"));
    assert!(
        took < Duration::from_secs(15),
        "the command was not stopped: dlm ran {took:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !finished.exists(),
        "the command went on after it was stopped"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 17, A1: `dlm run` stops the command's whole process group when the lock is lost - not only
/// its direct child - and waits until it is gone: a grandchild (here python, started by the shell)
/// must not go on working without the lock.
#[test]
fn dlm_run_stops_the_whole_process_group_when_the_lock_is_lost() {
    let r = resource("run-lost-group");
    let dir = scratch("run-lost-group");
    let (pid_file, written) = (dir.join("pid"), dir.join("written"));
    let python = format!(
        "import os, time; open('{p}', 'w').write(str(os.getpid())); time.sleep(6); open('{f}', 'a').write('x')",
        p = pid_file.display(),
        f = written.display()
    );
    // python runs first (in the background, so that it surely runs when the loss is noticed),
    // then the command loses its lock and waits for python.
    let script = format!(
        "python3 -c \"{python}\" & while [ ! -s {p} ]; do sleep 0.01; done; \
         dlm_bin={bin}; $dlm_bin release {r} --owner \"$DLM_OWNER\" >/dev/null; $dlm_bin acquire {r} --duration 30s >/dev/null; wait; true",
        p = pid_file.display(),
        bin = env!("CARGO_BIN_EXE_dlm"),
    );
    let started = Instant::now();
    let out = dlm(&["run", &r, "--duration", "3s", "--", "sh", "-c", &script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "stderr: {stderr}");
    assert!(stderr.contains("LOCK LOST"), "{stderr}");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !exists(pid),
        "the grandchild {pid} still exists when dlm exits"
    );
    // Past the moment python would have written, had it gone on.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(started.elapsed()));
    assert!(
        !written.exists(),
        "the grandchild went on working after LOCK LOST"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Ctrl-C while the command runs is forwarded to its process group (the command may clean up and
/// exit; what it leaves running is stopped), the lock is released at once, and dlm exits with the
/// command's status. SIGTERM (`timeout(1)`, a service manager) stops the whole group the same way.
#[test]
fn dlm_run_forwards_interrupts_and_stops_the_group_on_sigterm() {
    for (signal, name) in [(libc::SIGINT, "int"), (libc::SIGTERM, "term")] {
        let r = resource(&format!("run-signal-{name}"));
        let dir = scratch(&format!("run-signal-{name}"));
        let (pid_file, trapped, written) =
            (dir.join("pid"), dir.join("trapped"), dir.join("written"));
        let python = format!(
            "import os, time; open('{p}', 'w').write(str(os.getpid())); time.sleep(2); open('{f}', 'a').write('x')",
            p = pid_file.display(),
            f = written.display()
        );
        // A background job of a non-interactive shell ignores SIGINT: it is left running when the
        // shell exits on Ctrl-C, and dlm must stop it before releasing the lock.
        let script = format!(
            "trap 'echo {name} > {t}; exit 3' INT; python3 -c \"{python}\" & wait; wait",
            t = trapped.display()
        );
        let child = spawn_dlm(&["run", &r, "--duration", "10s", "--", "sh", "-c", &script]);
        let pid: i32 = wait_for_file(&pid_file, Duration::from_secs(20))
            .trim()
            .parse()
            .unwrap();
        let sent = Instant::now();
        // SAFETY: kill(2) on the dlm process this test started.
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = finish(child, Duration::from_secs(10));
        let took = sent.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = if signal == libc::SIGINT { 3 } else { 128 + 15 };
        assert_eq!(out.status.code(), Some(expected), "{name}: {stderr}");
        assert!(took < Duration::from_secs(2), "{name}: dlm took {took:?}");
        if signal == libc::SIGINT {
            assert_eq!(
                std::fs::read_to_string(&trapped).unwrap().trim(),
                "int",
                "the command saw the interrupt"
            );
        }
        assert!(!exists(pid), "{name}: the background job {pid} survived");
        assert_eq!(
            status_of(&r)["held"],
            false,
            "{name}: released, not left to run out"
        );
        std::thread::sleep(Duration::from_millis(2500).saturating_sub(took));
        assert!(
            !written.exists(),
            "{name}: the background job went on working"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// The owner token need not be on the command line (where `ps` and /proc/*/cmdline show it):
/// `DLM_OWNER` (which `dlm run` sets for its command) or `--owner -` (standard input) serve; an
/// explicit `--owner TOKEN` still works and wins over the environment.
#[test]
fn the_owner_comes_from_the_environment_or_standard_input() {
    let r = resource("owner-env");
    let grant: Value =
        serde_json::from_slice(&dlm(&["acquire", &r, "--duration", "30s"]).stdout).unwrap();
    let owner = grant["owner"].as_str().unwrap().to_string();
    let fence = grant["fence"].to_string();
    let env = [("DLM_OWNER", owner.as_str())];

    let mine: Value =
        serde_json::from_slice(&dlm_with(&["status", &r], &env, None).stdout).unwrap();
    assert_eq!(mine["yours"], true, "{mine}");
    let theirs: Value =
        serde_json::from_slice(&dlm_with(&["status", &r, "--owner", "not-me"], &env, None).stdout)
            .unwrap();
    assert_eq!(theirs["yours"], false, "the flag wins: {theirs}");
    let renewed = dlm_with(
        &["renew", &r, "--fence", &fence, "--duration", "40s"],
        &env,
        None,
    );
    assert!(renewed.status.success(), "{renewed:?}");
    let stdin_owner = format!("{owner}\n");
    let piped: Value = serde_json::from_slice(
        &dlm_with(&["status", &r, "--owner", "-"], &[], Some(&stdin_owner)).stdout,
    )
    .unwrap();
    assert_eq!(piped["yours"], true, "{piped}");
    let empty = dlm_with(
        &["release", &r, "--owner", "-", "--fence", &fence],
        &[],
        Some(""),
    );
    assert_eq!(empty.status.code(), Some(2), "no owner on stdin: {empty:?}");
    assert_eq!(
        dlm(&["release", &r, "--fence", &fence]).status.code(),
        Some(2),
        "no owner at all"
    );
    let released = dlm_with(
        &["release", &r, "--owner", "-", "--fence", &fence],
        &[],
        Some(&stdin_owner),
    );
    assert!(released.status.success(), "{released:?}");
    let body: Value = serde_json::from_slice(&released.stdout).unwrap();
    assert_eq!(body["released"], true);
}

/// Issue 17, B12: a release that fails or cannot tell (`uncertain`) while the lease was never lost
/// does not hide the command's exit status (a script would re-run non-idempotent work on exit 4 or
/// 6): dlm warns and exits with the command's code. A release that says "not held" is a lost lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlm_run_keeps_the_commands_status_when_only_the_release_fails() {
    let cases = [
        (
            "uncertain",
            Answer::Json(
                serde_json::json!({"released": false, "resource_id": "r", "uncertain": true}),
            ),
            7,
        ),
        (
            "release failed",
            Answer::error("StoreUnavailable", "DynamoDB is unavailable: injected"),
            7,
        ),
        (
            "released",
            Answer::Json(
                serde_json::json!({"released": true, "resource_id": "r", "released_at_ms": 1}),
            ),
            7,
        ),
        (
            "not held",
            Answer::Json(serde_json::json!({"released": false, "resource_id": "r"})),
            6,
        ),
    ];
    for (case, release, code) in cases {
        let fake = fake_lambda::holder(5, 30_000, true, release).await;
        let out = tokio::time::timeout(
            DLM_LIMIT,
            tokio::process::Command::new(env!("CARGO_BIN_EXE_dlm"))
                .args(["run", "r", "--", "sh", "-c", "exit 7"])
                .env("AWS_ENDPOINT_URL_LAMBDA", fake.endpoint())
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("DLM_FUNCTION", "lock-fn")
                .output(),
        )
        .await
        .expect("dlm ends")
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{case}: {stderr}");
        if case != "released" {
            assert!(!stderr.is_empty(), "{case}: says why");
        }
        assert_eq!(
            fake.ops().last().map(String::as_str),
            Some("release"),
            "{case}"
        );
    }
}

#[test]
fn acquire_release_status_and_exit_codes() {
    let r = resource("cli");
    let out = dlm(&["acquire", &r, "--duration", "30s"]);
    assert!(out.status.success());
    let grant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let owner = grant["owner"].as_str().unwrap().to_string();
    assert!(grant["fence"].as_u64().unwrap() > 0);

    assert_eq!(dlm(&["acquire", &r]).status.code(), Some(3), "busy");
    assert_eq!(
        dlm(&["acquire", &r, "--wait", "300ms"]).status.code(),
        Some(3),
        "still busy after waiting"
    );
    let fence = grant["fence"].to_string();
    let status = dlm(&["status", &r]);
    let shown: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        !String::from_utf8_lossy(&status.stdout).contains(&owner),
        "status never shows the owner token: {shown}"
    );
    assert_eq!(shown["owner"], lock_client::protocol::owner_digest(&owner));
    let mine: Value =
        serde_json::from_slice(&dlm(&["status", &r, "--owner", &owner]).stdout).unwrap();
    assert_eq!(mine["yours"], true, "{mine}");
    let theirs: Value =
        serde_json::from_slice(&dlm(&["status", &r, "--owner", "not-me"]).stdout).unwrap();
    assert_eq!(theirs["yours"], false, "{theirs}");

    let renewed = dlm(&[
        "renew",
        &r,
        "--owner",
        &owner,
        "--fence",
        &fence,
        "--duration",
        "40s",
    ]);
    assert!(renewed.status.success());
    assert_eq!(
        dlm(&["release", &r, "--owner", "not-me"]).status.code(),
        Some(6)
    );
    let released = dlm(&["release", &r, "--owner", &owner, "--fence", &fence]);
    assert!(released.status.success());
    let body: Value = serde_json::from_slice(&released.stdout).unwrap();
    assert_eq!(body["released"], true);

    let too_long_owner = "o".repeat(1025);
    assert_eq!(
        dlm(&["release", &r, "--owner", &too_long_owner])
            .status
            .code(),
        Some(4),
        "function error"
    );
    // What dlm can judge itself is a usage error, without a round trip.
    for args in [
        vec!["acquire", ""],
        vec!["acquire", "r", "--duration", "0s"],
        vec!["acquire", "r", "--duration", "-5s"],
        vec!["acquire", "r", "--duration", "13h"],
    ] {
        let out = dlm(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("tip:"), "{args:?}: {stderr}");
    }
    let bad = dlm(&["acquire", "r", "--duration", "abc"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("such as 500ms, 10s"));
    let missing = dlm(&["run", &r, "--", "no-such-command-dlm-test"]);
    assert_eq!(missing.status.code(), Some(127), "command not found");
    let next: Value =
        serde_json::from_slice(&dlm(&["acquire", &r, "--duration", "1s"]).stdout).unwrap();
    assert_eq!(
        next["fence"].as_u64(),
        grant["fence"].as_u64().map(|f| f + 1),
        "a command that cannot start takes no lock (and no fence): {next}"
    );
    assert_eq!(
        dlm(&["--function", "nope", "status", "x"]).status.code(),
        Some(5),
        "unknown function"
    );
    let no_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let offline = Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(["status", "x"])
        .env(
            "AWS_ENDPOINT_URL_LAMBDA",
            format!("http://127.0.0.1:{no_port}"),
        )
        .output()
        .unwrap();
    assert_eq!(offline.status.code(), Some(5), "unreachable endpoint");
    assert!(
        String::from_utf8_lossy(&offline.stderr).starts_with("dlm: Lambda endpoint unreachable")
    );
    assert_eq!(
        dlm(&["acquire", &r, "--duration", "soon"]).status.code(),
        Some(2),
        "usage error"
    );
}

/// `dlm run` waits in the queue (`dlm status` shows it) and gives its place up on Ctrl-C (exit 130)
/// and when its own `--wait` runs out (exit 3). The place is gone when dlm exits and stays gone: it
/// is checked for 1.5 s from then, well within the waiter TTL (5 s), so a waiter that never
/// cancelled (its place running out by itself) or whose in-flight wait joined again fails.
#[test]
fn dlm_run_leaves_the_queue_on_ctrl_c_and_on_its_wait_timeout() {
    let r = resource("run-queue");
    let out = dlm(&["acquire", &r, "--duration", "30s"]);
    let grant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let waiting = spawn_dlm(&["run", &r, "--", "true"]);
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let s = status_of(&r);
        if s["queue_length"] == 1 {
            break s;
        }
        assert!(Instant::now() < until, "dlm run never queued: {s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status["queue"][0]["owner"].is_string(), "{status}");
    // Well inside its in-function wait (2 s per invoke).
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(waiting.id() as i32, libc::SIGINT) };
    let out = finish(waiting, Duration::from_secs(10));
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let no_place_left = |what: &str| {
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            let s = status_of(&r);
            assert_eq!(s["queue_length"], 0, "{what}: a place is left: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    no_place_left("Ctrl-C");

    let timed_out = dlm(&["run", &r, "--wait", "500ms", "--", "true"]);
    assert_eq!(timed_out.status.code(), Some(3));
    no_place_left("--wait ran out");
    let owner = grant["owner"].as_str().unwrap();
    let fence = grant["fence"].to_string();
    assert!(dlm(&["release", &r, "--owner", owner, "--fence", &fence])
        .status
        .success());
}

#[test]
fn semaphores_admit_up_to_their_limit_and_status_shows_the_holders() {
    let r = resource("cli-sem");
    let mut owners = Vec::new();
    for _ in 0..2 {
        let out = dlm(&["acquire", &r, "--limit", "2", "--duration", "30s"]);
        assert!(out.status.success(), "{out:?}");
        let grant: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(grant["limit"], 2, "{grant}");
        owners.push((
            grant["owner"].as_str().unwrap().to_string(),
            grant["fence"].to_string(),
        ));
    }
    assert_eq!(
        dlm(&["acquire", &r, "--limit", "2"]).status.code(),
        Some(3),
        "full"
    );
    let mismatch = dlm(&["acquire", &r]);
    assert_eq!(mismatch.status.code(), Some(4), "{mismatch:?}");
    assert!(
        String::from_utf8_lossy(&mismatch.stderr).contains("LimitMismatch"),
        "{mismatch:?}"
    );
    assert_eq!(dlm(&["acquire", &r, "--limit", "0"]).status.code(), Some(2));
    let status: Value = serde_json::from_slice(&dlm(&["status", &r]).stdout).unwrap();
    assert_eq!(status["limit"], 2, "{status}");
    assert_eq!(status["holders"].as_array().unwrap().len(), 2, "{status}");
    let shown = status.to_string();
    for (owner, fence) in &owners {
        assert!(!shown.contains(owner.as_str()), "no token in {shown}");
        let out = dlm(&["release", &r, "--owner", owner, "--fence", fence]);
        assert!(out.status.success(), "{out:?}");
    }
    let ran = dlm(&["run", &r, "--limit", "2", "--", "sh", "-c", "exit 7"]);
    assert_eq!(ran.status.code(), Some(7));
}
