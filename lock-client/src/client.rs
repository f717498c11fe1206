//! [`LockClient`]: acquire, try, time out and describe, over the Lambda Invoke API.

use std::time::{Duration, Instant};

use crate::config::DEFAULT_DURATION;
use crate::error::ClientError;
use crate::guard::LockGuard;
use crate::invoke::Invoker;
use crate::lease_length::LeaseLength;
use crate::protocol::{new_owner_token, AcquireResponse, DescribeResponse};
use crate::raw::{Mode, RawClient};
use crate::wait::Wait;

/// A client of one lock function. Cheap to clone: clones share one connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), lock_client::ClientError> {
/// let client = lock_client::LockClient::from_env().await?;
/// let guard = client.acquire("orders/42").await?;
/// println!("fence {}", guard.fence());
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct LockClient {
    pub(crate) raw: RawClient,
    pub(crate) duration: Duration,
    /// Leases end by this (epoch ms, caller's clock) instead of lasting `duration`: see
    /// [`LockClient::with_lease_until`].
    pub(crate) lease_until_ms: Option<u64>,
    pub(crate) wait_chunk: Duration,
    pub(crate) queueing: bool,
}

/// How long one waiting invoke may wait in-region by default (only waiters near the front of the
/// queue do; the others are answered at once).
pub const DEFAULT_WAIT_CHUNK: Duration = Duration::from_secs(2);

impl LockClient {
    /// A client of `function` (name or ARN) with `config`'s credentials, Region, Lambda endpoint
    /// and timeouts (e.g. `aws_config::load_defaults(..).await`). It resends a request itself
    /// after a transport failure, knowing what each resend means (an acquire that promised a
    /// fresh owner no longer promises it), and nothing else resends unseen. Each `new` builds a
    /// connection pool and a credentials cache: build one client per process (or per function
    /// instance, outside the handler) and clone it - clones share both.
    pub fn new(config: &aws_types::SdkConfig, function: impl Into<String>) -> LockClient {
        LockClient::with_invoker(Invoker::new(config, function))
    }

    /// A client sending through `invoker`.
    pub(crate) fn with_invoker(invoker: Invoker) -> LockClient {
        LockClient {
            raw: RawClient::new(invoker, None),
            duration: DEFAULT_DURATION,
            lease_until_ms: None,
            wait_chunk: DEFAULT_WAIT_CHUNK,
            queueing: true,
        }
    }

    /// The same client for another deployment of the lock function.
    pub fn with_function(&self, function: impl Into<String>) -> LockClient {
        LockClient {
            raw: self.raw.with_function(function),
            ..self.clone()
        }
    }

    /// The same client with another lease length for the locks it takes.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let long = client.with_duration(std::time::Duration::from_secs(120));
    /// let guard = long.acquire("reports/monthly").await?;
    /// # guard.release().await?; Ok(()) }
    /// ```
    pub fn with_duration(&self, duration: Duration) -> LockClient {
        LockClient {
            duration,
            lease_until_ms: None,
            ..self.clone()
        }
    }

    /// The same client, but every acquire invoke asks for the time left until `end_epoch_ms` (by
    /// this machine's clock, sized when the invoke is sent; at least 1 ms): a lease that ends with
    /// a Lambda invocation, see [`crate::lambda_lease::InvocationBudget`]. A grant made by an invoke
    /// that waited in-region ends later by that wait (at most the wait chunk); a queued waiter
    /// handed the lock gets the length its latest invoke asked for. Renewals of its guards (and
    /// their auto-renew) ask for the time left until the end too, so they never extend a lease
    /// past it: near the end, auto-renew reports the lease lost as it runs out.
    pub fn with_lease_until(&self, end_epoch_ms: u64) -> LockClient {
        LockClient {
            lease_until_ms: Some(end_epoch_ms),
            ..self.clone()
        }
    }

    /// The same client, but each waiting acquire invoke may wait in-region up to `chunk` (the
    /// function's `wait_ms`; default [`DEFAULT_WAIT_CHUNK`]) when near the front of the queue.
    /// Zero: every waiting invoke is answered at once, and the client polls.
    pub fn with_wait_chunk(&self, chunk: Duration) -> LockClient {
        LockClient {
            wait_chunk: chunk,
            ..self.clone()
        }
    }

    /// The same client, waiting in the lock's FIFO queue (`true`, the default) or by repeated
    /// single tries (`false`: no place is kept, and a try is refused while anyone is queued).
    pub fn with_queue(&self, queueing: bool) -> LockClient {
        LockClient {
            queueing,
            ..self.clone()
        }
    }

    /// The same client, labelling the locks it takes with `holder` (a public name such as a host
    /// and process id, shown by `describe`; never a credential).
    pub fn with_holder(&self, holder: impl Into<String>) -> LockClient {
        LockClient {
            raw: self.raw.with_holder(holder.into()),
            ..self.clone()
        }
    }

