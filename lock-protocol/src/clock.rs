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

/// The invocation deadline in epoch ms. Real Lambda sends epoch ms; `cargo lambda watch` sends the
/// invocation's time limit in ms (600000). A value that cannot be an epoch time (before 2001) is
/// read as a limit counted from now; 0 means none was given.
pub fn deadline_epoch_ms(raw: u64, now_ms: u64) -> Option<u64> {
    match raw {
        0 => None,
        limit if limit < 1_000_000_000_000 => Some(now_ms.saturating_add(limit)),
        epoch => Some(epoch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_deadlines_pass_and_emulator_limits_count_from_now() {
        assert_eq!(
            deadline_epoch_ms(1_795_000_000_000, 1_794_999_999_000),
            Some(1_795_000_000_000)
        );
        assert_eq!(
            deadline_epoch_ms(600_000, 1_795_000_000_000),
            Some(1_795_000_600_000)
        );
        assert_eq!(deadline_epoch_ms(0, 1_795_000_000_000), None);
    }
}
