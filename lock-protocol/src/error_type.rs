//! Stable `errorType` names of lock-fn's function errors.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The sentence a `Throttled` or `StoreUnavailable` error message ends with when a write of that
/// invocation may have been applied unseen: retry with the same owner (and fence). Part of the
/// protocol (README.md): lock-fn writes it, callers look for it.
pub const MAYBE_APPLIED: &str =
    "an earlier attempt may have been applied: retry with the same owner (and fence)";

/// The `errorType` of a lock-fn function error. These strings are public API (Step Functions `Retry` and
/// `Catch` match on them) and never change.
///
/// ```
/// use lock_protocol::ErrorType;
/// assert_eq!(ErrorType::LockBusy.as_str(), "LockBusy");
/// assert_eq!(ErrorType::from_name("Throttled"), Some(ErrorType::Throttled));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// The request was malformed; nothing was written.
    InvalidRequest,
    /// The lock is held by someone else and the caller asked for `"on_busy":"error"`.
    LockBusy,
    /// DynamoDB kept throttling after the function's retries were exhausted.
    Throttled,
    /// DynamoDB failed or could not be reached.
    StoreUnavailable,
    /// The deployment is wrong: missing table, wrong key schema, missing permission, bad settings.
    Misconfigured,
    /// The acquire names a different `limit` than the resource has (a semaphore of another limit,
    /// a mutex asked as a semaphore, or the reverse) while anyone holds or waits; nothing was
    /// written. The message names both limits.
    LimitMismatch,
}

impl ErrorType {
    /// Every error type, in a stable order.
    pub const ALL: [ErrorType; 6] = [
        ErrorType::InvalidRequest,
        ErrorType::LockBusy,
        ErrorType::Throttled,
        ErrorType::StoreUnavailable,
        ErrorType::Misconfigured,
        ErrorType::LimitMismatch,
    ];

    /// The wire name, e.g. `"LockBusy"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "InvalidRequest",
            ErrorType::LockBusy => "LockBusy",
            ErrorType::Throttled => "Throttled",
            ErrorType::StoreUnavailable => "StoreUnavailable",
            ErrorType::Misconfigured => "Misconfigured",
            ErrorType::LimitMismatch => "LimitMismatch",
        }
    }

    /// The error type with this wire name, if it is one of ours.
    pub fn from_name(name: &str) -> Option<ErrorType> {
        ErrorType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of a Lambda function error: `{"errorType": .., "errorMessage": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionError {
    /// The error's type; one of [`ErrorType`]'s names when lock-fn raised it.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// Human-readable detail.
    #[serde(rename = "errorMessage", default)]
    pub error_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_the_documented_strings() {
        let names: Vec<_> = ErrorType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "InvalidRequest",
                "LockBusy",
                "Throttled",
                "StoreUnavailable",
                "Misconfigured",
                "LimitMismatch"
            ]
        );
        for t in ErrorType::ALL {
            assert_eq!(ErrorType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(ErrorType::from_name("Unhandled"), None);
    }

    #[test]
    fn function_error_uses_lambda_field_names() {
        let e: FunctionError =
            serde_json::from_str(r#"{"errorType":"LockBusy","errorMessage":"busy"}"#).unwrap();
        assert_eq!(e.error_type, "LockBusy");
        assert_eq!(e.error_message, "busy");
    }
}
