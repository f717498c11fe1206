//! lock-fn's metrics, read from its own stdout: a private emulator's lock-fn process (DynamoDB
//! behind a fault proxy) serves a scripted run, and every metric line it wrote must be a valid EMF
//! document whose counts are exactly those of the script.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use lock_client::protocol::AcquireResponse;
use lock_client::raw::{Mode, RawClient};
use serde_json::Value;
use support::fault_proxy::{FaultProxy, Step};
use support::*;
use test_support::emf::check_document;
use test_support::local_procs::LocalLambda;

/// The lease c asks for: long enough that its call after the handoff lands within it however
/// loaded the machine; its end is waited for before d takes over.
const C_LEASE_MS: u64 = 4000;

async fn acquire(
    raw: &RawClient,
    r: &str,
    owner: &str,
    lease_ms: u64,
    mode: Mode,
) -> AcquireResponse {
    raw.acquire(
        r,
        owner,
        Duration::from_millis(lease_ms),
        Duration::ZERO,
        mode,
    )
    .await
    .unwrap()
    .0
    .answer
}

/// Sums of every metric lock-fn reported for `resource` (a distribution's values listed).
fn reported(log: &str, resource: &str) -> (BTreeMap<String, u64>, BTreeMap<String, Vec<f64>>) {
    let (mut sums, mut values) = (BTreeMap::new(), BTreeMap::new());
    for line in log.lines() {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if doc.get("_aws").is_none() {
            continue;
        }
        let found = check_document(&doc).unwrap_or_else(|e| panic!("{e}: {line}"));
        if doc["Resource"] != resource {
            continue;
        }
        for (name, v) in found {
            match v {
                Value::Array(a) => values
                    .entry(name)
                    .or_insert_with(Vec::new)
                    .extend(a.iter().map(|x| x.as_f64().unwrap())),
                n => *sums.entry(name).or_insert(0) += n.as_u64().unwrap(),
            }
        }
    }
    (sums, values)
}

/// A grant, a refusal, a queued waiter handed the lock (a grant too), a lease that runs out and is
/// taken over (through a throttled write that is retried): each shows in the counts, once.
#[tokio::test]
async fn a_scripted_run_reports_exactly_its_counts_as_valid_emf() {
    let dynalite = std::env::var("DLM_TEST_DYNAMODB_ENDPOINT").expect("run via scripts/test.sh");
    let table = std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into());
    let log = std::env::temp_dir().join(format!("lock-fn-emf-{}.log", resource("run")));
    let proxy = FaultProxy::start(&dynalite).await;
    let lambda = LocalLambda::start_logging(
        1,
        &proxy.endpoint(),
        &[
            ("LOCK_TABLE", &table),
            ("LOCK_METRICS_NAMESPACE", "DlmTest"),
            ("LOCK_METRICS_PER_RESOURCE", "true"),
            // c, handed the lock while away, holds it for its whole lease from the handoff
            // (not a 2 s claim lease): its next call must come within that on a loaded machine.
            ("LOCK_CLAIM_MS", "10000"),
            ("RUST_LOG", "error"),
        ],
        Some(&log),
    )
    .await;
    let client = client_at(&lambda.endpoint()).await;
    let raw = client.raw();
    let r = resource("metrics");

    let a = granted(acquire(raw, &r, "a", 30_000, Mode::Try { fresh_owner: true }).await);
    let busy = acquire(raw, &r, "b", 30_000, Mode::Try { fresh_owner: true }).await;
    assert!(
        matches!(busy, AcquireResponse::Busy(ref b) if !b.queued),
        "{busy:?}"
    );
    let queued = acquire(raw, &r, "c", C_LEASE_MS, Mode::Queue).await;
    assert!(
        matches!(queued, AcquireResponse::Busy(ref b) if b.position == Some(1)),
        "{queued:?}"
    );
    assert!(raw
        .release(&r, "a", Some(a.fence))
        .await
        .unwrap()
        .released());
    let c = granted(acquire(raw, &r, "c", C_LEASE_MS, Mode::Queue).await);
    assert_eq!(c.fence, a.fence + 1, "handed on");
    // c's lease runs out; d takes over through one throttled, retried write.
    let left = c.expires_in_ms.expect("a grant says how long it has");
    tokio::time::sleep(Duration::from_millis(left + 200)).await;
    proxy.then(Step::Throttle);
    let d = granted(acquire(raw, &r, "d", 30_000, Mode::Try { fresh_owner: true }).await);
    assert_eq!(d.fence, c.fence + 1);
    assert!(raw
        .release(&r, "d", Some(d.fence))
        .await
        .unwrap()
        .released());

    // The last invocation's line comes just after its answer.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if reported(&text, &r).0.contains_key("StoreThrottles") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(lambda);
    let _ = std::fs::remove_file(&log);
    let (sums, values) = reported(&text, &r);
    let expected: BTreeMap<String, u64> = [
        ("Grants", 3),
        ("Refusals", 2),
        ("Handoffs", 1),
        ("LostLeases", 1),
        ("StoreThrottles", 1),
        ("StoreRetries", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(sums, expected, "{text}");
    assert_eq!(values["QueueDepthAtJoin"], [1.0]);
    // One per answer with a grant its owner did not hold yet (c's may repeat its handoff).
    let fresh = [&a, &c, &d].iter().filter(|g| !g.reacquired).count();
    assert_eq!(values["WaitToGrant"].len(), fresh, "{text}");
    assert_eq!(values.len(), 2, "{values:?}");
}
