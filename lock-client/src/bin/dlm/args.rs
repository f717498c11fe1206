//! Command-line arguments, and the checks dlm makes itself before any round trip.

use std::time::Duration;

use clap::{Parser, Subcommand};
use lock_client::protocol::MAX_RESOURCE_ID_BYTES;
use lock_client::{parse_duration, DEFAULT_FUNCTION, ENV_FUNCTION};

/// The default longest lease lock-fn grants (`LOCK_MAX_DURATION_MS`, 12 h).
pub const MAX_DURATION: Duration = Duration::from_secs(12 * 3600);

/// Take, release and inspect locks of the Lambda-native DynamoDB lock (lock-fn), and run commands
/// under them like flock(1).
#[derive(Debug, Parser)]
#[command(
    name = "dlm",
    version,
    after_help = "Durations: 500ms, 10s, 2m, 1h30m; a bare number is seconds.\n\
Exit codes: 0 ok, 1 other error (e.g. dlm could not wait for CMD), 2 usage, 3 busy or timed out, \
4 lock function error, 5 endpoint unreachable or unknown function, 6 lock lost or not held, \
127 CMD not found, 130 (129, 143) interrupted by SIGINT (SIGHUP, SIGTERM) while waiting (the place \
in the queue is given up); `dlm run` otherwise exits with CMD's code.\n\
Owner tokens: `release`, `renew` and `status` take the owner from DLM_OWNER (set by `dlm run` for \
CMD) or, with `--owner -`, from standard input; `--owner TOKEN` shows the token to every user of \
the machine (ps, /proc/*/cmdline).\n\
The endpoint, region and credentials come from the AWS environment (AWS_ENDPOINT_URL_LAMBDA for a local emulator)."
)]
pub struct Cli {
    /// Lock function name or ARN [env: DLM_FUNCTION] [default: dynamo-dlm-lock].
    #[arg(long, global = true, env = ENV_FUNCTION, default_value = DEFAULT_FUNCTION, hide_env = true, hide_default_value = true)]
    pub function: String,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a lock and print the grant (owner, fence, expiry) as JSON. The lock stays held after dlm
    /// exits; give it back with `dlm release RESOURCE --owner OWNER --fence FENCE`.
    Acquire {
        /// The resource to lock.
        #[arg(value_parser = resource_id)]
        resource: String,
        /// Lease length; default DLM_DURATION or 10s.
        #[arg(long, value_parser = lease, allow_hyphen_values = true)]
        duration: Option<Duration>,
        /// Wait up to this long for a busy lock (default: try once).
        #[arg(long, value_parser = wait, allow_hyphen_values = true)]
        wait: Option<Duration>,
        /// A semaphore: one of at most N holders (default 1, the mutex).
        #[arg(long, value_parser = limit, default_value_t = 1)]
        limit: u32,
    },
    /// Release a lock held by OWNER (the grant with FENCE, when given: recommended, it makes a
    /// repeated release exact).
    Release {
        /// The locked resource.
        #[arg(value_parser = resource_id)]
        resource: String,
        #[arg(long, env = ENV_OWNER, hide_env_values = true, help = OWNER_HELP)]
        owner: String,
        /// The fence printed by `dlm acquire`.
        #[arg(long)]
        fence: Option<u64>,
    },
    /// Extend the lease of a lock held by OWNER (the grant with FENCE, when given).
    Renew {
        /// The locked resource.
        #[arg(value_parser = resource_id)]
        resource: String,
        #[arg(long, env = ENV_OWNER, hide_env_values = true, help = OWNER_HELP)]
        owner: String,
        /// The fence printed by `dlm acquire`.
        #[arg(long)]
        fence: Option<u64>,
        /// New lease length from now; default DLM_DURATION or 10s.
        #[arg(long, value_parser = lease, allow_hyphen_values = true)]
        duration: Option<Duration>,
    },
    /// Show who holds a lock, as JSON (the holder's owner digest and label, never its token).
    Status {
        /// The resource to inspect.
        #[arg(value_parser = resource_id)]
        resource: String,
        /// Your owner token: the answer then says whether you hold it (`yours`). As for release:
        /// `-` reads it from standard input.
        #[arg(long, env = ENV_OWNER, hide_env_values = true)]
        owner: Option<String>,
    },
    /// Wait for the lock (in its FIFO queue), run CMD while renewing it, release it, and exit with
    /// CMD's exit code.
    /// CMD sees DLM_RESOURCE, DLM_OWNER and DLM_FENCE, and runs as a process group of its own. If
    /// the lock is lost while CMD runs (a renewal refused, or renewals failing until the lease is
    /// about to end), dlm says so on stderr, stops CMD's whole process group (SIGTERM, then SIGKILL
    /// before the lease ends), waits until it is gone and exits 6. SIGINT, SIGTERM and SIGHUP are
    /// passed to the group (if it goes on, SIGTERM follows a SIGINT after 2 s, and SIGKILL comes 2 s
    /// after that; a second signal kills it at once); processes CMD leaves in its group when it exits are stopped before the release.
    /// A process that left the group (setsid, a daemon) is not stopped. A release that fails or
    /// cannot tell whether it ended the lease, while the lease was held, is a warning: dlm still
    /// exits with CMD's code.
    Run {
        /// The resource to lock.
        #[arg(value_parser = resource_id)]
        resource: String,
        /// Lease length, renewed every third of it while CMD runs.
        #[arg(long, value_parser = lease, allow_hyphen_values = true)]
        duration: Option<Duration>,
        /// Give up (exit 3) if the lock is not ours within this long (default: wait forever).
        #[arg(long, value_parser = wait, allow_hyphen_values = true)]
        wait: Option<Duration>,
        /// A semaphore: run CMD as one of at most N holders (default 1, the mutex).
        #[arg(long, value_parser = limit, default_value_t = 1)]
        limit: u32,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// The environment variable `release`, `renew` and `status` take the owner token from when
/// `--owner` is not given (`dlm run` sets it for its command).
pub const ENV_OWNER: &str = "DLM_OWNER";

/// `--owner`'s help.
const OWNER_HELP: &str = "The owner printed by `dlm acquire`. Safer than a token here, which `ps` \
and /proc/*/cmdline show to every user of the machine: DLM_OWNER, or `-` to read it from standard \
input (one line)";

/// The owner token `--owner` (or DLM_OWNER) names: itself, or for `-` the first line of standard
/// input. An empty token is a usage error (exit 2).
pub fn owner(given: String) -> String {
    use clap::CommandFactory;
    let token = if given == "-" {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().read_line(&mut line) {
            Cli::command()
                .error(
                    clap::error::ErrorKind::Io,
                    format!("cannot read the owner from standard input: {e}"),
                )
                .exit();
        }
        line.trim().to_string()
    } else {
        given
    };
    if token.is_empty() {
        Cli::command()
            .error(
                clap::error::ErrorKind::InvalidValue,
                "the owner token is empty (give --owner TOKEN, DLM_OWNER, or --owner - and the token on standard input)",
            )
            .exit();
    }
    token
}

/// A semaphore limit lock-fn would accept: 1 (the mutex) up to `MAX_LIMIT`.
fn limit(s: &str) -> Result<u32, String> {
    let max = lock_client::protocol::MAX_LIMIT;
    match s.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("a limit is a whole number from 1 to {max}")),
    }
}

