//! The DynamoDB mapping: each write as one conditional UpdateItem (or, for describe, one
//! consistent read), retried with backoff on throttling and transient failures.

pub(crate) mod error;
pub mod memory;
pub(crate) mod request;
pub(crate) mod sim_table;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use tracing::warn;

use crate::model::item::*;
use crate::store::error::{classify, Failure, StoreError};
use crate::world::backoff::store_retry_delay;
use crate::world::metrics::{Metric, Metrics};
use crate::world::World;
use crate::write::expr::Write;
use crate::write::expressions::{confirm, release_alone, renew, try_acquire};
use memory::Item;
use request::UpdateRequest;
use sim_table::SimTable;

/// The lock table, seen through the conditional writes the engine needs.
#[derive(Debug, Clone)]
pub struct LockStore {
    backend: Backend,
    table: String,
    attempts: u32,
    world: World,
    metrics: Metrics,
}

/// Where the writes go.
#[derive(Debug, Clone)]
enum Backend {
    /// DynamoDB (or an emulator), through the SDK.
    Dynamo(Client),
    /// The simulator's in-memory table.
    Simulated(Arc<SimTable>),
}

/// The result of an acquire write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireWrite {
    /// The write went through; the item as written.
    Granted(LockItem),
    /// The condition failed; the holder's item when DynamoDB returned it (ALL_OLD), else `None`.
    Refused(Option<LockItem>),
}

/// The result of a release write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseWrite {
    /// The lease ended at `at_ms` (the function's clock).
    Released {
        /// Release time, epoch ms.
        at_ms: u64,
    },
    /// The caller did not hold an unexpired lease (or someone alive is queued); the item when
    /// DynamoDB returned it.
    NotHolder(Option<Box<LockItem>>),
}

/// A store result with what it took to get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted<T> {
    /// The outcome of the last attempt.
    pub value: T,
    /// Requests sent (1 when nothing was retried).
    pub attempts: u32,
    /// A transient failure came first: an earlier attempt may have been applied unseen.
    pub ambiguous: bool,
    /// The function's clock at the last attempt.
    pub now_ms: u64,
}

impl LockStore {
    /// A store on `table` that tries each write at most `attempts` times.
    pub fn new(client: Client, table: impl Into<String>, attempts: u32) -> Self {
        LockStore {
            backend: Backend::Dynamo(client),
            table: table.into(),
            attempts: attempts.max(1),
            world: World::Real,
            metrics: Metrics::default(),
        }
    }

    /// A store on the simulator's in-memory `table`, with `world`'s clock and tokens; `label`
    /// names its writes in the table's log.
    pub fn simulated(table: Arc<SimTable>, world: World, attempts: u32, label: &str) -> Self {
        LockStore {
            backend: Backend::Simulated(table),
            table: label.into(),
            attempts: attempts.max(1),
            world,
            metrics: Metrics::default(),
        }
    }

    /// Now on this store's clock (the function's), epoch ms.
    pub fn now_ms(&self) -> u64 {
        self.world.now_ms()
    }

    /// A fresh random token (owner tokens of owner-less callers, nonces).
    pub fn fresh_token(&self) -> String {
        self.world.fresh_token()
    }

    /// Where this store (and the engine over it) records what operators count.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A single try: takes the lock for the owner with digest `owner` if it is free at the
    /// function's now and nobody is queued and alive ([`try_acquire_condition`](crate::write::expressions::try_acquire_condition)), raising the fence
    /// and labelling the holder `holder`; with `since`, only if the owner has not cancelled since
    /// ([`not_cancelled_since`](crate::write::expressions::not_cancelled_since)). A refusal carries
    /// the item when DynamoDB returned it.
    /// Every attempt ends before `stop_at` (epoch ms).
    pub async fn acquire(
        &self,
        resource_id: &str,
        owner: &str,
        holder: Option<&str>,
        duration_ms: u64,
        since: Option<u64>,
        stop_at: Option<u64>,
    ) -> Result<Attempted<AcquireWrite>, StoreError> {
        self.with_retries("acquire", resource_id, stop_at, |now| async move {
            let request =
                self.update(resource_id)
                    .write(try_acquire(owner, holder, duration_ms, since, now));
            Ok(match self.send(request).await? {
                Ok(item) => AcquireWrite::Granted(item.ok_or_else(no_item)?),
                Err(holder) => AcquireWrite::Refused(holder),
            })
        })
        .await
    }

