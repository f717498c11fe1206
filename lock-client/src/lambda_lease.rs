//! Sizing a lease for a lock taken inside a Lambda invocation.

use std::time::Duration;

use crate::protocol::now_ms;

/// Extra time past the caller's deadline, so that the lease covers the whole invocation.
pub const DEADLINE_GRACE: Duration = Duration::from_secs(1);

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
