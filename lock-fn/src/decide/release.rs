//! How a grant ends, for a mutex and a semaphore alike (one model, `model/grant.rs`): a release by
//! its holder ends it plainly when nobody alive is queued, else hands the freed slot to the first
//! live waiter that holds none, in the same write. Decided from a consistent snapshot of the item
//! (pure functions, unit-tested); the writes are built in `write/end_of_grant.rs`.

use crate::decide::edit::{edit, Edit};
use crate::model::item::{LockItem, Waiter};

/// What a release by the holder does, from the item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStep {
    /// The caller does not hold this grant (any more).
    NotHolder,
    /// Nobody alive is queued: end the grant (pruning dead waiters with `edit`).
    Plain(Edit),
    /// Hand the freed slot to the live waiter at `next` in the same write.
    Handoff {
        /// Its list index.
        next: usize,
        /// The queue edit (it, and dead waiters ahead of it).
        edit: Edit,
    },
}

/// Decides what the release of the owner with digest `me` does, from `item` as read at `now_ms`:
/// of the grant with `fence` when given, else of a grant that began by `since` (the release's
/// first attempt). The slot goes to the first live waiter that holds none - never to the releasing
/// owner itself, whose own stale entry (left by another invocation of its own) goes with the
/// release.
pub fn release_step(
    item: &LockItem,
    me: &str,
    fence: Option<u64>,
    since: u64,
    now_ms: u64,
) -> ReleaseStep {
    if !item
        .live_grant(me, now_ms)
        .is_some_and(|g| g.is_named_by(fence, since))
    {
        return ReleaseStep::NotHolder;
    }
    end_of_grant(item, me, now_ms, |w| {
        item.live_grant(&w.digest, now_ms).is_none()
    })
}

/// How a grant of `me` ends: handed to the first live waiter that `may_take`, or plainly (then
/// requiring that nobody joined since the snapshot); either way with the dead waiters ahead and
/// `me`'s own entry removed.
fn end_of_grant(
    item: &LockItem,
    me: &str,
    now_ms: u64,
    may_take: impl Fn(&Waiter) -> bool,
) -> ReleaseStep {
    let own = item.queue_index(me);
    let next = item
        .waiters
        .iter()
        .position(|w| w.alive_at(now_ms) && w.digest != me && may_take(w));
    match next {
        Some(next) => {
            let must_go: Vec<usize> = [Some(next), own].into_iter().flatten().collect();
            ReleaseStep::Handoff {
                next,
                edit: edit(item, now_ms, next, &must_go),
            }
        }
        None => ReleaseStep::Plain(
            edit(item, now_ms, item.waiters.len(), own.as_slice()).relying_on_no_live_waiter(item),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::edit::{QueueVersion, Removal};
    use crate::decide::fixtures::{holder, item, sem, waiter};

    #[test]
    fn a_release_hands_the_lock_to_the_first_live_waiter() {
        let q = item(
            Some("me"),
            50,
            vec![waiter("dead", 9), waiter("a", 100), waiter("b", 100)],
        );
        assert_eq!(
            release_step(&q, "me", Some(7), 0, 10),
            ReleaseStep::Handoff {
                next: 1,
                edit: Edit {
                    removed: vec![Removal::dead(0, "dead"), Removal::entry(1, "a")],
                    ..Edit::default()
                }
            }
        );
        assert_eq!(
            release_step(&q, "me", Some(8), 0, 10),
            ReleaseStep::NotHolder
        );
        assert_eq!(release_step(&q, "a", None, 10, 10), ReleaseStep::NotHolder);
        assert_eq!(
            release_step(&q, "me", None, 1, 10),
            ReleaseStep::NotHolder,
            "an unfenced release never ends a grant that began after its first attempt"
        );
        let alone = item(Some("me"), 50, vec![waiter("dead", 9)]);
        assert_eq!(
            release_step(&alone, "me", None, 5, 10),
            ReleaseStep::Plain(Edit {
                removed: vec![Removal::dead(0, "dead")],
                unchanged_since: Some(QueueVersion(None)),
                clears_mark: true,
            })
        );
    }

    #[test]
    fn a_release_never_hands_the_lock_to_its_own_owner_and_takes_its_entry_along() {
        let q = item(Some("me"), 50, vec![waiter("me", 100), waiter("b", 100)]);
        assert_eq!(
            release_step(&q, "me", Some(7), 0, 10),
            ReleaseStep::Handoff {
                next: 1,
                edit: Edit {
                    removed: vec![Removal::entry(0, "me"), Removal::entry(1, "b")],
                    unchanged_since: Some(QueueVersion(None)),
                    clears_mark: true,
                }
            }
        );
        let only_me = item(Some("me"), 50, vec![waiter("me", 100)]);
        assert_eq!(
            release_step(&only_me, "me", Some(7), 0, 10),
            ReleaseStep::Plain(Edit {
                removed: vec![Removal::entry(0, "me")],
                unchanged_since: Some(QueueVersion(None)),
                clears_mark: true,
            })
        );
    }

    #[test]
    fn a_release_hands_its_slot_to_the_first_live_waiter() {
        let s = sem(
            2,
            vec![holder("a", 7, 50), holder("b", 8, 50)],
            vec![waiter("dead", 5), waiter("w", 100)],
        );
        match release_step(&s, "a", Some(7), 0, 10) {
            ReleaseStep::Handoff { next, edit } => {
                assert_eq!(next, 1);
                assert_eq!(edit.removed.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            release_step(&s, "a", Some(8), 0, 10),
            ReleaseStep::NotHolder
        );
        assert_eq!(
            release_step(&s, "a", None, 0, 10),
            ReleaseStep::NotHolder,
            "began later"
        );
        let alone = sem(2, vec![holder("a", 7, 50)], vec![]);
        assert!(matches!(
            release_step(&alone, "a", None, 5, 10),
            ReleaseStep::Plain(_)
        ));
        let expired = sem(2, vec![holder("a", 7, 5)], vec![]);
        assert_eq!(
            release_step(&expired, "a", Some(7), 0, 10),
            ReleaseStep::NotHolder
        );
    }

    #[test]
    fn a_semaphore_slot_never_goes_to_a_waiter_that_already_holds_one() {
        // "a" is queued again by another invocation of its own while it holds a slot: the slot
        // "b" frees goes past it to "w".
        let s = sem(
            2,
            vec![holder("a", 7, 50), holder("b", 8, 50)],
            vec![waiter("a", 100), waiter("w", 100)],
        );
        match release_step(&s, "b", Some(8), 0, 10) {
            ReleaseStep::Handoff { next, .. } => assert_eq!(next, 1),
            other => panic!("{other:?}"),
        }
    }
}
