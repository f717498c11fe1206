//! Sizing a lease for a lock taken inside a Lambda invocation.

use std::time::Duration;

use crate::protocol::now_ms;

/// Extra time past the caller's deadline, so that the lease covers the whole invocation.
pub const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// How long before its deadline an invocation stops starting writes under the lock: a write
/// started later could still be in flight when Lambda stops the invocation.
pub const WRITE_MARGIN: Duration = Duration::from_millis(500);

/// A lease that lasts until the calling Lambda's invocation deadline (epoch ms, as in
/// `lambda_runtime::Context::deadline`) plus [`DEADLINE_GRACE`]: the lock needs no renewal while the
/// invocation runs, and frees itself about a second after a timed-out invocation is killed.
///
/// ```
/// use std::time::Duration;
/// let deadline_ms = lock_client::protocol::now_ms() + 30_000;
/// let lease = lock_client::lambda_lease::lease_until_deadline(deadline_ms);
/// assert!(lease > Duration::from_secs(30) && lease <= Duration::from_secs(31));
/// ```
pub fn lease_until_deadline(deadline_epoch_ms: u64) -> Duration {
    Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms())) + DEADLINE_GRACE
}

/// One Lambda invocation's time, from its deadline: whether there is enough to work under a lock,
/// when leases must end, and until when to start writes.
///
/// ```
/// use std::time::Duration;
/// use lock_client::lambda_lease::InvocationBudget;
/// let budget = InvocationBudget::new(lock_client::protocol::now_ms() + 10_000);
/// assert!(budget.ensure(Duration::from_secs(2)).is_ok());
/// assert!(budget.ensure(Duration::from_secs(20)).is_err());
/// // client.with_lease_until(budget.lease_end_ms()).acquire_timeout(r, budget.wait_for(min_work))
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationBudget {
    deadline_ms: u64,
}

impl InvocationBudget {
    /// The budget of an invocation whose deadline is `deadline_epoch_ms`.
    pub fn new(deadline_epoch_ms: u64) -> Self {
        InvocationBudget {
            deadline_ms: deadline_epoch_ms,
        }
    }

    /// The deadline, epoch ms.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// When a lease taken in this invocation should end: the deadline plus [`DEADLINE_GRACE`].
    pub fn lease_end_ms(&self) -> u64 {
        self.deadline_ms + DEADLINE_GRACE.as_millis() as u64
    }

    /// Time left to start writes: until the deadline less [`WRITE_MARGIN`] (zero after).
    pub fn writes_left(&self) -> Duration {
        let stop = self
            .deadline_ms
            .saturating_sub(WRITE_MARGIN.as_millis() as u64);
        Duration::from_millis(stop.saturating_sub(now_ms()))
    }

    /// How long to wait for a lock and still have `min_work` left to write in.
    pub fn wait_for(&self, min_work: Duration) -> Duration {
        self.writes_left().saturating_sub(min_work)
    }

    /// `Err(time left to write)` when less than `min_work` is left (or none at all): refuse the
    /// work rather than take a lock you cannot use.
    pub fn ensure(&self, min_work: Duration) -> Result<(), Duration> {
        let left = self.writes_left();
        if left < min_work || left.is_zero() {
            Err(left)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_stops_writes_before_the_deadline_and_leases_after_it() {
        let now = now_ms();
        let budget = InvocationBudget::new(now + 3_000);
        assert_eq!(budget.lease_end_ms(), now + 4_000);
        let writes = budget.writes_left();
        assert!(writes <= Duration::from_millis(2_500) && writes > Duration::from_millis(2_000));
        assert!(budget.wait_for(Duration::from_secs(1)) <= Duration::from_millis(1_500));
        assert!(budget.ensure(Duration::from_secs(2)).is_ok());
        assert!(budget.ensure(Duration::from_millis(2_600)).is_err());
        let late = InvocationBudget::new(now.saturating_sub(1_000));
        assert_eq!(late.writes_left(), Duration::ZERO);
        assert_eq!(late.ensure(Duration::ZERO), Err(Duration::ZERO));
        assert_eq!(late.ensure(Duration::from_millis(1)), Err(Duration::ZERO));
    }
}
