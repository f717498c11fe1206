//! `dlm run`: a command under a lock.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lock_client::{ClientError, LockClient};

use crate::exit::Exit;
use crate::progress::Progress;

/// Waits for the lock, runs `command` with DLM_* variables while auto-renewing, releases, and exits
/// with the command's code (or 6 when the lock was lost meanwhile).
pub async fn run(
    client: &LockClient,
    resource: &str,
    wait: Option<Duration>,
    command: &[String],
) -> Result<ExitCode, ClientError> {
    let show = Progress::new(std::io::stderr().is_terminal());
    let guard = client
        .acquire_until(resource, wait.map(|w| Instant::now() + w), |p| {
            show.update(p)
        })
        .await;
    show.finish();
    let mut guard = match guard {
        Err(e @ ClientError::Timeout { .. }) => {
            eprintln!("dlm: {e}");
            return Ok(Exit::Busy.code());
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
            eprintln!("dlm: LOCK LOST: {resource:?} (fence {}) expired and/or was taken while {:?} runs; its work is no longer exclusive", guard.fence(), command[0]);
            child.wait().await
        }
    };
    let status =
        status.map_err(|e| ClientError::Config(format!("waiting for {:?}: {e}", command[0])))?;
    let held = guard.release().await?;
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
