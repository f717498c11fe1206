//! The queued acquire: join the lock's FIFO queue (once; the owner keeps its place while it tries
//! again in time), wait in-function when near the front, and take the lock when it is handed over
//! (or, free with nobody alive ahead, take it).

use std::time::Duration;

use lock_protocol::{owner_digest, AcquireRequest, AcquireResponse, Busy, OnBusy};

use crate::decide::cancel::{cancelled_since, since_floor};
use crate::decide::queue::{
    acquire_step, leave, ownerless_retry_hint_ms, queue_room, retry_hint_ms, task_head_to_wake,
    waiting_in_function,
};
use crate::decide::semaphore::sem_acquire_step;
use crate::decide::step::AcquireStep;
use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::engine::wait_budget::WaitSlot;
use crate::engine::{grant, granted, retry_hint, Executed, LockEngine};
use crate::model::item::{LockItem, Waiter};
use crate::store::AcquireWrite;
use crate::world::backoff::wait_poll_delay;
use crate::world::metrics::Metric;
use crate::write::mutex::{aim, claim, edit_only, join, place_until, refresh, take, Mark, Place};
use crate::write::semaphore::{sem_aim, sem_claim, sem_take, SemAsk};

/// At most this many tasks heading a free lock are woken by one queued acquire.
const MAX_HEAD_WAKES: u32 = 3;

/// A hint for the poll interval when no grant length is known yet.
const DEFAULT_HOLD_MS: u64 = 50;

/// `ms` give or take a half, so that callers told the same hint do not come back in step.
fn jittered(ms: u64) -> u64 {
    ms / 2 + fastrand::u64(0..=ms)
}

impl LockEngine {
    /// A queued acquire, decided step by step from consistent reads of the item (see `queue.rs`
    /// for the rules and DESIGN.md for why they keep FIFO order). Waits in-function only while among
    /// the first `LOCK_ACTIVE_WAITERS` places and `wait_ms` lasts; otherwise answers at once with
    /// `queued: true`, the place, and when to come back.
    ///
    /// `wake`: the caller is a Step Functions task (`task_token`), and a grant is aimed at it with
    /// this nonce (`wake_id`): by the write that makes it, or (the owner holds the lock already) by
    /// a write of its own before the grant is sent. Also answers whether this invocation's write
    /// made the grant (only then may a "task closed" answer pass it over).
    pub(crate) async fn acquire_queued(
        &self,
        req: AcquireRequest,
        duration_ms: u64,
        deadline_ms: Option<u64>,
        wake: Option<&str>,
    ) -> Result<(Executed, bool), LockError> {
        let mut slot = None;
        let done = self
            .acquire_queued_with(req, duration_ms, deadline_ms, wake, &mut slot)
            .await;
        self.give_back_wait_slot(slot, self.stop_at(deadline_ms));
        done
    }

