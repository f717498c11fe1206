//! The lease a client's acquires and renewals ask for: a fixed length, or the time left until an
//! end (a lease that ends with a Lambda invocation).

use std::time::Duration;

use crate::protocol::now_ms;

/// What each acquire and renewal asks for, sized when its invoke is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaseLength {
    /// This long from the function's answer.
    Fixed(Duration),
    /// Until this end (epoch ms, this machine's clock): never longer, at least 1 ms.
    Until(u64),
}

impl LeaseLength {
    /// The length to ask for now.
    pub(crate) fn now(self) -> Duration {
        self.at(now_ms())
    }

    fn at(self, now_ms: u64) -> Duration {
        match self {
            LeaseLength::Fixed(d) => d,
            LeaseLength::Until(end) => Duration::from_millis(end.saturating_sub(now_ms).max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_until_an_end_asks_for_what_is_left_and_at_least_a_millisecond() {
        let until = LeaseLength::Until(10_000);
        assert_eq!(until.at(7_500), Duration::from_millis(2_500));
        assert_eq!(until.at(9_999), Duration::from_millis(1));
        assert_eq!(until.at(10_000), Duration::from_millis(1));
        assert_eq!(until.at(20_000), Duration::from_millis(1));
        let fixed = LeaseLength::Fixed(Duration::from_secs(3));
        assert_eq!(fixed.at(0), Duration::from_secs(3));
        assert_eq!(fixed.at(u64::MAX), Duration::from_secs(3));
    }
}
