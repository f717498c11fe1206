//! Single-invoke lock operations, for callers that manage owners and retries themselves (the `dlm`
//! CLI, benchmarks, tests). [`crate::LockClient`] and [`crate::LockGuard`] are built on these.

use std::time::{Duration, Instant};

use crate::error::ClientError;
pub use crate::invoke::{Counted, Invoker};
use crate::protocol::{
    AcquireRequest, AcquireResponse, CancelRequest, CancelResponse, DescribeRequest,
    DescribeResponse, OnBusy, ReleaseRequest, ReleaseResponse, RenewRequest, RenewResponse,
    Request,
};

/// What a release achieved, as far as the caller can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// This release ended the lease, at `at_ms` (epoch ms, lock-fn's clock).
    Released {
        /// When the lease ended.
        at_ms: u64,
    },
    /// The lock was not held by this owner (its lease had ended and/or another owner took it).
    NotHeld,
    /// An earlier attempt of this release may have ended the lease unseen, or it had ended before:
    /// the lock is free of this grant either way, but whether the work done under it ran past its
    /// lease cannot be told.
    Unknown,
}

impl ReleaseOutcome {
    /// Whether this release ended the lease.
    pub fn released(self) -> bool {
        matches!(self, ReleaseOutcome::Released { .. })
    }

    /// When this release ended the lease.
    pub fn released_at_ms(self) -> Option<u64> {
        match self {
            ReleaseOutcome::Released { at_ms } => Some(at_ms),
            _ => None,
        }
    }

    /// The outcome as the wire's release answer (what `dlm release` prints).
    pub fn to_response(self, resource_id: &str) -> ReleaseResponse {
        ReleaseResponse {
            released: self.released(),
            resource_id: resource_id.to_string(),
            released_at_ms: self.released_at_ms(),
            uncertain: self == ReleaseOutcome::Unknown,
        }
    }
}

/// How an acquire asks for the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A single try (refused while anyone is queued). `fresh_owner`: no earlier invoke with this
    /// owner went unanswered or failed (see [`AcquireRequest::fresh_owner`]); `false` when unsure.
    Try {
        /// The owner cannot hold the lock unseen.
        fresh_owner: bool,
    },
    /// A place in the lock's FIFO queue, kept while this owner tries again in time.
    Queue,
}

/// One invoke per operation against one lock function; cheap to clone.
#[derive(Debug, Clone)]
pub struct RawClient {
    invoker: Invoker,
    holder: Option<String>,
    limit: Option<u32>,
}

impl RawClient {
    /// Operations through `invoker`, labelling grants with `holder`.
    pub fn new(invoker: Invoker, holder: Option<String>) -> RawClient {
        RawClient {
            invoker,
            holder,
            limit: None,
        }
    }

    /// The same operations against another deployment of the lock function.
    pub fn with_function(&self, function: impl Into<String>) -> RawClient {
        RawClient {
            invoker: self.invoker.with_function(function),
            ..self.clone()
        }
    }

    /// The same operations, labelling grants with `holder`.
    pub fn with_holder(&self, holder: String) -> RawClient {
        RawClient {
            holder: Some(holder),
            ..self.clone()
        }
    }

    /// The same operations on semaphores of `limit` holders (1: the mutex).
    pub fn with_limit(&self, limit: u32) -> RawClient {
        RawClient {
            limit: (limit > 1).then_some(limit),
            ..self.clone()
        }
    }

    /// The semaphore limit acquires name (`None`: the mutex).
    pub fn limit(&self) -> Option<u32> {
        self.limit
    }

    /// The invoker underneath (for payloads the protocol types cannot express).
    pub fn invoker(&self) -> &Invoker {
        &self.invoker
    }

    /// One `acquire` invoke for `owner`, a lease of `duration`, waiting in-region up to `wait`;
    /// also returns when it was sent (the start of the caller's conservative local deadline).
    ///
    /// `mode`: a single try, or a place in the lock's queue (see [`Mode`]).
    pub async fn acquire(
        &self,
        resource: &str,
        owner: &str,
        duration: Duration,
        wait: Duration,
        mode: Mode,
    ) -> Result<(Counted<AcquireResponse>, Instant), ClientError> {
        let sent = Instant::now();
        let request = Request::Acquire(AcquireRequest {
            resource_id: resource.to_string(),
            duration_ms: Some(millis(duration)),
            owner: Some(owner.to_string()),
            wait_ms: millis(wait),
            on_busy: OnBusy::Result,
            fresh_owner: mode == Mode::Try { fresh_owner: true },
            holder: self.holder.clone(),
            queue: Some(mode == Mode::Queue),
            task_token: None,
            limit: self.limit,
        });
        Ok((self.invoker.call_resent(&request).await?, sent))
    }

