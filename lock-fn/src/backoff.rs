//! Jittered delays: between retries of a throttled write, and between acquire attempts while waiting.

use std::time::Duration;

/// Delay before retry number `attempt` (1-based) of a throttled or failed write: exponential from
/// 25 ms, capped at 800 ms, with full jitter so that throttled callers spread out.
pub fn store_retry_delay(attempt: u32) -> Duration {
    full_jitter(25, 800, attempt)
}

/// Delay before the next acquire attempt while waiting for a busy lock: exponential from 2 ms,
/// capped at 64 ms, "equal jitter" (at least half the step) so waiters neither stampede nor starve.
pub fn wait_poll_delay(attempt: u32) -> Duration {
    let step = exp_step(2, 64, attempt);
    Duration::from_micros(step * 500 + fastrand::u64(0..=step * 500))
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
    fn delays_grow_and_stay_within_their_caps() {
        for attempt in 1..40 {
            assert!(store_retry_delay(attempt) <= Duration::from_millis(800));
            let d = wait_poll_delay(attempt);
            let step = exp_step(2, 64, attempt);
            assert!(d >= Duration::from_micros(step * 500) && d <= Duration::from_millis(step));
        }
        assert_eq!(exp_step(2, 64, 1), 2);
        assert_eq!(exp_step(2, 64, 3), 8);
        assert_eq!(exp_step(2, 64, 30), 64);
    }
}
