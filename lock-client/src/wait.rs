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

use tokio::task::JoinHandle;

use crate::client::LockClient;
use crate::error::ClientError;
use crate::guard::LockGuard;
use crate::invoke::Counted;
use crate::protocol::{new_owner_token, AcquireResponse, ErrorType};
use crate::raw::{Mode, RawClient};

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

/// The answer to one acquire invoke, and when it was sent.
type Attempt = Result<(Counted<AcquireResponse>, Instant), ClientError>;

/// How long past its own in-function wait an acquire invoke's answer is waited for once the wait's
/// deadline has passed; then the wait times out and the cleanup takes the invoke over.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// How long a give-up waits for its cleanup beyond the in-flight invoke's own in-function wait;
/// past that it returns and the cleanup goes on in the background.
const CLEANUP_MARGIN: Duration = Duration::from_secs(3);

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
    ///
    /// An acquire invoke in flight at the deadline (its in-function wait ends there) is given its
    /// answer until its own wait plus 2 s have passed: a grant it brings by then is returned even
    /// if it comes a little after the deadline.
    ///
    /// Giving up - at the deadline, when `cancel` completes, on an error after which this wait's
    /// owner may hold a grant or a place (an answer that says a write may have been applied, an
    /// invoke that went unanswered), or when the returned future is dropped (for example by
    /// `tokio::time::timeout`) - sends `cancel` for the wait's owner at once, then waits for the
    /// acquire invoke still in flight (it runs as a task of its own, so that dropping this future
    /// does not cut it off unseen), releases with its fence a grant that invoke brings, and sends
    /// one more `cancel` (that invoke may have joined the queue after the first). A give-up that
    /// returns an error has done all that (or left it running in the background, after the
    /// in-flight invoke's own wait plus a few seconds); a dropped future leaves it to a background
    /// task. Without a tokio runtime at the drop (the runtime is shutting down) nothing is sent:
    /// the place then runs out by itself (`LOCK_WAITER_TTL_MS`) and a grant with its lease.
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
        let mut wait = Wait::new(self.raw.clone(), resource, new_owner_token());
        let outcome = {
            let waiting = self.wait_as(&mut wait, deadline, progress);
            tokio::pin!(waiting);
            tokio::select! {
                biased;
                outcome = &mut waiting => outcome,
                () = cancel => Err(ClientError::Cancelled { resource_id: resource.to_string() }),
            }
        };
        match &outcome {
            Ok(_) => wait.done = true,
            Err(e) => {
                wait.may_hold |= e.may_have_been_applied();
                wait.give_up().await;
            }
        }
        outcome
    }

    async fn wait_as(
        &self,
        w: &mut Wait,
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
            // The invoke's wait ends by the deadline; its answer is waited for until then, or
            // (an answer that is late: a slow network, a cold start) its own wait plus
            // `ANSWER_GRACE`. A grant answered by then is taken, even a little after the deadline.
            let give_up_at = deadline.map(|d| d.max(Instant::now() + wait + ANSWER_GRACE));
            let Some(attempt) = w.invoke(self.duration(), wait, mode, give_up_at).await else {
                return Err(ClientError::Timeout {
                    resource_id: w.resource.clone(),
                    holder_expires_at_ms: w.holder_end,
                });
            };
            let (hint_ms, holder_end, attempts, position) = match attempt {
                Ok((answer, sent)) => {
                    // A resent invoke means an earlier one went unanswered: it may yet grant.
                    fresh &= !answer.resent();
                    w.may_hold |= answer.resent();
                    match answer.answer {
                        AcquireResponse::Granted(g) => return Ok(self.guard(g, sent)),
                        AcquireResponse::Busy(b) => {
                            w.may_hold |= b.queued;
                            (
                                b.retry_after_ms,
                                b.holder_expires_at_ms,
                                b.attempts,
                                b.position,
                            )
                        }
                    }
                }
                Err(e) if waiting_cures(&e) => {
                    // The failed invoke may have granted this owner unseen.
                    fresh = false;
                    w.may_hold |= e.may_have_been_applied();
                    (100, None, 0, None)
                }
                Err(e) => return Err(e),
            };
            w.holder_end = holder_end.or(w.holder_end);
            refusals += 1;
            progress(&WaitProgress {
                resource_id: w.resource.clone(),
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
                        resource_id: w.resource.clone(),
                        holder_expires_at_ms: holder_end,
                    });
                }
                delay = delay.min(left);
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// One wait's owner and what it may have left behind; cleans up when dropped unfinished.
pub(crate) struct Wait {
    raw: RawClient,
    resource: String,
    owner: String,
    /// The acquire invoke in flight (a task of its own: dropping the wait must not cut it off
    /// unseen) and the in-function wait it asked for.
    inflight: Option<(JoinHandle<Attempt>, Duration)>,
    /// This owner may hold a place in the queue or a grant nobody saw: an invoke was queued, or
    /// failed (or was resent) in a way that may have been applied.
    pub(crate) may_hold: bool,
    /// The holder's lease end, as last told.
    holder_end: Option<u64>,
    /// Nothing left to clean up: the wait ended with a guard, or its cleanup was started.
    pub(crate) done: bool,
}

