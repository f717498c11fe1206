//! Safety through the whole stack when answers get lost: client (`dlm`) -> a private `cargo lambda
//! watch` -> lock-fn -> a fault proxy -> dynalite, next to the shared stack's lock-fn as the other
//! owner.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use support::*;
use test_support::fault_proxy::{FaultProxy, Faults, Step};
use test_support::local_procs::LocalLambda;

fn dynalite() -> String {
    std::env::var("DLM_TEST_DYNAMODB_ENDPOINT").expect("run via scripts/test.sh")
}

fn table() -> String {
    std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into())
}

async fn lease_end_in_table(resource: &str) -> Option<u64> {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let item = aws_sdk_dynamodb::Client::new(&shared)
        .get_item()
        .table_name(table())
        .key("resource_id", AttributeValue::S(resource.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    match item.get("expires_at_ms") {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

/// The interleaving of the safety report (issue 1 there): `dlm run --duration 5s --wait 30s`, whose
/// acquire write is applied but its answer lost, after which DynamoDB throttles every request
/// for about four seconds, so that lock-fn answers `Throttled` and the client keeps waiting; its
/// next invoke finds the grant (`reacquired`) with about a second of lease left. Then renewals fail
/// (throttling again). The protected command must stop before the lease ends on lock-fn's clock,
/// and the other owner, waiting on the side, is granted only after it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_stops_before_the_lease_end_whichever_invoke_made_the_grant() {
    let proxy = FaultProxy::start(&dynalite()).await;
    let private = LocalLambda::start(
        1,
        &proxy.endpoint(),
        &[
            ("LOCK_TABLE", &table()),
            ("LOCK_STORE_ATTEMPTS", "3"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let r = resource("late-grant");
    let dir = std::env::temp_dir().join(format!("dlm-late-grant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let beats = dir.join("beats");
    let _ = std::fs::remove_file(&beats);

    let throttling = Faults {
        throttle: 1.0,
        ..Faults::default()
    };
    // A queued acquire reads the item first, then takes the free lock with one write.
    proxy.then(Step::Forward);
    proxy.then(Step::LoseAnswer(Duration::ZERO));
    proxy.set(throttling);
    let started = Instant::now();
    let script = format!(
        "while :; do date +%s%3N >> {}; sleep 0.01; done",
        beats.display()
    );
    let dlm = tokio::process::Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(["run", &r, "--duration", "5s", "--wait", "30s", "--"])
        .args(["sh", "-c", &script])
        .env("AWS_ENDPOINT_URL_LAMBDA", private.endpoint())
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The first write landed; everything after it is throttled for about four seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lease_end = lease_end_in_table(&r)
        .await
        .expect("the first acquire write was applied");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    proxy.set(Faults::default());
    // The client's next invoke re-acquires: the command starts with about a second left...
    while !beats.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dlm never ran the command"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...and its renewals are throttled from now on.
    proxy.set(throttling);
    let other = client().await.with_duration(Duration::from_secs(30));
    let next = other.acquire(&r).await.unwrap();
    let out = dlm.wait_with_output().await.unwrap();
    proxy.set(Faults::default());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last_beat: u64 = std::fs::read_to_string(&beats)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap();

    assert_eq!(out.status.code(), Some(6), "dlm reports the loss: {stderr}");
    assert!(stderr.contains("LOCK LOST"), "{stderr}");
    assert!(
        last_beat < lease_end,
        "the command ran until {last_beat}, {} ms past the lease end {lease_end}",
        last_beat - lease_end
    );
    assert!(
        next.grant().acquired_at_ms >= lease_end && next.grant().acquired_at_ms > last_beat,
        "the other owner was granted at {} while the command ran until {last_beat}",
        next.grant().acquired_at_ms
    );
    next.release().await.unwrap();
}

/// A blocking acquire rides out `Throttled` answers (DynamoDB throttling that outlasted lock-fn's
/// retries) and is granted once the throttling stops; a `StoreUnavailable` answer is returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_acquire_keeps_waiting_through_throttling() {
    let proxy = FaultProxy::start(&dynalite()).await;
    let private = LocalLambda::start(
        1,
        &proxy.endpoint(),
        &[
            ("LOCK_TABLE", &table()),
            ("LOCK_STORE_ATTEMPTS", "2"),
            ("RUST_LOG", "error"),
        ],
    )
    .await;
    let client = client_at(&private.endpoint()).await;
    let r = resource("throttled-wait");
    proxy.set(Faults {
        throttle: 1.0,
        ..Faults::default()
    });
    let started = Instant::now();
    let waiting = {
        let (client, r) = (client.clone(), r.clone());
        tokio::spawn(async move { client.acquire_timeout(&r, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!waiting.is_finished(), "still waiting while throttled");
    proxy.set(Faults::default());
    let guard = waiting
        .await
        .unwrap()
        .expect("granted once the throttling stops");
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert!(guard.release().await.unwrap());

    proxy.set(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let err = client
        .acquire_timeout(&r, Duration::from_secs(20))
        .await
        .unwrap_err();
    proxy.set(Faults::default());
    assert_eq!(
        err.function_error_type(),
        Some(lock_client::protocol::ErrorType::StoreUnavailable),
        "{err}"
    );
    assert!(err.to_string().contains("may have been applied"), "{err}");
}
