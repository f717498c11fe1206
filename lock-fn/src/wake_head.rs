//! Waking a Step Functions task that heads the queue of a free lock. A task waiter is woken by
//! the release that hands it the lock; when the lease ahead of it ran out instead (its holder
//! died), or its join landed on a free lock after its own invocation had answered, nobody hands
//! it anything, and every waiter behind it would wait for its task's re-entry - or, when its
//! execution is gone, for its place to end (up to 15 minutes). The first waiter behind it that
//! sees this takes the lock for the task, as the release would have, and wakes it; a closed task
//! is passed over to the next waiter the same way.

use tracing::warn;

use crate::engine::LockEngine;
use crate::item::LockItem;
use crate::queue::edit;
use crate::store_error::StoreError;
use crate::writes::take;

impl LockEngine {
    /// Takes the lock for the task waiting at `head` of `item` and wakes it. Returns the requests
    /// sent and whether one may have applied unseen.
    pub(crate) async fn wake_task_head(
        &self,
        resource: &str,
        item: &LockItem,
        head: usize,
        stop_at: Option<u64>,
    ) -> Result<(u32, bool), StoreError> {
        let waiter = item.waiters[head].clone();
        let wake_id = self.store.fresh_token();
        let now = self.store.now_ms();
        let queue_edit = edit(item, now, item.waiters.len(), &[head]);
        let write = self
            .store
            .apply("wake_head", resource, stop_at, |now| {
                take(
                    &waiter.digest,
                    waiter.holder.as_deref(),
                    waiter.duration_ms,
                    Some(&wake_id),
                    &queue_edit,
                    now,
                )
            })
            .await?;
        let (mut requests, mut ambiguous) = (write.attempts, write.ambiguous);
        // Applied, or refused after an attempt whose answer was lost had applied it: the item then
        // shows the task holding a grant aimed with this very `wake_id`, which no other write can
        // have written.
        let ours = |item: &LockItem| {
            let view = item.grant_view(&waiter.digest);
            (item.grant_of(&waiter.digest, self.store.now_ms()).is_some()
                && view.wake_id.as_deref() == Some(wake_id.as_str()))
            .then_some(view)
        };
        let granted = match &write.value {
            Ok(Some(new)) => Some(new.grant_view(&waiter.digest)),
            Ok(None) => None,
            Err(old) => old.as_ref().and_then(ours),
        };
        // Otherwise someone took the lock meanwhile (the task itself, on its re-entry, which is
        // then sent its grant), or what happened is unknown: the task's re-entry finds its grant.
        let Some(granted) = granted else {
            return Ok((requests, ambiguous));
        };
        warn!(resource, "a Step Functions waiter headed the queue of a free lock; it was given the lock and woken");
        let (sent, unclear) = self
            .wake_handed(resource, Some((waiter, granted, Some(wake_id))), stop_at)
            .await;
        requests += sent;
        ambiguous |= unclear;
        Ok((requests, ambiguous))
    }
}
