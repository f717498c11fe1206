//! The FIFO queue on the lock item: what a queued acquire, a release and a cancel do next, decided
//! from a consistent snapshot of the item (pure functions, unit-tested), and the queue edits their
//! conditional writes make. The writes themselves are built in `write/mutex.rs` from the
//! expressions of `write/expressions.rs`.

use crate::decide::cancel::CANCEL_MARKS_BYTES;
use crate::decide::edit::{edit, Edit, QueueVersion};
use crate::decide::step::AcquireStep;
use crate::model::item::LockItem;

/// DynamoDB's item limit is 400 KB; joins keep the item within this many bytes (the rest is slack
/// for entries that grow, such as a waiter that comes back with a task token where it had none).
pub const QUEUE_BYTES: usize = 350_000;
/// The most bytes one entry can add (with its `wset` digest): a task token and a label at their
/// maximum, the digest, the numbers, the attribute names.
pub const MAX_ENTRY_BYTES: usize =
    ENTRY_BYTES + lock_protocol::MAX_TASK_TOKEN_BYTES + lock_protocol::MAX_HOLDER_BYTES;
/// An entry's bytes besides its label and token (digest twice: in the entry and in `wset`).
const ENTRY_BYTES: usize = 160;

/// An upper estimate of the bytes `item` takes as DynamoDB counts them, with every task-token
/// entry counted at the largest token (a re-entry may store a longer one than it had).
pub fn item_bytes(item: &LockItem) -> usize {
    // Lease, fence, records, eight release slots, queue attributes, their names.
    const FIXED: usize = 1_600;
    let label = |h: &Option<String>| h.as_ref().map_or(0, String::len);
    let waiters: usize = item
        .waiters
        .iter()
        .map(|w| {
            let token = w
                .token
                .as_ref()
                .map_or(0, |_| lock_protocol::MAX_TASK_TOKEN_BYTES);
            ENTRY_BYTES + label(&w.holder) + token
        })
        .sum();
    let holders: usize = item.semaphore.as_ref().map_or(0, |s| {
        s.holders
            .iter()
            .map(|h| 120 + label(&h.holder) + label(&h.wake_id))
            .sum()
    });
    FIXED + CANCEL_MARKS_BYTES + item.resource_id.len() + label(&item.holder) + waiters + holders
}

/// How many entries the queue of `item` may hold after a join decided from it: `cap`, but no more
/// than keeps the item within [`QUEUE_BYTES`] even if every entry joining from now on (this one and
/// any racing it) is as large as an entry can be: a full queue answers busy, never an item too
/// large to write.
pub fn queue_room(item: &LockItem, cap: usize) -> usize {
    let more = QUEUE_BYTES.saturating_sub(item_bytes(item)) / MAX_ENTRY_BYTES;
    cap.min(item.waiters.len() + more)
}

/// Decides what the queued acquire of the owner with digest `me` does next, from `item` as read at
/// `now_ms`. FIFO: nobody takes a free lock while a live waiter that joined earlier is queued; a
/// caller that is not queued never takes it while anyone is queued and alive (`qx`).
pub fn acquire_step(item: Option<&LockItem>, me: &str, now_ms: u64, cap: usize) -> AcquireStep {
    let Some(item) = item else {
        // Decided on no item: the take must find none with a queue (no `qv`: nobody ever joined
        // this life of the item). Else a take whose write lands late, or is resent after a
        // timeout, would find an item created since, its lease ended, and barge past its queue.
        return AcquireStep::Take(Edit {
            unchanged_since: Some(QueueVersion(None)),
            ..Edit::default()
        });
    };
    if let Some(sem) = &item.semaphore {
        return AcquireStep::Mismatch { stored: sem.limit };
    }
    if let Some(grant) = item.live_grant(me, now_ms) {
        return held(item, me, now_ms, grant.claim_ms);
    }
    let free = !item.is_held_at(now_ms);
    match item.queue_index(me) {
        Some(index) => {
            let position = 1 + item.waiters[..index]
                .iter()
                .filter(|w| w.alive_at(now_ms))
                .count();
            if free && position == 1 {
                AcquireStep::Take(edit(item, now_ms, item.waiters.len(), &[index]))
            } else {
                AcquireStep::Wait { index, position }
            }
        }
        None => not_queued(item, free, now_ms, cap, AcquireStep::Take),
    }
}

