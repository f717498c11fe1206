//! Release: the holder ends its lease, and when someone alive is queued, hands the lock to the
//! first of them in the same conditional write.

use lock_protocol::{owner_digest, ReleaseRequest, ReleaseResponse};
use tracing::warn;

use crate::callbacks::grant_output::callback_output;
use crate::callbacks::notify::Sent;
use crate::decide::release::{release_step, ReleaseStep};
use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::engine::{Executed, LockEngine};
use crate::model::item::{LockItem, Waiter, RELEASE_SLOTS};
use crate::model::owner::redact;
use crate::store::error::StoreError;
use crate::store::Attempted;
use crate::store::ReleaseWrite;
use crate::world::metrics::Metric;
use crate::write::end_of_grant::{end_alone, hand_on, Next};
use crate::write::mutex::Releaser;

/// A release reads and writes again at most this often when the queue keeps changing under it.
const MAX_ROUNDS: u32 = 16;
/// A release that finds the caller's own grant run out ends it (`end_ended`); refused because the
/// item changed, it looks again, at most this many times in all.
const END_PASSES: u32 = 4;
/// At most this many closed Step Functions waiters are passed over by one release.
const MAX_SKIPS: u32 = 10;

/// What one [`LockEngine::end_or_hand_on`] did.
#[derive(Debug, Default)]
pub(crate) struct Round {
    /// When the lease ended, when it did.
    pub ended_at: Option<u64>,
    /// The item as last seen (written or refused).
    pub last: Option<LockItem>,
    /// DynamoDB requests sent.
    pub requests: u32,
    /// A write may have been applied unseen.
    pub ambiguous: bool,
    /// The waiter the lock was handed to, the item as granted to it, and (a Step Functions
    /// waiter, not woken yet) the `wake_id` the grant was aimed at its task with.
    pub handed: Option<(Waiter, LockItem, Option<String>)>,
    /// Every round's write was refused because the item kept changing (contention): nothing was
    /// decided - the caller may still hold the lock.
    pub exhausted: bool,
}

/// A release round's write: the item as written, or (refused) as DynamoDB returned it.
type RoundWrite = Attempted<Result<Option<LockItem>, Option<LockItem>>>;

