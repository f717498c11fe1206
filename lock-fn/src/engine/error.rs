//! The function's typed errors and their stable `errorType` names.

use lambda_runtime::Diagnostic;
use lock_protocol::{Busy, ErrorType, InvalidRequest};

use crate::store::error::StoreError;

/// Why a lock operation did not produce a result.
#[derive(Clone, PartialEq, Eq)]
pub enum LockError {
    /// The request is malformed or out of range; nothing was written.
    InvalidRequest(String),
    /// The lock is held and the caller asked for `"on_busy":"error"`.
    Busy(Box<Busy>),
    /// DynamoDB failed after retries (or retrying could not help).
    Store(StoreError),
    /// The acquire's limit is not the resource's (1 = the mutex); nothing was written.
    LimitMismatch {
        /// The resource.
        resource_id: String,
        /// The limit the resource has.
        stored: u32,
        /// The limit the request named.
        asked: u32,
    },
}

impl LockError {
    /// The stable wire name of this error.
    pub fn error_type(&self) -> ErrorType {
        match self {
            LockError::InvalidRequest(_) => ErrorType::InvalidRequest,
            LockError::Busy(_) => ErrorType::LockBusy,
            LockError::LimitMismatch { .. } => ErrorType::LimitMismatch,
            LockError::Store(StoreError::Throttled { .. }) => ErrorType::Throttled,
            LockError::Store(StoreError::Unavailable { .. }) => ErrorType::StoreUnavailable,
            LockError::Store(StoreError::Misconfigured(_) | StoreError::BadItem(_)) => {
                ErrorType::Misconfigured
            }
        }
    }
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::InvalidRequest(m) => write!(f, "invalid request: {m}"),
            LockError::Busy(b) => {
                write!(f, "lock {:?} is held by another owner", b.resource_id)?;
                if let Some(end) = b.holder_expires_at_ms {
                    write!(f, " until {end} (epoch ms)")?;
                }
                write!(f, "; retry after {} ms", b.retry_after_ms)
            }
            LockError::Store(e) => e.fmt(f),
            LockError::LimitMismatch {
                resource_id,
                stored,
                asked,
            } => {
                let kind = |l: &u32| match l {
                    1 => "a mutex (limit 1)".to_string(),
                    l => format!("a semaphore of limit {l}"),
                };
                write!(
                    f,
                    "{resource_id:?} is {} but the request asked for {}; every caller of a \
                     resource must name the same limit (it may change only while nobody holds \
                     or waits)",
                    kind(stored),
                    kind(asked)
                )
            }
        }
    }
}

impl std::error::Error for LockError {}

/// `{:?}` (test failures, logs) shows the wire name and message, not Rust internals.
impl std::fmt::Debug for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {self}", self.error_type())
    }
}

impl From<InvalidRequest> for LockError {
    fn from(e: InvalidRequest) -> Self {
        LockError::InvalidRequest(e.to_string())
    }
}

impl From<StoreError> for LockError {
    fn from(e: StoreError) -> Self {
        LockError::Store(e)
    }
}

impl From<LockError> for Diagnostic {
    fn from(e: LockError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().as_str().to_string(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_the_wire_names_not_rust_type_names() {
        let cases = [
            (LockError::InvalidRequest("x".into()), "InvalidRequest"),
            (
                LockError::Busy(Box::new(Busy {
                    acquired: false,
                    resource_id: "r".into(),
                    retry_after_ms: 5,
                    holder_expires_at_ms: Some(9),
                    holder_fence: None,
                    attempts: 1,
                    ..Busy::default()
                })),
                "LockBusy",
            ),
            (
                LockError::Store(StoreError::Throttled {
                    message: "t".into(),
                    maybe_applied: true,
                }),
                "Throttled",
            ),
            (
                LockError::Store(StoreError::unavailable("u")),
                "StoreUnavailable",
            ),
            (
                LockError::Store(StoreError::Misconfigured("m".into())),
                "Misconfigured",
            ),
        ];
        for (err, name) in cases {
            let message = err.to_string();
            let d: Diagnostic = err.into();
            assert_eq!(d.error_type, name);
            assert_eq!(d.error_message, message);
        }
    }

    #[test]
    fn a_store_error_says_when_an_earlier_attempt_may_have_been_applied() {
        let plain = StoreError::Throttled {
            message: "slow down".into(),
            maybe_applied: false,
        };
        assert!(!plain
            .to_string()
            .contains(crate::store::error::MAYBE_APPLIED));
        let flagged = plain.or_maybe_applied(true);
        assert!(flagged.maybe_applied());
        assert!(LockError::Store(flagged)
            .to_string()
            .ends_with(crate::store::error::MAYBE_APPLIED));
        assert!(!StoreError::Misconfigured("m".into())
            .or_maybe_applied(true)
            .maybe_applied());
    }

    #[test]
    fn busy_message_says_until_when() {
        let e = LockError::Busy(Box::new(Busy {
            acquired: false,
            resource_id: "orders/42".into(),
            retry_after_ms: 12,
            holder_expires_at_ms: Some(1000),
            holder_fence: None,
            attempts: 1,
            ..Busy::default()
        }));
        assert_eq!(
            e.to_string(),
            "lock \"orders/42\" is held by another owner until 1000 (epoch ms); retry after 12 ms"
        );
    }
}
