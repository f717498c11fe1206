//! Credentials for signing, resolved once and reused until shortly before they expire (the SDK's
//! identity cache does this for its clients; a provider of `SdkConfig` alone does not cache).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use tokio::sync::watch;

/// Refresh this long before the credentials' expiry (the SDK identity cache's buffer).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);
/// Credentials without an expiry (environment variables, a profile) are resolved again after
/// this long, as the SDK's identity cache does.
const NO_EXPIRY_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// A lookup (STS, instance metadata, a container endpoint) that takes longer fails: invokes waiting
/// for credentials fail with it instead of hanging (the SDK's identity cache bounded it too).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// One lookup's outcome (`None` until it ends), shared by every caller that waits for it.
type Lookup = watch::Receiver<Option<Result<Credentials, String>>>;

/// A credentials provider and what it last gave.
#[derive(Debug, Clone)]
pub(crate) struct CredentialsCache {
    provider: SharedCredentialsProvider,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// The credentials in use and when they were resolved.
    current: Option<(Credentials, SystemTime)>,
    /// The lookup under way, which every caller needing credentials joins.
    in_flight: Option<Lookup>,
}

impl CredentialsCache {
    pub(crate) fn new(provider: SharedCredentialsProvider) -> Self {
        CredentialsCache {
            provider,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Credentials valid for a while yet. Concurrent callers share one lookup and its outcome (a
    /// failed or timed-out lookup fails them all at once; the next call starts a new one). The
    /// lookup runs on a task of its own: a caller that stops waiting does not cut it off for the
    /// others.
    pub(crate) async fn get(&self) -> Result<Credentials, String> {
        let mut lookup = {
            let mut state = lock(&self.state);
            let now = SystemTime::now();
            if let Some((c, _)) = state.current.as_ref().filter(|(c, at)| fresh(c, *at, now)) {
                return Ok(c.clone());
            }
            state
                .in_flight
                .get_or_insert_with(|| self.start_lookup())
                .clone()
        };
        let outcome = match lookup.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().expect("waited for an outcome"),
            Err(_) => Err("the credentials lookup ended without an outcome".into()),
        };
        outcome
    }

    fn start_lookup(&self) -> Lookup {
        let (tell, lookup) = watch::channel(None);
        let (provider, state) = (self.provider.clone(), self.state.clone());
        tokio::spawn(async move {
            let started = SystemTime::now();
            let outcome =
                match tokio::time::timeout(LOOKUP_TIMEOUT, provider.provide_credentials()).await {
                    Err(_) => Err(format!("no credentials within {LOOKUP_TIMEOUT:?}")),
                    Ok(r) => r.map_err(|e| lock_protocol::error_chain::error_chain(&e)),
                };
            let mut state = lock(&state);
            if let Ok(c) = &outcome {
                state.current = Some((c.clone(), started));
            }
            state.in_flight = None;
            drop(state);
            tell.send_replace(Some(outcome));
        });
        lookup
    }
}

/// The state, also after a panic elsewhere while it was held (it is always left consistent).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// A provider whose lookups take `delay` (for ever when `None`), counted, and fail when
    /// `fail_first` lookups have not yet been made.
    #[derive(Debug)]
    struct Slow {
        calls: Arc<AtomicU32>,
        delay: Option<Duration>,
        fail_first: u32,
    }

    impl ProvideCredentials for Slow {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Relaxed);
            let (delay, fail) = (self.delay, n < self.fail_first);
            aws_credential_types::provider::future::ProvideCredentials::new(async move {
                match delay {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
                if fail {
                    return Err(
                        aws_credential_types::provider::error::CredentialsError::not_loaded(
                            "no credentials yet",
                        ),
                    );
                }
                Ok(Credentials::new(format!("key{n}"), "s", None, None, "test"))
            })
        }
    }

    fn slow(delay: Option<Duration>, fail_first: u32) -> (CredentialsCache, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let provider = Slow {
            calls: calls.clone(),
            delay,
            fail_first,
        };
        (
            CredentialsCache::new(SharedCredentialsProvider::new(provider)),
            calls,
        )
    }

    /// Each of three concurrent callers: its outcome and how long it waited.
    async fn three_at_once(
        cache: &CredentialsCache,
    ) -> Vec<(Result<Credentials, String>, Duration)> {
        let timed = || async {
            let start = tokio::time::Instant::now();
            let r = cache.get().await;
            (r, start.elapsed())
        };
        let (a, b, c) = tokio::join!(timed(), timed(), timed());
        vec![a, b, c]
    }

    #[tokio::test(start_paused = true)]
    async fn a_lookup_that_hangs_fails_every_waiter_once_instead_of_holding_them_in_turn() {
        let (cache, calls) = slow(None, 0);
        for (r, waited) in three_at_once(&cache).await {
            assert!(r.unwrap_err().contains("no credentials within"));
            assert_eq!(
                waited, LOOKUP_TIMEOUT,
                "one shared lookup, not one after another"
            );
        }
        assert_eq!(calls.load(Relaxed), 1);
        // The next call starts a new lookup.
        assert!(cache.get().await.is_err());
        assert_eq!(calls.load(Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_lookup_and_a_failed_one_is_not_kept() {
        let (cache, calls) = slow(Some(Duration::from_secs(1)), 1);
        for (r, waited) in three_at_once(&cache).await {
            assert!(r.unwrap_err().contains("no credentials yet"));
            assert_eq!(waited, Duration::from_secs(1));
        }
        let keys: Vec<String> = three_at_once(&cache)
            .await
            .into_iter()
            .map(|(r, _)| r.unwrap().access_key_id().to_string())
            .collect();
        assert_eq!(keys, vec!["key1"; 3]);
        assert_eq!(calls.load(Relaxed), 2);
        // Kept: no lookup for the next caller.
        assert_eq!(cache.get().await.unwrap().access_key_id(), "key1");
        assert_eq!(calls.load(Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_stops_waiting_does_not_cut_the_lookup_off_for_the_others() {
        let (cache, calls) = slow(Some(Duration::from_secs(1)), 0);
        let first = cache.get();
        let later = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let start = tokio::time::Instant::now();
            (cache.get().await, start.elapsed())
        };
        let (dropped, (got, waited)) = tokio::join!(
            tokio::time::timeout(Duration::from_millis(500), first),
            later
        );
        assert!(dropped.is_err(), "the first caller stopped waiting");
        assert_eq!(got.unwrap().access_key_id(), "key0", "the same lookup");
        assert_eq!(
            waited,
            Duration::from_millis(900),
            "only what was left of it"
        );
        assert_eq!(calls.load(Relaxed), 1);
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