    /// One `cancel`: `owner` stops waiting (leaves the queue; a grant made to it meanwhile is
    /// released and handed on).
    pub async fn cancel(&self, resource: &str, owner: &str) -> Result<CancelResponse, ClientError> {
        self.invoker
            .call(&Request::Cancel(CancelRequest {
                resource_id: resource.into(),
                owner: owner.into(),
            }))
            .await
    }

    /// One `release` of `owner`'s grant (the one with `fence`, when given: recommended, it makes a
    /// repeated release exact). A resent release answered `false` may be answering for an earlier
    /// attempt of itself that ran unseen (its invoke timed out on a dying process, say): that is
    /// [`ReleaseOutcome::Unknown`], as is lock-fn's own `uncertain`.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient, owner: String, fence: u64) -> Result<(), lock_client::ClientError> {
    /// let outcome = client.raw().release("orders/42", &owner, Some(fence)).await?;
    /// if !outcome.released() { eprintln!("it was no longer ours: {outcome:?}"); }
    /// # Ok(()) }
    /// ```
    pub async fn release(
        &self,
        resource: &str,
        owner: &str,
        fence: Option<u64>,
    ) -> Result<ReleaseOutcome, ClientError> {
        let request = Request::Release(ReleaseRequest {
            resource_id: resource.into(),
            owner: owner.into(),
            fence,
        });
        // `Throttled` from lock-fn applied nothing unless it says so; with the fence a repeat is
        // exact, so a fenced release tries again a few times (a contended semaphore's item can
        // keep changing under a release). A failed try that may have been applied may have ended
        // the lease unseen: a `false` to a later try then cannot tell.
        let mut tries = 0;
        let mut maybe_applied = false;
        let counted = loop {
            match self.invoker.call_resent::<ReleaseResponse>(&request).await {
                Err(e)
                    if fence.is_some()
                        && tries < 5
                        && e.function_error_type()
                            == Some(crate::protocol::ErrorType::Throttled) =>
                {
                    maybe_applied |= e.may_have_been_applied();
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(5 << tries)).await;
                }
                other => break other?,
            }
        };
        Ok(release_outcome(
            &counted.answer,
            counted.resent() || maybe_applied,
        ))
    }

    /// One `renew` of `owner`'s grant (the one with `fence`, when given) for `duration` from now.
    pub async fn renew(
        &self,
        resource: &str,
        owner: &str,
        fence: Option<u64>,
        duration: Duration,
    ) -> Result<RenewResponse, ClientError> {
        let request = Request::Renew(RenewRequest {
            resource_id: resource.into(),
            owner: owner.into(),
            duration_ms: Some(millis(duration)),
            fence,
        });
        self.invoker.call(&request).await
    }

    /// One `describe`; with `owner`, the answer's `yours` says whether that owner holds the lock
    /// (the token is sent, never shown back).
    pub async fn describe(
        &self,
        resource: &str,
        owner: Option<&str>,
    ) -> Result<DescribeResponse, ClientError> {
        self.invoker
            .call(&Request::Describe(DescribeRequest {
                resource_id: resource.into(),
                owner: owner.map(Into::into),
            }))
            .await
    }
}

/// What a release answer means; `maybe_applied`: an earlier attempt of this release (a resent
/// invoke, a failed try that may have been applied) may have ended the lease unseen, so that a
/// `false` may be answering for it.
fn release_outcome(answer: &ReleaseResponse, maybe_applied: bool) -> ReleaseOutcome {
    match (answer.released, answer.released_at_ms) {
        (true, Some(at_ms)) => ReleaseOutcome::Released { at_ms },
        (true, None) => ReleaseOutcome::Released { at_ms: 0 },
        (false, _) if answer.uncertain || maybe_applied => ReleaseOutcome::Unknown,
        (false, _) => ReleaseOutcome::NotHeld,
    }
}

/// Whole milliseconds of `d` (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_the_wire_answer() {
        let r = ReleaseOutcome::Released { at_ms: 5 }.to_response("r");
        assert_eq!(
            (r.released, r.released_at_ms, r.uncertain),
            (true, Some(5), false)
        );
        let u = ReleaseOutcome::Unknown.to_response("r");
        assert_eq!((u.released, u.uncertain), (false, true));
        assert!(!ReleaseOutcome::NotHeld.released());
    }

    #[test]
    fn a_false_after_an_attempt_that_may_have_applied_is_unknown() {
        let answer = |released, uncertain| ReleaseResponse {
            released,
            resource_id: "r".into(),
            released_at_ms: released.then_some(9),
            uncertain,
        };
        assert_eq!(
            release_outcome(&answer(false, false), false),
            ReleaseOutcome::NotHeld
        );
        assert_eq!(
            release_outcome(&answer(false, false), true),
            ReleaseOutcome::Unknown
        );
        assert_eq!(
            release_outcome(&answer(false, true), false),
            ReleaseOutcome::Unknown
        );
        assert_eq!(
            release_outcome(&answer(true, false), true),
            ReleaseOutcome::Released { at_ms: 9 }
        );
    }
}
