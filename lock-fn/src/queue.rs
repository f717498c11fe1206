//! The FIFO queue on the lock item: what a queued acquire, a release and a cancel do next, decided
//! from a consistent snapshot of the item (pure functions, unit-tested), and the queue edits their
//! conditional writes make. The writes themselves are in `store.rs`; their expressions are in
//! `expressions.rs`.

use crate::item::{LockItem, Waiter};

/// At most this many queue entries are removed by one write (expression size stays far under
/// DynamoDB's 4 KB); more dead waiters are pruned by later writes.
pub const MAX_REMOVALS: usize = 16;

/// Entries one write removes from the queue, each checked to be what the snapshot showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// (list index, owner digest, whether it must still be dead), ascending by index.
    pub removed: Vec<(usize, String, bool)>,
    /// After the removals no entry of the snapshot is left: clear `qx` too, provided nobody joined
    /// since (the list still has the snapshot's length).
    pub empties_at_len: Option<usize>,
}

impl Edit {
    /// For unit tests: the edit that removes the queue's only entry, `digest` (a handoff to it).
    #[cfg(test)]
    pub fn only_entry(digest: &str) -> Edit {
        Edit {
            removed: vec![(0, digest.into(), false)],
            empties_at_len: Some(1),
        }
    }

    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.empties_at_len.is_none()
    }

    /// The digests it removes (for `DELETE wset`).
    pub fn digests(&self) -> Vec<String> {
        self.removed.iter().map(|(_, d, _)| d.clone()).collect()
    }
}

/// Builds an edit: remove the dead waiters (up to [`MAX_REMOVALS`] in all) and `also`, the entry at
/// that index (a waiter that takes the lock or leaves).
pub(crate) fn edit(waiters: &[Waiter], now_ms: u64, also: Option<usize>) -> Edit {
    let mut removed = Vec::new();
    for (i, w) in waiters.iter().enumerate() {
        if removed.len() == MAX_REMOVALS {
            break;
        }
        if Some(i) == also {
            removed.push((i, w.digest.clone(), false));
        } else if !w.alive_at(now_ms) {
            removed.push((i, w.digest.clone(), true));
        }
    }
    if let Some(i) = also {
        if !removed.iter().any(|(j, _, _)| *j == i) {
            // The entry itself must go even past the removal cap: drop a dead one to make room.
            removed.pop();
            removed.push((i, waiters[i].digest.clone(), false));
            removed.sort_by_key(|(j, _, _)| *j);
        }
    }
    let empties = removed.len() == waiters.len() && !waiters.is_empty();
    Edit {
        removed,
        empties_at_len: empties.then_some(waiters.len()),
    }
}

/// What a queued acquire does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcquireStep {
    /// The caller holds the lock (it asked again, or it was handed the lock while it waited);
    /// `claim`: the full lease to take now (it was handed a short claim lease).
    Held {
        /// The pending full lease, when the grant still has its claim lease.
        claim: Option<u64>,
    },
    /// The lock is free and nobody alive is ahead: take it, with this queue edit.
    Take(Edit),
    /// Not queued yet: join at the tail, as number `position`.
    Join {
        /// The place it will have (1 = next).
        position: usize,
    },
    /// Not queued, and the queue is full of live waiters.
    Full {
        /// Live waiters.
        live: usize,
    },
    /// Dead waiters fill the queue: prune them first.
    Prune(Edit),
    /// Queued at `index`, number `position` (1 = next): wait.
    Wait {
        /// Its list index.
        index: usize,
        /// Its place among the live waiters.
        position: usize,
    },
    /// A semaphore slot is free for the caller: take it (see `semaphore.rs`).
    SemTake(crate::semaphore::SemTake),
    /// The resource has another limit (`stored`; 1 = a mutex): `LimitMismatch`.
    Mismatch {
        /// The resource's limit.
        stored: u32,
    },
}