impl LockEngine {
    /// Release: holder-only; `released:false` (and a WARNING) when the lease had ended or was taken.
    ///
    /// With nobody alive queued it is one write. Otherwise (the write refused, or this instance saw
    /// a queue on the resource lately and reads first) it reads the item and ends the lease in the
    /// write that grants the first live waiter (a new fence, the waiter's own lease, or a short
    /// claim lease when no invocation waits for it right now).
    ///
    /// `released: true` is answered only when this release (or an earlier attempt of it) ended the
    /// lease it names: lock-fn's own retries recognise their first attempt by this invocation's
    /// nonce; a release that names its fence is recognised by that grant's slot, also when the
    /// caller repeats it after a lost answer. A record of another grant never answers for this one.
    pub async fn release(
        &self,
        req: ReleaseRequest,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let stop_at = self.stop_at(deadline_ms);
        let digest = owner_digest(&req.owner);
        let nonce = self.store.fresh_token();
        let since = self.store.now_ms();
        let releaser = Releaser {
            me: &digest,
            fence: req.fence,
            since,
            nonce: &nonce,
            wake_id: None,
        };
        let mut requests = 0;
        let mut ambiguous = false;
        let mut snapshot: Option<LockItem> = None;
        let mut read_needed = self.queue_seen(&req.resource_id, since);
        if !read_needed {
            let write = self
                .store
                .release(&req.resource_id, &digest, req.fence, &nonce, since, stop_at)
                .await?;
            requests += write.attempts;
            ambiguous |= write.ambiguous;
            match write.value {
                ReleaseWrite::Released { at_ms } => {
                    return Ok(self.released(req, Some(at_ms), false, requests))
                }
                ReleaseWrite::NotHolder(old) => {
                    read_needed = old.is_none();
                    snapshot = old.map(|b| *b);
                }
            }
        }
        // Hand on, or find out why not (not the holder, or someone queued). Another pass only when
        // the end of the caller's own ended grant was refused (the item changed since: perhaps a
        // late renew brought the grant back), at most END_PASSES in all.
        let mut passes = 0;
        let snapshot = loop {
            passes += 1;
            let round = self
                .end_and_wake(&req.resource_id, &releaser, snapshot, read_needed, stop_at)
                .await
                .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += round.requests;
            ambiguous |= round.ambiguous;
            let outcome = round.ended_at;
            if outcome.is_none() && round.exhausted {
                // Still the holder, as far as anyone can tell: never answer "not held" for that.
                return Err(LockError::Store(StoreError::kept_changing(
                    "the lock item kept changing under the release (contention); retry the \
                     release (with the fence, a repeat is exact)",
                    ambiguous,
                )));
            }
            let last = round.last;
            if let Some(at_ms) = outcome {
                return Ok(self.released(req, Some(at_ms), false, requests));
            }
            // Not the holder (any more): this very release may have ended it already.
            let recorded = last.as_ref().and_then(|item| match req.fence {
                Some(fence) => item.released_in_slot(&digest, fence),
                None => item.released_with_nonce(&nonce),
            });
            if recorded.is_some() {
                return Ok(self.released(req, recorded, false, requests));
            }
            // Its own grant ran out unreleased: it ends for good, so that no late renew of it brings
            // it back after this answer (`released: false`). The end releases nothing, so an answer
            // lost on it changes no answer; a store error on it is answered as that error.
            let now = self.store.now_ms();
            // A semaphore's run-out entry is purged by other holders' takes: ending it here races
            // them and leaves the answer `uncertain` (fault suite, no faults) - renew ends it.
            let Some((item, grant)) =
                last.as_ref()
                    .filter(|i| i.semaphore.is_none())
                    .and_then(|i| {
                        i.ended_grant(&digest, req.fence, since, now)
                            .map(|g| (i, g))
                    })
            else {
                break last;
            };
            let end = self
                .end_ended_grant(&req.resource_id, item, &grant, stop_at)
                .await
                .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += end.attempts;
            if end.value.is_ok() {
                break last;
            }
            if passes == END_PASSES {
                // The grant may be live again right now: never "not held" for that.
                return Err(LockError::Store(StoreError::kept_changing(
                    "the lock item kept changing under the release (a grant that ran out kept \
                     coming back); retry the release",
                    ambiguous,
                )));
            }
            read_needed = true;
            snapshot = None;
        };
        // No record says this release (or an earlier attempt of it) ended the grant. With the
        // fence that proves it did not only when the record cannot have been overwritten since
        // (else `uncertain`) - whether or not this invocation saw an ambiguous write: the caller
        // may be repeating a release whose answer it lost. Without the fence only this
        // invocation's own attempts are recognised (its nonce).
        // No item at all: a dynamo-dlm release or TTL deleted it, records and all, perhaps after
        // an earlier attempt of this release was applied - nothing proves it was not.
        let uncertain = match (req.fence, snapshot.as_ref()) {
            (Some(fence), Some(item)) => {
                !(expired_unreleased(item, &digest, fence) || slot_unused_since(item, fence))
            }
            (Some(_), None) => true,
            (None, _) => ambiguous,
        };
        warn!(resource = %req.resource_id, owner = %redact(&req.owner),
            "release by a non-holder: the lease had expired and/or another owner took the lock");
        Ok(self.released(req, None, uncertain, requests))
    }

    /// [`Self::end_or_hand_on`], then wakes a Step Functions waiter the lock was handed to
    /// (`SendTaskSuccess`). One whose task turns out closed is passed over: its grant is ended on
    /// its behalf and handed on to the next, up to [`MAX_SKIPS`] times in one invocation (later
    /// closed waiters keep the grant until its lease ends or a re-entry of theirs finds it).
    pub(crate) async fn end_and_wake(
        &self,
        resource: &str,
        releaser: &Releaser<'_>,
        snapshot: Option<LockItem>,
        read_needed: bool,
        stop_at: Option<u64>,
    ) -> Result<Round, crate::store::error::StoreError> {
        let mut round = self
            .end_or_hand_on(resource, releaser, snapshot, read_needed, stop_at)
            .await?;
        let handed = round.handed.take();
        let (requests, ambiguous) = self.wake_handed(resource, handed, stop_at).await;
        round.requests += requests;
        round.ambiguous |= ambiguous;
        Ok(round)
    }

