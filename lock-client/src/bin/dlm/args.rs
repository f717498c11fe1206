//! Command-line arguments.

use std::time::Duration;

use clap::{Parser, Subcommand};
use lock_client::{parse_duration, DEFAULT_FUNCTION, ENV_FUNCTION};

/// Locks for AWS, served by the lock-fn Lambda function.
#[derive(Debug, Parser)]
#[command(
    name = "dlm",
    version,
    about,
    after_help = "Exit codes: 0 ok, 1 other error, 2 usage, \
3 busy or timed out, 4 lock function error, 5 endpoint unreachable or unknown function, 6 lock lost/not held.\n\
The endpoint, region and credentials come from the AWS environment (AWS_ENDPOINT_URL_LAMBDA for a local emulator)."
)]
pub struct Cli {
    /// Lock function name or ARN.
    #[arg(long, global = true, env = ENV_FUNCTION, default_value = DEFAULT_FUNCTION)]
    pub function: String,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Take a lock and print the grant (owner, fence, expiry) as JSON. The lock stays held after dlm
    /// exits; give it back with `dlm release RESOURCE --owner OWNER`.
    Acquire {
        /// The resource to lock.
        resource: String,
        /// Lease length (`500ms`, `10s`, `2m`); default DLM_DURATION or 10s.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Wait up to this long for a busy lock (default: try once).
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
    },
    /// Release a lock held by OWNER (the grant with FENCE, when given: recommended, it makes a
    /// repeated release exact).
    Release {
        /// The locked resource.
        resource: String,
        /// The owner printed by `dlm acquire`.
        #[arg(long)]
        owner: String,
        /// The fence printed by `dlm acquire`.
        #[arg(long)]
        fence: Option<u64>,
    },
    /// Extend the lease of a lock held by OWNER (the grant with FENCE, when given).
    Renew {
        /// The locked resource.
        resource: String,
        /// The owner printed by `dlm acquire`.
        #[arg(long)]
        owner: String,
        /// The fence printed by `dlm acquire`.
        #[arg(long)]
        fence: Option<u64>,
        /// New lease length from now; default DLM_DURATION or 10s.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// Show who holds a lock, as JSON (the holder's owner digest and label, never its token).
    Status {
        /// The resource to inspect.
        resource: String,
        /// Your owner token: the answer then says whether you hold it (`yours`).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Wait for the lock, run CMD while renewing it, release it, and exit with CMD's exit code.
    /// CMD sees DLM_RESOURCE, DLM_OWNER and DLM_FENCE. If the lock is lost while CMD runs (a
    /// renewal refused, or renewals failing until the lease is about to end), dlm says so on stderr,
    /// stops CMD (SIGTERM, then SIGKILL before the lease ends) and exits 6.
    Run {
        /// The resource to lock.
        resource: String,
        /// Lease length, renewed every third of it while CMD runs.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Give up (exit 3) if the lock is not ours within this long (default: wait forever).
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}