/// The first live waiter, when it is a Step Functions task ahead of the waiter at `me_index` and
/// the lock is free: nobody will hand it the lock (the lease before ran out instead of being
/// released, or its join landed on a free lock after its invocation answered), so it has to be
/// woken - else it holds up everyone behind it until its task's re-entry, or its place's end when
/// its execution is gone (up to 15 minutes).
pub fn task_head_to_wake(item: &LockItem, me_index: usize, now_ms: u64) -> Option<usize> {
    if item.is_held_at(now_ms) || item.semaphore.is_some() {
        return None;
    }
    let head = item.waiters.iter().position(|w| w.alive_at(now_ms))?;
    (head < me_index && item.waiters[head].token.is_some()).then_some(head)
}

/// The holder's answer: its grant (with the `claim` to take, if any), after its own queue entry
/// is removed when it has one. Shared by the mutex and semaphores.
pub(crate) fn held(item: &LockItem, me: &str, now_ms: u64, claim: Option<u64>) -> AcquireStep {
    match item.queue_index(me) {
        Some(index) => AcquireStep::LeaveQueue(edit(item, now_ms, 0, &[index])),
        None => AcquireStep::Held { claim },
    }
}

/// What a caller that is not queued does: take (`take`, with an edit pruning dead waiters and
/// requiring that nobody joined since) when a slot is `free` and nobody is queued and alive (a
/// stale queue mark is cleared by that write); else join, or prune a queue full of dead waiters,
/// or find it full. Shared by the mutex and semaphores.
pub(crate) fn not_queued(
    item: &LockItem,
    free: bool,
    now_ms: u64,
    cap: usize,
    take: impl FnOnce(Edit) -> AcquireStep,
) -> AcquireStep {
    let live = item.live_waiters(now_ms);
    let all = item.waiters.len();
    if free && live == 0 {
        take(edit(item, now_ms, all, &[]).relying_on_no_live_waiter(item))
    } else if all >= cap {
        if live < all {
            AcquireStep::Prune(edit(item, now_ms, all, &[]))
        } else {
            AcquireStep::Full { live }
        }
    } else {
        AcquireStep::Join { position: live + 1 }
    }
}

/// The queue edit a cancel by the owner with digest `me` makes: its own entry (and dead ones).
pub fn leave(item: &LockItem, me: &str, now_ms: u64) -> Option<Edit> {
    item.queue_index(me)
        .map(|index| edit(item, now_ms, item.waiters.len(), &[index]))
}

/// How long a waiter at `position` (1 = next) that is not waiting in-function should wait before
/// trying again: half as long as the grants ahead of the in-function places should take
/// (`hold_ms` each) - it must be waiting in-function before its turn comes, so it errs early -
/// but soon enough to keep its place (a quarter of the waiter TTL) and never in a busy loop.
pub fn retry_hint_ms(position: usize, active: usize, hold_ms: u64, ttl_ms: u64) -> u64 {
    let ahead = position.saturating_sub(active).max(1) as u64;
    (ahead * hold_ms / 2).clamp(5, (ttl_ms / 4).max(5))
}

/// The queue mark a join or keep-place decided from `item` raises `qx` to (at least): the highest of
/// the stored mark and every entry's `x` - so that a mark an older lock-fn lowered below a live
/// entry is repaired by the next write that raises it.
pub fn queue_mark(item: &LockItem) -> u64 {
    item.waiters
        .iter()
        .map(|w| w.alive_until_ms)
        .chain(item.queue_alive_until_ms)
        .max()
        .unwrap_or(0)
}

/// How many live waiters wait in-function at `now` ahead of `me` (an invocation waits for them):
/// all of them when `me` is not queued. A caller without an owner waits in-function only while
/// fewer than the lock's in-function places are ahead of it - so when two joined at once past the
/// last place, only the later one leaves, never the head.
pub fn waiting_in_function(item: &LockItem, me: &str, now_ms: u64) -> usize {
    let ahead = item.queue_index(me).unwrap_or(item.waiters.len());
    item.waiters[..ahead]
        .iter()
        .filter(|w| w.alive_at(now_ms) && w.active_at(now_ms))
        .count()
}

