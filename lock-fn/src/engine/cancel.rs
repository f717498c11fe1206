//! Cancel: a waiter that gives up leaves the queue, and a grant made to it meanwhile (it may not
//! have learned of it) is released and handed on.

use lock_protocol::{owner_digest, CancelRequest, CancelResponse, ReleaseRequest};

use crate::decide::cancel::{mark_write, marks_to_drop};
use crate::decide::queue::leave;
use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::engine::{Executed, LockEngine};
use crate::store::error::StoreError;
use crate::write::mutex::cancel;

/// A cancel reads and writes again at most this often when the queue keeps changing under it.
const MAX_ROUNDS: u32 = 8;

impl LockEngine {
    /// Cancel: `cancelled: true` when the owner was queued or held the lock and is neither now. The
    /// item (when there is one) keeps the cancel's mark either way.
    pub async fn cancel(
        &self,
        req: CancelRequest,
        deadline_ms: Option<u64>,
    ) -> Result<Executed, LockError> {
        let stop_at = self.stop_at(deadline_ms);
        let digest = owner_digest(&req.owner);
        let mut requests = 0;
        let mut left_queue = false;
        let mut unseen_leave = false;
        let mut holds = None;
        let mut ambiguous = false;
        let mut finished = false;
        for _ in 0..MAX_ROUNDS {
            let read = self.store.read(&req.resource_id, stop_at).await?;
            requests += read.attempts;
            let Some(item) = read.value else {
                finished = true;
                break;
            };
            let now = self.store.now_ms();
            holds = item.grant_of(&digest, now);
            // One write leaves the queue and marks the cancel, so that no acquire invocation of
            // this owner that started before it queues or takes the lock later (`decide/cancel.rs`).
            let edit = leave(&item, &digest, now);
            let how = mark_write(&item, &digest, now);
            let held = holds.is_some();
            let drop = marks_to_drop(&item, &digest, now);
            let write = self
                .store
                .apply("cancel", &req.resource_id, stop_at, |now| {
                    cancel(&digest, edit.as_ref(), held, how, &drop, now)
                })
                .await?;
            requests += write.attempts;
            ambiguous |= write.ambiguous;
            // An attempt applied unseen took the entry out even if its resend was refused.
            unseen_leave |= write.ambiguous && edit.is_some();
            if write.value.is_ok() {
                left_queue = edit.is_some() || unseen_leave;
                finished = true;
                break;
            }
        }
        if !finished {
            // Every round was refused (the item kept changing): the owner may still be queued and
            // no mark was left - never answer `cancelled: false` for that. A grant the last read
            // showed is released all the same (its lease need not run out first), and the answer
            // then says that something may have been applied.
            if let Some(fence) = holds {
                ambiguous = true;
                let release = ReleaseRequest {
                    resource_id: req.resource_id.clone(),
                    owner: req.owner.clone(),
                    fence: Some(fence),
                };
                if let Err(e) = self.release(release, deadline_ms).await {
                    tracing::warn!(resource = %req.resource_id, error = %e,
                        "a cancel that lost every round could not release the owner's grant either");
                }
            }
            return Err(LockError::Store(StoreError::kept_changing(
                "the lock item kept changing under the cancel (contention); retry the cancel",
                ambiguous,
            )));
        }
        let mut released = false;
        if let Some(fence) = holds {
            let done = self
                .release(
                    ReleaseRequest {
                        resource_id: req.resource_id.clone(),
                        owner: req.owner.clone(),
                        fence: Some(fence),
                    },
                    deadline_ms,
                )
                .await?;
            requests += done.requests;
            released = matches!(done.reply, Reply::Release(ref r) if r.released);
        }
        Ok(Executed {
            reply: Reply::Cancel(CancelResponse {
                cancelled: left_queue || released,
                resource_id: req.resource_id,
                released,
            }),
            requests,
        })
    }
}
