//! Describe: a consistent read of the item, shown without owner tokens.

use lock_protocol::{owner_digest, DescribeRequest, DescribeResponse, HolderInfo, QueuedWaiter};

use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::model::item::LockItem;

use crate::engine::{Executed, LockEngine};

impl LockEngine {
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
}