/// When a caller without an owner that could not wait in-function should come back: about when
/// an in-function place should be free (the `waiting` ahead are served one grant, `hold_ms`, each),
/// at least 10 ms, at most a second.
pub fn ownerless_retry_hint_ms(waiting: usize, hold_ms: u64) -> u64 {
    (hold_ms.saturating_mul(waiting as u64 + 1)).clamp(10, 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::edit::{Removal, MAX_REMOVALS};
    use crate::decide::fixtures::{item, waiter};
    use crate::model::item::Waiter;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    #[test]
    fn a_task_at_the_head_of_a_free_lock_is_woken_by_the_waiters_behind_it() {
        let task = |d: &str, until: u64| Waiter {
            token: Some("t".into()),
            ..waiter(d, until)
        };
        // A dead entry first, then the task, then me: the task is the head to wake.
        let i = item(
            Some("old"),
            5,
            vec![waiter("dead", 8), task("task", 100), waiter("me", 100)],
        );
        assert_eq!(task_head_to_wake(&i, 2, 10), Some(1));
        // Not while the lock is held, not for the head itself, not when the head waits in-function.
        let held = item(Some("old"), 50, vec![task("task", 100), waiter("me", 100)]);
        assert_eq!(task_head_to_wake(&held, 1, 10), None);
        assert_eq!(task_head_to_wake(&i, 1, 10), None);
        let plain = item(Some("old"), 5, vec![waiter("head", 100), waiter("me", 100)]);
        assert_eq!(task_head_to_wake(&plain, 1, 10), None);
    }

    #[test]
    fn a_free_lock_with_nobody_queued_is_taken_and_a_busy_one_joined() {
        // No item: taken, on condition that no queue was ever written since (no `qv`).
        assert_eq!(
            acquire_step(None, "me", 10, 4),
            AcquireStep::Take(Edit {
                unchanged_since: Some(QueueVersion(None)),
                ..Edit::default()
            })
        );
        let free = item(None, 5, vec![]);
        assert_eq!(
            acquire_step(Some(&free), "me", 10, 4),
            AcquireStep::Take(Edit {
                unchanged_since: Some(QueueVersion(None)),
                ..Edit::default()
            }),
            "a caller not queued relies on nobody joining since"
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
        let mut also_queued = item(Some("me"), 50, vec![waiter("a", 100), waiter("me", 100)]);
        also_queued.queue_version = Some(4);
        assert_eq!(
            acquire_step(Some(&also_queued), "me", 10, 4),
            AcquireStep::LeaveQueue(Edit {
                removed: vec![Removal::entry(1, "me")],
                ..Edit::default()
            }),
            "a holder with an entry of its own leaves the queue first"
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
                removed: vec![Removal::entry(0, "a")],
                ..Edit::default()
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
                    Removal::dead(0, "dead"),
                    Removal::entry(1, "me"),
                    Removal::dead(2, "gone")
                ],
                unchanged_since: Some(QueueVersion(None)),
                clears_mark: true,
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
    fn a_stale_queue_mark_is_cleared_by_a_take_that_relies_on_the_snapshot() {
        // The mark outlives its waiter (a task that left); only dead entries remain.
        let mut q = item(None, 5, vec![waiter("dead", 9)]);
        q.queue_alive_until_ms = Some(100);
        q.queue_version = Some(6);
        assert_eq!(
            acquire_step(Some(&q), "me", 10, 4),
            AcquireStep::Take(Edit {
                removed: vec![Removal::dead(0, "dead")],
                unchanged_since: Some(QueueVersion(Some(6))),
                clears_mark: true,
            })
        );
    }

    #[test]
    fn the_queue_room_shrinks_with_large_entries() {
        let small = item(
            Some("h"),
            50,
            (0..10).map(|i| waiter(&format!("w{i}"), 100)).collect(),
        );
        assert_eq!(queue_room(&small, 64), 64);
        let mut big = small.clone();
        for w in &mut big.waiters {
            w.token = Some("t".into());
        }
        for i in 10..70 {
            let mut w = waiter(&format!("w{i}"), 100);
            w.token = Some("t".into());
            big.waiters.push(w);
        }
        let room = queue_room(&big, 256);
        assert!(room > 70 && room < 90, "{room}");
        let bytes = item_bytes(&big) + (room - 70) * MAX_ENTRY_BYTES;
        assert!(bytes <= QUEUE_BYTES, "{bytes}");
    }

    #[test]
    fn the_own_entry_is_removed_even_past_the_cap() {
        let mut waiters: Vec<Waiter> = (0..20).map(|i| waiter(&format!("d{i}"), 1)).collect();
        waiters.push(waiter("me", 100));
        let q = item(None, 5, waiters);
        let e = edit(&q, 10, q.waiters.len(), &[20]);
        assert_eq!(e.removed.len(), MAX_REMOVALS);
        assert_eq!(e.removed.last().unwrap().digest, "me");
        assert!(
            e.clears_mark,
            "dead entries are left, but no live one: {e:?}"
        );
    }

    /// An item with every attribute at its largest: the holder, the release records and all eight
    /// slots, the cancel marks, and `entries` queue entries (task tokens and labels at their
    /// largest); a semaphore's holders likewise when `holders` > 0.
    fn largest_item(
        entries: usize,
        holders: usize,
        labels: bool,
    ) -> HashMap<String, AttributeValue> {
        use crate::model::item::{release_slot, release_slot_counter};
        use AttributeValue::{L, M, N, S};
        let n = |v: u64| N(v.to_string());
        let big = 9_999_999_999_999_999;
        let digest = |i: usize| format!("{i:032x}");
        let sized = |max: usize| if labels { max } else { 1 };
        let label = "h".repeat(sized(lock_protocol::MAX_HOLDER_BYTES));
        let mut m = HashMap::from([
            (
                "resource_id".to_string(),
                S("r".repeat(sized(lock_protocol::MAX_RESOURCE_ID_BYTES))),
            ),
            ("release_code".into(), S(digest(0))),
            ("expires".into(), n(big / 1000)),
            ("expires_at_ms".into(), n(big)),
            ("fence".into(), n(big)),
            ("acquired_at_ms".into(), n(big)),
            ("holder".into(), S(label.clone())),
            ("purge_at".into(), n(big)),
            ("released_nonce".into(), S(digest(1))),
            ("released_fence".into(), n(big)),
            ("released_at_ms".into(), n(big)),
            ("qx".into(), n(big)),
            ("qv".into(), n(big)),
            ("claim_d".into(), n(big)),
            ("hold_ms".into(), n(big)),
            ("wake_id".into(), S(digest(2))),
        ]);
        for k in 0..crate::model::item::RELEASE_SLOTS {
            let record = HashMap::from([
                ("f".to_string(), n(big)),
                ("o".into(), S(digest(3))),
                ("t".into(), n(big)),
            ]);
            m.insert(release_slot(k), M(record));
            m.insert(release_slot_counter(k), n(big));
        }
        let marks = (0..crate::decide::cancel::MAX_CANCEL_MARKS)
            .map(|i| (digest(100 + i), n(big)))
            .collect();
        m.insert("cx".into(), M(marks));
        let waiters: Vec<Waiter> = (0..entries)
            .map(|i| Waiter {
                digest: digest(1000 + i),
                duration_ms: big,
                alive_until_ms: big,
                active_until_ms: big,
                holder: Some(label.clone()),
                token: Some("t".repeat(lock_protocol::MAX_TASK_TOKEN_BYTES)),
            })
            .collect();
        if entries > 0 {
            let list = waiters.iter().map(crate::write::mutex::entry).collect();
            m.insert("waiters".into(), L(list));
            let set = waiters.iter().map(|w| w.digest.clone()).collect();
            m.insert("wset".into(), AttributeValue::Ss(set));
        }
        if holders > 0 {
            m.insert("sem_limit".into(), n(holders as u64));
            let map = (0..holders)
                .map(|i| {
                    let h = HashMap::from([
                        ("f".to_string(), n(big)),
                        ("x".into(), n(big)),
                        ("a".into(), n(big)),
                        ("h".into(), S(label.clone())),
                        ("c".into(), n(big)),
                        ("k".into(), S("k".repeat(sized(32)))),
                    ]);
                    (digest(5000 + i), M(h))
                })
                .collect();
            m.insert("sem_holders".into(), M(map));
        }
        m
    }

    /// The estimate a join relies on never counts an item short, and is close: off by no more than
    /// the room it keeps for marks and records an item may not have yet, and a little per entry.
    #[test]
    fn item_bytes_is_an_upper_estimate_of_what_dynamodb_counts() {
        use crate::store::memory::item_bytes as dynamodb_bytes;
        let sizes = |entries, holders, labels| {
            let map = largest_item(entries, holders, labels);
            let item = LockItem::try_from(&map).unwrap();
            (item_bytes(&item), dynamodb_bytes(&map))
        };
        for (entries, holders) in [(0, 0), (1, 0), (3, 0), (40, 0), (0, 1), (2, 3), (5, 100)] {
            let (estimate, actual) = sizes(entries, holders, true);
            assert!(
                estimate >= actual && estimate <= actual + 2_500 + 64 * (entries + holders),
                "{entries} entries, {holders} holders: estimated {estimate}, DynamoDB counts {actual}"
            );
            // Every label and the key grow the estimate as much as they grow the item (a
            // few bytes of attribute names aside): an item with small ones is no excuse.
            let (small_estimate, small_actual) = sizes(entries, holders, false);
            let slack = 8 * (1 + entries * 2 + holders * 2);
            assert!(
                estimate - small_estimate + slack >= actual - small_actual,
                "{entries} entries, {holders} holders: estimate grew {}, the item {}",
                estimate - small_estimate,
                actual - small_actual
            );
        }
    }

    /// A queue filled to its room with the largest entries stays within the bytes it is kept to,
    /// below DynamoDB's 400 KB item limit.
    #[test]
    fn a_queue_filled_to_its_room_with_the_largest_entries_fits_the_item() {
        use crate::store::memory::item_bytes as dynamodb_bytes;
        const { assert!(QUEUE_BYTES < crate::store::memory::MAX_ITEM_BYTES) };
        for start in [0, 1, 30] {
            let item = LockItem::try_from(&largest_item(start, 0, true)).unwrap();
            let room = queue_room(&item, usize::MAX);
            let full = largest_item(room, 0, true);
            let bytes = dynamodb_bytes(&full);
            assert!(bytes <= QUEUE_BYTES, "{room} entries: {bytes} bytes");
            // And little room is wasted: two more entries would come within one of the budget.
            let over = dynamodb_bytes(&largest_item(room + 2, 0, true));
            assert!(
                over > QUEUE_BYTES - MAX_ENTRY_BYTES,
                "{room} entries: {over} bytes"
            );
        }
    }

    #[test]
    fn in_function_waiters_ahead_are_the_live_ones_waiting_in_function() {
        let w = |d: &str, x: u64, a: u64| Waiter {
            active_until_ms: a,
            ..waiter(d, x)
        };
        let i = item(
            Some("h"),
            50,
            vec![
                w("in", 100, 100),
                w("passive", 100, 0),
                w("dead", 5, 100),
                w("me", 100, 100),
                w("behind", 100, 100),
            ],
        );
        assert_eq!(waiting_in_function(&i, "me", 10), 1);
        // Not queued: every live one waiting in-function (me and the one behind me included).
        assert_eq!(waiting_in_function(&i, "stranger", 10), 3);
        assert_eq!(waiting_in_function(&i, "in", 10), 0);
    }

    #[test]
    fn an_ownerless_caller_comes_back_after_a_grant_per_waiter_ahead() {
        assert_eq!(ownerless_retry_hint_ms(2, 50), 150);
        assert_eq!(ownerless_retry_hint_ms(0, 1), 10);
        assert_eq!(ownerless_retry_hint_ms(0, 40), 40);
        assert_eq!(ownerless_retry_hint_ms(30, 500), 1_000);
    }

    #[test]
    fn retry_hints_follow_the_queue() {
        assert_eq!(retry_hint_ms(1, 2, 20, 5000), 10);
        assert_eq!(retry_hint_ms(5, 2, 20, 5000), 30);
        assert_eq!(retry_hint_ms(50, 2, 100, 5000), 1250);
        assert_eq!(retry_hint_ms(3, 2, 0, 5000), 5);
    }
}
