//! The lock engine: turns validated requests into conditional writes and answers.

use std::time::Duration;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lock_protocol::{
    owner_digest, AcquireRequest, AcquireResponse, Busy, DescribeRequest, DescribeResponse, Grant,
    HolderInfo, OnBusy, QueuedWaiter, RenewRequest, RenewResponse, Renewal, Request,
};
use tracing::warn;

use crate::backoff::wait_poll_delay;
use crate::config::Config;
use crate::error::LockError;
use crate::item::LockItem;
use crate::notify::{Notifier, Sent};
use crate::owner::redact;
use crate::reply::Reply;
use crate::sem_writes::sem_renew;
use crate::store::{AcquireWrite, Attempted, LockStore};
use crate::writes::Releaser;

/// Retry hint given with a refusal when the holder's lease end is unknown.
pub const UNKNOWN_HOLDER_RETRY_MS: u64 = 20;
/// Longest retry hint: holders often release before their lease ends.
pub const MAX_RETRY_HINT_MS: u64 = 100;
/// A refused renew reads and writes again at most this often.
const RENEW_ROUNDS: u32 = 3;

/// Executes lock operations against one table.
#[derive(Debug, Clone)]
pub struct LockEngine {
    pub(crate) store: LockStore,
    pub(crate) config: Config,
    /// Wakes Step Functions waiters.
    pub(crate) notifier: Notifier,
    /// Resources this instance saw with a live queue recently (a hint only: a release of such a
    /// resource reads first instead of trying the write that hands nothing on).
    hot: Arc<Mutex<HashMap<String, u64>>>,
    /// The waiting-budget slot this instance held last (see `wait_budget.rs`).
    last_slot: Arc<std::sync::atomic::AtomicUsize>,
}

/// How long a queue seen on a resource keeps it "hot" for this instance's releases.
const HOT_FOR_MS: u64 = 10_000;
/// At most this many hot resources are remembered (the map is cleared when full).
const HOT_CAPACITY: usize = 4096;

/// An answer and the number of DynamoDB requests it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The answer.
    pub reply: Reply,
    /// DynamoDB requests sent, retries included.
    pub requests: u32,
}

impl LockEngine {
    /// An engine over `store`, with `config`'s defaults and limits.
    pub fn new(store: LockStore, config: Config) -> Self {
        // A home slot of its own, picked at cold start: instances that wait one after another
        // rarely probe a slot another one holds.
        let home = config
            .wait_budget
            .filter(|b| *b > 0)
            .map_or(usize::MAX, |b| fastrand::usize(..b));
        LockEngine {
            store,
            config,
            notifier: Notifier::disabled(),
            hot: Arc::default(),
            last_slot: Arc::new(std::sync::atomic::AtomicUsize::new(home)),
        }
    }

    /// The same engine, waking Step Functions waiters through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Notes whether `resource` has a live queue (seen at `now`).
    pub(crate) fn note_queue(&self, resource: &str, live: bool, now: u64) {
        let mut hot = self.hot.lock().expect("hot map");
        if live {
            if hot.len() >= HOT_CAPACITY {
                hot.clear();
            }
            hot.insert(resource.to_string(), now);
        } else {
            hot.remove(resource);
        }
    }

    /// The waiting-budget slot this instance held last, if any.
    pub(crate) fn last_wait_slot(&self) -> Option<usize> {
        let k = self.last_slot.load(std::sync::atomic::Ordering::Relaxed);
        (k != usize::MAX).then_some(k)
    }

