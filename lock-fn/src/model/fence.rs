//! The fencing scheme's constants of the item format: where a fresh item's counters start, and the
//! record a fenced release leaves in its slot (see DESIGN.md, "Fencing").

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::model::item::LockItem;

/// Fences issued on a fresh item start at `now_ms * FENCE_FLOOR_PER_MS` (see DESIGN.md).
pub const FENCE_FLOOR_PER_MS: u64 = 1000;

/// Where a counter starts in a new life of the item (after dynamo-dlm's PutItem or DeleteItem, or
/// TTL): the fence, and the queue's version. Above every value the last life can have reached, so
/// that nothing decided on that life matches this one (see DESIGN.md, "Fencing").
pub fn life_floor(now_ms: u64) -> u64 {
    now_ms.saturating_mul(FENCE_FLOOR_PER_MS)
}

/// Whether `new`, the item a write applied at `now` returned, is a mutex grant made by that write
/// (begun at `now`) that took over from a grant which ran out without a release: the grant before
/// it (fence `f - 1`, in the same life of the item) is not the one the item last recorded released.
/// A grant in a new life of the item (fence from [`life_floor`]) took over from nothing of ours.
pub fn took_over_a_lost_lease(new: &LockItem, now: u64) -> bool {
    let (Some(fence), Some(began)) = (new.fence, new.acquired_at_ms) else {
        return false;
    };
    let released = new.last_release.as_ref().and_then(|r| r.fence);
    new.semaphore.is_none()
        && new.release_code.is_some()
        && began == now
        && fence < life_floor(now)
        && released != Some(fence - 1)
}

/// The `{f, o, t}` record a fenced release by the owner with digest `owner` leaves in its slot.
pub(crate) fn release_record(owner: &str, fence: u64, now: u64) -> AttributeValue {
    let n = |v: u64| AttributeValue::N(v.to_string());
    AttributeValue::M(HashMap::from([
        ("f".to_string(), n(fence)),
        ("o".to_string(), AttributeValue::S(owner.to_string())),
        ("t".to_string(), n(now)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item::LastRelease;

    fn granted(fence: u64, began: u64, released: Option<u64>) -> LockItem {
        LockItem {
            resource_id: "r".into(),
            release_code: Some("me".into()),
            fence: Some(fence),
            acquired_at_ms: Some(began),
            last_release: released.map(|f| LastRelease {
                nonce: "n".into(),
                fence: Some(f),
                at_ms: began,
            }),
            ..LockItem::default()
        }
    }

    #[test]
    fn a_grant_after_an_unreleased_one_took_over_a_lost_lease() {
        let now = 1_000;
        assert!(took_over_a_lost_lease(&granted(7, now, Some(5)), now));
        assert!(took_over_a_lost_lease(&granted(7, now, None), now));
        // The grant before was released.
        assert!(!took_over_a_lost_lease(&granted(7, now, Some(6)), now));
        // Not a grant made by this write (a renew, a confirm).
        assert!(!took_over_a_lost_lease(&granted(7, now - 1, Some(5)), now));
        // A new life: nothing of ours came before.
        assert!(!took_over_a_lost_lease(
            &granted(life_floor(now) + 1, now, None),
            now
        ));
        assert!(!took_over_a_lost_lease(
            &granted(life_floor(now), now, None),
            now
        ));
        // Nobody holds it (a release's item).
        let released = LockItem {
            release_code: None,
            ..granted(7, now, Some(5))
        };
        assert!(!took_over_a_lost_lease(&released, now));
    }
}
