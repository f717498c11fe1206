//! Cancel marks: a `cancel` leaves the time it was applied in the item (`cx`, per owner), and an
//! acquire invocation of that owner that started before it never queues or takes the lock after
//! it - not when its read comes late, not when a retry or a delayed write of it lands late.
//! Without the mark such an invocation could not tell a cancel from a first join (it never saw its
//! own entry) and would queue the owner afresh: a later handoff would grant the lock to an owner
//! whose caller was told `cancelled: true` and is gone.

use crate::model::item::LockItem;

/// An acquire that started less than this before its owner's cancel mark (or at any time after an
/// earlier one) counts as started before the cancel: the mark is on the cancelling instance's
/// clock, the start on the acquiring one's, and instance clocks are a few ms apart at most. A new
/// acquire of the same owner this soon after its own cancel is answered busy (`queued: false`)
/// once and may come back at once.
pub const CANCEL_SKEW_MS: u64 = 50;

/// Marks older than this are dropped by the next cancel: no invocation that started before them
/// is still running (Lambda's longest timeout is 15 minutes), and none of its signed writes can
/// still land (SigV4 requests expire within 15 minutes of signing).
pub const CANCEL_MARK_KEEP_MS: u64 = 30 * 60 * 1000;

/// At most this many marks stay in an item (the oldest go first, even if younger than
/// [`CANCEL_MARK_KEEP_MS`]: an acquire of such an owner that started before its cancel and has yet
/// to read the item can queue it again). Concurrent cancels may each add one past it.
pub const MAX_CANCEL_MARKS: usize = 256;

/// At most this many marks are dropped by one cancel (each adds a `REMOVE` and a condition: the
/// expressions stay far below DynamoDB's 4 KB and 300 operators); the rest go with later cancels.
pub const MAX_MARK_DROPS: usize = 16;

/// The most bytes the marks take (a 32-character digest and a 13-digit number each, with room),
/// counted in every item's size estimate (12 KB of the 350 KB the queue may fill).
pub const CANCEL_MARKS_BYTES: usize = MAX_CANCEL_MARKS * 48;

/// The floor an acquire invocation that started at `started_ms` passes to its writes: its owner's
/// mark must be below it ([`cancelled_since`]).
pub fn since_floor(started_ms: u64) -> u64 {
    started_ms.saturating_sub(CANCEL_SKEW_MS)
}

/// Whether the owner with digest `me` cancelled after an acquire whose [`since_floor`] is `floor`
/// started: that acquire must not queue or take the lock (it answers busy, `queued: false`). Never
/// for an owner-less caller (no floor) or when there is no item.
pub fn cancelled_since(item: Option<&LockItem>, me: &str, floor: Option<u64>) -> bool {
    item.zip(floor)
        .is_some_and(|(i, floor)| i.cancelled_at(me).is_some_and(|at| at >= floor))
}

/// How a cancel leaves its owner's mark, from the item as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkWrite {
    /// The item has no marks yet: the cancel creates the map with its own.
    First,
    /// The cancel sets its owner's mark to its own time, never lowering a later one (a delayed
    /// write of an earlier cancel must not move the mark back below an acquire it had to stop).
    Raise,
    /// A later cancel of the same owner, on a clock ahead of this one, marked it already: that
    /// mark stays.
    KeepLater,
}

/// How a cancel by `me` at `now_ms` leaves its mark in `item`.
pub fn mark_write(item: &LockItem, me: &str, now_ms: u64) -> MarkWrite {
    match (&item.cancels, item.cancelled_at(me)) {
        (None, _) => MarkWrite::First,
        (Some(_), Some(at)) if at >= now_ms => MarkWrite::KeepLater,
        (Some(_), _) => MarkWrite::Raise,
    }
}

