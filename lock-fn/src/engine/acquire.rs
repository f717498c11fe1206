//! Acquire: the entry point (queued, task or try) and the single try with its in-region polling.

use std::time::Duration;

use lock_protocol::{owner_digest, AcquireRequest, AcquireResponse, Busy, OnBusy};

use crate::callbacks::notify::Sent;
use crate::decide::cancel::{cancelled_since, since_floor};
use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::model::item::LockItem;
use crate::store::AcquireWrite;
use crate::world::backoff::wait_poll_delay;
use crate::world::metrics::Metric;
use crate::write::mutex::Releaser;

use crate::engine::{grant, granted, retry_hint, Executed, LockEngine};

impl LockEngine {
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
                let mut output =
                    crate::callbacks::grant_output::callback_output(&held, self.store.now_ms());
                if let (Some(limit), Some(holders)) = (g.limit, g.holders) {
                    output["limit"] = serde_json::json!(limit);
                    output["holders"] = serde_json::json!(holders);
                }
                let sent = self.notifier.success(&token, &output).await;
                // A task closed before this invocation's grant reached it must not hold the lock
                // for a whole lease. (A grant found, not made, may have reached an earlier task of
                // this execution: "closed" could be about that delivery, so it stays.)
                if sent == Sent::Closed && made {
                    self.metrics().count(Metric::CallbackPassOvers);
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
        slot: &mut Option<crate::engine::wait_budget::WaitSlot>,
    ) -> Result<Executed, LockError> {
        let caller_owner = req.owner.is_some();
        let owner = req.owner.unwrap_or_else(|| self.store.fresh_token());
        let digest = owner_digest(&owner);
        let stop_at = self.stop_at(deadline_ms);
        let wait_until = self.wait_until(req.wait_ms, deadline_ms);
        // An owner that cancelled after this invocation started is never granted by it.
        let since = caller_owner.then(|| since_floor(self.store.now_ms()));
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
                    since,
                    stop_at,
                )
                .await
                .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += write.attempts;
            may_hold |= write.ambiguous;
            ambiguous |= write.ambiguous;
            let holder = match write.value {
                AcquireWrite::Granted(item) => {
                    self.count_grant(Some(&item), write.now_ms);
                    return Ok(granted(
                        grant(item, owner, false, requests, self.store.now_ms()),
                        requests,
                    ));
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
            // The owner cancelled after this invocation started: its writes are refused for good
            // (`not_cancelled_since`), so it answers busy at once instead of trying again.
            let cancelled = cancelled_since(holder.as_ref(), &digest, since);
            // Free, nobody alive queued, and yet refused: the queue mark outlives the waiters that
            // set it (a task's place, 15 minutes, that left). Take it with the queued path's write,
            // which relies on the entries instead (nobody joined since) and clears the stale mark.
            if let Some(item) = holder
                .as_ref()
                .filter(|i| !cancelled && !healed && stale_mark(i, self.store.now_ms()))
            {
                healed = true;
                let edit =
                    crate::decide::edit::edit(item, self.store.now_ms(), item.waiters.len(), &[])
                        .relying_on_no_live_waiter(item);
                let label = req.holder.as_deref();
                let write = self
                    .store
                    .apply("acquire", &req.resource_id, stop_at, |now| {
                        crate::write::mutex::take(
                            &digest,
                            label,
                            duration_ms,
                            None,
                            &edit,
                            since,
                            now,
                        )
                    })
                    .await
                    .map_err(|e| e.or_maybe_applied(ambiguous))?;
                requests += write.attempts;
                ambiguous |= write.ambiguous;
                may_hold |= write.ambiguous;
                if let Ok(Some(item)) = write.value {
                    self.count_grant(Some(&item), write.now_ms);
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
                crate::decide::queue::task_head_to_wake(i, usize::MAX, self.store.now_ms())
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
            let may_wait = !cancelled
                && now < wait_until
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
