//! [`LockClient::with_lock`]: work under a lock, released afterwards.

use std::future::Future;

use crate::client::LockClient;
use crate::error::ClientError;
use crate::lease_watch::LeaseWatch;

impl LockClient {
    /// Runs `work` while holding the lock (auto-renewed), then releases it.
    ///
    /// `work` gets a [`LeaseWatch`] to check before protected steps. When the lock turns out to have
    /// been lost (a renewal was refused or the release found another holder), the result is dropped
    /// and [`ClientError::LockLost`] returned: the work may have overlapped another holder's.
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
        let lost = watch.state().lost;
        let released = guard.release().await?;
        if lost || !released {
            return Err(ClientError::LockLost {
                resource_id: resource.to_string(),
                fence,
            });
        }
        Ok(value)
    }
}
