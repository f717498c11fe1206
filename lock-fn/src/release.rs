//! Release: the holder ends its lease, and when someone alive is queued, hands the lock to the
//! first of them in the same conditional write.

use lock_protocol::{new_owner_token, owner_digest, ReleaseRequest, ReleaseResponse};
use tracing::warn;

use crate::clock::now_ms;
use crate::engine::{Executed, LockEngine};
use crate::error::LockError;
use crate::item::{LockItem, RELEASE_SLOTS};
use crate::owner::redact;
use crate::queue::{release_step, ReleaseStep};
use crate::reply::Reply;
use crate::store::ReleaseWrite;
use crate::writes::{handoff, release_pruning, Releaser};

/// A release reads and writes again at most this often when the queue keeps changing under it.
const MAX_ROUNDS: u32 = 8;

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
        let nonce = new_owner_token();
        let since = now_ms();
        let releaser = Releaser {
            me: &digest,
            fence: req.fence,
            since,
            nonce: &nonce,
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
        // Hand on, or find out why not (not the holder, or someone queued).
        let mut outcome = None;
        for _ in 0..MAX_ROUNDS {
            if read_needed {
                let read = self
                    .store
                    .read(&req.resource_id, stop_at)
                    .await
                    .map_err(|e| e.or_maybe_applied(ambiguous))?;
                requests += read.attempts;
                snapshot = read.value;
            }
            let Some(item) = snapshot.as_ref() else {
                break;
            };
            let now = now_ms();
            let write = match release_step(item, &digest, req.fence, since, now) {
                ReleaseStep::NotHolder => break,
                ReleaseStep::Plain(edit) => {
                    self.store
                        .apply("release", &req.resource_id, stop_at, |now| {
                            release_pruning(&releaser, &edit, now)
                        })
                        .await
                }
                ReleaseStep::Handoff { next, edit } => {
                    self.note_queue(&req.resource_id, true, now);
                    let waiter = item.waiters[next].clone();
                    let hold = grant_interval(item, now);
                    let claim = self.config.claim.as_millis() as u64;
                    self.store
                        .apply("handoff", &req.resource_id, stop_at, |now| {
                            handoff(&releaser, &waiter, hold, claim, &edit, now)
                        })
                        .await
                }
            }
            .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += write.attempts;
            ambiguous |= write.ambiguous;
            match write.value {
                Ok(_) => {
                    outcome = Some(write.now_ms);
                    break;
                }
                Err(old) => {
                    read_needed = old.is_none();
                    snapshot = old;
                }
            }
        }
        if let Some(at_ms) = outcome {
            return Ok(self.released(req, Some(at_ms), false, requests));
        }
        // Not the holder (any more): this very release may have ended it already.
        let recorded = snapshot.as_ref().and_then(|item| match req.fence {
            Some(fence) => item.released_in_slot(&digest, fence),
            None => item.released_with_nonce(&nonce),
        });
        if recorded.is_some() {
            return Ok(self.released(req, recorded, false, requests));
        }
        // An attempt may have been applied unseen and no record says so. For a fenced release the
        // absence is proof when the grant's slot cannot have been reused yet: fewer than
        // RELEASE_SLOTS grants followed it.
        let mut uncertain = ambiguous;
        if let (true, Some(fence)) = (uncertain, req.fence) {
            let slot_kept = snapshot
                .as_ref()
                .and_then(|item| item.fence)
                .is_some_and(|now| now < fence.saturating_add(RELEASE_SLOTS));
            uncertain = !slot_kept;
        }
        warn!(resource = %req.resource_id, owner = %redact(&req.owner),
            "release by a non-holder: the lease had expired and/or another owner took the lock");
        Ok(self.released(req, None, uncertain, requests))
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

/// The waiters' estimate of how long a grant lasts, after this handoff at `now`: the time since the
/// current grant was made, but rising by at most a quarter over the last estimate per grant (it may
/// fall at once). Waiters further back come back after about half the time the grants ahead should
/// take; an estimate that errs short only costs them an extra look, one that errs long leaves a
/// passive waiter at the head of the queue (its grant waits for it).
fn grant_interval(item: &LockItem, now: u64) -> u64 {
    let sample = now.saturating_sub(item.acquired_at_ms.unwrap_or(now));
    match item.hold_ms {
        Some(last) => sample.min(last + last / 4 + 1),
        None => sample,
    }
}
