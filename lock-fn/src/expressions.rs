//! Every DynamoDB expression lock-fn sends, as named constants (DESIGN.md explains each).
//!
//! Attribute names are written out (none is a DynamoDB reserved word, which dynalite checks like
//! DynamoDB does); values are placeholders: `:now_ms` and `:now_s` are the function's clock.

/// Acquire succeeds when there is no item, the lock-fn lease has ended, or (an item dynamo-dlm wrote,
/// with no ms field) its whole-second lease has ended - the same test dynamo-dlm applies.
pub const ACQUIRE_CONDITION: &str =
    "attribute_not_exists(resource_id) OR expires_at_ms <= :now_ms \
     OR (attribute_not_exists(expires_at_ms) AND expires <= :now_s)";

/// Acquire writes the new holder (its owner digest) and lease, and raises the fence: by one over
/// the stored fence, or, when the item has none (new, deleted by TTL, or overwritten by dynamo-dlm),
/// to a floor derived from the clock that exceeds every fence issued before. `purge_at` (the TTL
/// attribute) moves an hour past the lease end. The holder label is cleared.
pub const ACQUIRE_UPDATE: &str =
    "SET release_code = :owner, expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge, \
     acquired_at_ms = :now_ms, fence = if_not_exists(fence, :fence_floor) + :one REMOVE holder";

/// [`ACQUIRE_UPDATE`] for a request that gives a public holder label.
pub const ACQUIRE_LABELLED_UPDATE: &str =
    "SET release_code = :owner, expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge, \
     acquired_at_ms = :now_ms, fence = if_not_exists(fence, :fence_floor) + :one, holder = :holder";

/// Holder-only operations (renew, idempotent re-acquire) require the caller (`:owner` is its
/// digest) to hold a lease that has not ended.
pub const HOLDER_CONDITION: &str = "release_code = :owner AND expires_at_ms > :now_ms";

/// [`HOLDER_CONDITION`] for the grant with fence `:fence` only.
pub const HOLDER_FENCE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND fence = :fence";

/// A release that does not name its fence ends only a grant that had begun when the release was
/// first tried (`:since_ms`): a retry or a late attempt never ends a newer grant of the same owner.
pub const HOLDER_SINCE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND acquired_at_ms <= :since_ms";

/// Renew moves the lease end (ms and seconds) and the purge time; the fence stays.
pub const RENEW_UPDATE: &str = "SET expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge";

/// Release ends the lease now but keeps the item, so the fence keeps counting up; `expires` becomes
/// "now" (rounded down) so dynamo-dlm clients see the lock free at once. It records the releasing
/// invocation's nonce and the released fence, so that lock-fn's own retries are recognised exactly.
pub const RELEASE_UPDATE: &str =
    "SET expires_at_ms = :now_ms, expires = :now_s, purge_at = :purge, released_nonce = :nonce, \
     released_at_ms = :now_ms, released_fence = fence REMOVE release_code, acquired_at_ms, holder";

/// A release that names its fence also records itself in slot `#slot` = `rel_<fence mod 8>`,
/// `{f: fence, o: owner digest, t: time}`: the last eight grants' releases stay recognisable however
/// many other releases follow (fences of one item's life are consecutive).
pub const RELEASE_FENCED_UPDATE: &str =
    "SET expires_at_ms = :now_ms, expires = :now_s, purge_at = :purge, released_nonce = :nonce, \
     released_at_ms = :now_ms, released_fence = fence, #slot = :record \
     REMOVE release_code, acquired_at_ms, holder";

/// A repeated fenced release (its first answer lost, in lock-fn or on the way to the caller) is
/// recognised by its slot: that grant's fence and owner digest.
pub const SLOT_RELEASED_CONDITION: &str = "#slot.f = :fence AND #slot.o = :owner";
/// The confirming write for [`SLOT_RELEASED_CONDITION`] changes nothing.
pub const CONFIRM_SLOT_UPDATE: &str = "SET #slot.o = :owner";

/// lock-fn's own retry of a release recognises an earlier attempt of the same invocation by its
/// nonce (never by owner alone: an older grant's release record must not answer for a newer one).
pub const NONCE_RELEASED_CONDITION: &str = "released_nonce = :nonce";
/// The confirming write for [`NONCE_RELEASED_CONDITION`] changes nothing.
pub const CONFIRM_NONCE_UPDATE: &str = "SET released_nonce = :nonce";

/// Re-acquire by the current holder writes nothing new: it only confirms (and returns) the grant.
pub const CONFIRM_UPDATE: &str = "SET release_code = :owner";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::*;

    #[test]
    fn expressions_name_only_item_attributes() {
        let known = [
            ATTR_RESOURCE_ID,
            ATTR_RELEASE_CODE,
            ATTR_EXPIRES,
            ATTR_EXPIRES_AT_MS,
            ATTR_FENCE,
            ATTR_ACQUIRED_AT_MS,
            ATTR_HOLDER,
            ATTR_PURGE_AT,
            ATTR_RELEASED_NONCE,
            ATTR_RELEASED_FENCE,
            ATTR_RELEASED_AT_MS,
        ];
        let keywords = [
            "SET",
            "REMOVE",
            "OR",
            "AND",
            "attribute_not_exists",
            "if_not_exists",
        ];
        for e in [
            ACQUIRE_CONDITION,
            ACQUIRE_UPDATE,
            ACQUIRE_LABELLED_UPDATE,
            HOLDER_CONDITION,
            HOLDER_SINCE_CONDITION,
            RENEW_UPDATE,
            RELEASE_UPDATE,
            NONCE_RELEASED_CONDITION,
            CONFIRM_NONCE_UPDATE,
            CONFIRM_UPDATE,
            HOLDER_FENCE_CONDITION,
            RELEASE_FENCED_UPDATE,
            SLOT_RELEASED_CONDITION,
            CONFIRM_SLOT_UPDATE,
        ] {
            // `#slot` names a release slot; `f` and `o` are the fields of its record.
            let e = e
                .replace("#slot.f", "")
                .replace("#slot.o", "")
                .replace("#slot", "");
            for word in e.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                if word.is_empty() || word.starts_with(':') || keywords.contains(&word) {
                    continue;
                }
                assert!(
                    known.contains(&word),
                    "{word:?} in {e:?} is not a lock item attribute"
                );
            }
        }
    }
}