    /// [`Self::acquire_queued`], holding `slot` of the waiting budget while it waits in-function.
    async fn acquire_queued_with(
        &self,
        req: AcquireRequest,
        duration_ms: u64,
        deadline_ms: Option<u64>,
        wake: Option<&str>,
        slot: &mut Option<WaitSlot>,
    ) -> Result<(Executed, bool), LockError> {
        // Without an owner of its own the caller cannot come back for its place: it waits
        // in-function (when the budget and the lock's in-function places allow: else it is
        // answered at once and never queued), and leaves the queue when its wait ends.
        let generated = req.owner.is_none();
        let owner = req
            .owner
            .clone()
            .unwrap_or_else(|| self.store.fresh_token());
        let digest = owner_digest(&owner);
        let stop_at = self.stop_at(deadline_ms);
        // This invocation never queues or takes the lock for its owner once the owner cancelled
        // after it started (a caller's own owner only: a generated one cannot have cancelled).
        let since = (!generated).then(|| since_floor(self.store.now_ms()));
        // A Step Functions waiter (task token) never waits in-function: lock-fn wakes it. Its
        // place lasts `wait_ms` (a little more than its task's TimeoutSeconds: it comes back with a
        // new token then), and a handoff gives it its full lease at once.
        let token = req.task_token.as_deref();
        let wait_until = match token {
            Some(_) => self.store.now_ms(),
            None => self.wait_until(req.wait_ms, deadline_ms),
        };
        let ttl = match token {
            Some(_) if req.wait_ms > 0 => req.wait_ms,
            Some(_) => lock_protocol::MAX_WAIT_MS,
            None => self.config.waiter_ttl.as_millis() as u64,
        };
        let cap = self.config.max_waiters;
        // A semaphore (`limit` above 1): the same queue, "free" meaning a free slot. A semaphore
        // try (not queueing) never joins: it answers busy, or waits by looking again.
        let limit = req.semaphore_limit();
        let joins = req.queues();
        let try_until = self.wait_until(req.wait_ms, deadline_ms);
        let max_ms = self.config.max_duration.as_millis() as u64;
        let places = self.in_function_places();
        let holder = req.holder.as_deref();
        let mut requests = 0;
        let mut ambiguous = false;
        // Whether this invocation saw its owner queued (a grant found later was handed to it).
        let mut waited = false;
        // Whether a snapshot or write of this invocation showed the owner's own entry: if it is
        // gone later without a grant, a `cancel` took it out (or it died): never join again.
        let mut saw_entry = false;
        // Whether a take of this invocation may have been applied unseen, and whether it aimed a
        // found grant (a Step Functions task's `wake_id` is then its own either way).
        let (mut took_unseen, mut aimed) = (false, false);
        // Tasks this invocation woke at the head of a free lock (see `wake_head.rs`).
        let mut head_wakes = 0;
        // A lock this instance saw no queue on lately is most likely free: try the one blind write
        // a single try makes (free, nobody queued and alive - exactly when a caller that is not
        // queued may take it); only when it is refused, decide from the item.
        let item_from_refusal = if limit.is_none()
            && wake.is_none()
            && !self.queue_seen(&req.resource_id, self.store.now_ms())
        {
            let write = self
                .store
                .acquire(
                    &req.resource_id,
                    &digest,
                    holder,
                    duration_ms,
                    since,
                    stop_at,
                )
                .await?;
            requests += write.attempts;
            ambiguous |= write.ambiguous;
            match write.value {
                AcquireWrite::Granted(new) => {
                    self.count_grant(Some(&new), write.now_ms);
                    let done = granted(
                        grant(new, owner, false, requests, self.store.now_ms()),
                        requests,
                    );
                    return Ok((done, true));
                }
                AcquireWrite::Refused(Some(old)) => Some(old),
                AcquireWrite::Refused(None) => None,
            }
        } else {
            None
        };
        let mut item = match item_from_refusal {
            Some(old) => Some(old),
            None => {
                self.snapshot(&req.resource_id, stop_at, &mut requests, ambiguous)
                    .await?
            }
        };
        loop {
            let now = self.store.now_ms();
            saw_entry |= item
                .as_ref()
                .is_some_and(|i| i.queue_index(&digest).is_some());
            // The queue's cap, in entries and in bytes.
            let room = item.as_ref().map_or(cap, |i| queue_room(i, cap));
            let step = match limit {
                Some(n) => sem_acquire_step(item.as_ref(), &digest, n, now, room),
                None => acquire_step(item.as_ref(), &digest, now, room),
            };
            let queued_now = item
                .as_ref()
                .is_some_and(|i| i.queue_index(&digest).is_some());
            let holds = matches!(
                step,
                AcquireStep::Held { .. }
                    | AcquireStep::LeaveQueue(_)
                    | AcquireStep::Mismatch { .. }
            );
            let cancelled = cancelled_since(item.as_ref(), &digest, since);
            if (saw_entry && !queued_now || cancelled) && !holds {
                // This owner's place was taken out while this invocation waited (its own `cancel`,
                // or it died), or the owner cancelled after this invocation started (an entry it
                // has now is a later invocation's: this one's writes are refused for good): whatever
                // the lock looks like now (free, deleted, busy), this wait must not come back as a
                // grant nobody asked for, nor queue the owner again.
                let seen = item.as_ref().map(|i| i.waiters_view(now));
                let live = seen.as_ref().map(|i| i.live_waiters(now));
                return self
                    .refuse(&req, seen.as_ref(), false, None, live, requests, now)
                    .map(|done| (done, false));
            }
            let sem = item.as_ref().is_some_and(|i| i.semaphore.is_some());
            if sem {
                // Releases of a semaphore read first (they hand slots on).
                self.note_queue(&req.resource_id, true, now);
            }
            if !joins
                && matches!(
                    step,
                    AcquireStep::Join { .. } | AcquireStep::Prune(_) | AcquireStep::Full { .. }
                )
            {
                // A semaphore try: busy, or (a `wait_ms` without queueing) a look again later.
                let seen = item.as_ref().map(|i| i.waiters_view(now));
                if now >= try_until {
                    let live = seen.as_ref().map(|i| i.live_waiters(now));
                    return self
                        .refuse(&req, seen.as_ref(), false, None, live, requests, now)
                        .map(|done| (done, false));
                }
                if !self
                    .hold_wait_slot(slot, try_until, stop_at, &mut requests)
                    .await
                {
                    let live = seen.as_ref().map(|i| i.live_waiters(now));
                    return self
                        .refuse(&req, seen.as_ref(), false, None, live, requests, now)
                        .map(|done| (done, false));
                }
                let pause = wait_poll_delay(self.config.wait_poll);
                tokio::time::sleep(pause.min(Duration::from_millis(try_until - now))).await;
                item = self
                    .snapshot(&req.resource_id, stop_at, &mut requests, ambiguous)
                    .await?;
                continue;
            }
            let write = match &step {
                AcquireStep::Mismatch { stored } => {
                    return Err(LockError::LimitMismatch {
                        resource_id: req.resource_id.clone(),
                        stored: *stored,
                        asked: limit.unwrap_or(1),
                    })
                }
                AcquireStep::Held { claim: None } => {
                    let held = item.expect("held means an item").grant_view(&digest);
                    let fence = held.fence.unwrap_or_default();
                    match wake {
                        None => {
                            let done = granted(
                                grant(held, owner, !waited, requests, self.store.now_ms()),
                                requests,
                            );
                            return Ok((done, false));
                        }
                        // This invocation's own take was applied unseen: the grant is its own
                        // (it may pass it over if its task turns out closed).
                        Some(w) if took_unseen && !aimed && held.wake_id.as_deref() == Some(w) => {
                            let done = granted(
                                grant(held, owner, false, requests, self.store.now_ms()),
                                requests,
                            );
                            return Ok((done, true));
                        }
                        // Another invocation may be sending this grant to a task of this owner:
                        // aim it at this one first (see `wake`).
                        Some(w) => {
                            aimed = true;
                            self.store
                                .apply("aim", &req.resource_id, stop_at, |now| {
                                    if sem {
                                        sem_aim(&digest, fence, w, now)
                                    } else {
                                        aim(&digest, fence, w, now)
                                    }
                                })
                                .await
                        }
                    }
                }
                AcquireStep::Held { claim: Some(full) } => {
                    // The full lease pending since the handoff, but never more than the claimer
                    // asks for now (a caller sizing its lease from its deadline asks for less) -
                    // and never ending before the lease as read: a claim never moves the end back
                    // (its write requires that; a renew landed since makes it read again).
                    let asked = (*full).min(duration_ms);
                    let view = item.as_ref().map(|i| i.grant_view(&digest));
                    let fence = view.as_ref().and_then(|v| v.fence).unwrap_or_default();
                    let read_end = view.as_ref().and_then(|v| v.expires_at_ms).unwrap_or(0);
                    let stored_purge = item.as_ref().and_then(|i| i.purge_at);
                    self.store
                        .apply("claim", &req.resource_id, stop_at, |now| {
                            let full = asked.max(read_end.saturating_sub(now));
                            if sem {
                                sem_claim(&digest, fence, full, wake, max_ms, stored_purge, now)
                            } else {
                                claim(&digest, fence, full, wake, now)
                            }
                        })
                        .await
                }
                AcquireStep::SemTake(t) => {
                    let ask = SemAsk {
                        me: &digest,
                        holder,
                        duration_ms,
                        limit: limit.unwrap_or(1),
                        wake,
                        max_ms,
                        since,
                    };
                    let write = self
                        .store
                        .apply("acquire", &req.resource_id, stop_at, |now| {
                            sem_take(t, &ask, now)
                        })
                        .await;
                    if write.as_ref().is_ok_and(|w| w.value.is_ok()) {
                        // Each expired holder the take removed ran out without a release.
                        self.metrics().add(Metric::LostLeases, t.purge.len() as u64);
                    }
                    write
                }
                AcquireStep::Take(edit) => {
                    self.store
                        .apply("acquire", &req.resource_id, stop_at, |now| {
                            take(&digest, holder, duration_ms, wake, edit, since, now)
                        })
                        .await
                }
                AcquireStep::LeaveQueue(edit) => {
                    self.store
                        .apply("leave", &req.resource_id, stop_at, |now| {
                            edit_only(edit, now)
                        })
                        .await
                }
                AcquireStep::Join { position } => {
                    let position = *position;
                    let seen = item.as_ref();
                    let may_wait = match seen {
                        _ if now >= wait_until => false,
                        Some(i) if generated => waiting_in_function(i, &digest, now) < places,
                        None if generated => true,
                        _ => position <= places,
                    };
                    let in_function = may_wait
                        && self
                            .hold_wait_slot(slot, wait_until, stop_at, &mut requests)
                            .await;
                    if generated && !in_function {
                        // Nobody can come back for this place: answer at once, unqueued, with a
                        // hint of when an in-function place may be free.
                        let hold = seen.and_then(|i| i.hold_ms).unwrap_or(DEFAULT_HOLD_MS);
                        let waiting = seen.map_or(0, |i| waiting_in_function(i, &digest, now));
                        let hint = jittered(ownerless_retry_hint_ms(waiting, hold));
                        let seen = seen.map(|i| i.waiters_view(now));
                        let live = seen.as_ref().map(|i| i.live_waiters(now));
                        return self
                            .refuse_with_hint(&req, seen.as_ref(), live, requests, now, hint)
                            .map(|done| (done, false));
                    }
                    let active_until_ms = if token.is_some() {
                        now + ttl
                    } else if in_function {
                        wait_until
                    } else {
                        0
                    };
                    let waiter = Waiter {
                        digest: digest.clone(),
                        duration_ms,
                        alive_until_ms: place_until(now, ttl),
                        active_until_ms,
                        holder: holder.map(Into::into),
                        token: token.map(Into::into),
                    };
                    waited = true;
                    let mark = Mark::for_entry(item.as_ref(), waiter.alive_until_ms);
                    // At most once: a join re-sent after its own unseen first attempt and the
                    // owner's `cancel` would queue the cancelled owner again.
                    let write = self
                        .store
                        .apply_at_most_once("join", &req.resource_id, stop_at, |now| {
                            join(&waiter, room, mark, since, now)
                        })
                        .await;
                    if write.as_ref().is_ok_and(|w| w.value.is_ok()) {
                        self.metrics()
                            .observe(Metric::QueueDepthAtJoin, position as f64);
                    }
                    write
                }
                AcquireStep::Prune(edit) => {
                    self.store
                        .apply("prune", &req.resource_id, stop_at, |now| {
                            edit_only(edit, now)
                        })
                        .await
                }
                AcquireStep::Full { live } => {
                    let seen = item.as_ref().map(|i| i.waiters_view(now));
                    let item = seen.as_ref();
                    return self
                        .refuse(&req, item, false, None, Some(*live), requests, now)
                        .map(|done| (done, false));
                }
                AcquireStep::Wait { index, position } => {
                    let (index, position) = (*index, *position);
                    waited = true;
                    let head = item
                        .as_ref()
                        .and_then(|i| task_head_to_wake(i, index, now))
                        .filter(|_| head_wakes < MAX_HEAD_WAKES);
                    if let (Some(head), Some(seen)) = (head, item.as_ref()) {
                        head_wakes += 1;
                        requests += self
                            .wake_task_head(&req.resource_id, seen, head, index, stop_at)
                            .await;
                        item = self
                            .snapshot(&req.resource_id, stop_at, &mut requests, ambiguous)
                            .await?;
                        continue;
                    }
                    let current = &item
                        .as_ref()
                        .expect("queued means an item")
                        .waiters_view(now);
                    self.note_queue(&req.resource_id, true, now);
                    let me = &current.waiters[index];
                    let may_wait = now < wait_until
                        && if generated {
                            waiting_in_function(current, &digest, now) < places
                        } else {
                            position <= places
                        };
                    let in_function = may_wait
                        && self
                            .hold_wait_slot(slot, wait_until, stop_at, &mut requests)
                            .await;
                    let active_until = match token {
                        Some(_) => now + ttl,
                        None if in_function => wait_until,
                        None => 0,
                    };
                    let stale = me.alive_until_ms < now + ttl / 2
                        || (in_function && me.active_until_ms < wait_until)
                        || (token.is_some() && me.token.as_deref() != token);
                    if !stale {
                        if !in_function && generated {
                            // Nobody can come back for this place: leave the queue, unless the
                            // lock was handed over meanwhile (then that grant is the answer).
                            let last = self
                                .give_up(&req.resource_id, &digest, stop_at, &mut requests)
                                .await
                                .map_err(|e| e.or_maybe_applied(ambiguous))?;
                            let now = self.store.now_ms();
                            return match last {
                                Some(held) if held.grant_of(&digest, now).is_some() => {
                                    let held = held.grant_view(&digest);
                                    let done = granted(
                                        grant(held, owner, false, requests, self.store.now_ms()),
                                        requests,
                                    );
                                    Ok((done, false))
                                }
                                last => {
                                    let last = last.map(|i| i.waiters_view(now));
                                    let live = last.as_ref().map(|i| i.live_waiters(now));
                                    self.refuse(
                                        &req,
                                        last.as_ref(),
                                        false,
                                        None,
                                        live,
                                        requests,
                                        now,
                                    )
                                    .map(|done| (done, false))
                                }
                            };
                        }
                        if !in_function {
                            let hint = retry_hint_ms(
                                position,
                                places,
                                current.hold_ms.unwrap_or(DEFAULT_HOLD_MS),
                                ttl,
                            );
                            return self
                                .refuse(
                                    &req,
                                    Some(current),
                                    true,
                                    Some((position, hint)),
                                    Some(current.live_waiters(now)),
                                    requests,
                                    now,
                                )
                                .map(|done| (done, false));
                        }
                        let poll = self.poll_interval(current, position, now);
                        let left = Duration::from_millis(wait_until.saturating_sub(now));
                        tokio::time::sleep(poll.min(left)).await;
                        item = self
                            .snapshot(&req.resource_id, stop_at, &mut requests, ambiguous)
                            .await?;
                        continue;
                    }
                    let x = place_until(now, ttl);
                    let mark = Mark::for_entry(Some(current), x);
                    let place = Place {
                        alive_until_ms: x,
                        active_until_ms: active_until,
                        token,
                        duration_ms,
                    };
                    self.store
                        .apply("keep_place", &req.resource_id, stop_at, |now| {
                            refresh(index, &digest, place, mark, since, now)
                        })
                        .await
                }
            }
            .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += write.attempts;
            ambiguous |= write.ambiguous;
            took_unseen |=
                write.ambiguous && matches!(step, AcquireStep::Take(_) | AcquireStep::SemTake(_));
            // A join that may have been applied unseen counts as seen: if the entry is not there
            // on the next read, a `cancel` may have taken it out.
            saw_entry |= write.ambiguous && matches!(step, AcquireStep::Join { .. });
            item = match write.value {
                Ok(Some(new)) => {
                    if let AcquireStep::Take(_)
                    | AcquireStep::SemTake(_)
                    | AcquireStep::Held { .. } = step
                    {
                        let made = matches!(step, AcquireStep::Take(_) | AcquireStep::SemTake(_));
                        if made {
                            self.count_grant(Some(&new), write.now_ms);
                        }
                        let new = new.grant_view(&digest);
                        // Only a grant the owner held before this invocation (an aim) is a
                        // reacquire; a claim is the first the waiter hears of its handoff.
                        let reacquired =
                            matches!(step, AcquireStep::Held { claim: None }) && !waited;
                        let done = granted(
                            grant(new, owner, reacquired, requests, self.store.now_ms()),
                            requests,
                        );
                        return Ok((done, made));
                    }
                    Some(new)
                }
                Ok(None) | Err(None) => {
                    self.snapshot(&req.resource_id, stop_at, &mut requests, ambiguous)
                        .await?
                }
                Err(Some(old)) => Some(old),
            };
        }
    }