/// Decides what the queued acquire of the owner with digest `me` does next, from `item` as read at
/// `now_ms`. FIFO: nobody takes a free lock while a live waiter that joined earlier is queued; a
/// caller that is not queued never takes it while anyone is queued and alive (`qx`).
pub fn acquire_step(item: Option<&LockItem>, me: &str, now_ms: u64, cap: usize) -> AcquireStep {
    let Some(item) = item else {
        return AcquireStep::Take(Edit::default());
    };
    if let Some(sem) = &item.semaphore {
        return AcquireStep::Mismatch { stored: sem.limit };
    }
    if item.held_by(me, now_ms) {
        return AcquireStep::Held {
            claim: item.claim_ms,
        };
    }
    let free = !item.is_held_at(now_ms);
    match item.queue_index(me) {
        Some(index) => {
            let position = 1 + item.waiters[..index]
                .iter()
                .filter(|w| w.alive_at(now_ms))
                .count();
            if free && position == 1 {
                AcquireStep::Take(edit(&item.waiters, now_ms, Some(index)))
            } else {
                AcquireStep::Wait { index, position }
            }
        }
        None => not_queued(item, free, now_ms, cap, AcquireStep::Take),
    }
}

/// What a caller that is not queued does: take (`take`, with an edit pruning dead waiters) when a
/// slot is `free` and nobody is queued and alive; else join, or prune a queue full of dead waiters,
/// or find it full. Shared by the mutex and semaphores.
pub(crate) fn not_queued(
    item: &LockItem,
    free: bool,
    now_ms: u64,
    cap: usize,
    take: impl FnOnce(Edit) -> AcquireStep,
) -> AcquireStep {
    let live = item.live_waiters(now_ms);
    if free && live == 0 && !item.queue_alive_at(now_ms) {
        take(edit(&item.waiters, now_ms, None))
    } else if item.waiters.len() >= cap {
        if live < item.waiters.len() {
            AcquireStep::Prune(edit(&item.waiters, now_ms, None))
        } else {
            AcquireStep::Full { live }
        }
    } else {
        AcquireStep::Join { position: live + 1 }
    }
}

/// What a release by the holder does, from the item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStep {
    /// The caller does not hold this grant.
    NotHolder,
    /// Nobody alive is queued: end the lease (pruning dead waiters with `edit`).
    Plain(Edit),
    /// Hand the lock to the live waiter at `next` in the same write.
    Handoff {
        /// Its list index.
        next: usize,
        /// The queue edit (it, and dead waiters ahead of it).
        edit: Edit,
    },
}

/// Decides what the release of the owner with digest `me` does, from `item` as read at `now_ms`:
/// of the grant with `fence` when given, else of a grant that began by `since` (the release's
/// first attempt).
pub fn release_step(
    item: &LockItem,
    me: &str,
    fence: Option<u64>,
    since: u64,
    now_ms: u64,
) -> ReleaseStep {
    let ours = match fence {
        Some(f) => item.fence == Some(f),
        None => item.acquired_at_ms.is_some_and(|at| at <= since),
    };
    if !item.held_by(me, now_ms) || !ours {
        return ReleaseStep::NotHolder;
    }
    match item.waiters.iter().position(|w| w.alive_at(now_ms)) {
        Some(next) => {
            let mut edit = edit(&item.waiters[..=next], now_ms, Some(next));
            let all = item.waiters.len();
            edit.empties_at_len = (edit.removed.len() == all).then_some(all);
            ReleaseStep::Handoff { next, edit }
        }
        None => ReleaseStep::Plain(edit(&item.waiters, now_ms, None)),
    }
}

/// The queue edit a cancel by the owner with digest `me` makes: its own entry (and dead ones).
pub fn leave(item: &LockItem, me: &str, now_ms: u64) -> Option<Edit> {
    item.queue_index(me)
        .map(|index| edit(&item.waiters, now_ms, Some(index)))
}