impl Wait {
    pub(crate) fn new(raw: RawClient, resource: &str, owner: String) -> Wait {
        Wait {
            raw,
            resource: resource.to_string(),
            owner,
            inflight: None,
            may_hold: false,
            holder_end: None,
            done: false,
        }
    }

    /// One acquire invoke, run as a task of its own; awaiting it may be cut off (the future
    /// dropped), the invoke is not: the cleanup then takes it over. `None`: no answer by
    /// `give_up_at` (the invoke is still in flight, for the cleanup).
    pub(crate) async fn invoke(
        &mut self,
        duration: Duration,
        wait: Duration,
        mode: Mode,
        give_up_at: Option<Instant>,
    ) -> Option<Attempt> {
        let (raw, resource, owner) = (self.raw.clone(), self.resource.clone(), self.owner.clone());
        let task =
            tokio::spawn(async move { raw.acquire(&resource, &owner, duration, wait, mode).await });
        let (task, _) = self.inflight.insert((task, wait));
        let joined = match give_up_at {
            Some(at) => tokio::time::timeout_at(at.into(), task).await.ok()?,
            None => task.await,
        };
        self.inflight = None;
        Some(match joined {
            Ok(attempt) => attempt,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                // The runtime is shutting down: this owner may hold what the invoke did.
                self.may_hold = true;
                Err(ClientError::Invoke(format!(
                    "the acquire invoke was cut off: {e}"
                )))
            }
        })
    }

    /// Cleans up (see [`LockClient::acquire_cancellable`]) and waits for it, at most for the
    /// in-flight invoke's own wait plus [`CLEANUP_MARGIN`].
    pub(crate) async fn give_up(&mut self) {
        let bound = self.inflight.as_ref().map_or(Duration::ZERO, |(_, w)| *w) + CLEANUP_MARGIN;
        if let Some(cleanup) = self.start_cleanup() {
            if tokio::time::timeout(bound, cleanup).await.is_err() {
                tracing::warn!(resource = %self.resource,
                    "giving up the wait is taking long; it goes on in the background");
            }
        }
    }

    /// Starts the cleanup when this owner may hold something (or an invoke is in flight); once.
    fn start_cleanup(&mut self) -> Option<JoinHandle<()>> {
        if std::mem::replace(&mut self.done, true) {
            return None;
        }
        let inflight = self.inflight.take().map(|(task, _)| task);
        if inflight.is_none() && !self.may_hold {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(runtime.spawn(clean_up(
            self.raw.clone(),
            self.resource.clone(),
            self.owner.clone(),
            inflight,
        )))
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        // A dropped wait (e.g. `tokio::time::timeout` around `acquire`): clean up in the background.
        let _ = self.start_cleanup();
    }
}

/// `owner` gives up waiting for `resource`: `cancel` (leaves the queue, releases a grant made
/// meanwhile) at once; then the in-flight acquire invoke's answer, whose grant is released with
/// its fence; then `cancel` once more (that invoke may have joined after the first).
async fn clean_up(
    raw: RawClient,
    resource: String,
    owner: String,
    inflight: Option<JoinHandle<Attempt>>,
) {
    cancel(&raw, &resource, &owner).await;
    let Some(task) = inflight else {
        return;
    };
    if let Ok(Ok((answer, _))) = task.await {
        if let AcquireResponse::Granted(g) = answer.answer {
            match raw.release(&resource, &owner, Some(g.fence)).await {
                Ok(outcome) => tracing::debug!(resource = %resource, fence = g.fence, ?outcome,
                    "released a grant made after the wait was given up"),
                Err(e) => tracing::warn!(resource = %resource, fence = g.fence, error = %e,
                    "could not release a grant made after the wait was given up; its lease runs out"),
            }
        }
    }
    cancel(&raw, &resource, &owner).await;
}

/// A `cancel` answered `Throttled` (lock-fn's own, when the item kept changing under all its
/// rounds, or the service's) is sent again, at most this many times in all.
const CANCEL_ATTEMPTS: u32 = 3;

/// One `cancel`, best effort: sent again when throttled; a place runs out by itself within
/// `LOCK_WAITER_TTL_MS`.
async fn cancel(raw: &RawClient, resource: &str, owner: &str) {
    for attempt in 1..=CANCEL_ATTEMPTS {
        match raw.cancel(resource, owner).await {
            Ok(_) => return,
            Err(e) if waiting_cures(&e) && attempt < CANCEL_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
            }
            Err(e) => {
                tracing::warn!(resource = %resource, error = %e, "could not leave the queue; the place runs out by itself");
                return;
            }
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
