//! Renew: moves the holder's lease end; the fence stays.

use lock_protocol::{owner_digest, RenewRequest, RenewResponse, Renewal};
use tracing::warn;

use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::model::owner::redact;
use crate::store::error::StoreError;
use crate::store::Attempted;
use crate::write::semaphore::sem_renew;

use crate::engine::{Executed, LockEngine};

/// A refused renew reads and writes again at most this often.
const RENEW_ROUNDS: u32 = 3;

impl LockEngine {
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
        // The last round's end of an ended grant was refused: the grant may be live again.
        let mut unsettled = false;
        for _ in 0..RENEW_ROUNDS {
            if renewed.is_some() {
                break;
            }
            unsettled = false;
            let read = self
                .store
                .read(&req.resource_id, stop_at)
                .await
                .map_err(|e| e.or_maybe_applied(ambiguous))?;
            requests += read.attempts;
            let Some(item) = read.value else { break };
            let now = read.now_ms;
            let view = item.grant_view(&digest);
            let ours = item
                .live_grant(&digest, now)
                .is_some_and(|g| g.is_named_by(req.fence, since));
            if !ours {
                // Its own grant ran out: it ends for good, so that no late renew of it brings it
                // back after this answer (`renewed: false`); refused, the item changed: look again.
                if let Some(grant) = item.ended_grant(&digest, req.fence, since, now) {
                    let end = self
                        .end_ended_grant(&req.resource_id, &item, &grant, stop_at)
                        .await
                        .map_err(|e| e.or_maybe_applied(ambiguous))?;
                    requests += end.attempts;
                    if end.value.is_err() {
                        unsettled = true;
                        continue;
                    }
                }
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
        if renewed.is_none() && unsettled {
            // Never "not renewed" while the grant may have come back: the caller may still hold.
            return Err(LockError::Store(StoreError::kept_changing(
                "the lock item kept changing under the renew (a grant that ran out kept coming \
                 back); retry the renew",
                ambiguous,
            )));
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
}
