//! The write that ends a grant as `decide/release.rs` decided, for a mutex and a semaphore alike:
//! rendered in the item's own layout (a mutex's grant in dynamo-dlm's attributes, `write/mutex.rs`;
//! a semaphore's in its holder map, `write/semaphore.rs`). The engine writes a release once, for
//! both.

use crate::decide::edit::Edit;
use crate::model::grant::Grant;
use crate::model::item::{LockItem, Waiter};
use crate::write::expr::Write;
use crate::write::mutex::{handoff, mutex_end_ended, release_pruning, Releaser};
use crate::write::semaphore::{sem_end_ended, sem_handoff, sem_release_alone};

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

/// An ended grant (`LockItem::ended_grant`) goes for good: a mutex's holder attributes, a
/// semaphore's entry, removed only while the grant is as read (its fence and lease end unchanged).
/// A renew of it held up in the network compares the lease end with its sender's clock, so it would
/// otherwise bring the grant back after its owner was told `renewed: false` or `released: false`.
pub fn end_ended(item: &LockItem, g: &Grant) -> Write {
    match item.semaphore {
        Some(_) => sem_end_ended(g.digest, g.fence, g.lease_end_ms),
        None => mutex_end_ended(g.digest, g.fence, g.lease_end_ms),
    }
}

/// The fence of the grant a semaphore release ends, from the snapshot (its release record).
fn released_fence(item: &LockItem, r: &Releaser) -> u64 {
    item.grant(r.me).map_or(0, |g| g.fence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{Applied, MemoryTable};
    use crate::write::expressions::renew;
    use crate::write::mutex::applied::apply;
    use crate::write::semaphore::{sem_renew, sem_take, SemAsk};

    fn read(t: &MemoryTable) -> LockItem {
        LockItem::try_from(t.get("r").unwrap()).unwrap()
    }

    /// A renew sent at 40 ms (the lease, ending at 50, still running by its sender's clock) lands
    /// after the lease ended. On the grant as it ran out, it brings it back; after the owner's
    /// refused renew or release ended it (`end_ended`), it is refused - for a mutex and a semaphore.
    fn a_late_renew_never_brings_back_an_ended_grant(mut t: MemoryTable, late: Write) {
        let fence = read(&t).grant("me").expect("held").fence;
        let mut untouched = MemoryTable::default();
        untouched.put("r", t.get("r").unwrap().clone());
        assert!(
            matches!(apply(&mut untouched, &late), Applied::Written(_)),
            "without the end, the late renew revives the grant"
        );
        let item = read(&t);
        let f = Some(fence);
        assert!(item.ended_grant("me", f, 0, 49).is_none(), "still running");
        assert!(
            item.ended_grant("me", Some(fence + 1), 0, 60).is_none(),
            "another grant"
        );
        assert!(
            item.ended_grant("other", f, 0, 60).is_none(),
            "another owner"
        );
        assert!(item.ended_grant("me", None, 0, 60).is_none(), "began after");
        assert!(
            item.ended_grant("me", None, 10, 60).is_some(),
            "began by then"
        );
        let grant = item.ended_grant("me", f, 0, 60).expect("ended");
        let end = end_ended(&item, &grant);
        assert!(matches!(apply(&mut t, &end), Applied::Written(_)));
        assert!(read(&t).grant("me").is_none());
        assert!(matches!(apply(&mut t, &late), Applied::Refused(_)));
        // A grant renewed since the read is not ended.
        assert!(matches!(apply(&mut untouched, &end), Applied::Refused(_)));
        assert!(read(&untouched).live_grant("me", 60).is_some());
    }

    #[test]
    fn a_late_renew_never_brings_back_an_ended_mutex_grant() {
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        let mut t = MemoryTable::default();
        t.put(
            "r",
            std::collections::HashMap::from([
                ("resource_id".to_string(), S("r".into())),
                ("release_code".to_string(), S("me".into())),
                ("expires_at_ms".to_string(), N("50".into())),
                ("expires".to_string(), N("0".into())),
                ("acquired_at_ms".to_string(), N("10".into())),
                ("holder".to_string(), S("label".into())),
                ("fence".to_string(), N("7".into())),
            ]),
        );
        a_late_renew_never_brings_back_an_ended_grant(t, renew("me", Some(7), 40, 1_000, 40));
    }

    #[test]
    fn a_late_renew_never_brings_back_an_ended_semaphore_grant() {
        let ask = SemAsk {
            me: "me",
            holder: None,
            duration_ms: 40,
            limit: 2,
            wake: None,
            max_ms: 1_000,
            since: None,
        };
        let mut t = MemoryTable::default();
        let take = crate::decide::step::SemTake {
            create: true,
            old_fence: 0,
            purge: vec![],
            own_expired: false,
            relimit_from: None,
            queued: false,
            stored_purge: None,
            edit: Edit::default(),
        };
        assert!(matches!(
            apply(&mut t, &sem_take(&take, &ask, 10)),
            Applied::Written(_)
        ));
        let fence = read(&t).grant("me").expect("taken").fence;
        let late = sem_renew("me", Some(fence), 40, 1_000, 1_000, read(&t).purge_at, 40);
        a_late_renew_never_brings_back_an_ended_grant(t, late);
    }
}