/// The marks a cancel by `me` at `now_ms` removes from `item`: those older than
/// [`CANCEL_MARK_KEEP_MS`], then the oldest beyond [`MAX_CANCEL_MARKS`] with its own counted (never
/// its own: it is overwritten); at most [`MAX_MARK_DROPS`].
pub fn marks_to_drop(item: &LockItem, me: &str, now_ms: u64) -> Vec<(String, u64)> {
    let others: Vec<&(String, u64)> = item
        .cancels
        .iter()
        .flatten()
        .filter(|(d, _)| d != me)
        .collect();
    let keep_from = now_ms.saturating_sub(CANCEL_MARK_KEEP_MS);
    let old = others.iter().filter(|(_, at)| *at < keep_from).count();
    let over = (others.len() + 1).saturating_sub(MAX_CANCEL_MARKS);
    others
        .into_iter()
        .take(old.max(over).min(MAX_MARK_DROPS))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(marks: &[(&str, u64)]) -> LockItem {
        LockItem {
            cancels: Some(marks.iter().map(|(d, t)| (d.to_string(), *t)).collect()),
            ..LockItem::default()
        }
    }

    #[test]
    fn a_mark_is_created_raised_or_a_later_one_kept() {
        assert_eq!(mark_write(&LockItem::default(), "w", 5), MarkWrite::First);
        assert_eq!(mark_write(&item(&[]), "w", 5), MarkWrite::Raise);
        assert_eq!(mark_write(&item(&[("v", 9)]), "w", 5), MarkWrite::Raise);
        assert_eq!(mark_write(&item(&[("w", 4)]), "w", 5), MarkWrite::Raise);
        assert_eq!(mark_write(&item(&[("w", 5)]), "w", 5), MarkWrite::KeepLater);
        assert_eq!(mark_write(&item(&[("w", 9)]), "w", 5), MarkWrite::KeepLater);
    }

    #[test]
    fn an_acquire_that_started_before_the_cancel_is_cancelled_one_that_started_after_is_not() {
        let i = item(&[("w", 10_000)]);
        assert!(cancelled_since(Some(&i), "w", Some(since_floor(9_000))));
        assert!(cancelled_since(Some(&i), "w", Some(since_floor(10_000))));
        // Within the skew after the mark: counted as before it.
        assert!(cancelled_since(Some(&i), "w", Some(since_floor(10_050))));
        assert!(!cancelled_since(Some(&i), "w", Some(since_floor(10_051))));
        assert!(!cancelled_since(Some(&i), "other", Some(since_floor(0))));
        assert!(!cancelled_since(Some(&LockItem::default()), "w", Some(0)));
        assert!(!cancelled_since(Some(&i), "w", None));
        assert!(!cancelled_since(None, "w", Some(0)));
    }

    #[test]
    fn a_cancel_drops_old_marks_and_the_oldest_beyond_the_cap_but_never_its_own() {
        // However many are old, one cancel drops at most MAX_MARK_DROPS, the oldest first.
        let old: Vec<(String, u64)> = (0..300).map(|k| (format!("o{k:03}"), k)).collect();
        let i = LockItem {
            cancels: Some(old.clone()),
            ..LockItem::default()
        };
        let dropped = marks_to_drop(&i, "me", CANCEL_MARK_KEEP_MS + 1_000);
        assert_eq!(dropped, old[..MAX_MARK_DROPS].to_vec());
        let now = CANCEL_MARK_KEEP_MS + 1_000;
        let i = item(&[("a", 999), ("b", 1_000), ("me", 1)]);
        assert_eq!(marks_to_drop(&i, "me", now), vec![("a".to_string(), 999)]);
        // Kept while an invocation that started before it may still run (15 minutes) and a write
        // it signed may still land (15 more): 29 minutes old stays, 31 goes.
        let minute = 60 * 1000;
        let now = 40 * minute;
        let i = item(&[("old", now - 31 * minute), ("young", now - 29 * minute)]);
        assert_eq!(
            marks_to_drop(&i, "me", now),
            vec![("old".to_string(), now - 31 * minute)]
        );
        let many: Vec<(String, u64)> = (0..MAX_CANCEL_MARKS as u64)
            .map(|k| (format!("d{k:02}"), now - 10 + k))
            .collect();
        let i = LockItem {
            cancels: Some(many.clone()),
            ..LockItem::default()
        };
        // The cap's worth of others and its own: the oldest one goes.
        assert_eq!(marks_to_drop(&i, "me", now), many[..1].to_vec());
        // Its own mark already counted: the others and its own fit.
        assert_eq!(marks_to_drop(&i, "d05", now), Vec::<(String, u64)>::new());
    }
}
