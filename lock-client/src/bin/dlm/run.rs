//! `dlm run`: a command under a lock.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lock_client::{ClientError, LeaseWatch, LockClient};
use tokio::process::Child;

use crate::exit::{Exit, Failure};
use crate::progress::Progress;

/// Waits for the lock, runs `command` with DLM_* variables while auto-renewing, releases, and exits
/// with the command's code (or 6 when the lock was lost meanwhile: the command is then stopped).
pub async fn run(
    client: &LockClient,
    resource: &str,
    wait: Option<Duration>,
    command: &[String],
) -> Result<ExitCode, Failure> {
    // A command that cannot start must not cost a lock (or a fence).
    if !runnable(&command[0]) {
        eprintln!("dlm: cannot run {:?}: command not found", command[0]);
        return Ok(Exit::NotFound.code());
    }
    let show = Progress::new(std::io::stderr().is_terminal());
    // Ctrl-C while waiting gives the place in the queue up (and a grant made meanwhile).
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let guard = client
        .acquire_cancellable(
            resource,
            wait.map(|w| Instant::now() + w),
            |p| show.update(p),
            interrupted,
        )
        .await;
    show.finish();
    let mut guard = match guard {
        Err(e @ ClientError::Timeout { .. }) => {
            eprintln!("dlm: {e}");
            return Ok(Exit::Busy.code());
        }
        Err(e @ ClientError::Cancelled { .. }) => {
            eprintln!("dlm: {e} (interrupted); the place in the queue was given up");
            return Ok(Exit::Interrupted.code());
        }
        other => other?,
    };
    let mut lease = guard.auto_renew();
    let mut child = match tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .env("DLM_RESOURCE", resource)
        .env("DLM_OWNER", guard.owner())
        .env("DLM_FENCE", guard.fence().to_string())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("dlm: cannot run {:?}: {e}", command[0]);
            guard.release().await?;
            return Ok(ExitCode::from(127));
        }
    };
    let mut lost = false;
    let status = tokio::select! {
        status = child.wait() => status,
        _ = lease.lost() => {
            lost = true;
            eprintln!("dlm: LOCK LOST: {resource:?} (fence {}) expired and/or was taken while {:?} runs; stopping it: its work is no longer exclusive", guard.fence(), command[0]);
            stop(&mut child, &lease).await
        }
    };
    let status = status.map_err(|error| Failure::Command {
        name: command[0].clone(),
        error,
    });
    let held = match guard.release().await {
        Ok(held) => held,
        // The lock is gone already: that is what this run reports, whatever the release says.
        Err(e) if lost => {
            eprintln!("dlm: releasing the lost lock failed too ({e}); its lease runs out");
            false
        }
        Err(e) => return Err(e.into()),
    };
    let status = status?;
    if lost || !held {
        if !lost {
            eprintln!(
                "dlm: LOCK LOST: {resource:?} was no longer held when {:?} ended",
                command[0]
            );
        }
        return Ok(Exit::Lost.code());
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        (None, None) => Exit::Other.code(),
    })
}

/// Whether `program` names an executable: a path to one, or a name found on `PATH`.
fn runnable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| executable(&dir.join(program)))
    })
}

/// Stops `child` once its lock is lost: SIGTERM at once, SIGKILL if it is still running at the
/// lease's conservative local deadline (at most 250 ms later; 20 ms when that deadline has passed).
async fn stop(child: &mut Child, lease: &LeaseWatch) -> std::io::Result<std::process::ExitStatus> {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid; the child has not been reaped (we hold it).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    let now = Instant::now();
    let grace = lease.state().local_deadline.clamp(
        now + Duration::from_millis(20),
        now + Duration::from_millis(250),
    );
    match tokio::time::timeout_at(grace.into(), child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            child.start_kill()?;
            child.wait().await
        }
    }
}
