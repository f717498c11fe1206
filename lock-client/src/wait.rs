//! Waiting for a lock: the blocking acquire loop behind [`LockClient::acquire`],
//! [`LockClient::acquire_timeout`], [`LockClient::acquire_until`] and
//! [`LockClient::acquire_cancellable`].
//!
//! By default a waiting acquire takes a place in the lock's FIFO queue and keeps it (one owner for
//! the whole wait): each invoke either is the grant, or says the place (`position`) and when to
//! come back; near the front, the invoke waits in-region (up to the client's wait chunk) and is
//! answered the moment the lock is handed over. Giving up (timeout, cancellation) leaves the queue.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::client::LockClient;
use crate::error::ClientError;
use crate::guard::LockGuard;
use crate::protocol::{new_owner_token, AcquireResponse, ErrorType};
use crate::raw::Mode;

/// What a waiting acquire knows after each refusal (for progress displays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitProgress {
    /// The resource waited for.
    pub resource_id: String,
    /// Time spent waiting so far.
    pub elapsed: Duration,
    /// When the holder's lease ends (epoch ms), when the function could tell.
    pub holder_expires_at_ms: Option<u64>,
    /// Refusals so far.
    pub refusals: u32,
    /// DynamoDB requests the function spent on the latest refusal.
    pub last_attempts: u32,
    /// The place in the queue (1 = next), when queued.
    pub position: Option<u32>,
}

impl LockClient {
    /// Takes the lock, waiting until `deadline` (or forever when `None`); `progress` is called after
    /// every refusal. At the deadline the wait leaves the queue and fails with
    /// [`ClientError::Timeout`].
    pub async fn acquire_until(
        &self,
        resource: &str,
        deadline: Option<Instant>,
        progress: impl FnMut(&WaitProgress),
    ) -> Result<LockGuard, ClientError> {
        self.acquire_cancellable(resource, deadline, progress, std::future::pending())
            .await
    }

    /// [`LockClient::acquire_until`] that also gives up when `cancel` completes (Ctrl-C, say): it
    /// then leaves the queue (and releases a grant made meanwhile) and fails with
    /// [`ClientError::Cancelled`].
    pub async fn acquire_cancellable(
        &self,
        resource: &str,
        deadline: Option<Instant>,
        progress: impl FnMut(&WaitProgress),
        cancel: impl Future<Output = ()>,
    ) -> Result<LockGuard, ClientError> {
        // One owner for the whole wait: every invoke, retried or not, is the same request for the
        // same owner, so a lost answer is recovered by the next invoke instead of leaking a grant,
        // and a queued waiter keeps its place.
        let owner = new_owner_token();
        let waiting = self.wait_as(resource, &owner, deadline, progress);
        tokio::pin!(waiting);
        let outcome = tokio::select! {
            outcome = &mut waiting => outcome,
            () = cancel => Err(ClientError::Cancelled { resource_id: resource.to_string() }),
        };
        if matches!(
            outcome,
            Err(ClientError::Cancelled { .. } | ClientError::Timeout { .. })
        ) && self.queueing
        {
            // Give the place up (and a grant made while the answer was on its way): best effort;
            // a waiter that stops trying loses its place within LOCK_WAITER_TTL_MS anyway.
            if let Err(e) = self.raw.cancel(resource, &owner).await {
                tracing::warn!(resource = %resource, error = %e, "could not leave the queue; the place runs out by itself");
            }
        }
        outcome
    }

    async fn wait_as(
        &self,
        resource: &str,
        owner: &str,
        deadline: Option<Instant>,
        mut progress: impl FnMut(&WaitProgress),
    ) -> Result<LockGuard, ClientError> {
        // Until an invoke goes unanswered (or fails), this owner cannot hold the lock unseen.
        let mut fresh = true;
        let started = Instant::now();
        let mut refusals = 0u32;
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = left.map_or(self.wait_chunk, |l| l.min(self.wait_chunk));
            let mode = if self.queueing {
                Mode::Queue
            } else {
                Mode::Try { fresh_owner: fresh }
            };
            let (hint_ms, holder_end, attempts, position) = match self
                .raw
                .acquire(resource, owner, self.duration, wait, mode)
                .await
            {
                Ok((answer, sent)) => {
                    // A resent invoke means an earlier one went unanswered: it may yet grant.
                    fresh &= !answer.resent();
                    match answer.answer {
                        AcquireResponse::Granted(g) => return Ok(self.guard(g, sent)),
                        AcquireResponse::Busy(b) => (
                            b.retry_after_ms,
                            b.holder_expires_at_ms,
                            b.attempts,
                            b.position,
                        ),
                    }
                }
                Err(e) if waiting_cures(&e) => {
                    // The failed invoke may have granted this owner unseen.
                    fresh = false;
                    (100, None, 0, None)
                }
                Err(e) => return Err(e),
            };
            refusals += 1;
            progress(&WaitProgress {
                resource_id: resource.to_string(),
                elapsed: started.elapsed(),
                holder_expires_at_ms: holder_end,
                refusals,
                last_attempts: attempts,
                position,
            });
            let mut delay = if self.queueing {
                jittered(Duration::from_millis(hint_ms.max(1)))
            } else {
                poll_delay(hint_ms, refusals)
            };
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout {
                        resource_id: resource.to_string(),
                        holder_expires_at_ms: holder_end,
                    });
                }
                delay = delay.min(left);
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// Errors a blocking acquire rides out by waiting: throttling of the Lambda service or of DynamoDB.
fn waiting_cures(e: &ClientError) -> bool {
    matches!(e, ClientError::Throttled(_)) || e.function_error_type() == Some(ErrorType::Throttled)
}

/// `d` give or take a fifth, so that waiters told the same hint do not come back in step.
fn jittered(d: Duration) -> Duration {
    let us = d.as_micros() as u64;
    Duration::from_micros(us * 4 / 5 + fastrand::u64(0..=us * 2 / 5))
}

/// Delay before the next try (not queueing) after `refusals` refusals: the function's hint, but
/// starting fast (5 ms) and doubling, with jitter so that waiters do not march in step.
fn poll_delay(hint_ms: u64, refusals: u32) -> Duration {
    let ramp = 5u64.saturating_mul(1 << refusals.min(6).saturating_sub(1));
    let step = hint_ms.clamp(1, 1000).min(ramp).max(1);
    Duration::from_micros(step * 500 + fastrand::u64(0..=step * 500))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_delay_ramps_up_to_the_hint() {
        assert!(poll_delay(100, 1) <= Duration::from_millis(5));
        assert!(poll_delay(100, 10) >= Duration::from_millis(50));
        assert!(poll_delay(20, 10) <= Duration::from_millis(20));
        assert!(poll_delay(0, 1) > Duration::ZERO);
        let j = jittered(Duration::from_millis(100));
        assert!(j >= Duration::from_millis(80) && j <= Duration::from_millis(120));
    }

    #[test]
    fn only_throttling_is_waited_out() {
        assert!(waiting_cures(&ClientError::Throttled("429".into())));
        let function = |t: &str| ClientError::Function {
            error_type: t.into(),
            message: String::new(),
        };
        assert!(waiting_cures(&function("Throttled")));
        assert!(!waiting_cures(&function("StoreUnavailable")));
        assert!(!waiting_cures(&ClientError::Invoke("AccessDenied".into())));
    }
}
