//! What a woken Step Functions task receives: its grant, as `SendTaskSuccess` output.

use crate::model::item::LockItem;

/// The grant as a Step Functions waiter receives it (`SendTaskSuccess` output): the grant answer
/// without `owner` (lock-fn keeps only its digest; the execution knows its own owner).
pub fn callback_output(item: &LockItem, now: u64) -> serde_json::Value {
    let expires_at_ms = item.expires_at_ms.unwrap_or_default();
    let acquired_at_ms = item.acquired_at_ms.unwrap_or_default();
    let mut out = serde_json::json!({
        "acquired": true,
        "resource_id": item.resource_id,
        "fence": item.fence.unwrap_or_default(),
        "expires_at_ms": expires_at_ms,
        "duration_ms": expires_at_ms.saturating_sub(acquired_at_ms),
        "acquired_at_ms": acquired_at_ms,
        "expires_in_ms": expires_at_ms.saturating_sub(now),
    });
    if let Some(h) = &item.holder {
        out["holder"] = serde_json::json!(h);
    }
    if let Some(s) = &item.semaphore {
        out["limit"] = serde_json::json!(s.limit);
        out["holders"] = serde_json::json!(s.live_count(now));
    }
    out
}
