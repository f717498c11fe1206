//! Semaphores: at most N holders of one resource at once, all on the resource's one item
//! (`sem_limit`, `sem_holders`; see `model/item.rs` and DESIGN.md). What a semaphore acquire and release
//! do next, decided from a consistent snapshot (pure functions, unit-tested). The queue is the
//! mutex's (`queue.rs`): the same entries, edits and FIFO rules; only "free" means "fewer than N
//! live holders" here.

use crate::decide::edit::{edit, Edit, MAX_REMOVALS};
use crate::decide::queue::{held, not_queued};
use crate::decide::step::{AcquireStep, SemTake};
use crate::model::item::{LockItem, Semaphore};

/// Decides what a semaphore acquire (limit `limit`) by the owner with digest `me` does next, from
/// `item` as read at `now_ms`. A slot is free while fewer than `limit` holders are live; FIFO as
/// for the mutex: a queued caller takes a free slot only when there are more free slots than live
/// waiters ahead of it, a caller not queued only when nobody is queued and alive.
pub fn sem_acquire_step(
    item: Option<&LockItem>,
    me: &str,
    limit: u32,
    now_ms: u64,
    cap: usize,
) -> AcquireStep {
    let Some(item) = item else {
        return AcquireStep::SemTake(SemTake {
            create: true,
            old_fence: 0,
            purge: Vec::new(),
            own_expired: false,
            relimit_from: None,
            queued: false,
            stored_purge: None,
            edit: Edit::default(),
        });
    };
    let Some(sem) = &item.semaphore else {
        return AcquireStep::Mismatch { stored: 1 };
    };
    let idle = sem.live_count(now_ms) == 0 && item.live_waiters(now_ms) == 0;
    if sem.limit != limit && !idle {
        return AcquireStep::Mismatch { stored: sem.limit };
    }
    if let Some(grant) = item.live_grant(me, now_ms) {
        return held(item, me, now_ms, grant.claim_ms);
    }
    // An expired holder is a free slot only when the write checks it still expired (it purges
    // it): a renew built before its lease end can land after this read and bring it back. At
    // most MAX_REMOVALS are purged per write; the rest still count as taken.
    let (purge, unchecked) = expired(sem, me, now_ms);
    let taken = sem.live_count(now_ms) + unchecked;
    if sem.limit != limit && taken >= limit as usize {
        // A lower limit on an idle semaphore whose expired holders beyond one write's purge would
        // fill it: takes at the stored limit purge them first.
        return AcquireStep::Mismatch { stored: sem.limit };
    }
    let free = (limit as usize).saturating_sub(taken);
    let relimit_from = (sem.limit != limit).then_some(sem.limit);
    let take = |queued: bool, edit: Edit| {
        AcquireStep::SemTake(SemTake {
            create: false,
            old_fence: item.fence.unwrap_or_default(),
            purge: purge.clone(),
            own_expired: sem.entry(me).is_some(),
            relimit_from,
            queued,
            stored_purge: item.purge_at,
            // A new limit is taken only while nobody is queued: nobody may join meanwhile.
            edit: match relimit_from {
                Some(_) => edit.relying_on_no_live_waiter(item),
                None => edit,
            },
        })
    };
    match item.queue_index(me) {
        Some(index) => {
            let ahead = item.waiters[..index]
                .iter()
                .filter(|w| w.alive_at(now_ms))
                .count();
            if ahead < free {
                take(true, edit(item, now_ms, item.waiters.len(), &[index]))
            } else {
                AcquireStep::Wait {
                    index,
                    position: ahead + 1,
                }
            }
        }
        None => not_queued(item, free > 0, now_ms, cap, |edit| take(false, edit)),
    }
}

