//! [`LockClient::with_lock`]: work under a lock, released afterwards.

use std::future::Future;

use crate::client::LockClient;
use crate::error::ClientError;
use crate::lease_watch::LeaseWatch;
use crate::raw::ReleaseOutcome;

impl LockClient {
    /// Runs `work` while holding the lock (auto-renewed), then releases it.
    ///
    /// `work` gets a [`LeaseWatch`] to check before protected steps. When the lock turns out to have
    /// been lost (the watch saw a renewal refused or the lease run out, or the release found it no
    /// longer held), the result is dropped and [`ClientError::LockLost`] returned: the work may have
    /// overlapped another holder's. A release that cannot tell ([`ReleaseOutcome::Unknown`]) or
    /// fails is no proof of a loss: when the lease was still held as the release was sent, the
    /// value is returned (and a warning logged; a lease the release did not end runs out by itself).
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let total = client.with_lock("counter", |lease| async move {
    ///     assert!(lease.is_held());
    ///     40 + 2
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_lock<T, F, Fut>(&self, resource: &str, work: F) -> Result<T, ClientError>
    where
        F: FnOnce(LeaseWatch) -> Fut,
        Fut: Future<Output = T>,
    {
        let mut guard = self.acquire(resource).await?;
        let fence = guard.fence();
        let watch = guard.auto_renew();
        let value = work(watch.clone()).await;
        // Judged as the release is sent: not reported lost, local deadline not passed.
        let (seen_lost, held) = (watch.state().lost, watch.is_held());
        let released = guard.release_outcome().await;
        let lost = ClientError::LockLost {
            resource_id: resource.to_string(),
            fence,
        };
        match released {
            // This grant was still the live one: nobody else held the lock meanwhile.
            Ok(ReleaseOutcome::Released { .. }) if !seen_lost => Ok(value),
            Ok(ReleaseOutcome::Unknown) if held => Ok(value),
            Err(e) if held => {
                tracing::warn!(resource = %resource, fence, error = %e,
                    "release failed after the work finished under a held lease; the lease runs out by itself");
                Ok(value)
            }
            Ok(_) | Err(_) => Err(lost),
        }
    }
}
