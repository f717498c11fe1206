//! Epoch milliseconds: the unit of every time on the wire (`expires_at_ms`, `acquired_at_ms`, ...).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, by this machine's clock. In lock-fn this is "the function's
/// clock" that judges every lease.
///
/// ```
/// assert!(lock_protocol::now_ms() > 1_700_000_000_000);
/// ```
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