/// A resource id lock-fn would accept: not empty, at most 2048 bytes.
fn resource_id(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a resource id must not be empty".into());
    }
    if s.len() > MAX_RESOURCE_ID_BYTES {
        return Err(format!(
            "a resource id is at most {MAX_RESOURCE_ID_BYTES} bytes; this one is {}",
            s.len()
        ));
    }
    Ok(s.to_string())
}

/// A lease: a duration above zero, at most lock-fn's default maximum (12 h).
fn lease(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("a lease must be longer than zero".into());
    }
    if d > MAX_DURATION {
        return Err(format!(
            "{s:?} is longer than the longest lease lock-fn grants by default (12h)"
        ));
    }
    Ok(d)
}

/// A wait: any duration (0 = try once).
fn wait(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_dlm_can_judge_is_judged_before_any_round_trip() {
        assert!(resource_id("").is_err());
        assert!(resource_id(&"x".repeat(2049)).is_err());
        assert!(resource_id(&"x".repeat(2048)).is_ok());
        assert!(lease("0s").unwrap_err().contains("longer than zero"));
        assert!(lease("13h").unwrap_err().contains("12h"));
        assert!(lease("-5s").unwrap_err().contains("500ms"));
        assert_eq!(lease("90"), Ok(Duration::from_secs(90)));
    }
}
