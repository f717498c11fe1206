//! Auto-renewal of a held lease, and the [`LeaseWatch`] that tells the holder when it is lost.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ClientError;
use crate::lease_length::LeaseLength;
use crate::raw::RawClient;

/// The state of a held lease as the holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    /// Lease end by the function's clock (epoch ms).
    pub expires_at_ms: u64,
    /// Conservative lease end on this machine's monotonic clock: counted from when the acquire or
    /// renew was *sent*, so it never ends later than the function's lease.
    pub local_deadline: Instant,
    /// The lease is gone: a renewal was refused, or renewals failed until the lease ran out.
    pub lost: bool,
}

/// A handle to check, before protected work, that the lock is still held.
#[derive(Debug, Clone)]
pub struct LeaseWatch {
    rx: watch::Receiver<LeaseState>,
}

impl LeaseWatch {
    pub(crate) fn new(rx: watch::Receiver<LeaseState>) -> Self {
        LeaseWatch { rx }
    }

    /// The latest state.
    pub fn state(&self) -> LeaseState {
        *self.rx.borrow()
    }

    /// Whether the lease is still ours: not reported lost and not past its local deadline.
    pub fn is_held(&self) -> bool {
        let s = self.state();
        !s.lost && Instant::now() < s.local_deadline
    }

    /// Waits until the lease is lost (use it in `tokio::select!` to stop work at once).
    pub async fn lost(&mut self) {
        let _ = self.rx.wait_for(|s| s.lost).await;
    }
}

/// A deadline lease whose renewal would move its local deadline by no more than this is at its
/// end: renewing it is pointless (a renewal's answer resets the local deadline to within a few ms
/// of the end, so one renewal always gets there).
const AT_THE_END_TOLERANCE: Duration = Duration::from_millis(50);

/// How long before the local deadline a lease whose renewals keep failing is given up as lost: a
/// twentieth of the lease, at most 250 ms (time for the holder to stop its work).
pub fn stop_margin(duration: Duration) -> Duration {
    (duration / 20).min(Duration::from_millis(250))
}

/// When a lease whose local deadline is `deadline` is given up: `margin` before it.
fn stop_at(deadline: Instant, margin: Duration) -> Instant {
    deadline.checked_sub(margin).unwrap_or(deadline)
}

/// Renews `owner`'s lease (its grant with `fence`) every third of its length, and never later than
/// halfway through the time it has left, until aborted. Reports loss through `tx`: a refused
/// renewal, or renewals failing until [`stop_margin`] before the local deadline.
pub(crate) fn spawn_renewer(
    client: RawClient,
    length: LeaseLength,
    resource: String,
    owner: String,
    fence: u64,
    tx: watch::Sender<LeaseState>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Paced by the lease as it stands (a deadline lease asks for less than it has left once
        // its end is near), never faster than every 50 ms.
        let left_now = tx
            .borrow()
            .local_deadline
            .saturating_duration_since(Instant::now());
        let duration = length.now().max(left_now);
        let interval = (duration / 3).max(Duration::from_millis(50));
        let margin = stop_margin(duration);
        loop {
            let left = tx
                .borrow()
                .local_deadline
                .saturating_duration_since(Instant::now());
            tokio::time::sleep(interval.min(left / 2)).await;
            let deadline = tx.borrow().local_deadline;
            let left = deadline.saturating_duration_since(Instant::now());
            if matches!(length, LeaseLength::Until(_))
                && length.now() <= left + AT_THE_END_TOLERANCE
            {
                // A renewal would not extend the lease (a deadline lease at its end): none is
                // sent; the lease is reported lost as it runs out - unless the holder renewed it
                // meanwhile (`LockGuard::renew`).
                tokio::time::sleep_until(stop_at(deadline, margin).into()).await;
                if tx.borrow().local_deadline > deadline {
                    continue;
                }
                tracing::warn!(resource = %resource, "lease at its end (not renewed past it): lock lost");
                tx.send_modify(|s| s.lost = true);
                return;
            }
            loop {
                let stop = stop_at(tx.borrow().local_deadline, margin);
                let renewed = tokio::time::timeout_at(
                    stop.into(),
                    renew_once(&client, length.now(), &resource, &owner, Some(fence), &tx),
                )
                .await;
                match renewed {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => {
                        tracing::warn!(resource = %resource, "renewal refused: lock lost");
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(resource = %resource, error = %e, "renewal failed; retrying");
                        let pause = (interval / 10).max(Duration::from_millis(5));
                        tokio::time::sleep_until((Instant::now() + pause).min(stop).into()).await;
                    }
                    Err(_) => {}
                }
                if Instant::now() >= stop {
                    tracing::warn!(resource = %resource, "lease about to run out before it could be renewed: lock lost");
                    tx.send_modify(|s| s.lost = true);
                    return;
                }
            }
        }
    })
}

/// One renewal of `owner`'s lease (its grant with `fence`, when given) for `duration`, recorded in
/// `tx`: `Ok(true)` when renewed (new lease ends), `Ok(false)` when refused (the lease is marked
/// lost).
pub(crate) async fn renew_once(
    client: &RawClient,
    duration: Duration,
    resource: &str,
    owner: &str,
    fence: Option<u64>,
    tx: &watch::Sender<LeaseState>,
) -> Result<bool, ClientError> {
    let sent = Instant::now();
    let r = client.renew(resource, owner, fence, duration).await?;
    match r.renewal {
        Some(renewal) if r.renewed => {
            let left = renewal
                .expires_in_ms
                .map_or(duration, Duration::from_millis);
            tx.send_modify(|s| {
                s.expires_at_ms = renewal.expires_at_ms;
                s.local_deadline = sent + left;
            });
            Ok(true)
        }
        _ => {
            tx.send_modify(|s| s.lost = true);
            Ok(false)
        }
    }
}
