//! The one clock leases are judged by: the function's wall clock, in epoch milliseconds.

pub use lock_protocol::now_ms;

/// Epoch seconds rounded up: the `expires` value dynamo-dlm clients (and DynamoDB TTL) read, so that
/// they never see a lease end before it really has.
pub fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// Epoch seconds rounded down: "now" the way dynamo-dlm computes it (`int(time.time())`).
pub fn floor_secs(ms: u64) -> u64 {
    ms / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_never_ends_a_lease_early() {
        assert_eq!(ceil_secs(10_000), 10);
        assert_eq!(ceil_secs(10_001), 11);
        assert_eq!(floor_secs(10_999), 10);
        assert!(now_ms() > 1_700_000_000_000);
    }
}
