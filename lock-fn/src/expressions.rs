//! Every DynamoDB expression lock-fn sends, as named constants (DESIGN.md explains each).
//!
//! Placeholders: `#rid` resource_id, `#rc` release_code, `#exp` expires (s), `#exp_ms` expires_at_ms,
//! `#fence` fence, `#acq` acquired_at_ms.

/// Acquire succeeds when there is no item, the lock-fn lease has ended, or (an item dynamo-dlm wrote,
/// with no ms field) its whole-second lease has ended - the same test dynamo-dlm applies.
pub const ACQUIRE_CONDITION: &str = "attribute_not_exists(#rid) OR #exp_ms <= :now_ms \
     OR (attribute_not_exists(#exp_ms) AND #exp <= :now_s)";

/// Acquire writes the new holder and lease, and raises the fence: by one over the stored fence, or,
/// when the item has none (new, deleted by TTL, or overwritten by dynamo-dlm), to a floor derived from
/// the clock that exceeds every fence issued before.
pub const ACQUIRE_UPDATE: &str = "SET #rc = :owner, #exp_ms = :exp_ms, #exp = :exp_s, \
     #acq = :now_ms, #fence = if_not_exists(#fence, :fence_floor) + :one";

/// Holder-only operations (renew, release, idempotent re-acquire) require the caller to be the
/// owner of a lease that has not ended.
pub const HOLDER_CONDITION: &str = "#rc = :owner AND #exp_ms > :now_ms";

/// Renew moves the lease end (ms and seconds); the fence stays.
pub const RENEW_UPDATE: &str = "SET #exp_ms = :exp_ms, #exp = :exp_s";

/// Release ends the lease now but keeps the item, so the fence keeps counting up; `expires` becomes
/// "now" (rounded down) so dynamo-dlm clients see the lock free at once and TTL can delete it later.
/// It records who released which grant when, so that a repeated release can be recognised.
pub const RELEASE_UPDATE: &str =
    "SET #exp_ms = :now_ms, #exp = :now_s, #rb = :owner, #rat = :now_ms, \
     #rf = #fence REMOVE #rc, #acq";

/// A repeated release (its first answer lost) is recognised by the record the first one left:
/// same owner and, when the caller sent it, same fence.
pub const RELEASED_CONDITION: &str = "#rb = :owner";
/// [`RELEASED_CONDITION`] when the caller sent the grant's fence.
pub const RELEASED_FENCE_CONDITION: &str = "#rb = :owner AND #rf = :fence";
/// The confirming write changes nothing.
pub const CONFIRM_RELEASE_UPDATE: &str = "SET #rb = :owner";

/// Re-acquire by the current holder writes nothing new: it only confirms (and returns) the grant.
pub const CONFIRM_UPDATE: &str = "SET #rc = :owner";
