//! The contending workers of the fault suite and what they saw.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lock_client::raw::ReleaseOutcome;
use lock_client::{ClientError, LockClient};
use test_support::history::History;

#[derive(Default)]
pub struct Observed {
    pub grants: Mutex<Vec<Instant>>,
    /// When grants began whose end is unknowable (their release outcome was uncertain).
    pub unknown_ends: Mutex<Vec<Instant>>,
    pub errors: Mutex<BTreeMap<String, usize>>,
    /// (resource, fence) -> the grant and the release answer, to explain a violation.
    pub detail: Mutex<BTreeMap<(String, u64), String>>,
}

impl Observed {
    pub fn count_error(&self, e: &ClientError) {
        *self
            .errors
            .lock()
            .unwrap()
            .entry(error_kind(e))
            .or_default() += 1;
    }
}

fn error_kind(e: &ClientError) -> String {
    match e {
        ClientError::Function { error_type, .. } => error_type.clone(),
        ClientError::Timeout { .. } => "Timeout (still busy)".into(),
        ClientError::Unreachable(_) => "Unreachable".into(),
        ClientError::Invoke(_) => "Invoke".into(),
        ClientError::UnknownFunction(_) => "UnknownFunction".into(),
        other => format!("{other:?}").chars().take(30).collect(),
    }
}

pub async fn worker(
    client: LockClient,
    resource: String,
    history: Arc<History>,
    seen: Arc<Observed>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let guard = match client
            .acquire_timeout(&resource, Duration::from_secs(2))
            .await
        {
            Ok(g) => g,
            Err(e) => {
                seen.count_error(&e);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let granted_at = Instant::now();
        seen.grants.lock().unwrap().push(granted_at);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..5))).await;
        let grant = guard.into_grant(); // released below, explicitly and until answered
        let release_sent_ms = lock_protocol::now_ms();
        let mut retried = false;
        let answer = loop {
            match client
                .raw()
                .release(&resource, &grant.owner, Some(grant.fence))
                .await
            {
                Ok(a) => break a,
                Err(e) => {
                    retried = true;
                    seen.count_error(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        seen.detail.lock().unwrap().insert(
            (resource.clone(), grant.fence),
            format!("{grant:?} / release retried here: {retried} / {answer:?}"),
        );
        // `uncertain` covers the client's own resends; a release this loop had to repeat after an
        // error is just as unknowable when answered `false`.
        if (retried && !answer.released()) || answer == ReleaseOutcome::Unknown {
            eprintln!(
                "[faults] unknown end: {resource} fence {} (release retried here: {retried}, {answer:?})",
                grant.fence
            );
            seen.unknown_ends.lock().unwrap().push(granted_at);
            history.record_unknown_end(&grant, release_sent_ms);
        } else {
            history.record(&grant, answer.released_at_ms());
        }
    }
}

pub fn grants_in(seen: &Observed, from: Instant, to: Instant) -> usize {
    seen.grants
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t >= from && **t < to)
        .count()
}

pub fn first_grant_after(seen: &Observed, t: Instant) -> Option<Duration> {
    seen.grants
        .lock()
        .unwrap()
        .iter()
        .filter(|g| **g >= t)
        .min()
        .map(|g| *g - t)
}

pub async fn wait_for_grant_after(seen: &Observed, t: Instant) -> Option<Duration> {
    for _ in 0..300 {
        if let Some(d) = first_grant_after(seen, t) {
            return Some(d);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
