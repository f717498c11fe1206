//! [`FencedWriteError`]: why a fenced write did not land.

/// Who holds a lock now, as its lock item says (a refused fenced transaction names them). Never an
/// owner token or digest: the public label, the fence and the lease end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderNow {
    /// The holder's public label, when it gave one.
    pub label: Option<String>,
    /// Its grant's fence (absent on an item Python dynamo-dlm wrote).
    pub fence: Option<u64>,
    /// When its lease ends, epoch ms by lock-fn's clock.
    pub expires_at_ms: Option<u64>,
}

/// Why a fenced write did not land. Nothing was written in every case.
#[derive(Debug)]
#[non_exhaustive]
pub enum FencedWriteError {
    /// The grant no longer stands (released, expired and taken over, or ended): the lock item no
    /// longer names this owner with this fence. `holders` are who hold the lock now (none when it
    /// is free; a semaphore's entries, live or run out).
    LockLost {
        /// The resource.
        resource_id: String,
        /// The fence of the grant that was lost.
        fence: u64,
        /// Who holds it now (a mutex whose lease ran out unreleased still names its last holder:
        /// see `expires_at_ms`); `None` when the lock item could not be read.
        holders: Option<Vec<HolderNow>>,
    },
    /// A write of a newer grant already reached this item: this grant's write is stale.
    Stale {
        /// This grant's fence.
        fence: u64,
        /// The fence the item carries.
        item_fence: u64,
    },
    /// The caller's own condition refused the write (`index`: its place among the caller's
    /// actions in a transaction).
    ConditionFailed {
        /// The refused action's index in the caller's list (a transaction only).
        index: Option<usize>,
    },
    /// Refused, and the store returned no item to tell whether by the fence or by the caller's own
    /// condition (DynamoDB returns it; a local emulator may not).
    Refused,
    /// Another transaction or write on the same items got in the way, every try (retryable).
    Conflict,
    /// The request cannot be sent as asked (too many actions, a name the fence reserves, the lock
    /// item among the caller's own actions).
    Invalid(String),
    /// DynamoDB failed the request (throttling, permissions, network, ...).
    Dynamo {
        /// What DynamoDB or the SDK said.
        message: String,
        /// The request may have been applied (a timeout, a lost answer, a 5xx): retry a
        /// transaction with [`super::FencedTransaction::write_with_token`] and the same token (within
        /// 10 minutes), never with a new one.
        maybe_applied: bool,
    },
}

impl std::fmt::Display for FencedWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FencedWriteError::LockLost {
                resource_id,
                fence,
                holders,
            } => {
                write!(
                    f,
                    "lock {resource_id:?} (fence {fence}) is no longer held by this grant"
                )?;
                let now = crate::protocol::now_ms();
                match holders.as_deref() {
                    None => write!(
                        f,
                        "; who holds it now is unknown (the lock item could not be read)"
                    ),
                    Some([]) => write!(f, "; nobody holds it now"),
                    Some(hs) => {
                        let named: Vec<String> = hs
                            .iter()
                            .map(|h| {
                                let label = h.label.as_deref().unwrap_or("(no label)");
                                let fence = match h.fence {
                                    Some(fence) => format!("fence {fence}"),
                                    None => "dynamo-dlm".to_string(),
                                };
                                let ended = h.expires_at_ms.is_some_and(|end| end <= now);
                                let ended = if ended { ", lease ended" } else { "" };
                                format!("{label} ({fence}{ended})")
                            })
                            .collect();
                        write!(f, "; held now by {}", named.join(", "))
                    }
                }
            }
            FencedWriteError::Stale { fence, item_fence } => write!(
                f,
                "stale write: fence {fence}, but the item already carries fence {item_fence}"
            ),
            FencedWriteError::ConditionFailed { index: Some(i) } => {
                write!(f, "the condition of action {i} refused the write")
            }
            FencedWriteError::ConditionFailed { index: None } => {
                write!(f, "the write's own condition refused it")
            }
            FencedWriteError::Refused => {
                write!(f, "refused, by the fence or by the write's own condition")
            }
            FencedWriteError::Conflict => {
                write!(
                    f,
                    "a concurrent transaction or write on the same items got in the way"
                )
            }
            FencedWriteError::Invalid(why) => write!(f, "invalid fenced write: {why}"),
            FencedWriteError::Dynamo {
                message,
                maybe_applied,
            } => {
                write!(f, "DynamoDB: {message}")?;
                if *maybe_applied {
                    write!(f, " (the write may have been applied)")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for FencedWriteError {}

/// The error of a request that failed in the SDK or at DynamoDB, and whether it may have landed:
/// the request left and no answer came back (timeout, broken connection), or a 5xx answered it.
pub(crate) fn dynamo_error<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> FencedWriteError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    let maybe_applied = match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(e) => matches!(
            e.err().code(),
            Some("InternalServerError" | "TransactionInProgressException") | None
        ),
        _ => true,
    };
    FencedWriteError::Dynamo {
        message: aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string(),
        maybe_applied,
    }
}
