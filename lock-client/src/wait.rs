//! Waiting for a lock: the blocking acquire loop behind [`LockClient::acquire`],
//! [`LockClient::acquire_timeout`] and [`LockClient::acquire_until`].

use std::time::{Duration, Instant};

use crate::client::LockClient;
use crate::error::ClientError;
use crate::guard::LockGuard;
use crate::protocol::{new_owner_token, AcquireResponse, ErrorType};

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
    /// DynamoDB requests the function spent on the latest refusal (its failed conditional writes).
    pub last_attempts: u32,
}

impl LockClient {
    /// Takes the lock, waiting until `deadline` (or forever when `None`); `progress` is called after
    /// every refusal.
    pub async fn acquire_until(
        &self,
        resource: &str,
        deadline: Option<Instant>,
        mut progress: impl FnMut(&WaitProgress),
    ) -> Result<LockGuard, ClientError> {
        // One owner for the whole wait: every invoke, retried or not, is the same request for the
        // same owner, so a lost answer is recovered by the next invoke instead of leaking a grant.
        let owner = new_owner_token();
        // Until an invoke goes unanswered (or fails), this owner cannot hold the lock unseen.
        let mut fresh = true;
        let started = Instant::now();
        let mut refusals = 0u32;
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = left.map_or(self.wait_chunk, |l| l.min(self.wait_chunk));
            let (hint_ms, holder_end, attempts) = match self
                .raw
                .acquire(resource, &owner, self.duration, wait, fresh)
                .await
            {
                Ok((answer, sent)) => {
                    // A resent invoke means an earlier one went unanswered: it may yet grant.
                    fresh &= !answer.resent();
                    match answer.answer {
                        AcquireResponse::Granted(g) => return Ok(self.guard(g, sent)),
                        AcquireResponse::Busy(b) => {
                            (b.retry_after_ms, b.holder_expires_at_ms, b.attempts)
                        }
                    }
                }
                Err(e) if waiting_cures(&e) => {
                    // The failed invoke may have granted this owner unseen.
                    fresh = false;
                    (100, None, 0)
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
            });
            let mut delay = poll_delay(hint_ms, refusals);
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

/// Delay before the next invoke after `refusals` refusals: the function's hint, but starting fast
/// (5 ms) and doubling, with jitter so that waiters do not march in step.
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