    /// Wakes the Step Functions waiter a grant was just `handed` to (aimed at its task with the
    /// `wake_id` it carries); a closed task's grant goes on to the next waiter, and so on, at most
    /// [`MAX_SKIPS`] times. Returns the requests sent and whether one may have applied unseen.
    pub(crate) async fn wake_handed(
        &self,
        resource: &str,
        mut handed: Option<(Waiter, LockItem, Option<String>)>,
        stop_at: Option<u64>,
    ) -> (u32, bool) {
        let (mut requests, mut ambiguous) = (0, false);
        let mut skips = 0;
        while let Some((waiter, granted, Some(wake_id))) = handed.take() {
            let Some(token) = waiter.token.as_deref() else {
                break;
            };
            let sent = self
                .notifier
                .success(token, &callback_output(&granted, self.store.now_ms()))
                .await;
            if sent != Sent::Closed || skips == MAX_SKIPS {
                break;
            }
            skips += 1;
            self.metrics().count(Metric::CallbackPassOvers);
            // The task is gone: its grant goes to the next waiter.
            let nonce = self.store.fresh_token();
            let on_behalf = Releaser::passing_over(
                &waiter.digest,
                granted.fence,
                &wake_id,
                &nonce,
                self.store.now_ms(),
            );
            let skipped = match self
                .end_or_hand_on(resource, &on_behalf, Some(granted), false, stop_at)
                .await
            {
                Ok(skipped) => skipped,
                Err(e) => {
                    // The release itself was applied; the grant stays where the failed write
                    // left it (with the closed task, or perhaps with the next waiter): its lease or
                    // the waiter's re-entry ends it (as after MAX_SKIPS).
                    warn!(resource, error = %e, "passing a closed task's grant on failed; its lease or a re-entry ends it");
                    break;
                }
            };
            requests += skipped.requests;
            ambiguous |= skipped.ambiguous;
            handed = skipped.handed;
        }
        (requests, ambiguous)
    }