    /// Notes the waiting-budget slot this instance holds now.
    pub(crate) fn remember_wait_slot(&self, k: usize) {
        self.last_slot
            .store(k, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this instance saw a live queue on `resource` lately.
    pub(crate) fn queue_seen(&self, resource: &str, now: u64) -> bool {
        let hot = self.hot.lock().expect("hot map");
        hot.get(resource)
            .is_some_and(|seen| now.saturating_sub(*seen) < HOT_FOR_MS)
    }

    /// The engine's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs one request. `deadline_ms` (the invocation's deadline, epoch ms) bounds how long an
    /// acquire may wait (until `LOCK_DEADLINE_MARGIN_MS` before it) and every store call (cut off
    /// half that margin before it, so that the answer still goes out in time).
    pub async fn execute(
        &self,
        request: Request,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        match request {
            Request::Acquire(r) => self.acquire(r, deadline_ms).await,
            Request::Release(r) => self.release(r, deadline_ms).await,
            Request::Renew(r) => self.renew(r, deadline_ms).await,
            Request::Describe(r) => self.describe(r, deadline_ms).await,
            Request::Cancel(r) => self.cancel(r, deadline_ms).await,
        }
    }

    /// When the store calls of an invocation with `deadline_ms` must be done by.
    pub(crate) fn stop_at(&self, deadline_ms: Option<u64>) -> Option<u64> {
        let margin = self.config.deadline_margin.as_millis() as u64;
        deadline_ms.map(|d| d.saturating_sub(margin / 2))
    }

    /// When an acquire of an invocation with `deadline_ms` stops waiting (`wait_ms` from now, but
    /// `LOCK_DEADLINE_MARGIN_MS` before the deadline at the latest).
    pub(crate) fn wait_until(&self, wait_ms: u64, deadline_ms: Option<u64>) -> u64 {
        let mut until = self.store.now_ms().saturating_add(wait_ms);
        if let Some(deadline) = deadline_ms {
            let margin = self.config.deadline_margin.as_millis() as u64;
            until = until.min(deadline.saturating_sub(margin));
        }
        until
    }

    /// Acquire: queued (`queue`, or `wait_ms > 0`; see `acquire_queued.rs`), or a single try,
    /// repeated with jittered polling while a `wait_ms` without queueing allows.
    pub async fn acquire(
        &self,
        req: AcquireRequest,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let duration_ms = self.duration("duration_ms", req.duration_ms)?;
        if let Some(token) = req.task_token.clone() {
            return self
                .acquire_for_task(req, token, duration_ms, deadline_ms)
                .await;
        }
        if req.queues() || req.semaphore_limit().is_some() {
            let (done, _) = self
                .acquire_queued(req, duration_ms, deadline_ms, None)
                .await?;
            return Ok(done);
        }
        self.acquire_try(req, duration_ms, deadline_ms).await
    }

    /// An acquire by a Step Functions task (`task_token`): answered at once; the task is told the
    /// outcome through Step Functions - `SendTaskSuccess` with the grant now or at the handoff,
    /// `SendTaskFailure` `LockBusy` when it cannot wait (the queue is full).
    async fn acquire_for_task(
        &self,
        req: AcquireRequest,
        token: String,
        duration_ms: u64,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let resource = req.resource_id.clone();
        let digest = req.owner.as_deref().map(owner_digest).unwrap_or_default();
        let holder = req.holder.clone();
        let req = AcquireRequest {
            on_busy: OnBusy::Result,
            ..req
        };
        let wake_id = self.store.fresh_token();
        // The decoder refuses `"queue": false` with a token: a task always waits in the queue.
        let (done, made) = self
            .acquire_queued(req, duration_ms, deadline_ms, Some(&wake_id))
            .await?;
        match &done.reply {
            Reply::Acquire(AcquireResponse::Granted(g)) => {
                let held = LockItem {
                    resource_id: g.resource_id.clone(),
                    fence: Some(g.fence),
                    expires_at_ms: Some(g.expires_at_ms),
                    acquired_at_ms: Some(g.acquired_at_ms),
                    holder,
                    ..LockItem::default()
                };
                let mut output = crate::release::callback_output(&held, self.store.now_ms());
                if let (Some(limit), Some(holders)) = (g.limit, g.holders) {
                    output["limit"] = serde_json::json!(limit);
                    output["holders"] = serde_json::json!(holders);
                }
                let sent = self.notifier.success(&token, &output).await;
                // A task closed before this invocation's grant reached it must not hold the lock
                // for a whole lease. (A grant found, not made, may have reached an earlier task of
                // this execution: "closed" could be about that delivery, so it stays.)
                if sent == Sent::Closed && made {
                    let nonce = self.store.fresh_token();
                    let on_behalf = Releaser::passing_over(
                        &digest,
                        Some(g.fence),
                        &wake_id,
                        &nonce,
                        self.store.now_ms(),
                    );
                    let stop_at = self.stop_at(deadline_ms);
                    self.end_and_wake(&resource, &on_behalf, None, true, stop_at)
                        .await
                        .map_err(LockError::from)?;
                }
            }
            Reply::Acquire(AcquireResponse::Busy(b)) if !b.queued => {
                let cause = LockError::Busy(Box::new(b.clone())).to_string();
                self.notifier.failure(&token, "LockBusy", &cause).await;
            }
            _ => {}
        }
        Ok(done)
    }

    /// A single try (or, with `wait_ms` and `"queue": false`, tries repeated in-region while a slot
    /// of the waiting budget is held; without one, the single try is the answer).
    async fn acquire_try(
        &self,
        req: AcquireRequest,
        duration_ms: u64,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let mut slot = None;
        let done = self
            .acquire_try_with(req, duration_ms, deadline_ms, &mut slot)
            .await;
        self.give_back_wait_slot(slot, self.stop_at(deadline_ms));
        done
    }

    /// [`Self::acquire_try`], holding `slot` of the waiting budget while it waits.
    async fn acquire_try_with(
        &self,
        req: AcquireRequest,
        duration_ms: u64,
        deadline_ms: Option<u64>,
        slot: &mut Option<crate::wait_budget::WaitSlot>,
    ) -> Result<Executed, LockError> {
        let caller_owner = req.owner.is_some();
        let owner = req.owner.unwrap_or_else(|| self.store.fresh_token());
        let digest = owner_digest(&owner);
        let stop_at = self.stop_at(deadline_ms);
        let wait_until = self.wait_until(req.wait_ms, deadline_ms);
        // Whether this owner may already hold the lock: it chose its own token (a retried call), or
        // one of our writes failed in a way that may have been applied.
        let mut may_hold = caller_owner && !req.fresh_owner;
        // Whether any write of this invocation may have been applied unseen (told on errors).
        let mut ambiguous = false;
        let mut requests = 0;
        // Whether this invocation tried to take the lock past a stale queue mark (once).
        let mut healed = false;
        // Whether it woke a Step Functions task heading the queue of the free lock (once).
        let mut woke_head = false;
        loop {
            let write = self
                .store
                .acquire(
                    &req.resource_id,
                    &digest,
                    req.holder.as_deref(),
                    duration_ms,
                    stop_at,
                )
                .await
                .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += write.attempts;
            may_hold |= write.ambiguous;
            ambiguous |= write.ambiguous;
            let holder = match write.value {
                AcquireWrite::Granted(item) => {
                    return Ok(granted(
                        grant(item, owner, false, requests, self.store.now_ms()),
                        requests,
                    ))
                }
                AcquireWrite::Refused(Some(holder)) => {
                    if holder.held_by(&digest, write.now_ms) {
                        return Ok(granted(
                            grant(holder, owner, true, requests, self.store.now_ms()),
                            requests,
                        ));
                    }
                    Some(holder)
                }
                AcquireWrite::Refused(None) if may_hold => {
                    let confirm = self
                        .store
                        .confirm_holder(&req.resource_id, &digest, stop_at)
                        .await
                        .map_err(|e| e.or_maybe_applied(ambiguous))?;
                    requests += confirm.attempts;
                    ambiguous |= confirm.ambiguous;
                    if let Some(item) = confirm.value {
                        return Ok(granted(
                            grant(item, owner, true, requests, self.store.now_ms()),
                            requests,
                        ));
                    }
                    None
                }
                AcquireWrite::Refused(None) => None,
            };
            // DynamoDB did not say who holds it (DynamoDB-compatible stores without ALL_OLD on a
            // failed condition): a semaphore's item must still answer LimitMismatch.
            let holder = match holder {
                Some(h) => Some(h),
                None => {
                    let read = self
                        .store
                        .read(&req.resource_id, stop_at)
                        .await
                        .map_err(|e| e.or_maybe_applied(ambiguous))?;
                    requests += read.attempts;
                    read.value
                }
            };
            if let Some(sem) = holder.as_ref().and_then(|h| h.semaphore.as_ref()) {
                return Err(LockError::LimitMismatch {
                    resource_id: req.resource_id,
                    stored: sem.limit,
                    asked: 1,
                });
            }
            // Free, nobody alive queued, and yet refused: the queue mark outlives the waiters that
            // set it (a task's place, 15 minutes, that left). Take it with the queued path's write,
            // which relies on the entries instead (nobody joined since) and clears the stale mark.
            if let Some(item) = holder
                .as_ref()
                .filter(|i| !healed && stale_mark(i, self.store.now_ms()))
            {
                healed = true;
                let edit = crate::queue::edit(item, self.store.now_ms(), item.waiters.len(), &[])
                    .relying_on_no_live_waiter(item);
                let label = req.holder.as_deref();
                let write = self
                    .store
                    .apply("acquire", &req.resource_id, stop_at, |now| {
                        crate::writes::take(&digest, label, duration_ms, None, &edit, now)
                    })
                    .await
                    .map_err(|e| e.or_maybe_applied(ambiguous))?;
                requests += write.attempts;
                ambiguous |= write.ambiguous;
                may_hold |= write.ambiguous;
                if let Ok(Some(item)) = write.value {
                    return Ok(granted(
                        grant(item, owner, false, requests, self.store.now_ms()),
                        requests,
                    ));
                }
                continue;
            }
            // Free, but a Step Functions task heads the queue and nobody handed it the lock: wake it
            // (see `wake_head.rs`), once; a closed task's grant is passed on, and this try comes
            // round again.
            let head = holder.as_ref().filter(|_| !woke_head).and_then(|i| {
                crate::queue::task_head_to_wake(i, usize::MAX, self.store.now_ms())
                    .map(|head| (i, head))
            });
            if let Some((item, head)) = head {
                woke_head = true;
                requests += self
                    .wake_task_head(&req.resource_id, item, head, usize::MAX, stop_at)
                    .await;
                continue;
            }
            // Not ours, and it cannot become ours except through one of our own later writes.
            may_hold = false;
            let holder_end = holder.as_ref().and_then(LockItem::lease_end_ms);
            let now = self.store.now_ms();
            let mut delay = wait_poll_delay(self.config.wait_poll);
            if let Some(end) = holder_end {
                // No point polling before the holder's lease could end... unless it releases early,
                // which polling catches; so sleep the shorter of the two.
                delay = delay.min(Duration::from_millis(end.saturating_sub(now) + 1));
            }
            let may_wait = now < wait_until
                && self
                    .hold_wait_slot(slot, wait_until, stop_at, &mut requests)
                    .await;
            if !may_wait {
                let busy = Busy {
                    acquired: false,
                    resource_id: req.resource_id,
                    retry_after_ms: retry_hint(holder_end, now),
                    holder_expires_at_ms: holder_end,
                    holder_fence: holder.as_ref().and_then(|h| h.fence),
                    attempts: requests,
                    holder: holder.as_ref().and_then(|h| h.holder.clone()),
                    queued: false,
                    position: None,
                    queue_length: holder
                        .as_ref()
                        .map(|h| h.live_waiters(now) as u32)
                        .filter(|n| *n > 0),
                    limit: None,
                    holders: None,
                };
                return match req.on_busy {
                    OnBusy::Result => Ok(Executed {
                        reply: Reply::Acquire(AcquireResponse::Busy(busy)),
                        requests,
                    }),
                    OnBusy::Error => Err(LockError::Busy(Box::new(busy))),
                };
            }
            // The last attempt falls on the end of the wait.
            tokio::time::sleep(delay.min(Duration::from_millis(wait_until - now))).await;
        }
    }

    /// Renew: moves the holder's lease end to now + duration; the fence stays.
    pub async fn renew(
        &self,
        req: RenewRequest,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let duration_ms = self.duration("duration_ms", req.duration_ms)?;
        let stop_at = self.stop_at(deadline_ms);
        let digest = owner_digest(&req.owner);
        // Without a fence, only a grant that began by now: a late attempt never renews (and so
        // perhaps shortens) a newer grant of the same owner.
        let since = self.store.now_ms();
        let write = self
            .store
            .renew(
                &req.resource_id,
                &digest,
                req.fence,
                since,
                duration_ms,
                stop_at,
            )
            .await?;
        let mut requests = write.attempts;
        let mut ambiguous = write.ambiguous;
        let mut renewed = write.value;
        // Refused: not the holder of that grant (any more), a semaphore (whose holder renews its
        // own entry), or the lease already ends later than this renew would set (a renew never
        // moves the end back: a late attempt of an earlier renew must not undo a later one).
        for _ in 0..RENEW_ROUNDS {
            if renewed.is_some() {
                break;
            }
            let read = self
                .store
                .read(&req.resource_id, stop_at)
                .await
                .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += read.attempts;
            let Some(item) = read.value else { break };
            let now = read.now_ms;
            let view = item.grant_view(&digest);
            let ours = item.grant_of(&digest, now).is_some()
                && match req.fence {
                    Some(f) => view.fence == Some(f),
                    None => view.acquired_at_ms.is_some_and(|at| at <= since),
                };
            if !ours {
                break;
            }
            if view
                .lease_end_ms()
                .is_some_and(|end| end >= now + duration_ms)
            {
                // It already runs at least as long as asked: the renew is done, and the answer
                // tells the true end.
                renewed = Some(view);
                break;
            }
            let write = if item.semaphore.is_some() {
                let max_ms = self.config.max_duration.as_millis() as u64;
                let stored_purge = item.purge_at;
                let write = self
                    .store
                    .apply("renew", &req.resource_id, stop_at, |now| {
                        sem_renew(
                            &digest,
                            req.fence,
                            since,
                            duration_ms,
                            max_ms,
                            stored_purge,
                            now,
                        )
                    })
                    .await
                    .map_err(|e| e.or_maybe_applied(ambiguous))?;
                Attempted {
                    value: write.value.ok().flatten().map(|i| i.grant_view(&digest)),
                    attempts: write.attempts,
                    ambiguous: write.ambiguous,
                    now_ms: write.now_ms,
                }
            } else {
                self.store
                    .renew(
                        &req.resource_id,
                        &digest,
                        req.fence,
                        since,
                        duration_ms,
                        stop_at,
                    )
                    .await
                    .map_err(|e| e.or_maybe_applied(ambiguous))?
            };
            requests += write.attempts;
            ambiguous |= write.ambiguous;
            renewed = write.value;
        }
        let renewal = renewed.map(|item| {
            let expires_at_ms = item.expires_at_ms.unwrap_or_default();
            Renewal {
                expires_at_ms,
                fence: item.fence.unwrap_or_default(),
                duration_ms,
                expires_in_ms: Some(expires_at_ms.saturating_sub(self.store.now_ms())),
            }
        });
        if renewal.is_none() {
            warn!(resource = %req.resource_id, owner = %redact(&req.owner),
                "renew by a non-holder: the lease had expired and/or another owner took the lock");
        }
        Ok(Executed {
            reply: Reply::Renew(RenewResponse {
                renewed: renewal.is_some(),
                resource_id: req.resource_id,
                renewal,
            }),
            requests,
        })
    }

    /// Describe: a consistent read of the item. Shows the holder's owner digest and label, never
    /// its token; with the caller's own `owner`, also whether the caller holds it.
    pub async fn describe(
        &self,
        req: DescribeRequest,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let read = self
            .store
            .read(&req.resource_id, self.stop_at(deadline_ms))
            .await?;
        let now = read.now_ms;
        let queue: Vec<QueuedWaiter> = read
            .value
            .iter()
            .flat_map(|item| item.waiters.iter())
            .filter(|w| w.alive_at(now))
            .map(|w| QueuedWaiter {
                owner: w.digest.clone(),
                holder: w.holder.clone(),
                waiting_now: w.active_at(now),
            })
            .collect();
        let yours = req.owner.as_deref().map(|owner| {
            read.value
                .as_ref()
                .is_some_and(|i| i.grant_of(&owner_digest(owner), now).is_some())
        });
        let sem = read.value.as_ref().and_then(|i| i.semaphore.clone());
        let holders: Vec<HolderInfo> = sem
            .iter()
            .flat_map(|s| s.live(now))
            .map(|h| HolderInfo {
                owner: h.digest.clone(),
                holder: h.holder.clone(),
                fence: h.fence,
                expires_at_ms: h.lease_end_ms,
            })
            .collect();
        // A semaphore shows its first-ending holder in the mutex fields.
        let held = match &sem {
            Some(s) => s
                .live(now)
                .min_by_key(|h| h.lease_end_ms)
                .map(|h| h.digest.clone())
                .and_then(|d| read.value.as_ref().map(|i| i.grant_view(&d))),
            None => read.value.filter(|item| item.is_held_at(now)),
        };
        Ok(Executed {
            reply: Reply::Describe(DescribeResponse {
                resource_id: req.resource_id,
                held: held.is_some(),
                fence: held.as_ref().and_then(|h| h.fence),
                expires_at_ms: held.as_ref().and_then(LockItem::lease_end_ms),
                owner: held.as_ref().and_then(LockItem::public_owner),
                holder: held.and_then(|h| h.holder),
                yours,
                queue_length: queue.len() as u32,
                queue,
                limit: sem.map(|s| s.limit),
                holders,
            }),
            requests: read.attempts,
        })
    }

    /// The lease to grant: the request's, or the default; above the maximum is an error.
    fn duration(&self, field: &str, requested: Option<u64>) -> Result<u64, LockError> {
        let max = self.config.max_duration.as_millis() as u64;
        match requested {
            None => Ok(self.config.default_duration.as_millis() as u64),
            Some(ms) if ms > max => Err(LockError::InvalidRequest(format!(
                "field `{field}`: is {ms}; the maximum lease is {max} ms"
            ))),
            Some(ms) => Ok(ms),
        }
    }
}

pub(crate) fn granted(grant: Grant, requests: u32) -> Executed {
    Executed {
        reply: Reply::Acquire(AcquireResponse::Granted(grant)),
        requests,
    }
}

/// The grant answer for an item `owner` holds; `expires_in_ms` by the clock `now`, after every
/// write of the invocation.
pub(crate) fn grant(
    item: LockItem,
    owner: String,
    reacquired: bool,
    attempts: u32,
    now: u64,
) -> Grant {
    let expires_at_ms = item.expires_at_ms.unwrap_or_default();
    let acquired_at_ms = item.acquired_at_ms.unwrap_or_default();
    Grant {
        acquired: true,
        resource_id: item.resource_id,
        owner,
        fence: item.fence.unwrap_or_default(),
        expires_at_ms,
        duration_ms: expires_at_ms.saturating_sub(acquired_at_ms),
        acquired_at_ms,
        reacquired,
        attempts,
        expires_in_ms: Some(expires_at_ms.saturating_sub(now)),
        limit: item.semaphore.as_ref().map(|s| s.limit),
        holders: item.semaphore.as_ref().map(|s| s.live_count(now) as u32),
    }
}

/// Whether a try was refused on `item` only by a stale queue mark: a lock-fn lease that is free at
/// `now`, no live waiter, and yet the mark says someone is queued and alive.
fn stale_mark(item: &LockItem, now: u64) -> bool {
    item.semaphore.is_none()
        && item.is_lock_fn_lease()
        && !item.is_held_at(now)
        && item.live_waiters(now) == 0
        && item.queue_alive_at(now)
}

/// When a refused caller should try again: when the holder's lease ends, but no later than
/// [`MAX_RETRY_HINT_MS`] (holders often release early).
pub(crate) fn retry_hint(holder_end: Option<u64>, now: u64) -> u64 {
    match holder_end {
        Some(end) => end.saturating_sub(now).clamp(1, MAX_RETRY_HINT_MS),
        None => UNKNOWN_HOLDER_RETRY_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_hint_is_bounded() {
        assert_eq!(retry_hint(None, 5), UNKNOWN_HOLDER_RETRY_MS);
        assert_eq!(retry_hint(Some(10), 5), 5);
        assert_eq!(retry_hint(Some(5), 10), 1);
        assert_eq!(retry_hint(Some(100_000), 0), MAX_RETRY_HINT_MS);
    }
}
