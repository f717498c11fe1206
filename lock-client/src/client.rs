//! [`LockClient`]: acquire, try, time out, and the raw ops, over the Lambda Invoke API.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::duration::parse_duration;
use crate::error::ClientError;
use crate::guard::LockGuard;
use crate::invoke::{Counted, Invoker};
use crate::lease_watch::LeaseWatch;
pub use crate::protocol::DEFAULT_FUNCTION;
use crate::protocol::{
    new_owner_token, AcquireRequest, AcquireResponse, Busy, DescribeRequest, DescribeResponse,
    ErrorType, OnBusy, ReleaseRequest, ReleaseResponse, RenewRequest, RenewResponse, Request,
};

/// Environment variable naming the lock function (name or ARN).
pub const ENV_FUNCTION: &str = "DLM_FUNCTION";
/// Environment variable with the default lease, as a human duration (`500ms`, `10s`, `2m`).
pub const ENV_DURATION: &str = "DLM_DURATION";
/// dynamo-dlm's default lease.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

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
    invoker: Invoker,
    duration: Duration,
    wait_chunk: Duration,
    holder: Option<String>,
}

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
    /// A client configured from the environment: AWS credentials, region and endpoint from the default
    /// chain (`AWS_ENDPOINT_URL_LAMBDA` is honoured), the function from `DLM_FUNCTION` (default
    /// `dynamo-dlm-lock`) and the lease from `DLM_DURATION` (default 10 s).
    pub async fn from_env() -> Result<LockClient, ClientError> {
        let function = std::env::var(ENV_FUNCTION).unwrap_or_else(|_| DEFAULT_FUNCTION.to_string());
        let duration = match std::env::var(ENV_DURATION) {
            Ok(v) => parse_duration(&v)
                .map_err(|e| ClientError::Config(format!("{ENV_DURATION}={v:?}: {e}")))?,
            Err(_) => DEFAULT_DURATION,
        };
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(LockClient::new(aws_sdk_lambda::Client::new(&shared), function).with_duration(duration))
    }

    /// A client of `function` (name or ARN) through an existing Lambda client. The SDK's own
    /// retries are turned off on (a copy of) it: they would resend requests unseen (an acquire that
    /// promised a fresh owner, say); the client resends itself, knowing what each resend means.
    pub fn new(lambda: aws_sdk_lambda::Client, function: impl Into<String>) -> LockClient {
        let config = lambda
            .config()
            .to_builder()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        LockClient {
            invoker: Invoker::new(aws_sdk_lambda::Client::from_conf(config), function),
            duration: DEFAULT_DURATION,
            wait_chunk: Duration::ZERO,
            holder: None,
        }
    }

    /// The same client for another deployment of the lock function.
    pub fn with_function(&self, function: impl Into<String>) -> LockClient {
        LockClient {
            invoker: self.invoker.with_function(function),
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
            ..self.clone()
        }
    }

    /// The same client, but each acquire invoke may wait in-region up to `chunk` (the function's
    /// `wait_ms`) before answering busy. Zero (the default) polls from the client instead.
    pub fn with_wait_chunk(&self, chunk: Duration) -> LockClient {
        LockClient {
            wait_chunk: chunk,
            ..self.clone()
        }
    }

    /// The same client, labelling the locks it takes with `holder` (a public name such as a host
    /// and process id, shown by `describe`; never a credential).
    pub fn with_holder(&self, holder: impl Into<String>) -> LockClient {
        LockClient {
            holder: Some(holder.into()),
            ..self.clone()
        }
    }

    /// The invoker underneath (for raw payloads).
    pub fn invoker(&self) -> &Invoker {
        &self.invoker
    }

    /// The function invoked.
    pub fn function(&self) -> &str {
        self.invoker.function()
    }

    /// The lease length of the locks this client takes.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Takes the lock, waiting as long as it takes. Under contention it never gives up; it fails
    /// only on errors that waiting cannot cure (bad request, misconfiguration, unreachable endpoint).
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

    /// Takes the lock if it is free now (one invoke); `None` when someone else holds it.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// if let Some(guard) = client.try_acquire("cron/nightly").await? {
    ///     // only one scheduler instance gets here
    ///     guard.release().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn try_acquire(&self, resource: &str) -> Result<Option<LockGuard>, ClientError> {
        let owner = new_owner_token();
        match self
            .acquire_once(resource, &owner, Duration::ZERO, true)
            .await?
        {
            (AcquireResponse::Granted(g), sent) => Ok(Some(LockGuard::new(self.clone(), g, sent))),
            (AcquireResponse::Busy(_), _) => Ok(None),
        }
    }

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
        // Until an invoke goes unanswered, this owner cannot hold the lock unseen.
        let mut fresh = true;
        let started = Instant::now();
        let mut refusals = 0u32;
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = left.map_or(self.wait_chunk, |l| l.min(self.wait_chunk));
            let busy = match self.acquire_counted(resource, &owner, wait, fresh).await {
                Ok((answer, sent)) => {
                    // A resent invoke means an earlier one went unanswered: it may yet grant.
                    fresh &= !answer.resent();
                    match answer.answer {
                        AcquireResponse::Granted(g) => {
                            return Ok(LockGuard::new(self.clone(), g, sent))
                        }
                        AcquireResponse::Busy(b) => b,
                    }
                }
                Err(e) if waiting_cures(&e) => {
                    fresh = false;
                    Busy {
                        acquired: false,
                        resource_id: resource.to_string(),
                        retry_after_ms: 100,
                        holder_expires_at_ms: None,
                        holder_fence: None,
                        attempts: 0,
                        holder: None,
                    }
                }
                Err(e) => return Err(e),
            };
            refusals += 1;
            progress(&WaitProgress {
                resource_id: resource.to_string(),
                elapsed: started.elapsed(),
                holder_expires_at_ms: busy.holder_expires_at_ms,
                refusals,
                last_attempts: busy.attempts,
            });
            let mut delay = poll_delay(busy.retry_after_ms, refusals);
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ClientError::Timeout {
                        resource_id: resource.to_string(),
                        holder_expires_at_ms: busy.holder_expires_at_ms,
                    });
                }
                delay = delay.min(left);
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Runs `work` while holding the lock (auto-renewed), then releases it.
    ///
    /// `work` gets a [`LeaseWatch`] to check before protected steps. When the lock turns out to have
    /// been lost (a renewal was refused or the release found another holder), the result is dropped
    /// and [`ClientError::LockLost`] returned: the work may have overlapped another holder's.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let total = client.with_lock("counter", |lease| async move {
    ///     assert!(lease.is_held());
    ///     40 + 2
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_lock<T, F, Fut>(&self, resource: &str, work: F) -> Result<T, ClientError>
    where
        F: FnOnce(LeaseWatch) -> Fut,
        Fut: Future<Output = T>,
    {
        let mut guard = self.acquire(resource).await?;
        let fence = guard.fence();
        let watch = guard.auto_renew();
        let value = work(watch.clone()).await;
        let lost = watch.state().lost;
        let released = guard.release().await?;
        if lost || !released {
            return Err(ClientError::LockLost {
                resource_id: resource.to_string(),
                fence,
            });
        }
        Ok(value)
    }

    /// One raw `acquire` invoke, with an explicit owner and in-function wait; also returns when it
    /// was sent (a conservative start for the lease on this machine's clock).
    ///
    /// `fresh_owner`: no earlier invoke with this owner went unanswered (see
    /// [`AcquireRequest::fresh_owner`]); pass `false` when unsure.
    pub async fn acquire_once(
        &self,
        resource: &str,
        owner: &str,
        wait: Duration,
        fresh_owner: bool,
    ) -> Result<(AcquireResponse, Instant), ClientError> {
        let (answer, sent) = self
            .acquire_counted(resource, owner, wait, fresh_owner)
            .await?;
        Ok((answer.answer, sent))
    }

    /// [`LockClient::acquire_once`], also telling whether the invoke had to be resent.
    async fn acquire_counted(
        &self,
        resource: &str,
        owner: &str,
        wait: Duration,
        fresh_owner: bool,
    ) -> Result<(Counted<AcquireResponse>, Instant), ClientError> {
        let sent = Instant::now();
        let request = Request::Acquire(AcquireRequest {
            resource_id: resource.to_string(),
            duration_ms: Some(millis(self.duration)),
            owner: Some(owner.to_string()),
            wait_ms: millis(wait),
            on_busy: OnBusy::Result,
            fresh_owner,
            holder: self.holder.clone(),
        });
        Ok((self.invoker.call_resent(&request).await?, sent))
    }

    /// Raw `release` of `owner`'s grant (what `dlm release --owner` does).
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient, owner: String) -> Result<(), lock_client::ClientError> {
    /// let answer = client.release_owner("orders/42", &owner).await?;
    /// if !answer.released { eprintln!("it was no longer ours"); }
    /// # Ok(()) }
    /// ```
    pub async fn release_owner(
        &self,
        resource: &str,
        owner: &str,
    ) -> Result<ReleaseResponse, ClientError> {
        self.release_grant(resource, owner, None).await
    }

    /// Raw `release` naming the grant's fence too, so that a release retried after a lost answer is
    /// still answered `released: true` (what [`LockGuard::release`] sends).
    pub async fn release_grant(
        &self,
        resource: &str,
        owner: &str,
        fence: Option<u64>,
    ) -> Result<ReleaseResponse, ClientError> {
        let request = Request::Release(ReleaseRequest {
            resource_id: resource.into(),
            owner: owner.into(),
            fence,
        });
        let counted = self
            .invoker
            .call_resent::<ReleaseResponse>(&request)
            .await?;
        let resent = counted.resent();
        let mut answer = counted.answer;
        // A resent release answered `false` may be answering for an earlier attempt of itself that
        // ran unseen (its invoke timed out on a dying process, say): that ending is unknowable here.
        if resent && !answer.released {
            answer.uncertain = true;
        }
        Ok(answer)
    }

    /// Raw `renew` of `owner`'s grant (the one with `fence`, when given) for `duration` from now.
    pub async fn renew_owner(
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

    /// Who holds `resource` now (a consistent read).
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let status = client.describe("orders/42").await?;
    /// println!("held: {}, until {:?}", status.held, status.expires_at_ms);
    /// # Ok(()) }
    /// ```
    pub async fn describe(&self, resource: &str) -> Result<DescribeResponse, ClientError> {
        self.describe_as(resource, None).await
    }

    /// Like [`LockClient::describe`], as the caller with `owner`: the answer's `yours` says whether
    /// that owner holds the lock (the token is sent, never shown back).
    pub async fn describe_as(
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

/// Errors a blocking acquire rides out by waiting: throttling of the Lambda service or of DynamoDB.
fn waiting_cures(e: &ClientError) -> bool {
    matches!(e, ClientError::Invoke(m) if m.contains("TooManyRequests"))
        || e.function_error_type() == Some(ErrorType::Throttled)
}

/// Delay before the next invoke after `refusals` refusals: the function's hint, but starting fast
/// (5 ms) and doubling, with jitter so that waiters do not march in step.
fn poll_delay(hint_ms: u64, refusals: u32) -> Duration {
    let ramp = 5u64.saturating_mul(1 << refusals.min(6).saturating_sub(1));
    let step = hint_ms.clamp(1, 1000).min(ramp).max(1);
    Duration::from_micros(step * 500 + fastrand::u64(0..=step * 500))
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_lambda_client_loses_its_sdk_retries() {
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
                .region(aws_sdk_lambda::config::Region::new("us-east-1"))
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
                .build(),
        );
        let client = LockClient::new(lambda, "f");
        let retry = client.invoker.sdk_config().retry_config().cloned().unwrap();
        assert_eq!(retry.max_attempts(), 1, "{retry:?}");
    }

    #[test]
    fn poll_delay_ramps_up_to_the_hint() {
        assert!(poll_delay(100, 1) <= Duration::from_millis(5));
        assert!(poll_delay(100, 10) >= Duration::from_millis(50));
        assert!(poll_delay(20, 10) <= Duration::from_millis(20));
        assert!(poll_delay(0, 1) > Duration::ZERO);
    }
}
