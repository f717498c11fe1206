//! Waking a Step Functions task that heads the queue of a free lock. A task waiter is woken by
//! the release that hands it the lock; when the lease ahead of it ran out instead (its holder
//! died), or its join landed on a free lock after its own invocation had answered, nobody hands
//! it anything, and every waiter behind it would wait for its task's re-entry - or, when its
//! execution is gone, for its place to end (up to 15 minutes). The first waiter behind it that
//! sees this takes the lock for the task, as the release would have, and wakes it; a closed task
//! is passed over to the next waiter the same way.

use std::time::Duration;

use tracing::warn;

use crate::decide::edit::edit;
use crate::engine::LockEngine;
use crate::model::item::LockItem;
use crate::store::error::StoreError;
use crate::write::mutex::wake_take;

/// A wake is started only with this much time left before the invocation must answer.
const WAKE_NEEDS_MS: u64 = 1_000;

impl LockEngine {
    /// Takes the lock for the task waiting at `head` of `item` and wakes it, on behalf of the
    /// waiter at `me` (`usize::MAX`: a try; dead entries are pruned only ahead of it, so that a
    /// waiter coming back late keeps its own). Done only with [`WAKE_NEEDS_MS`] left before
    /// `stop_at`, and cut off there: the caller's answer comes first (an unsent grant reaches the
    /// task at its re-entry). A write made for another waiter: whatever became of it, the caller
    /// reads the item again, so a failure is only logged. Returns the requests sent.
    pub(crate) async fn wake_task_head(
        &self,
        resource: &str,
        item: &LockItem,
        head: usize,
        me: usize,
        stop_at: Option<u64>,
    ) -> u32 {
        self.try_wake_task_head(resource, item, head, me, stop_at)
            .await
            .unwrap_or_else(|e| {
                warn!(resource, error = %e, "waking the task at the head of a free lock failed");
                0
            })
    }

    async fn try_wake_task_head(
        &self,
        resource: &str,
        item: &LockItem,
        head: usize,
        me: usize,
        stop_at: Option<u64>,
    ) -> Result<u32, StoreError> {
        let now = self.store.now_ms();
        let left = stop_at.map(|s| s.saturating_sub(now));
        if left.is_some_and(|l| l < WAKE_NEEDS_MS) {
            return Ok(0);
        }
        let waiter = item.waiters[head].clone();
        let wake_id = self.store.fresh_token();
        let queue_edit = edit(item, now, me.min(item.waiters.len()), &[head]);
        let write = self
            .store
            .apply("wake_head", resource, stop_at, |now| {
                wake_take(head, &waiter, &wake_id, &queue_edit, now)
            })
            .await;
        // Applied, or refused after an attempt whose answer was lost had applied it: the item then
        // shows the task holding a grant aimed with this very `wake_id`, which no other write can
        // have written.
        let ours = |item: &LockItem| {
            let view = item.grant_view(&waiter.digest);
            (item.grant_of(&waiter.digest, self.store.now_ms()).is_some()
                && view.wake_id.as_deref() == Some(wake_id.as_str()))
            .then_some(view)
        };
        let (mut requests, seen, written_at) = match write {
            Ok(write) => (
                write.attempts,
                Some((write.value, write.ambiguous)),
                write.now_ms,
            ),
            Err(e) if e.maybe_applied() => (0, None, 0),
            Err(e) => return Err(e),
        };
        // The item the write returned, when its answer came back (what tells a lost lease).
        let returned = match &seen {
            Some((Ok(Some(new)), _)) => Some(new.clone()),
            _ => None,
        };
        let granted = match seen {
            Some((Ok(Some(new)), _)) => Some(new.grant_view(&waiter.digest)),
            Some((Ok(None), _)) => None,
            Some((Err(Some(old)), _)) => ours(&old),
            Some((Err(None), false)) => None,
            // Unseen: refused after an attempt whose answer was lost (on a store that returns no
            // item on a refused write), or given up on after one: a read tells whether it applied
            // (found by the simulator's `a_task_handed_a_grant_unseen_is_woken`; otherwise the
            // task waited for its re-entry).
            Some((Err(None), true)) | None => {
                let read = self.store.read(resource, stop_at).await?;
                requests += read.attempts;
                read.value.as_ref().and_then(ours)
            }
        };
        // Also a grant applied unseen (found by the read): then no item of its own tells whether
        // it took over a lost lease.
        if granted.is_some() {
            self.count_grant(returned.as_ref(), written_at);
        }
        // Otherwise someone took the lock meanwhile (the task itself, on its re-entry, which is
        // then sent its grant), or what happened is unknown: the task's re-entry finds its grant.
        let Some(granted) = granted else {
            return Ok(requests);
        };
        warn!(resource, "a Step Functions waiter headed the queue of a free lock; it was given the lock and woken");
        let wake = self.wake_handed(resource, Some((waiter, granted, Some(wake_id))), stop_at);
        let left = stop_at.map(|s| s.saturating_sub(self.store.now_ms()));
        let woken = match left {
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms), wake).await,
            None => Ok(wake.await),
        };
        match woken {
            Ok((sent, _)) => requests += sent,
            Err(_) => {
                warn!(
                    resource,
                    "waking the task ran out of time; its re-entry finds its grant"
                )
            }
        }
        Ok(requests)
    }
}
