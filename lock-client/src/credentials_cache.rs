//! Credentials for signing, resolved once and reused until shortly before they expire (the SDK's
//! identity cache does this for its clients; a provider of `SdkConfig` alone does not cache).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use tokio::sync::Mutex;

/// Refresh this long before the credentials' expiry (the SDK identity cache's buffer).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);
/// Credentials without an expiry (environment variables, a profile) are resolved again after
/// this long, as the SDK's identity cache does.
const NO_EXPIRY_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// A lookup (STS, instance metadata, a container endpoint) that takes longer fails: invokes waiting
/// for credentials fail with it instead of hanging (the SDK's identity cache bounded it too).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A credentials provider and what it last gave.
#[derive(Debug, Clone)]
pub(crate) struct CredentialsCache {
    provider: SharedCredentialsProvider,
    /// The credentials in use and when they were resolved.
    current: Arc<Mutex<Option<(Credentials, SystemTime)>>>,
}

impl CredentialsCache {
    pub(crate) fn new(provider: SharedCredentialsProvider) -> Self {
        CredentialsCache {
            provider,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// Credentials valid for a while yet. Concurrent callers wait for one refresh.
    pub(crate) async fn get(&self) -> Result<Credentials, String> {
        let mut current = self.current.lock().await;
        let now = SystemTime::now();
        if let Some((c, _)) = current.as_ref().filter(|(c, at)| fresh(c, *at, now)) {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(LOOKUP_TIMEOUT, self.provider.provide_credentials())
            .await
            .map_err(|_| format!("no credentials within {LOOKUP_TIMEOUT:?}"))?
            .map_err(|e| lock_protocol::error_chain::error_chain(&e))?;
        *current = Some((c.clone(), now));
        Ok(c)
    }
}

/// Whether `c`, resolved at `resolved`, is still used at `now`: more than the buffer left before
/// its expiry, or (without one) resolved less than [`NO_EXPIRY_LIFETIME`] ago.
fn fresh(c: &Credentials, resolved: SystemTime, now: SystemTime) -> bool {
    match c.expiry() {
        Some(end) => end > now + REFRESH_BEFORE_EXPIRY,
        None => now < resolved + NO_EXPIRY_LIFETIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicU32>,
        lifetime: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Relaxed);
            let expiry = self.lifetime.map(|l| SystemTime::now() + l);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("key{n}"),
                "secret",
                None,
                expiry,
                "test",
            )))
        }
    }

    #[test]
    fn credentials_without_an_expiry_are_resolved_again_after_a_while() {
        let c = Credentials::new("k", "s", None, None, "test");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(fresh(
            &c,
            t,
            t + NO_EXPIRY_LIFETIME - Duration::from_secs(1)
        ));
        assert!(!fresh(&c, t, t + NO_EXPIRY_LIFETIME));
        let expiring = Credentials::new("k", "s", None, Some(t + Duration::from_secs(60)), "test");
        assert!(fresh(&expiring, t, t + Duration::from_secs(49)));
        assert!(!fresh(&expiring, t, t + Duration::from_secs(50)));
    }

    #[derive(Debug)]
    struct Hanging;

    impl ProvideCredentials for Hanging {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::new(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_that_hangs_fails_instead_of_holding_every_invoke() {
        let cache = CredentialsCache::new(SharedCredentialsProvider::new(Hanging));
        let (a, b) = tokio::join!(cache.get(), cache.get());
        assert!(a.unwrap_err().contains("no credentials within"));
        assert!(b.unwrap_err().contains("no credentials within"));
    }

    async fn keys(lifetime: Option<Duration>) -> (Vec<String>, u32) {
        let calls = Arc::new(AtomicU32::new(0));
        let cache = CredentialsCache::new(SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            lifetime,
        }));
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push(cache.get().await.unwrap().access_key_id().to_string());
        }
        (keys, calls.load(Relaxed))
    }

    #[tokio::test]
    async fn credentials_are_reused_until_close_to_their_expiry() {
        assert_eq!(keys(None).await, (vec!["key0".into(); 3], 1));
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(keys(hour).await, (vec!["key0".into(); 3], 1));
        // Expiring within the buffer: fetched again on every use.
        let soon = Some(Duration::from_secs(5));
        assert_eq!(
            keys(soon).await,
            (vec!["key0".into(), "key1".into(), "key2".into()], 3)
        );
    }
}
