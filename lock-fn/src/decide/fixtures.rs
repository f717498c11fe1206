//! The items the deciders' unit tests start from (tests only).

use crate::model::item::{LockItem, SemHolder, Semaphore, Waiter};

/// A waiter whose place lasts until `alive_until_ms`.
pub fn waiter(digest: &str, alive_until_ms: u64) -> Waiter {
    Waiter::sample(digest, alive_until_ms)
}

/// A mutex item held by `holder` (fence 7, begun at 2) until `lease_end`, with `waiters`.
pub fn item(holder: Option<&str>, lease_end: u64, waiters: Vec<Waiter>) -> LockItem {
    let qx = waiters.iter().map(|w| w.alive_until_ms).max();
    LockItem {
        resource_id: "r".into(),
        release_code: holder.map(Into::into),
        expires_at_ms: Some(lease_end),
        acquired_at_ms: Some(2),
        fence: Some(7),
        waiters,
        queue_alive_until_ms: qx,
        ..LockItem::default()
    }
}

/// A semaphore holder entry (begun at 1).
pub fn holder(digest: &str, fence: u64, lease_end_ms: u64) -> SemHolder {
    SemHolder {
        digest: digest.into(),
        fence,
        lease_end_ms,
        acquired_at_ms: 1,
        ..SemHolder::default()
    }
}

/// A semaphore item of `limit` (fence counter 9) with `holders` and `waiters`.
pub fn sem(limit: u32, holders: Vec<SemHolder>, waiters: Vec<Waiter>) -> LockItem {
    let qx = waiters.iter().map(|w| w.alive_until_ms).max();
    LockItem {
        resource_id: "r".into(),
        fence: Some(9),
        waiters,
        queue_alive_until_ms: qx,
        semaphore: Some(Semaphore { limit, holders }),
        ..LockItem::default()
    }
}