/// How long a waiter at `position` (1 = next) that is not waiting in-function should wait before
/// trying again: half as long as the grants ahead of the in-function places should take
/// (`hold_ms` each) - it must be waiting in-function before its turn comes, so it errs early -
/// but soon enough to keep its place (a quarter of the waiter TTL) and never in a busy loop.
pub fn retry_hint_ms(position: usize, active: usize, hold_ms: u64, ttl_ms: u64) -> u64 {
    let ahead = position.saturating_sub(active).max(1) as u64;
    (ahead * hold_ms / 2).clamp(5, (ttl_ms / 4).max(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(digest: &str, alive_until_ms: u64) -> Waiter {
        Waiter::sample(digest, alive_until_ms)
    }

    fn item(holder: Option<&str>, lease_end: u64, waiters: Vec<Waiter>) -> LockItem {
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

    #[test]
    fn a_free_lock_with_nobody_queued_is_taken_and_a_busy_one_joined() {
        assert_eq!(
            acquire_step(None, "me", 10, 4),
            AcquireStep::Take(Edit::default())
        );
        let free = item(None, 5, vec![]);
        assert_eq!(
            acquire_step(Some(&free), "me", 10, 4),
            AcquireStep::Take(Edit::default())
        );
        let busy = item(Some("h"), 50, vec![]);
        assert_eq!(
            acquire_step(Some(&busy), "me", 10, 4),
            AcquireStep::Join { position: 1 }
        );
        assert_eq!(
            acquire_step(Some(&item(Some("me"), 50, vec![])), "me", 10, 4),
            AcquireStep::Held { claim: None }
        );
    }

    #[test]
    fn no_barging_past_a_live_waiter_and_fifo_among_waiters() {
        let q = item(None, 5, vec![waiter("a", 100), waiter("me", 100)]);
        assert_eq!(
            acquire_step(Some(&q), "new", 10, 4),
            AcquireStep::Join { position: 3 }
        );
        assert_eq!(
            acquire_step(Some(&q), "me", 10, 4),
            AcquireStep::Wait {
                index: 1,
                position: 2
            }
        );
        let take = acquire_step(Some(&q), "a", 10, 4);
        assert_eq!(
            take,
            AcquireStep::Take(Edit {
                removed: vec![(0, "a".into(), false)],
                empties_at_len: None
            })
        );
    }

    #[test]
    fn dead_waiters_lose_their_place_and_are_pruned() {
        let q = item(
            None,
            5,
            vec![waiter("dead", 9), waiter("me", 100), waiter("gone", 8)],
        );
        assert_eq!(
            acquire_step(Some(&q), "me", 10, 4),
            AcquireStep::Take(Edit {
                removed: vec![
                    (0, "dead".into(), true),
                    (1, "me".into(), false),
                    (2, "gone".into(), true)
                ],
                empties_at_len: Some(3)
            })
        );
        let full_of_dead = item(Some("h"), 50, vec![waiter("x", 1), waiter("y", 100)]);
        assert!(matches!(
            acquire_step(Some(&full_of_dead), "me", 10, 2),
            AcquireStep::Prune(_)
        ));
        let full = item(Some("h"), 50, vec![waiter("x", 100), waiter("y", 100)]);
        assert_eq!(
            acquire_step(Some(&full), "me", 10, 2),
            AcquireStep::Full { live: 2 }
        );
    }

    #[test]
    fn a_stale_queue_mark_makes_a_newcomer_join_rather_than_take() {
        let mut q = item(None, 5, vec![waiter("dead", 9)]);
        q.queue_alive_until_ms = Some(100);
        assert_eq!(
            acquire_step(Some(&q), "me", 10, 4),
            AcquireStep::Join { position: 1 }
        );
    }

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
                    removed: vec![(0, "dead".into(), true), (1, "a".into(), false)],
                    empties_at_len: None
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
                removed: vec![(0, "dead".into(), true)],
                empties_at_len: Some(1)
            })
        );
    }

    #[test]
    fn the_own_entry_is_removed_even_past_the_cap() {
        let mut waiters: Vec<Waiter> = (0..20).map(|i| waiter(&format!("d{i}"), 1)).collect();
        waiters.push(waiter("me", 100));
        let e = edit(&waiters, 10, Some(20));
        assert_eq!(e.removed.len(), MAX_REMOVALS);
        assert_eq!(e.removed.last().unwrap().1, "me");
        assert_eq!(e.empties_at_len, None);
    }

    #[test]
    fn retry_hints_follow_the_queue() {
        assert_eq!(retry_hint_ms(1, 2, 20, 5000), 10);
        assert_eq!(retry_hint_ms(5, 2, 20, 5000), 30);
        assert_eq!(retry_hint_ms(50, 2, 100, 5000), 1250);
        assert_eq!(retry_hint_ms(3, 2, 0, 5000), 5);
    }
}