    /// Confirms that the owner with digest `owner` holds an unexpired lease and returns its item,
    /// without changing the grant (used for an idempotent re-acquire when a refusal did not say
    /// who holds the lock).
    pub async fn confirm_holder(
        &self,
        resource_id: &str,
        owner: &str,
        stop_at: Option<u64>,
    ) -> Result<Attempted<Option<LockItem>>, StoreError> {
        self.with_retries("confirm", resource_id, stop_at, |now| async move {
            let request = self.update(resource_id).write(confirm(owner, now));
            Ok(self.send(request).await?.ok().flatten())
        })
        .await
    }

    /// Moves the end of the unexpired lease of the owner with digest `owner` (of its grant with
    /// `fence`, when given, else of a grant that began by `since`) to now + `duration_ms`, never
    /// back ([`renew_not_back`](crate::write::expressions::renew_not_back)); `None` when refused.
    pub async fn renew(
        &self,
        resource_id: &str,
        owner: &str,
        fence: Option<u64>,
        since: u64,
        duration_ms: u64,
        stop_at: Option<u64>,
    ) -> Result<Attempted<Option<LockItem>>, StoreError> {
        self.with_retries("renew", resource_id, stop_at, |now| async move {
            let request =
                self.update(resource_id)
                    .write(renew(owner, fence, since, duration_ms, now));
            Ok(self.send(request).await?.ok().flatten())
        })
        .await
    }

    /// Ends the unexpired lease of the owner with digest `owner` now when nobody alive is queued
    /// (else the engine hands the lock on, see [`LockStore::apply`]), keeping the item (and so the
    /// fence), and records the release under `nonce` (this invocation's). With `fence`, only that
    /// grant is released, and the release is also recorded in its slot (see
    /// [`release_slot_set`](crate::write::expressions::release_slot_set)); without, only a grant that had begun by `since` (the release's
    /// first attempt, [`holder_since_condition`](crate::write::expressions::holder_since_condition)). `NotHolder` carries the old item when DynamoDB
    /// returned it.
    pub async fn release(
        &self,
        resource_id: &str,
        owner: &str,
        fence: Option<u64>,
        nonce: &str,
        since: u64,
        stop_at: Option<u64>,
    ) -> Result<Attempted<ReleaseWrite>, StoreError> {
        self.with_retries("release", resource_id, stop_at, |now| async move {
            let request = self
                .update(resource_id)
                .return_nothing()
                .write(release_alone(owner, fence, nonce, since, now));
            Ok(match self.send(request).await? {
                Ok(_) => ReleaseWrite::Released { at_ms: now },
                Err(old) => ReleaseWrite::NotHolder(old.map(Box::new)),
            })
        })
        .await
    }

    /// Applies a composed conditional update (the queue paths, see `write/mutex.rs`), built afresh for
    /// every attempt from the function's clock: `Ok(new item)` when applied, `Err(old item when
    /// DynamoDB returned it)` when its condition failed.
    pub async fn apply<F>(
        &self,
        op: &'static str,
        resource_id: &str,
        stop_at: Option<u64>,
        build: F,
    ) -> Result<Attempted<Result<Option<LockItem>, Option<LockItem>>>, StoreError>
    where
        F: Fn(u64) -> Write,
    {
        self.with_retries(op, resource_id, stop_at, |now| {
            self.send_update(resource_id, build(now))
        })
        .await
    }

