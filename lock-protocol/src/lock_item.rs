//! The names in a lock item that a caller's fenced write checks (DESIGN.md, "Item format"). lock-fn
//! writes the item with these same constants, so the two can never drift apart.

/// Partition key attribute (String).
pub const ATTR_RESOURCE_ID: &str = "resource_id";
/// The holder's owner digest (dynamo-dlm's attribute name; dynamo-dlm stores its own code there).
pub const ATTR_RELEASE_CODE: &str = "release_code";
/// Lease end in epoch seconds, rounded up (dynamo-dlm's field).
pub const ATTR_EXPIRES: &str = "expires";
/// Lease end in epoch milliseconds by the function's clock.
pub const ATTR_EXPIRES_AT_MS: &str = "expires_at_ms";
/// Fencing token of the current (or last) grant.
pub const ATTR_FENCE: &str = "fence";
/// The current holder's public label (optional).
pub const ATTR_HOLDER: &str = "holder";
/// A semaphore item's holders: a map from owner digest to `{f: fence, x: lease end ms, a: acquired
/// at ms, h: label, c: full lease pending a claim (ms), k: wake_id}`.
pub const ATTR_SEM_HOLDERS: &str = "sem_holders";
/// A semaphore holder's fence, in its entry of [`ATTR_SEM_HOLDERS`].
pub const SEM_ENTRY_FENCE: &str = "f";
/// A semaphore holder's lease end (epoch ms), in its entry of [`ATTR_SEM_HOLDERS`].
pub const SEM_ENTRY_LEASE_END: &str = "x";
/// A semaphore holder's public label, in its entry of [`ATTR_SEM_HOLDERS`].
pub const SEM_ENTRY_LABEL: &str = "h";
/// The `release_code` of every semaphore item: no owner digest (32 hex digits) ever equals it, so
/// every mutex condition and dynamo-dlm's acquire see a semaphore as held by someone else.
pub const SEM_RELEASE_CODE: &str = "#semaphore";
