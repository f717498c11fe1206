//! Credentials for signing, resolved once and reused until shortly before they expire (the SDK's
//! identity cache does this for its clients; a provider of `SdkConfig` alone does not cache).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use tokio::sync::Mutex;

/// Refresh this long before the credentials' expiry (the SDK's default buffer).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// A credentials provider and what it last gave.
#[derive(Debug, Clone)]
pub(crate) struct CredentialsCache {
    provider: SharedCredentialsProvider,
    current: Arc<Mutex<Option<Credentials>>>,
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
        if let Some(c) = current.as_ref().filter(|c| fresh(c, SystemTime::now())) {
            return Ok(c.clone());
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| lock_protocol::error_chain::error_chain(&e))?;
        *current = Some(c.clone());
        Ok(c)
    }
}

/// Whether `c` can still sign at `now`: no expiry, or more than the buffer left.
fn fresh(c: &Credentials, now: SystemTime) -> bool {
    c.expiry()
        .is_none_or(|end| end > now + REFRESH_BEFORE_EXPIRY)
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
        let soon = Some(Duration::from_secs(60));
        assert_eq!(
            keys(soon).await,
            (vec!["key0".into(), "key1".into(), "key2".into()], 3)
        );
    }
}