/// The expired holders (other than `me`) a grant checks and removes, at most [`MAX_REMOVALS`],
/// and how many more expired holders it leaves unchecked.
fn expired(sem: &Semaphore, me: &str, now_ms: u64) -> (Vec<String>, usize) {
    let mut expired = sem
        .holders
        .iter()
        .filter(|h| !h.live_at(now_ms) && h.digest != me);
    let purge = expired
        .by_ref()
        .take(MAX_REMOVALS)
        .map(|h| h.digest.clone())
        .collect();
    (purge, expired.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::fixtures::{holder, sem, waiter};
    use crate::model::item::SemHolder;

    fn taken(step: AcquireStep) -> SemTake {
        match step {
            AcquireStep::SemTake(t) => t,
            other => panic!("expected a take, got {other:?}"),
        }
    }

    #[test]
    fn a_free_slot_is_taken_and_expired_holders_are_purged_by_the_same_write() {
        let new = taken(sem_acquire_step(None, "me", 3, 10, 8));
        assert!(new.create);
        let s = sem(
            3,
            vec![holder("a", 7, 5), holder("b", 8, 50), holder("c", 9, 6)],
            vec![],
        );
        let t = taken(sem_acquire_step(Some(&s), "me", 3, 10, 8));
        assert_eq!((t.create, t.old_fence, t.queued), (false, 9, false));
        assert_eq!(t.purge, ["a", "c"]);
        let full = sem(2, vec![holder("a", 7, 50), holder("b", 8, 50)], vec![]);
        assert_eq!(
            sem_acquire_step(Some(&full), "me", 2, 10, 8),
            AcquireStep::Join { position: 1 }
        );
        assert_eq!(
            sem_acquire_step(Some(&full), "a", 2, 10, 8),
            AcquireStep::Held { claim: None }
        );
    }

    #[test]
    fn expired_holders_beyond_one_writes_purge_still_count_as_taken() {
        // 18 expired holders and one live: the write checks (purges) 16 of them, so two expired
        // entries it does not check stay taken - a late renew may bring them back.
        let mut holders: Vec<SemHolder> =
            (0..18).map(|i| holder(&format!("x{i:02}"), i, 5)).collect();
        holders.push(holder("live", 30, 50));
        let s = sem(19, holders.clone(), vec![]);
        let t = taken(sem_acquire_step(Some(&s), "me", 19, 10, 8));
        assert_eq!(t.purge.len(), MAX_REMOVALS);
        // At limit 19 there are 16 checked free slots: FIFO lets up to 16 waiters take at once.
        let queued = sem(
            19,
            holders.clone(),
            (0..17).map(|i| waiter(&format!("w{i:02}"), 100)).collect(),
        );
        assert!(taken(sem_acquire_step(Some(&queued), "w15", 19, 10, 8)).queued);
        assert!(matches!(
            sem_acquire_step(Some(&queued), "w16", 19, 10, 8),
            AcquireStep::Wait { position: 17, .. }
        ));
        // Idle at another limit: 18 expired, 2 unchecked - a limit of 2 would rely on them.
        let idle = sem(19, holders[..18].to_vec(), vec![]);
        assert_eq!(
            sem_acquire_step(Some(&idle), "me", 2, 10, 8),
            AcquireStep::Mismatch { stored: 19 }
        );
        assert_eq!(
            taken(sem_acquire_step(Some(&idle), "me", 3, 10, 8)).relimit_from,
            Some(19)
        );
    }

    #[test]
    fn another_limit_is_a_mismatch_unless_the_semaphore_is_idle() {
        let busy = sem(3, vec![holder("a", 7, 50)], vec![]);
        assert_eq!(
            sem_acquire_step(Some(&busy), "me", 4, 10, 8),
            AcquireStep::Mismatch { stored: 3 }
        );
        let idle = sem(3, vec![holder("a", 7, 5)], vec![]);
        assert_eq!(
            taken(sem_acquire_step(Some(&idle), "me", 4, 10, 8)).relimit_from,
            Some(3)
        );
        let mutex = LockItem {
            resource_id: "r".into(),
            ..LockItem::default()
        };
        assert_eq!(
            sem_acquire_step(Some(&mutex), "me", 4, 10, 8),
            AcquireStep::Mismatch { stored: 1 }
        );
    }

    #[test]
    fn fifo_waiters_take_only_the_slots_not_owed_to_those_ahead() {
        // One free slot, two live waiters: the first takes it, the second waits; a newcomer joins.
        let s = sem(
            2,
            vec![holder("a", 7, 50)],
            vec![waiter("w1", 100), waiter("w2", 100)],
        );
        assert!(taken(sem_acquire_step(Some(&s), "w1", 2, 10, 8)).queued);
        assert_eq!(
            sem_acquire_step(Some(&s), "w2", 2, 10, 8),
            AcquireStep::Wait {
                index: 1,
                position: 2
            }
        );
        assert_eq!(
            sem_acquire_step(Some(&s), "new", 2, 10, 8),
            AcquireStep::Join { position: 3 }
        );
        // Two free slots: both waiters may take one.
        let s = sem(
            3,
            vec![holder("a", 7, 50)],
            vec![waiter("w1", 100), waiter("w2", 100)],
        );
        assert!(taken(sem_acquire_step(Some(&s), "w2", 3, 10, 8)).queued);
    }
}
