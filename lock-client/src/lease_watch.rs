//! Auto-renewal of a held lease, and the [`LeaseWatch`] that tells the holder when it is lost.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::LockClient;
use crate::error::ClientError;

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

/// Renews `owner`'s lease every third of its length until aborted; reports loss through `tx`.
pub(crate) fn spawn_renewer(
    client: LockClient,
    resource: String,
    owner: String,
    tx: watch::Sender<LeaseState>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let duration = client.duration();
        let interval = (duration / 3).max(Duration::from_millis(1));
        loop {
            let deadline = tx.borrow().local_deadline;
            // Renew a third of a lease after the last success; retry failures faster.
            tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now())))
                .await;
            loop {
                if Instant::now() >= tx.borrow().local_deadline {
                    tracing::warn!(resource = %resource, "lease ran out before it could be renewed: lock lost");
                    tx.send_modify(|s| s.lost = true);
                    return;
                }
                match renew_once(&client, &resource, &owner, &tx).await {
                    Ok(true) => break,
                    Ok(false) => {
                        tracing::warn!(resource = %resource, "renewal refused: lock lost");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(resource = %resource, error = %e, "renewal failed; retrying");
                        tokio::time::sleep((interval / 10).max(Duration::from_millis(5))).await;
                    }
                }
            }
        }
    })
}

/// One renewal of `owner`'s lease for the client's duration, recorded in `tx`: `Ok(true)` when
/// renewed (new lease ends), `Ok(false)` when refused (the lease is marked lost).
pub(crate) async fn renew_once(
    client: &LockClient,
    resource: &str,
    owner: &str,
    tx: &watch::Sender<LeaseState>,
) -> Result<bool, ClientError> {
    let sent = Instant::now();
    let duration = client.duration();
    let r = client.renew_owner(resource, owner, duration).await?;
    match r.renewal {
        Some(renewal) if r.renewed => {
            tx.send_modify(|s| {
                s.expires_at_ms = renewal.expires_at_ms;
                s.local_deadline = sent + duration;
            });
            Ok(true)
        }
        _ => {
            tx.send_modify(|s| s.lost = true);
            Ok(false)
        }
    }
}
