//! A holder whose lease ran out (nobody took the lock over) can neither release nor renew it, and
//! is told so with a WARNING, as dynamo-dlm does. (Alone in its test binary: tracing caches which
//! log sites are enabled per process, so a log-capturing test must not share one with others.)

mod support;

use support::logs::Logs;
use support::*;

#[tokio::test]
async fn an_expired_lease_nobody_took_is_neither_released_nor_renewed_and_says_so() {
    let (logs, _guard) = Logs::capture();

    let (engine, _, _) = dynalite_engine().await;
    let owner = "holder-token-0123456789";
    let g = granted(&engine, acq("r", 150, Some(owner))).await;
    sleep_until_ms(g.expires_at_ms).await;
    assert!(
        !describe(&engine, "r").await.held,
        "expired, and nobody took it over"
    );
    assert!(!renew(&engine, "r", owner, 60_000).await.renewed);
    let r = release_fenced(&engine, "r", owner, Some(g.fence)).await;
    assert!(
        !r.released && !r.uncertain,
        "ran out untouched: a plain false, {r:?}"
    );
    assert!(!release(&engine, "r", owner).await.released);
    let d = describe(&engine, "r").await;
    assert_eq!(
        (d.held, d.expires_at_ms),
        (false, None),
        "the refused renew did not revive the lease"
    );

    let text = logs.text();
    assert_eq!(
        text.matches("WARN").count(),
        3,
        "one WARNING per refused renew/release:\n{text}"
    );
    assert_eq!(text.matches("renew by a non-holder").count(), 1, "{text}");
    assert_eq!(text.matches("release by a non-holder").count(), 2, "{text}");
    assert!(
        !text.contains(owner),
        "logs never show the owner token:\n{text}"
    );
}
