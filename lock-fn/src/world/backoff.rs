//! Jittered delays: between retries of a throttled write, and between acquire attempts while waiting.

use std::time::Duration;

/// Delay before retry number `attempt` (1-based) of a throttled or failed write: exponential from
/// 25 ms, capped at 800 ms, with full jitter so that throttled callers spread out.
pub fn store_retry_delay(attempt: u32) -> Duration {
    full_jitter(25, 800, attempt)
}

/// Delay before the next acquire attempt while waiting for a busy lock: uniform in
/// `[interval / 2, 3 * interval / 2]`. No ramp from short delays: every waiter polls at the same
/// average rate from its first refusal on, and the jitter spreads the waiters' polls evenly, so that
/// after a release the next poll comes about `interval / waiters` later.
pub fn wait_poll_delay(interval: Duration) -> Duration {
    let us = interval.as_micros() as u64;
    Duration::from_micros(us / 2 + fastrand::u64(0..=us))
}

/// Random in `[0, min(cap, base * 2^(attempt-1))]` milliseconds.
fn full_jitter(base_ms: u64, cap_ms: u64, attempt: u32) -> Duration {
    Duration::from_micros(fastrand::u64(0..=exp_step(base_ms, cap_ms, attempt) * 1000))
}

fn exp_step(base_ms: u64, cap_ms: u64, attempt: u32) -> u64 {
    base_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
        .min(cap_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_their_bounds() {
        let interval = Duration::from_millis(40);
        for attempt in 1..40 {
            assert!(store_retry_delay(attempt) <= Duration::from_millis(800));
            let d = wait_poll_delay(interval);
            assert!(
                d >= Duration::from_millis(20) && d <= Duration::from_millis(60),
                "{d:?}"
            );
        }
        assert_eq!(exp_step(25, 800, 1), 25);
        assert_eq!(exp_step(25, 800, 3), 100);
        assert_eq!(exp_step(25, 800, 30), 800);
    }
}
