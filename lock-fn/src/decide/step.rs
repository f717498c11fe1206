//! The step an acquire decides to take next, for a mutex (`queue.rs`) and a semaphore
//! (`semaphore.rs`) alike: its own module so that the two deciders depend on it and not on each
//! other.

use crate::decide::edit::Edit;

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
    /// The caller holds the lock and still has a queue entry of its own (another invocation of the
    /// same owner joined): remove it, then answer the grant.
    LeaveQueue(Edit),
    /// Queued at `index`, number `position` (1 = next): wait.
    Wait {
        /// Its list index.
        index: usize,
        /// Its place among the live waiters.
        position: usize,
    },
    /// A semaphore slot is free for the caller: take it (see `semaphore.rs`).
    SemTake(SemTake),
    /// The resource has another limit (`stored`; 1 = a mutex): `LimitMismatch`.
    Mismatch {
        /// The resource's limit.
        stored: u32,
    },
}

/// A semaphore acquire takes a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemTake {
    /// No item yet: create it (`attribute_not_exists(resource_id)`).
    pub create: bool,
    /// The item's fence counter in the snapshot: the write requires it unchanged (no grant since).
    pub old_fence: u64,
    /// Expired holders removed by the same write (each checked still expired).
    pub purge: Vec<String>,
    /// The caller has an expired entry of its own (overwritten, checked still expired).
    pub own_expired: bool,
    /// The stored limit when it differs and the semaphore is idle (the write sets the new one).
    pub relimit_from: Option<u32>,
    /// The caller is queued (else the edit also requires that nobody joined since).
    pub queued: bool,
    /// The item's TTL time as read (the write keeps a later one).
    pub stored_purge: Option<u64>,
    /// The queue edit (its own entry, dead ones).
    pub edit: Edit,
}
