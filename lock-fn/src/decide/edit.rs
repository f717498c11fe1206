//! Queue edits: the entries one write removes from the queue (each checked to be what the snapshot
//! showed), and whether it relies on the queue being unchanged since.

use crate::model::item::LockItem;

/// At most this many queue entries are removed by one write (expression size stays far under
/// DynamoDB's 4 KB); more dead waiters are pruned by later writes.
pub const MAX_REMOVALS: usize = 16;

/// The queue's version as a snapshot showed it (`qv`; `None`: absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueVersion(pub Option<u64>);

/// A queue entry one write removes: where the snapshot showed it, whose it is, and whether the
/// write requires it still dead (a dead waiter pruned) or not (a waiter that takes the lock or
/// leaves, or the caller's own stale entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Its index in `waiters` as read.
    pub index: usize,
    /// Its owner digest (the write checks that the entry at `index` is still this one's).
    pub digest: String,
    /// The write requires it still dead.
    pub dead: bool,
}

impl Removal {
    /// The entry at `index` of the owner with digest `digest`, alive or not.
    pub fn entry(index: usize, digest: &str) -> Removal {
        Removal {
            index,
            digest: digest.to_string(),
            dead: false,
        }
    }

    /// The dead entry at `index` of the owner with digest `digest`.
    pub fn dead(index: usize, digest: &str) -> Removal {
        Removal {
            dead: true,
            ..Removal::entry(index, digest)
        }
    }
}

/// Entries one write removes from the queue, each checked to be what the snapshot showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// The entries removed, ascending by index.
    pub removed: Vec<Removal>,
    /// The write relies on the snapshot's queue: nobody joined or kept a place since (`qv`
    /// unchanged), so every entry the snapshot showed dead is still dead and no new one is there.
    pub unchanged_since: Option<QueueVersion>,
    /// No live entry is left after the removals: the write removes the queue mark `qx` (which
    /// needs `unchanged_since`: a join or keep-place since would need the mark).
    pub clears_mark: bool,
}

impl Edit {
    /// For unit tests: the edit that removes the queue's only entry, `digest` (a handoff to it).
    #[cfg(test)]
    pub fn only_entry(digest: &str) -> Edit {
        Edit {
            removed: vec![Removal::entry(0, digest)],
            unchanged_since: Some(QueueVersion(Some(1))),
            clears_mark: true,
        }
    }

    /// The digests it removes (for `DELETE wset`).
    pub fn digests(&self) -> Vec<String> {
        self.removed.iter().map(|r| r.digest.clone()).collect()
    }

    /// Where the snapshot showed the entry of the owner with digest `digest` that this edit
    /// removes (the waiter a grant is handed to).
    pub fn index_of(&self, digest: &str) -> Option<usize> {
        self.removed
            .iter()
            .find(|r| r.digest == digest)
            .map(|r| r.index)
    }

    /// The same edit for a write decided from "nobody alive is queued": it also requires that
    /// nobody joined or kept a place since the snapshot of `item`.
    pub fn relying_on_no_live_waiter(mut self, item: &LockItem) -> Edit {
        self.unchanged_since = Some(QueueVersion(item.queue_version));
        self
    }
}

/// Builds an edit of `item`'s queue as read at `now_ms`: removes the entries at `must_go` (a waiter
/// that takes the lock or leaves, or the caller's own stale entry) and the dead ones among the first
/// `prune_before` entries, at most [`MAX_REMOVALS`] in all (the entries that must go always do); it
/// clears the queue mark when no live entry is left.
pub(crate) fn edit(item: &LockItem, now_ms: u64, prune_before: usize, must_go: &[usize]) -> Edit {
    let waiters = &item.waiters;
    let mut removed: Vec<Removal> = must_go
        .iter()
        .map(|&i| Removal::entry(i, &waiters[i].digest))
        .collect();
    for (i, w) in waiters.iter().enumerate().take(prune_before) {
        if removed.len() >= MAX_REMOVALS {
            break;
        }
        if !must_go.contains(&i) && !w.alive_at(now_ms) {
            removed.push(Removal::dead(i, &w.digest));
        }
    }
    removed.sort_by_key(|r| r.index);
    let live_left = waiters
        .iter()
        .enumerate()
        .any(|(i, w)| w.alive_at(now_ms) && !removed.iter().any(|r| r.index == i));
    let clears_mark = !live_left && item.queue_alive_until_ms.is_some();
    Edit {
        removed,
        unchanged_since: clears_mark.then_some(QueueVersion(item.queue_version)),
        clears_mark,
    }
}
