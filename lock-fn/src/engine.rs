//! The lock engine: turns validated requests into conditional writes and answers.

pub(crate) mod acquire;
pub(crate) mod acquire_queued;
pub mod after_answer;
pub(crate) mod cancel;
pub mod config;
pub(crate) mod describe;
mod ended_grant;
pub mod error;
pub(crate) mod release;
pub(crate) mod renew;
pub mod reply;
pub(crate) mod wait_budget;
mod wake_head;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lock_protocol::{AcquireResponse, Grant, Request};

use crate::callbacks::notify::Notifier;
use crate::engine::config::Config;
use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::model::fence::took_over_a_lost_lease;
use crate::model::item::LockItem;
use crate::store::LockStore;
use crate::world::metrics::{Metric, Metrics};

/// Retry hint given with a refusal when the holder's lease end is unknown.
pub const UNKNOWN_HOLDER_RETRY_MS: u64 = 20;
/// Longest retry hint: holders often release before their lease ends.
pub const MAX_RETRY_HINT_MS: u64 = 100;

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
        self.notifier = notifier.counting_in(self.metrics().clone());
        self
    }

    /// Where this engine records what operators count (see `world/metrics.rs`).
    pub fn metrics(&self) -> &Metrics {
        self.store.metrics()
    }

    /// Counts a grant this instance's write made, and, when `new` (the item that write returned
    /// at `now`) shows it took over from a grant that ran out unreleased, a lost lease.
    pub(crate) fn count_grant(&self, new: Option<&LockItem>, now: u64) {
        self.metrics().count(Metric::Grants);
        if new.is_some_and(|new| took_over_a_lost_lease(new, now)) {
            self.metrics().count(Metric::LostLeases);
        }
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
