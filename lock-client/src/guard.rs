//! [`LockGuard`]: a held lock.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ClientError;
use crate::lease_length::LeaseLength;
use crate::lease_watch::{renew_once, spawn_renewer, LeaseState, LeaseWatch};
use crate::protocol::Grant;
use crate::raw::{RawClient, ReleaseOutcome};

/// A held lock. Release it with [`LockGuard::release`]; dropping it instead makes a best-effort
/// release in the background when a tokio runtime is available (otherwise the lease simply runs
/// out: the lease, not the drop, is the guarantee).
///
/// ```no_run
/// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
/// let mut guard = client.acquire("reports/daily").await?;
/// let lease = guard.auto_renew();
/// // ... before each protected write:
/// assert!(lease.is_held());
/// write_with_fence(guard.fence());
/// let still_held = guard.release().await?;
/// # Ok(()) }
/// # fn write_with_fence(_: u64) {}
/// ```
#[must_use = "the lock is released (best effort) as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard {
    client: RawClient,
    /// What renewals ask for.
    length: LeaseLength,
    grant: Grant,
    state: watch::Sender<LeaseState>,
    renewer: Option<JoinHandle<()>>,
    released: bool,
}

impl LockGuard {
    /// `sent`: when the invoke that brought `grant` was sent. The local deadline counts the lease
    /// time left at the answer from then: whichever earlier invoke of this owner made the grant (a
    /// resend, a wait chunk, a delayed write), it never ends after the lease.
    pub(crate) fn new(client: RawClient, length: LeaseLength, grant: Grant, sent: Instant) -> Self {
        let (state, _) = watch::channel(LeaseState {
            expires_at_ms: grant.expires_at_ms,
            local_deadline: sent + Duration::from_millis(grant.lease_left_ms()),
            lost: false,
        });
        LockGuard {
            client,
            length,
            grant,
            state,
            renewer: None,
            released: false,
        }
    }

    /// The locked resource.
    pub fn resource(&self) -> &str {
        &self.grant.resource_id
    }

    /// The owner token (needed to release or renew from elsewhere, e.g. `dlm release --owner`).
    pub fn owner(&self) -> &str {
        &self.grant.owner
    }

    /// The fencing token: pass it to the protected resource, which should reject smaller ones.
    pub fn fence(&self) -> u64 {
        self.grant.fence
    }

    /// Current lease end by the function's clock, epoch ms (follows renewals).
    pub fn expires_at_ms(&self) -> u64 {
        self.state.borrow().expires_at_ms
    }

    /// The grant as the function answered it.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Whether the lease is still ours, as far as this process can tell.
    pub fn is_held(&self) -> bool {
        self.watch().is_held()
    }

    /// A handle on the lease's state, for checks before protected work.
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch::new(self.state.subscribe())
    }

    /// Starts renewing in the background every third of the lease; the returned watch reports loss.
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let mut guard = client.acquire("migrations").await?;
    /// let mut lease = guard.auto_renew();
    /// tokio::select! {
    ///     _ = long_running_work() => {}
    ///     _ = lease.lost() => eprintln!("lock lost: stopping"),
    /// }
    /// guard.release().await?;
    /// # Ok(()) }
    /// # async fn long_running_work() {}
    /// ```
    /// Stopped by release or drop. Calling it again only returns another watch.
    pub fn auto_renew(&mut self) -> LeaseWatch {
        if self.renewer.is_none() {
            self.renewer = Some(spawn_renewer(
                self.client.clone(),
                self.length,
                self.grant.resource_id.clone(),
                self.grant.owner.clone(),
                self.grant.fence,
                self.state.clone(),
            ));
        }
        self.watch()
    }

    /// Extends the lease by the client's duration from now (a client of
    /// [`crate::LockClient::with_lease_until`]: up to its end); `false` when the lock was already
    /// lost.
    pub async fn renew(&mut self) -> Result<bool, ClientError> {
        renew_once(
            &self.client,
            self.length.now(),
            &self.grant.resource_id,
            &self.grant.owner,
            Some(self.grant.fence),
            &self.state,
        )
        .await
    }

    /// Releases the lock. `Ok(false)` means this release did not end the lease: it was no longer
    /// ours (expired and/or taken by someone else), or that cannot be told (see
    /// [`LockGuard::release_outcome`]): work done under it may have overlapped another holder's.
    /// Logged at WARNING.
    pub async fn release(self) -> Result<bool, ClientError> {
        Ok(self.release_outcome().await?.released())
    }

    /// Like [`LockGuard::release`], telling "not held" apart from "unknowable", with the release
    /// time on the function's clock when it worked.
    pub async fn release_outcome(mut self) -> Result<ReleaseOutcome, ClientError> {
        self.stop_renewing();
        self.released = true;
        let outcome = self
            .client
            .release(
                &self.grant.resource_id,
                &self.grant.owner,
                Some(self.grant.fence),
            )
            .await?;
        match outcome {
            ReleaseOutcome::Released { .. } => {}
            ReleaseOutcome::Unknown => {
                tracing::warn!(resource = %self.grant.resource_id, fence = self.grant.fence,
                    "release outcome unknown: an earlier attempt may have released the lock unseen, or it had expired; it is free either way")
            }
            ReleaseOutcome::NotHeld => {
                tracing::warn!(resource = %self.grant.resource_id, fence = self.grant.fence,
                    "released a lock that was no longer held: it expired and/or was taken by another owner")
            }
        }
        Ok(outcome)
    }

    /// Gives the grant up to the caller without releasing it (no background renewal, no release on
    /// drop): for handing the lock to another process, as `dlm acquire` does. The lease runs until
    /// someone releases it with the grant's owner (and fence) or it expires.
    pub fn into_grant(mut self) -> Grant {
        self.stop_renewing();
        self.released = true;
        self.grant.clone()
    }

    fn stop_renewing(&mut self) {
        if let Some(task) = self.renewer.take() {
            task.abort();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_renewing();
        if self.released {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (client, resource, owner) = (
                self.client.clone(),
                self.grant.resource_id.clone(),
                self.grant.owner.clone(),
            );
            let fence = self.grant.fence;
            handle.spawn(async move {
                if let Err(e) = client.release(&resource, &owner, Some(fence)).await {
                    tracing::warn!(resource = %resource, error = %e, "best-effort release on drop failed; the lease will run out");
                }
            });
        }
    }
}
