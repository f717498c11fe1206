//! The client's typed errors.

use crate::protocol::{ErrorType, MAYBE_APPLIED};

/// Why a lock call failed.
///
/// ```no_run
/// # async fn demo(client: lock_client::LockClient) {
/// use lock_client::protocol::ErrorType;
/// match client.try_acquire("orders/42").await {
///     Err(e) if e.function_error_type() == Some(ErrorType::Misconfigured) => eprintln!("deployment problem: {e}"),
///     Err(lock_client::ClientError::Unreachable(why)) => eprintln!("offline: {why}"),
///     other => drop(other),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// lock-fn answered with a function error; `error_type` is one of [`ErrorType`]'s names
    /// (or the runtime's, e.g. `Runtime.ExitError`, when the function itself crashed).
    Function {
        /// The `errorType` string.
        error_type: String,
        /// The `errorMessage`.
        message: String,
    },
    /// `acquire_timeout` gave up: the lock stayed busy for the whole wait.
    Timeout {
        /// The resource that stayed busy.
        resource_id: String,
        /// When the holder's lease ends (epoch ms), when known.
        holder_expires_at_ms: Option<u64>,
    },
    /// The wait was cancelled (see [`crate::LockClient::acquire_cancellable`]); the place in the
    /// queue was given up.
    Cancelled {
        /// The resource waited for.
        resource_id: String,
    },
    /// The lock was lost while held (expired and/or taken): work done under it was not exclusive.
    LockLost {
        /// The resource.
        resource_id: String,
        /// The fence of the lost grant.
        fence: u64,
    },
    /// No function by that name (or ARN) exists at the endpoint.
    UnknownFunction(String),
    /// The Lambda endpoint could not be reached (connection refused, DNS, timeout).
    Unreachable(String),
    /// The Lambda service throttled the invocation (`TooManyRequestsException`: the function's
    /// concurrency is exhausted): waiting helps.
    Throttled(String),
    /// The Lambda service refused or failed the invocation (permissions, 5xx, ...).
    Invoke(String),
    /// The invocation was never sent, so nothing reached the function: no credentials could be
    /// found (in time), or the request could not be signed or built.
    NotSent(String),
    /// The function's answer did not match the protocol.
    BadResponse(String),
    /// The client was configured wrongly (e.g. an unparsable `DLM_DURATION`).
    Config(String),
}

impl ClientError {
    /// The lock-fn error type, when this is a function error lock-fn raised.
    pub fn function_error_type(&self) -> Option<ErrorType> {
        match self {
            ClientError::Function { error_type, .. } => ErrorType::from_name(error_type),
            _ => None,
        }
    }

    /// Whether the failed call may have changed the lock anyway: lock-fn says a write of it may
    /// have been applied unseen (`Throttled` / `StoreUnavailable` ending "... may have been
    /// applied ..."), the function crashed or answered something unreadable after it ran, or the
    /// invoke (or a resend of it) may have reached the function without its answer coming back
    /// (`Unreachable`, a Lambda 5xx, throttling after a resend). An acquire that failed so may have
    /// granted its owner the lock or a place in the queue; a release may have ended the lease.
    ///
    /// ```
    /// use lock_client::ClientError;
    /// let e = ClientError::Function {
    ///     error_type: "StoreUnavailable".into(),
    ///     message: "DynamoDB is unavailable: timeout; an earlier attempt may have been applied: retry with the same owner (and fence)".into(),
    /// };
    /// assert!(e.may_have_been_applied());
    /// let e = ClientError::Function { error_type: "InvalidRequest".into(), message: "owner: too long".into() };
    /// assert!(!e.may_have_been_applied());
    /// ```
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            ClientError::Function {
                error_type,
                message,
            } => match ErrorType::from_name(error_type) {
                Some(ErrorType::Throttled | ErrorType::StoreUnavailable) => {
                    message.contains(MAYBE_APPLIED)
                }
                // lock-fn decided before writing, or wrote nothing.
                Some(
                    ErrorType::InvalidRequest
                    | ErrorType::LockBusy
                    | ErrorType::Misconfigured
                    | ErrorType::LimitMismatch,
                ) => false,
                // The runtime's own errors (a crash, a timeout, a panic): the function ran.
                None => true,
            },
            ClientError::Unreachable(_)
            | ClientError::Throttled(_)
            | ClientError::Invoke(_)
            | ClientError::BadResponse(_) => true,
            ClientError::Timeout { .. }
            | ClientError::Cancelled { .. }
            | ClientError::LockLost { .. }
            | ClientError::UnknownFunction(_)
            | ClientError::NotSent(_)
            | ClientError::Config(_) => false,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Function {
                error_type,
                message,
            } => write!(f, "lock function error {error_type}: {message}"),
            ClientError::Timeout {
                resource_id,
                holder_expires_at_ms,
            } => {
                write!(f, "timed out waiting for lock {resource_id:?}")?;
                if let Some(end) = holder_expires_at_ms {
                    write!(f, " (holder's lease ends at {end} epoch ms)")?;
                }
                Ok(())
            }
            ClientError::Cancelled { resource_id } => {
                write!(f, "stopped waiting for lock {resource_id:?}")
            }
            ClientError::LockLost { resource_id, fence } => {
                write!(f, "lock {resource_id:?} (fence {fence}) was lost while held: it expired and/or another owner took it")
            }
            ClientError::UnknownFunction(m) => write!(f, "unknown lock function: {m}"),
            ClientError::Unreachable(m) => write!(f, "Lambda endpoint unreachable: {m}"),
            ClientError::Throttled(m) => write!(f, "invocation throttled by Lambda: {m}"),
            ClientError::Invoke(m) => write!(f, "invocation failed: {m}"),
            ClientError::NotSent(m) => write!(f, "invocation not sent: {m}"),
            ClientError::BadResponse(m) => {
                write!(f, "unexpected answer from the lock function: {m}")
            }
            ClientError::Config(m) => write!(f, "client configuration: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(t: &str, m: &str) -> ClientError {
        ClientError::Function {
            error_type: t.into(),
            message: m.into(),
        }
    }

    #[test]
    fn what_may_have_been_applied() {
        let maybe = "DynamoDB is throttling: x; an earlier attempt may have been applied: retry with the same owner (and fence)";
        assert!(function("Throttled", maybe).may_have_been_applied());
        assert!(function("StoreUnavailable", maybe).may_have_been_applied());
        assert!(!function("Throttled", "DynamoDB is throttling: x").may_have_been_applied());
        assert!(!function("StoreUnavailable", "DynamoDB is unavailable").may_have_been_applied());
        for t in [
            "InvalidRequest",
            "LockBusy",
            "Misconfigured",
            "LimitMismatch",
        ] {
            assert!(!function(t, maybe).may_have_been_applied(), "{t}");
        }
        assert!(function("Runtime.ExitError", "").may_have_been_applied());
        assert!(ClientError::Unreachable("timeout".into()).may_have_been_applied());
        assert!(ClientError::Invoke("HTTP 502".into()).may_have_been_applied());
        assert!(ClientError::Throttled("429".into()).may_have_been_applied());
        assert!(ClientError::BadResponse("?".into()).may_have_been_applied());
        assert!(!ClientError::UnknownFunction("f".into()).may_have_been_applied());
        assert!(!ClientError::Config("x".into()).may_have_been_applied());
        assert!(!ClientError::NotSent("no credentials".into()).may_have_been_applied());
    }
}
