//! The write that ends a grant as `decide/release.rs` decided, for a mutex and a semaphore alike:
//! rendered in the item's own layout (a mutex's grant in dynamo-dlm's attributes, `write/mutex.rs`;
//! a semaphore's in its holder map, `write/semaphore.rs`). The engine writes a release once, for
//! both.

use crate::decide::edit::Edit;
use crate::model::item::{LockItem, Waiter};
use crate::write::expr::Write;
use crate::write::mutex::{handoff, release_pruning, Releaser};
use crate::write::semaphore::{sem_handoff, sem_release_alone};

/// The grant's next holder, as a handoff gives it its slot.
#[derive(Debug, Clone, Copy)]
pub struct Next<'a> {
    /// The waiter the slot goes to.
    pub waiter: &'a Waiter,
    /// The waiters' estimate of how long a grant lasts (`hold_ms`).
    pub hold_ms: u64,
    /// The claim lease of a waiter that is not waiting in-function.
    pub claim_ms: u64,
    /// The longest lease any holder can have (a semaphore's `purge_at`).
    pub max_ms: u64,
    /// The nonce the grant is aimed at the waiter's Step Functions task with.
    pub wake: Option<&'a str>,
}

/// The releaser's grant ends with nobody to hand it to (`edit` prunes dead waiters), `item` as read.
pub fn end_alone(item: &LockItem, r: &Releaser, edit: &Edit, now: u64) -> Write {
    match item.semaphore {
        Some(_) => sem_release_alone(r, released_fence(item, r), edit, now),
        None => release_pruning(r, edit, now),
    }
}

/// The releaser's grant goes to `next` in the same write, `item` as read.
pub fn hand_on(item: &LockItem, r: &Releaser, next: &Next, edit: &Edit, now: u64) -> Write {
    match item.semaphore {
        Some(_) => sem_handoff(
            r,
            released_fence(item, r),
            item.fence.unwrap_or_default(),
            next.waiter,
            next.hold_ms,
            next.claim_ms,
            next.max_ms,
            item.purge_at,
            next.wake,
            edit,
            now,
        ),
        None => handoff(
            r,
            next.waiter,
            next.hold_ms,
            next.claim_ms,
            next.wake,
            edit,
            now,
        ),
    }
}

/// The fence of the grant a semaphore release ends, from the snapshot (its release record).
fn released_fence(item: &LockItem, r: &Releaser) -> u64 {
    item.grant(r.me).map_or(0, |g| g.fence)
}