    /// [`LockStore::apply`] that never sends a write again once an attempt's outcome is unclear (a
    /// timeout or a 5xx: it may have been applied): it answers "refused, item unseen" with
    /// `ambiguous` set, and the caller reads the item instead. For writes whose repeat can do harm
    /// after a peer's change - a join re-applied after the owner's own `cancel` took the first one
    /// out. Throttled attempts (never applied) are still retried.
    pub async fn apply_at_most_once<F>(
        &self,
        op: &'static str,
        resource_id: &str,
        stop_at: Option<u64>,
        build: F,
    ) -> Result<Attempted<Result<Option<LockItem>, Option<LockItem>>>, StoreError>
    where
        F: Fn(u64) -> Write,
    {
        let attempted = self
            .with_retries(op, resource_id, stop_at, |now| {
                let sent = self.send_update(resource_id, build(now));
                async move {
                    match sent.await {
                        Err(Failure::Transient(_)) => Ok(None),
                        other => other.map(Some),
                    }
                }
            })
            .await?;
        Ok(Attempted {
            ambiguous: attempted.ambiguous || attempted.value.is_none(),
            value: attempted.value.unwrap_or(Err(None)),
            attempts: attempted.attempts,
            now_ms: attempted.now_ms,
        })
    }

    /// Sends one composed conditional update.
    async fn send_update(
        &self,
        resource_id: &str,
        w: Write,
    ) -> Result<Result<Option<LockItem>, Option<LockItem>>, Failure> {
        self.send(self.update(resource_id).write(w)).await
    }

    /// Reads the item with a consistent read (describe, and the queue paths' snapshots).
    pub async fn read(
        &self,
        resource_id: &str,
        stop_at: Option<u64>,
    ) -> Result<Attempted<Option<LockItem>>, StoreError> {
        self.with_retries("describe", resource_id, stop_at, |_| async move {
            let item = match &self.backend {
                Backend::Dynamo(client) => {
                    client
                        .get_item()
                        .table_name(&self.table)
                        .key(ATTR_RESOURCE_ID, AttributeValue::S(resource_id.to_string()))
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(|e| classify(&e, &self.table))?
                        .item
                }
                Backend::Simulated(table) => table.read(resource_id).await?,
            };
            lock_item(item.as_ref())
        })
        .await
    }

    /// An UpdateItem on the resource's item, asking for the new item on success and the old one
    /// on a failed condition.
    fn update(&self, resource_id: &str) -> UpdateRequest {
        UpdateRequest::new(resource_id)
    }

    /// Sends one UpdateItem to the table: `Ok(Ok(new item if asked for))` when applied,
    /// `Ok(Err(old item if returned))` when the condition failed, `Err` for every other failure.
    async fn send(
        &self,
        request: UpdateRequest,
    ) -> Result<Result<Option<LockItem>, Option<LockItem>>, Failure> {
        match &self.backend {
            Backend::Dynamo(client) => {
                let sent = request
                    .onto(client.update_item().table_name(&self.table))
                    .send()
                    .await;
                self.conditional(sent)
            }
            Backend::Simulated(table) => match table.update(request, &self.table).await {
                Ok(Ok(new)) => lock_item(new.as_ref()).map(Ok),
                Ok(Err(old)) => lock_item(old.as_ref()).map(Err),
                Err(e) => Err(e),
            },
        }
    }

    /// Splits a conditional write's result: `Ok(Ok(new item if asked for))` when applied,
    /// `Ok(Err(old item if returned))` when the condition failed, `Err` for every other failure.
    fn conditional(
        &self,
        sent: Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>>,
    ) -> Result<Result<Option<LockItem>, Option<LockItem>>, Failure> {
        match sent {
            Ok(out) => Ok(Ok(lock_item(out.attributes())?)),
            Err(SdkError::ServiceError(ctx))
                if ctx.err().is_conditional_check_failed_exception() =>
            {
                let UpdateItemError::ConditionalCheckFailedException(e) = ctx.err() else {
                    unreachable!("checked just above")
                };
                Ok(Err(lock_item(e.item())?))
            }
            Err(e) => Err(classify(&e, &self.table)),
        }
    }

