//! [`CounterApp`]: one invocation = take the lock, increment under it, release it.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use lock_client::fenced::Fence;
use lock_client::lambda_lease::InvocationBudget;
use lock_client::protocol::{deadline_epoch_ms, now_ms};
use lock_client::{ClientError, LockClient};

use crate::counter::Counters;
use crate::error::CounterError;
use crate::request::{Increment, Incremented};

/// The least time an invocation needs to work under the lock (claim, read, write).
pub const MIN_WORK: Duration = Duration::from_millis(500);
/// How long one acquire invoke may wait in-region: a grant it brings ends later by at most this.
pub const WAIT_CHUNK: Duration = Duration::from_millis(500);
/// Environment variable naming the counter table.
pub const ENV_TABLE: &str = "COUNTER_TABLE";
/// Environment variable that shortens the invocation's time as if the function's timeout were
/// this many ms. The local emulator always gives an invocation 600 s; the tests set it. Unset on AWS.
pub const ENV_TIMEOUT_MS: &str = "COUNTER_TIMEOUT_MS";

/// The function's clients, made once per cold start.
#[derive(Debug, Clone)]
pub struct CounterApp {
    locks: LockClient,
    counters: Counters,
    timeout_cap_ms: Option<u64>,
}

impl CounterApp {
    /// The app from the environment: the lock function (`DLM_FUNCTION`), the counter table
    /// ([`ENV_TABLE`]), the AWS settings.
    pub async fn from_env() -> Result<CounterApp, CounterError> {
        let locks = LockClient::from_env().await.map_err(CounterError::Lock)?;
        let table = std::env::var(ENV_TABLE)
            .map_err(|_| CounterError::Store(format!("{ENV_TABLE} is not set")))?;
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let timeout_cap_ms = std::env::var(ENV_TIMEOUT_MS)
            .ok()
            .and_then(|v| v.parse().ok());
        Ok(CounterApp {
            locks,
            counters: Counters::new(aws_sdk_dynamodb::Client::new(&shared), table),
            timeout_cap_ms,
        })
    }

    /// One invocation, `raw_deadline` as the runtime gives it (`Context::deadline`).
    pub async fn handle(
        &self,
        event: Increment,
        raw_deadline: u64,
    ) -> Result<Incremented, CounterError> {
        let started = now_ms();
        let deadline = deadline_epoch_ms(raw_deadline, started)
            .unwrap_or(started)
            .min(self.timeout_cap_ms.map_or(u64::MAX, |cap| started + cap));
        let budget = InvocationBudget::new(deadline);
        budget
            .ensure(MIN_WORK)
            .map_err(|left| CounterError::InsufficientTime {
                left_ms: left.as_millis() as u64,
            })?;
        let guard = self
            .locks
            .with_lease_until(budget.lease_end_ms())
            .with_wait_chunk(WAIT_CHUNK)
            .acquire_timeout(&event.lock_name(), budget.wait_for(MIN_WORK))
            .await
            .map_err(|e| match e {
                ClientError::Timeout { .. } => CounterError::LockBusy,
                other => CounterError::Lock(other),
            })?;
        let fence = Fence::of(guard.grant());
        let work = AssertUnwindSafe(self.increment(&event, &fence, &budget)).catch_unwind();
        let outcome = work.await.unwrap_or(Err(CounterError::Panicked));
        // Every exit path releases: a refused release (the lease was lost) changes nothing here.
        if let Err(e) = guard.release().await {
            tracing::warn!(error = %e, "release failed; the lease ends by itself");
        }
        outcome
    }

    async fn increment(
        &self,
        event: &Increment,
        fence: &Fence,
        budget: &InvocationBudget,
    ) -> Result<Incremented, CounterError> {
        // A grant can come in after the wait's end (an answer that was late): no write starts
        // without the time to finish the work.
        budget
            .ensure(MIN_WORK)
            .map_err(|left| CounterError::InsufficientTime {
                left_ms: left.as_millis() as u64,
            })?;
        self.counters.claim(&event.counter, fence).await?;
        let value = self.counters.read(&event.counter).await? + 1;
        if event.fail {
            return Err(CounterError::WorkFailed);
        }
        if event.panic {
            panic!("asked to panic while holding the lock");
        }
        tokio::time::sleep(Duration::from_millis(event.work_ms)).await;
        if budget.writes_left().is_zero() {
            return Err(CounterError::OutOfTime);
        }
        self.counters.write(&event.counter, value, fence).await?;
        Ok(Incremented {
            counter: event.counter.clone(),
            value,
            fence: fence.value(),
        })
    }
}