    /// Ends `releaser`'s lease from `snapshot` (read first when `read_needed`): a plain end when
    /// nobody alive is queued, else a handoff to the first live waiter (told in [`Round::handed`],
    /// not woken).
    pub(crate) async fn end_or_hand_on(
        &self,
        resource: &str,
        releaser: &Releaser<'_>,
        mut snapshot: Option<LockItem>,
        mut read_needed: bool,
        stop_at: Option<u64>,
    ) -> Result<Round, crate::store::error::StoreError> {
        let mut round = Round::default();
        let mut finished = false;
        // Handoffs to Step Functions waiters that may have been applied unseen (their answer lost
        // and the retry refused): recognised later by the `wake_id` they wrote, and woken.
        let mut unseen: Vec<(Waiter, String)> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            if read_needed {
                let read = self.store.read(resource, stop_at).await?;
                round.requests += read.attempts;
                snapshot = read.value;
            }
            let Some(item) = snapshot.as_ref() else {
                finished = true;
                break;
            };
            let aimed = item.grant_view(releaser.me).wake_id;
            if releaser.wake_id.is_some() && aimed.as_deref() != releaser.wake_id {
                // Aimed at a task again since: not this pass-over's to end.
                round.last = snapshot;
                finished = true;
                break;
            }
            let now = self.store.now_ms();
            let (write, woken) = self
                .end_once(resource, releaser, item, now, stop_at)
                .await?;
            let Some(write) = write else {
                round.last = snapshot;
                finished = true;
                break;
            };
            round.requests += write.attempts;
            round.ambiguous |= write.ambiguous;
            match write.value {
                Ok(new) => {
                    round.ended_at = Some(write.now_ms);
                    if woken.is_some() {
                        self.count_grant(new.as_ref(), write.now_ms);
                        self.metrics().count(Metric::Handoffs);
                    }
                    round.handed = woken.zip(new.clone()).map(|((waiter, wake), item)| {
                        let granted = item.grant_view(&waiter.digest);
                        (waiter, granted, wake)
                    });
                    round.last = new;
                    finished = true;
                    break;
                }
                Err(old) => {
                    if write.ambiguous {
                        if let Some((waiter, Some(wake))) = woken {
                            unseen.push((waiter, wake));
                        }
                    }
                    read_needed = old.is_none();
                    snapshot = old;
                }
            }
        }
        round.exhausted = !finished;
        if round.handed.is_none() {
            round.handed = applied_unseen(round.last.as_ref(), unseen, self.store.now_ms());
        }
        Ok(round)
    }

    /// One release write from `item` (`None`: the releaser holds no such grant), and the waiter
    /// it hands the freed slot to (with the `wake_id` aimed at its task): one path for the mutex
    /// and semaphores, the write rendered in the item's layout.
    async fn end_once(
        &self,
        resource: &str,
        releaser: &Releaser<'_>,
        item: &LockItem,
        now: u64,
        stop_at: Option<u64>,
    ) -> Result<
        (Option<RoundWrite>, Option<(Waiter, Option<String>)>),
        crate::store::error::StoreError,
    > {
        match release_step(item, releaser.me, releaser.fence, releaser.since, now) {
            ReleaseStep::NotHolder => Ok((None, None)),
            ReleaseStep::Plain(edit) => {
                let write = self
                    .store
                    .apply("release", resource, stop_at, |now| {
                        end_alone(item, releaser, &edit, now)
                    })
                    .await?;
                Ok((Some(write), None))
            }
            ReleaseStep::Handoff { next, edit } => {
                if item.semaphore.is_none() {
                    self.note_queue(resource, true, now);
                }
                let waiter = item.waiters[next].clone();
                let wake = waiter.token.as_ref().map(|_| self.store.fresh_token());
                let next = Next {
                    waiter: &waiter,
                    hold_ms: grant_interval(item, releaser.me, now),
                    claim_ms: self.config.claim.as_millis() as u64,
                    max_ms: self.config.max_duration.as_millis() as u64,
                    wake: wake.as_deref(),
                };
                let write = self
                    .store
                    .apply("handoff", resource, stop_at, |now| {
                        hand_on(item, releaser, &next, &edit, now)
                    })
                    .await?;
                Ok((Some(write), Some((waiter, wake))))
            }
        }
    }

    fn released(
        &self,
        req: ReleaseRequest,
        released_at_ms: Option<u64>,
        uncertain: bool,
        requests: u32,
    ) -> Executed {
        Executed {
            reply: Reply::Release(ReleaseResponse {
                released: released_at_ms.is_some(),
                resource_id: req.resource_id,
                released_at_ms,
                uncertain: released_at_ms.is_none() && uncertain,
            }),
            requests,
        }
    }
}

/// Whether `item` still shows the grant `fence` of the owner with digest `digest`, its lease run
/// out: a release of it would have removed it (a semaphore's entry, a mutex's `release_code`), so
/// none was applied.
fn expired_unreleased(item: &LockItem, digest: &str, fence: u64) -> bool {
    match &item.semaphore {
        Some(sem) => sem.entry(digest).is_some_and(|h| h.fence == fence),
        None => item.fence == Some(fence) && item.release_code.as_deref() == Some(digest),
    }
}

/// The handoff among `unseen` (to a Step Functions waiter, with the `wake_id` it wrote) that `item`
/// shows applied: that waiter holds a grant aimed with that very nonce (no other write can have
/// written it), so it is to be woken as if the handoff's answer had come back.
fn applied_unseen(
    item: Option<&LockItem>,
    unseen: Vec<(Waiter, String)>,
    now: u64,
) -> Option<(Waiter, LockItem, Option<String>)> {
    let item = item?;
    unseen.into_iter().find_map(|(waiter, wake)| {
        let granted = item.grant_view(&waiter.digest);
        (item.grant_of(&waiter.digest, now).is_some()
            && granted.wake_id.as_deref() == Some(wake.as_str()))
        .then_some((waiter, granted, Some(wake)))
    })
}

