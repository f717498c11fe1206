//! Exit codes and one-line error reports.

use std::process::ExitCode;

use lock_client::ClientError;

/// dlm's exit codes (documented in `dlm --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Any other failure.
    Other = 1,
    /// The lock was busy (or stayed busy for the whole wait).
    Busy = 3,
    /// lock-fn answered with a function error.
    Function = 4,
    /// The endpoint could not be reached, or there is no such function.
    Unreachable = 5,
    /// The lock was lost or not held.
    Lost = 6,
    /// `dlm run`'s command was not found (nothing was locked).
    NotFound = 127,
}

impl Exit {
    /// As a process exit code.
    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }

    /// Interrupted by `signal` while waiting: 128 + the signal (130 for Ctrl-C), as a shell reports.
    pub fn interrupted(signal: libc::c_int) -> ExitCode {
        ExitCode::from((128 + signal).clamp(0, 255) as u8)
    }
}

/// Why a dlm command failed.
#[derive(Debug)]
pub enum Failure {
    /// A lock operation failed.
    Client(ClientError),
    /// `dlm run` could not wait for its command.
    Command {
        /// The command.
        name: String,
        /// What went wrong.
        error: std::io::Error,
    },
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

/// Prints `failure` as one line on stderr and returns its exit code.
pub fn fail(failure: &Failure) -> ExitCode {
    match failure {
        Failure::Client(e) => {
            eprintln!("dlm: {e}");
            match e {
                ClientError::Timeout { .. } => Exit::Busy,
                ClientError::Function { .. } => Exit::Function,
                ClientError::UnknownFunction(_) | ClientError::Unreachable(_) => Exit::Unreachable,
                ClientError::LockLost { .. } => Exit::Lost,
                _ => Exit::Other,
            }
        }
        Failure::Command { name, error } => {
            eprintln!("dlm: waiting for {name:?} failed: {error}");
            Exit::Other
        }
    }
    .code()
}
