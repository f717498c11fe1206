//! `dlm run`: a command under a lock.

use std::cell::Cell;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lock_client::raw::ReleaseOutcome;
use lock_client::{ClientError, LeaseWatch, LockClient};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::exit::{Exit, Failure};
use crate::group::Group;
use crate::progress::Progress;

/// How long the command's group may take to end after dlm passed it a signal before the next,
/// harder one follows (Ctrl-C, then SIGTERM, then SIGKILL; SIGTERM or SIGHUP, then SIGKILL), and
/// how long processes its leader left behind get between SIGTERM and SIGKILL (never past the
/// lease's local deadline).
const GRACE: Duration = Duration::from_secs(2);

/// The signals that end a `dlm run`: Ctrl-C, SIGTERM (`timeout(1)`, a service manager), SIGHUP
/// (the terminal went away).
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    /// Takes these signals over (dlm no longer dies of them: it passes them on).
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> libc::c_int {
        tokio::select! {
            Some(()) = self.int.recv() => libc::SIGINT,
            Some(()) = self.term.recv() => libc::SIGTERM,
            Some(()) = self.hup.recv() => libc::SIGHUP,
            else => std::future::pending().await,
        }
    }
}

/// Waits for the lock, runs `command` with DLM_* variables while auto-renewing, releases, and exits
/// with the command's code (or 6 when the lock was lost meanwhile: the command is then stopped).
///
/// The command runs as a process group of its own, and dlm stops the whole group - everything the
/// command started that stayed in it - when the lock is lost (SIGTERM, SIGKILL before the lease's
/// local deadline), when dlm is interrupted (the signal is passed to the group; SIGTERM and SIGKILL
/// follow if it does not end) and when the command exits leaving processes behind; it waits until
/// the group is gone before it releases the lock and exits.
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
    let mut signals = Signals::new().map_err(|error| Failure::Command {
        name: command[0].clone(),
        error,
    })?;
    let show = Progress::new(std::io::stderr().is_terminal());
    // An interrupt while waiting gives the place in the queue up (and a grant made meanwhile).
    let received = Cell::new(libc::SIGINT);
    let interrupted = async {
        received.set(signals.recv().await);
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
            return Ok(Exit::interrupted(received.get()));
        }
        other => other?,
    };
    let mut lease = guard.auto_renew();
    let mut child = tokio::process::Command::new(&command[0]);
    child
        .args(&command[1..])
        .env("DLM_RESOURCE", resource)
        .env("DLM_OWNER", guard.owner())
        .env("DLM_FENCE", guard.fence().to_string());
    let mut group = match Group::spawn(&mut child) {
        Ok(group) => group,
        Err(e) => {
            eprintln!("dlm: cannot run {:?}: {e}", command[0]);
            guard.release().await?;
            return Ok(ExitCode::from(127));
        }
    };
    let mut lost = false;
    let mut interrupted = false;
    // The signals still to send to the group, and when: escalation after an interrupt or a loss.
    let mut next: Vec<(Instant, libc::c_int)> = Vec::new();
    let status = loop {
        let due = next.first().map(|(at, _)| *at);
        tokio::select! {
            status = group.leader_exit() => break status,
            () = lease.lost(), if !lost => {
                lost = true;
                eprintln!("dlm: LOCK LOST: {resource:?} (fence {}) expired and/or was taken while {:?} runs; stopping it and every process it started in its group: its work is no longer exclusive", guard.fence(), command[0]);
                group.signal(libc::SIGTERM);
                merge(&mut next, vec![(kill_deadline(&lease, Duration::from_millis(250)), libc::SIGKILL)]);
            }
            sig = signals.recv() => {
                if interrupted {
                    // A second interrupt: no more waiting.
                    group.signal(libc::SIGKILL);
                    next.clear();
                } else {
                    interrupted = true;
                    group.signal(sig);
                    // After a Ctrl-C, SIGTERM and then SIGKILL; after SIGTERM or SIGHUP, SIGKILL.
                    let now = Instant::now();
                    let then = if sig == libc::SIGINT {
                        vec![(now + GRACE, libc::SIGTERM), (now + 2 * GRACE, libc::SIGKILL)]
                    } else {
                        vec![(now + GRACE, libc::SIGKILL)]
                    };
                    merge(&mut next, then);
                }
            }
            () = sleep_until(due), if due.is_some() => {
                let (_, sig) = next.remove(0);
                group.signal(sig);
            }
        }
    };
    let status = status.map_err(|error| Failure::Command {
        name: command[0].clone(),
        error,
    })?;
    // The command ended; whatever it left in its group must not go on working once the lock is
    // released.
    let kill_at = match next.iter().find(|(_, s)| *s == libc::SIGKILL) {
        Some((at, _)) => *at,
        None => kill_deadline(&lease, GRACE),
    };
    if !group.is_gone() {
        if !lost {
            eprintln!(
                "dlm: {:?} exited but left processes running in its process group; stopping them before the lock is released",
                command[0]
            );
        }
        if !group.stop(Some(libc::SIGTERM), kill_at).await {
            eprintln!("dlm: processes of {:?}'s group are still there after SIGKILL (stuck in the kernel?); releasing the lock anyway", command[0]);
        }
    }
    group.restore_terminal();
    // Held as the release is sent: never reported lost, local deadline not passed.
    let held = !lost && lease.is_held();
    let released = guard.release_outcome().await;
    let lost_at_release = match released {
        _ if lost => {
            if let Err(e) = released {
                eprintln!("dlm: releasing the lost lock failed too ({e}); its lease runs out");
            }
            return Ok(Exit::Lost.code());
        }
        // This grant was still the live one: nobody else held the lock meanwhile.
        Ok(ReleaseOutcome::Released { .. }) => false,
        Ok(ReleaseOutcome::Unknown) if held => {
            eprintln!("dlm: warning: the release of {resource:?} could not tell whether it ended the lease (an earlier attempt may have); the lease was held until then, so {:?}'s exit status stands", command[0]);
            false
        }
        Err(e) if held => {
            eprintln!("dlm: warning: releasing {resource:?} failed ({e}); its lease runs out by itself; the lease was held until then, so {:?}'s exit status stands", command[0]);
            false
        }
        Ok(_) | Err(_) => true,
    };
    if lost_at_release {
        eprintln!(
            "dlm: LOCK LOST: {resource:?} was no longer held when {:?} ended",
            command[0]
        );
        return Ok(Exit::Lost.code());
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        (None, None) => Exit::Other.code(),
    })
}

