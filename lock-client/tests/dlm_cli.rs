//! The `dlm` binary end to end against the local stack.

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

fn dlm(args: &[&str]) -> std::process::Output {
    lambda_endpoint();
    Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(args)
        .output()
        .expect("run dlm")
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

#[test]
fn dlm_run_says_loudly_when_the_lock_is_lost() {
    let r = resource("run-lost");
    // The command force-releases its own lock through dlm, then another owner takes it.
    let script = format!(
        "dlm_bin={bin}; $dlm_bin release {r} --owner $DLM_OWNER >/dev/null && $dlm_bin acquire {r} --duration 30s >/dev/null && sleep 1",
        bin = env!("CARGO_BIN_EXE_dlm")
    );
    let out = dlm(&["run", &r, "--duration", "600ms", "--", "sh", "-c", &script]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("LOCK LOST"));
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
/// and when its own `--wait` runs out (exit 3).
#[test]
fn dlm_run_leaves_the_queue_on_ctrl_c_and_on_its_wait_timeout() {
    let r = resource("run-queue");
    let out = dlm(&["acquire", &r, "--duration", "30s"]);
    let grant: Value = serde_json::from_slice(&out.stdout).unwrap();
    let waiting = Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(["run", &r, "--", "true"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let queued = |n: u64| {
        for _ in 0..100 {
            let s: Value = serde_json::from_slice(&dlm(&["status", &r]).stdout).unwrap();
            if s["queue_length"] == n {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the queue never had {n} waiters");
    };
    let status = queued(1);
    assert!(status["queue"][0]["owner"].is_string(), "{status}");
    // SAFETY: kill(2) on the child we spawned.
    unsafe { libc::kill(waiting.id() as i32, libc::SIGINT) };
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    queued(0);

    let timed_out = dlm(&["run", &r, "--wait", "500ms", "--", "true"]);
    assert_eq!(timed_out.status.code(), Some(3));
    queued(0);
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