/// Whether the release slot of grant `fence` shows that no release of that grant was applied and
/// then overwritten: fewer than RELEASE_SLOTS grants followed it (no newer grant shares the slot),
/// and - a semaphore, where an older holder still running (fence - 8k) reuses the slot when it
/// releases - the slot is empty or holds an older grant's release applied before grant `fence`
/// existed (the fence counter it recorded is below `fence`), which this release would have
/// overwritten.
fn slot_unused_since(item: &LockItem, fence: u64) -> bool {
    // A counter below the fence is another life of the item (a dynamo-dlm peer or TTL deleted
    // the one that held grant `fence`, records and all): it proves nothing either.
    let newer_grants_or_another_life = item
        .fence
        .is_none_or(|now| now < fence || now >= fence.saturating_add(RELEASE_SLOTS));
    if newer_grants_or_another_life {
        return false;
    }
    if item.semaphore.is_none() {
        return true;
    }
    item.slot_releases
        .iter()
        .find(|r| r.fence % RELEASE_SLOTS == fence % RELEASE_SLOTS)
        .is_none_or(|r| r.fence < fence && r.counter_at_release.is_some_and(|g| g < fence))
}

/// The waiters' estimate of how long a grant lasts, after this handoff at `now`: the time since the
/// current grant was made, but rising by at most a quarter over the last estimate per grant (it may
/// fall at once). Waiters further back come back after about half the time the grants ahead should
/// take; an estimate that errs short only costs them an extra look, one that errs long leaves a
/// passive waiter at the head of the queue (its grant waits for it). The grant is `me`'s, in
/// either layout (read in place: a handoff copies nothing of the item for it).
fn grant_interval(item: &LockItem, me: &str, now: u64) -> u64 {
    let began = item.grant(me).and_then(|g| g.acquired_at_ms);
    let sample = now.saturating_sub(began.unwrap_or(now));
    match item.hold_ms {
        Some(last) => sample.min(last + last / 4 + 1),
        None => sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item::{Semaphore, SlotRelease};

    fn item(semaphore: bool, counter: u64, slot: Option<(u64, Option<u64>)>) -> LockItem {
        LockItem {
            resource_id: "r".into(),
            fence: Some(counter),
            semaphore: semaphore.then(|| Semaphore {
                limit: 3,
                holders: vec![],
            }),
            slot_releases: slot
                .map(|(fence, counter_at_release)| SlotRelease {
                    fence,
                    owner_digest: "x".into(),
                    at_ms: 1,
                    counter_at_release,
                })
                .into_iter()
                .collect(),
            ..LockItem::default()
        }
    }

    #[test]
    fn a_release_slot_is_proof_only_while_nothing_can_have_overwritten_it() {
        // Mutex: eight grants later a newer one shares the slot.
        assert!(slot_unused_since(&item(false, 25, Some((10, None))), 18));
        assert!(!slot_unused_since(&item(false, 26, None), 18));
        // The grant is still the item's latest (counter == fence): proof.
        assert!(slot_unused_since(&item(false, 18, None), 18));
        assert!(slot_unused_since(&item(true, 18, None), 18));
        // Another life of the item (its counter restarted below the fence): no proof.
        assert!(!slot_unused_since(&item(false, 17, None), 18));
        assert!(!slot_unused_since(&item(true, 17, None), 18));
        // Semaphore: empty, or an older grant's release applied before grant 18 existed.
        assert!(slot_unused_since(&item(true, 20, None), 18));
        assert!(slot_unused_since(&item(true, 20, Some((10, Some(17)))), 18));
        // ... not one applied since (it may have overwritten this release), nor one of unknown time.
        assert!(!slot_unused_since(
            &item(true, 20, Some((10, Some(18)))),
            18
        ));
        assert!(!slot_unused_since(&item(true, 20, Some((10, None))), 18));
        assert!(!slot_unused_since(&item(true, 26, None), 18));
    }
}