/// Adds `more` to the signals still to send, keeping them in time order (the earlier of two
/// SIGKILLs wins).
fn merge(next: &mut Vec<(Instant, libc::c_int)>, more: Vec<(Instant, libc::c_int)>) {
    for (at, sig) in more {
        match next.iter_mut().find(|(_, s)| *s == sig) {
            Some(existing) => existing.0 = existing.0.min(at),
            None => next.push((at, sig)),
        }
    }
    next.sort_by_key(|(at, _)| *at);
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// When to SIGKILL what is left of the command's group: at most `grace` from now, and no later than
/// the lease's conservative local deadline (at least 20 ms from now when that has passed).
fn kill_deadline(lease: &LeaseWatch, grace: Duration) -> Instant {
    let now = Instant::now();
    lease.state().local_deadline.clamp(
        now + Duration::from_millis(20),
        now + grace.max(Duration::from_millis(20)),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalations_stay_in_time_order_and_the_earlier_kill_wins() {
        let t = Instant::now();
        let s = Duration::from_secs(1);
        let mut next = vec![(t + s, libc::SIGKILL)];
        merge(
            &mut next,
            vec![(t + 2 * s, libc::SIGTERM), (t + 4 * s, libc::SIGKILL)],
        );
        assert_eq!(
            next,
            vec![(t + s, libc::SIGKILL), (t + 2 * s, libc::SIGTERM)]
        );
        merge(&mut next, vec![(t, libc::SIGKILL)]);
        assert_eq!(next[0], (t, libc::SIGKILL));
    }
}
