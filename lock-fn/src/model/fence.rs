//! The fencing scheme's constants of the item format: where a fresh item's counters start, and the
//! record a fenced release leaves in its slot (see DESIGN.md, "Fencing").

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// Fences issued on a fresh item start at `now_ms * FENCE_FLOOR_PER_MS` (see DESIGN.md).
pub const FENCE_FLOOR_PER_MS: u64 = 1000;

/// Where a counter starts in a new life of the item (after dynamo-dlm's PutItem or DeleteItem, or
/// TTL): the fence, and the queue's version. Above every value the last life can have reached, so
/// that nothing decided on that life matches this one (see DESIGN.md, "Fencing").
pub fn life_floor(now_ms: u64) -> u64 {
    now_ms.saturating_mul(FENCE_FLOOR_PER_MS)
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