    /// How long a waiter at `position` waiting in-function sleeps before it looks again. The head
    /// looks every `LOCK_HEAD_POLL_MS` while the current grant is young, then less often as it
    /// ages (an eighth of its age, at most 50 ms, never past its lease end): short critical
    /// sections are handed over at once, long ones cost few reads. Further back, about twice in
    /// the time the grants ahead of it should take (`hold_ms`: the last grant's length).
    fn poll_interval(&self, item: &LockItem, position: usize, now: u64) -> Duration {
        let hold = item.hold_ms.unwrap_or(DEFAULT_HOLD_MS);
        if position > 1 {
            let ahead = (position - 1) as u64;
            return Duration::from_millis((ahead * hold / 2).clamp(5, 200));
        }
        let fast = self.config.head_poll;
        let expected = match (item.acquired_at_ms, item.lease_end_ms()) {
            (Some(at), Some(end)) if item.is_held_at(now) => {
                at.saturating_add(hold * 3 / 4).min(end)
            }
            _ => return fast,
        };
        let until = Duration::from_millis(expected.saturating_sub(now));
        until.clamp(fast, Duration::from_millis(50))
    }

    /// Leaves the queue (re-reading when it changed under the write); returns the last item seen,
    /// which shows whether the lock was handed to this owner before it could leave.
    async fn give_up(
        &self,
        resource: &str,
        digest: &str,
        stop_at: Option<u64>,
        requests: &mut u32,
    ) -> Result<Option<LockItem>, crate::store::error::StoreError> {
        let mut last = None;
        for _ in 0..8 {
            let read = self.store.read(resource, stop_at).await?;
            *requests += read.attempts;
            last = read.value;
            let Some(item) = last.as_ref() else { break };
            let now = self.store.now_ms();
            if item.grant_of(digest, now).is_some() {
                break;
            }
            let Some(edit) = leave(item, digest, now) else {
                break;
            };
            let write = self
                .store
                .apply("leave", resource, stop_at, |now| edit_only(&edit, now))
                .await?;
            *requests += write.attempts;
            if write.value.is_ok() {
                break;
            }
        }
        Ok(last)
    }