    /// Runs `attempt` (given the function's clock) until it succeeds, fails for good, runs out of
    /// attempts, or would run past `stop_at` (epoch ms): each attempt is cut off at `stop_at`, and no
    /// backoff sleeps past it, so that an invocation is never killed mid-write by its deadline.
    async fn with_retries<T, F, Fut>(
        &self,
        op: &'static str,
        resource_id: &str,
        stop_at: Option<u64>,
        mut attempt: F,
    ) -> Result<Attempted<T>, StoreError>
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut ambiguous = false;
        let mut n = 1;
        loop {
            let now = self.now_ms();
            let left = stop_at.map(|s| s.saturating_sub(now));
            if left == Some(0) {
                return Err(StoreError::Unavailable {
                    message: format!(
                        "no time left before the invocation deadline ({} attempts made)",
                        n - 1
                    ),
                    maybe_applied: ambiguous,
                });
            }
            let result = match left {
                None => attempt(now).await,
                Some(ms) => tokio::time::timeout(Duration::from_millis(ms), attempt(now))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Failure::Transient(
                            "cut off at the invocation deadline".into(),
                        ))
                    }),
            };
            let failure = match result {
                Ok(value) => {
                    return Ok(Attempted {
                        value,
                        attempts: n,
                        ambiguous,
                        now_ms: now,
                    })
                }
                Err(Failure::Final(e)) => return Err(e.or_maybe_applied(ambiguous)),
                Err(f) => f,
            };
            ambiguous |= matches!(failure, Failure::Transient(_));
            if failure.is_conflict() {
                self.metrics.count(Metric::StoreConflicts);
            } else if matches!(failure, Failure::Throttled(_)) {
                self.metrics.count(Metric::StoreThrottles);
            }
            if n >= self.attempts {
                warn!(op, resource = %resource_id, attempts = n, error = ?failure, "DynamoDB write failed; no attempt left");
                return Err(failure.exhausted(&format!("gave up after {n} attempts"), ambiguous));
            }
            let delay = store_retry_delay(n);
            if stop_at.is_some_and(|s| self.now_ms() + (delay.as_millis() as u64) >= s) {
                warn!(op, resource = %resource_id, attempts = n, error = ?failure, "DynamoDB write failed; no time left for another attempt");
                return Err(failure.exhausted(
                    &format!("gave up after {n} attempts at the invocation deadline"),
                    ambiguous,
                ));
            }
            warn!(op, resource = %resource_id, attempt = n, delay_ms = delay.as_millis() as u64, error = ?failure, "DynamoDB throttled or failed; backing off");
            tokio::time::sleep(delay).await;
            self.metrics.count(Metric::StoreRetries);
            n += 1;
        }
    }
}

/// An item as DynamoDB (or the simulated table) returned it, read as a lock item.
fn lock_item(item: Option<&Item>) -> Result<Option<LockItem>, Failure> {
    item.map(LockItem::try_from)
        .transpose()
        .map_err(|e| Failure::Final(StoreError::BadItem(e)))
}

fn no_item() -> Failure {
    Failure::Final(StoreError::unavailable("an applied write returned no item"))
}

impl LockStore {
    /// A store whose DynamoDB client comes from the default AWS configuration chain
    /// (`AWS_ENDPOINT_URL_DYNAMODB` is honoured). SDK retries are off: [`LockStore`] retries
    /// itself, so that it can log every backoff and keep acquire's idempotency bookkeeping.
    pub async fn from_env(table: impl Into<String>, attempts: u32) -> Self {
        use aws_config::retry::RetryConfig;
        use aws_config::timeout::TimeoutConfig;
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = aws_sdk_dynamodb::config::Builder::from(&shared)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .operation_attempt_timeout(std::time::Duration::from_secs(3))
                    .build(),
            )
            .build();
        LockStore::new(Client::from_conf(config), table, attempts)
    }
}
