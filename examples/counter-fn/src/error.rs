//! [`CounterError`]: why an invocation did not increment, as a typed Lambda function error.

use lambda_runtime::Diagnostic;
use lock_client::fenced::FencedWriteError;
use lock_client::ClientError;

/// Why the counter was not incremented. The counter's value was not changed in any case but
/// `Lock`/`Store`, where the message says what may have been; once the lock was taken, the claim
/// may have recorded the grant's fence on the counter item (creating it if it was absent).
#[derive(Debug)]
pub enum CounterError {
    /// Less than the minimum work time was left before the deadline: the lock was not taken.
    InsufficientTime {
        /// Time left to start writes, ms.
        left_ms: u64,
    },
    /// The lock stayed busy for as long as the invocation could wait.
    LockBusy,
    /// The lease was lost before the write (a newer grant wrote the counter first): the write was
    /// refused.
    LockLost(String),
    /// The write could no longer start before the deadline.
    OutOfTime,
    /// The work failed (as asked), after the lock was taken; it was released.
    WorkFailed,
    /// The work panicked; the lock was released.
    Panicked,
    /// The lock service failed.
    Lock(ClientError),
    /// DynamoDB failed.
    Store(String),
}

impl CounterError {
    /// The `errorType` Lambda reports (and Step Functions can catch).
    pub fn error_type(&self) -> &'static str {
        match self {
            CounterError::InsufficientTime { .. } => "InsufficientTime",
            CounterError::LockBusy => "LockBusy",
            CounterError::LockLost(_) => "LockLost",
            CounterError::OutOfTime => "OutOfTime",
            CounterError::WorkFailed => "WorkFailed",
            CounterError::Panicked => "Panicked",
            CounterError::Lock(_) => "LockServiceError",
            CounterError::Store(_) => "StoreError",
        }
    }
}

impl std::fmt::Display for CounterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CounterError::InsufficientTime { left_ms } => {
                write!(f, "only {left_ms} ms left to work: not taking the lock")
            }
            CounterError::LockBusy => {
                write!(f, "the lock stayed busy for as long as we could wait")
            }
            CounterError::LockLost(why) => write!(f, "lost the lock before the write: {why}"),
            CounterError::OutOfTime => write!(f, "too close to the deadline to start the write"),
            CounterError::WorkFailed => write!(f, "the work failed; the lock was released"),
            CounterError::Panicked => write!(f, "the work panicked; the lock was released"),
            CounterError::Lock(e) => write!(f, "lock service: {e}"),
            CounterError::Store(e) => write!(f, "DynamoDB: {e}"),
        }
    }
}

impl std::error::Error for CounterError {}

impl From<FencedWriteError> for CounterError {
    fn from(e: FencedWriteError) -> Self {
        match e {
            FencedWriteError::Stale { .. }
            | FencedWriteError::Refused
            | FencedWriteError::LockLost { .. } => CounterError::LockLost(e.to_string()),
            other => CounterError::Store(other.to_string()),
        }
    }
}

impl From<CounterError> for Diagnostic {
    fn from(e: CounterError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}