    /// A consistent read of the item, counted.
    async fn snapshot(
        &self,
        resource: &str,
        stop_at: Option<u64>,
        requests: &mut u32,
        ambiguous: bool,
    ) -> Result<Option<LockItem>, LockError> {
        let read = self
            .store
            .read(resource, stop_at)
            .await
            .map_err(|e| e.or_maybe_applied(ambiguous))?;
        *requests += read.attempts;
        Ok(read.value)
    }

    /// The busy answer of a caller that is not queued, told to come back after `hint_ms`.
    fn refuse_with_hint(
        &self,
        req: &AcquireRequest,
        item: Option<&LockItem>,
        live: Option<usize>,
        requests: u32,
        now: u64,
        hint_ms: u64,
    ) -> Result<Executed, LockError> {
        let mut done = self.refuse(req, item, false, None, live, requests, now);
        if let Ok(Executed {
            reply: Reply::Acquire(AcquireResponse::Busy(b)),
            ..
        }) = &mut done
        {
            b.retry_after_ms = hint_ms;
        }
        if let Err(LockError::Busy(b)) = &mut done {
            b.retry_after_ms = hint_ms;
        }
        done
    }

    /// The busy answer of a queued acquire (or, with `"on_busy":"error"`, the `LockBusy` error).
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        req: &AcquireRequest,
        item: Option<&LockItem>,
        queued: bool,
        place: Option<(usize, u64)>,
        live: Option<usize>,
        requests: u32,
        now: u64,
    ) -> Result<Executed, LockError> {
        let holder_end = item
            .filter(|i| i.is_held_at(now))
            .and_then(LockItem::lease_end_ms);
        let busy = Busy {
            acquired: false,
            resource_id: req.resource_id.clone(),
            retry_after_ms: place.map_or_else(|| retry_hint(holder_end, now), |(_, hint)| hint),
            holder_expires_at_ms: holder_end,
            holder_fence: item.and_then(|i| i.fence),
            attempts: requests,
            holder: item.and_then(|i| i.holder.clone()),
            queued,
            position: place.map(|(p, _)| p as u32),
            queue_length: live.map(|n| n as u32),
            limit: item.and_then(|i| i.semaphore.as_ref()).map(|s| s.limit),
            holders: item
                .and_then(|i| i.semaphore.as_ref())
                .map(|s| s.live_count(now) as u32),
        };
        match req.on_busy {
            OnBusy::Result => Ok(Executed {
                reply: Reply::Acquire(AcquireResponse::Busy(busy)),
                requests,
            }),
            OnBusy::Error => Err(LockError::Busy(Box::new(busy))),
        }
    }
}