    /// The same client for semaphores: the resources it takes admit up to `limit` holders at once
    /// (each with its own lease, fence and guard). Every caller of a resource must name the same
    /// limit (else [`ClientError::Function`] with `LimitMismatch`); 1 is the mutex.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let guard = client.with_limit(5).acquire("api/textract").await?; // one of at most 5
    /// # guard.release().await?; Ok(()) }
    /// ```
    pub fn with_limit(&self, limit: u32) -> LockClient {
        LockClient {
            raw: self.raw.with_limit(limit),
            ..self.clone()
        }
    }

    /// Takes one of the `limit` slots of the semaphore `resource`, waiting in its FIFO queue as
    /// long as it takes: `self.with_limit(limit).acquire(resource)`.
    pub async fn semaphore(&self, resource: &str, limit: u32) -> Result<LockGuard, ClientError> {
        self.with_limit(limit).acquire(resource).await
    }

    /// The single-invoke operations underneath (explicit owners, no retries of their own).
    pub fn raw(&self) -> &RawClient {
        &self.raw
    }

    /// The function invoked.
    pub fn function(&self) -> &str {
        self.raw.invoker().function()
    }

    /// The lease length of the locks this client takes (asked for now).
    pub fn duration(&self) -> Duration {
        self.lease_length().now()
    }

    /// What acquires and renewals ask for: the duration, or the time left until the lease end.
    pub(crate) fn lease_length(&self) -> LeaseLength {
        match self.lease_until_ms {
            Some(end) => LeaseLength::Until(end),
            None => LeaseLength::Fixed(self.duration),
        }
    }

    /// Takes the lock, waiting in its FIFO queue as long as it takes. Under contention it never
    /// gives up; it fails only on errors that waiting cannot cure (bad request, misconfiguration,
    /// unreachable endpoint).
    pub async fn acquire(&self, resource: &str) -> Result<LockGuard, ClientError> {
        self.acquire_until(resource, None, |_| {}).await
    }

    /// Takes the lock, or gives up with [`ClientError::Timeout`] after `timeout`.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// use std::time::Duration;
    /// match client.acquire_timeout("orders/42", Duration::from_secs(5)).await {
    ///     Ok(guard) => { guard.release().await?; }
    ///     Err(lock_client::ClientError::Timeout { holder_expires_at_ms, .. }) => {
    ///         eprintln!("still busy; holder's lease ends at {holder_expires_at_ms:?}");
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn acquire_timeout(
        &self,
        resource: &str,
        timeout: Duration,
    ) -> Result<LockGuard, ClientError> {
        self.acquire_until(resource, Some(Instant::now() + timeout), |_| {})
            .await
    }

    /// Takes the lock if it is free now and nobody is queued for it (one invoke); `None` otherwise.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// if let Some(guard) = client.try_acquire("cron/nightly").await? {
    ///     // only one scheduler instance gets here
    ///     guard.release().await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// Like a wait, the try is drop-safe: its invoke runs as a task of its own, and when this future
    /// is dropped before the answer (or the try fails in a way that may have been applied) the
    /// client sends `cancel` and releases a grant the invoke brings (see
    /// [`LockClient::acquire_cancellable`]).
    pub async fn try_acquire(&self, resource: &str) -> Result<Option<LockGuard>, ClientError> {
        let mut attempt = Wait::new(self.raw.clone(), resource, new_owner_token());
        let answer = attempt
            .invoke(
                self.duration(),
                Duration::ZERO,
                Mode::Try { fresh_owner: true },
                None,
            )
            .await
            .expect("waited for without a time limit");
        match answer {
            Ok((answer, sent)) => {
                // A resent try's unanswered first attempt may still grant (lock-fn retries its
                // write in-region) after a refusal: the give-up's `cancel` ends that, releasing a
                // grant already made and marking the owner so that a later write never takes the
                // lock (as the waiting loop does for its resent invokes).
                attempt.may_hold |= answer.resent();
                match answer.answer {
                    AcquireResponse::Granted(g) => {
                        attempt.done = true;
                        Ok(Some(self.guard(g, sent)))
                    }
                    AcquireResponse::Busy(_) => {
                        attempt.give_up().await;
                        Ok(None)
                    }
                }
            }
            Err(e) => {
                attempt.may_hold |= e.may_have_been_applied();
                attempt.give_up().await;
                Err(e)
            }
        }
    }

    /// The guard of a grant whose invoke was sent at `sent`.
    pub(crate) fn guard(&self, grant: crate::protocol::Grant, sent: Instant) -> LockGuard {
        LockGuard::new(self.raw.clone(), self.lease_length(), grant, sent)
    }

    /// Who holds `resource` now (a consistent read).
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let status = client.describe("orders/42").await?;
    /// println!("held: {}, until {:?}", status.held, status.expires_at_ms);
    /// # Ok(()) }
    /// ```
    pub async fn describe(&self, resource: &str) -> Result<DescribeResponse, ClientError> {
        self.raw.describe(resource, None).await
    }
}
