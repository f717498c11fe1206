//! How DynamoDB failures are classified: retried (throttling, transient) or surfaced at once.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::model::item::ItemFormatError;
use lock_protocol::error_chain::error_chain;

/// A store failure that reaches the caller (after retries, where retrying made sense).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// DynamoDB still throttled after every attempt.
    Throttled {
        /// What DynamoDB said.
        message: String,
        /// An earlier write of this invocation may have been applied unseen.
        maybe_applied: bool,
    },
    /// DynamoDB failed or could not be reached (or the invocation ran out of time).
    Unavailable {
        /// What went wrong.
        message: String,
        /// An earlier write of this invocation may have been applied unseen.
        maybe_applied: bool,
    },
    /// The table is missing, has another key schema, or we lack permission.
    Misconfigured(String),
    /// The stored item is not in the lock format.
    BadItem(ItemFormatError),
}

pub use lock_protocol::MAYBE_APPLIED;

impl StoreError {
    /// `Unavailable`, with nothing applied.
    pub fn unavailable(message: impl Into<String>) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            maybe_applied: false,
        }
    }

    /// `Throttled` for an operation whose conditional writes kept being refused because the item
    /// kept changing under it (contention, not DynamoDB's own throttling): the caller retries.
    pub fn kept_changing(message: impl Into<String>, maybe_applied: bool) -> Self {
        StoreError::Throttled {
            message: message.into(),
            maybe_applied,
        }
    }

    /// Whether an earlier write of the invocation may have been applied unseen.
    pub fn maybe_applied(&self) -> bool {
        matches!(
            self,
            StoreError::Throttled {
                maybe_applied: true,
                ..
            } | StoreError::Unavailable {
                maybe_applied: true,
                ..
            }
        )
    }

    /// The same error, also marked "may have been applied" when `earlier` says an earlier write
    /// of this invocation failed ambiguously.
    pub fn or_maybe_applied(mut self, earlier: bool) -> Self {
        if let StoreError::Throttled { maybe_applied, .. }
        | StoreError::Unavailable { maybe_applied, .. } = &mut self
        {
            *maybe_applied |= earlier;
        }
        self
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Throttled { message, .. } => {
                write!(f, "DynamoDB is throttling: {message}")?
            }
            StoreError::Unavailable { message, .. } => {
                write!(f, "DynamoDB is unavailable: {message}")?
            }
            StoreError::Misconfigured(m) => {
                return write!(f, "the lock table is misconfigured: {m}")
            }
            StoreError::BadItem(e) => return e.fmt(f),
        }
        if self.maybe_applied() {
            write!(f, "; {MAYBE_APPLIED}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {}

/// What one failed attempt means for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not applied; retry after a backoff.
    Throttled(String),
    /// May or may not have been applied (timeout, reset, 5xx); retry after a backoff.
    Transient(String),
    /// Retrying will not help.
    Final(StoreError),
}

/// Rejected before anything was applied. A conflict is DynamoDB refusing a write to an item that an
/// ongoing transaction reads or writes - a caller's fenced transaction checking the lock item
/// (`lock_client::fenced`), say - and writes nothing.
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];
const TRANSIENT_CODES: &[&str] = &[
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
];
const MISCONFIGURED_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ValidationException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "MissingAuthenticationTokenException",
    "InvalidSignatureException",
];

/// Codes among [`THROTTLING_CODES`] that are a caller's transaction meeting this write, not
/// DynamoDB short of capacity.
pub const CONFLICT_CODES: &[&str] = &[
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
];

impl Failure {
    /// Whether this is a write refused because a transaction held the item (see
    /// [`CONFLICT_CODES`]): retried as a throttle, counted apart from one.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Failure::Throttled(m) if CONFLICT_CODES.iter().any(|c| m.starts_with(&format!("{c}:"))))
    }
}

/// Classifies an SDK error of any DynamoDB operation. `table` names the table in messages.
pub fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, HttpResponse>,
    table: &str,
) -> Failure {
    match err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("");
            let message = format!(
                "{code}: {} (table {table}, HTTP {})",
                ctx.err().message().unwrap_or("no message"),
                ctx.raw().status().as_u16()
            );
            if THROTTLING_CODES.contains(&code) {
                Failure::Throttled(message)
            } else if TRANSIENT_CODES.contains(&code)
                || (code.is_empty() && ctx.raw().status().is_server_error())
            {
                Failure::Transient(message)
            } else if MISCONFIGURED_CODES.contains(&code) {
                Failure::Final(StoreError::Misconfigured(message))
            } else {
                Failure::Final(StoreError::unavailable(message))
            }
        }
        SdkError::TimeoutError(_) => Failure::Transient("request timed out".into()),
        SdkError::DispatchFailure(_) => {
            Failure::Transient(format!("could not send the request: {}", error_chain(err)))
        }
        SdkError::ResponseError(_) => {
            Failure::Transient(format!("unreadable response: {}", error_chain(err)))
        }
        other => Failure::Final(StoreError::unavailable(error_chain(other))),
    }
}

impl Failure {
    /// The failure as the caller sees it once no attempt (or no time) is left; `ambiguous`: an
    /// earlier attempt failed in a way that may have been applied.
    pub fn exhausted(self, why: &str, ambiguous: bool) -> StoreError {
        match self {
            Failure::Throttled(m) => StoreError::Throttled {
                message: format!("{m}; {why}"),
                maybe_applied: ambiguous,
            },
            Failure::Transient(m) => StoreError::Unavailable {
                message: format!("{m}; {why}"),
                maybe_applied: true,
            },
            Failure::Final(e) => e.or_maybe_applied(ambiguous),
        }
    }
}
