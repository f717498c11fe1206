//! Safety through the whole stack when answers get lost: client (`dlm`) -> a private `cargo lambda
//! watch` -> lock-fn -> a fault proxy -> dynalite, next to the shared stack's lock-fn as the other
//! owner.

use crate::support;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use support::fake_lambda::InvokeRecorder;
use support::*;
use test_support::fault_proxy::{FaultProxy, Faults, Step, WriteHook};
use test_support::local_procs::LocalLambda;

fn dynalite() -> String {
    std::env::var("DLM_TEST_DYNAMODB_ENDPOINT").expect("run via scripts/test.sh")
}

fn table() -> String {
    std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into())
}

/// The lease end and fence stored for `resource`.
async fn lease_in_table(resource: &str) -> Option<(u64, u64)> {
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
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    };
    Some((number("expires_at_ms")?, number("fence")?))
}

/// Whether `request` (a DynamoDB request as the fault proxy's write hook sees it) is a write that
/// grants `resource` (the blind single-try write or the queued take: both raise the fence from
/// `:fence_floor`).
fn is_grant_write(request: &str, resource: &str) -> bool {
    let head_end = request.find("\r\n\r\n").unwrap_or(request.len());
    request[..head_end]
        .to_ascii_lowercase()
        .contains("x-amz-target: dynamodb_20120810.updateitem")
        && request.contains(&format!("{{\"S\":\"{resource}\"}}"))
        && request.contains(":fence_floor")
}

/// The interleaving of the safety report (issue 1 there): `dlm run --duration 5s --wait 30s`, whose
/// acquire write is applied but its answer lost, after which DynamoDB throttles every request
/// for about four seconds, so that lock-fn answers `Throttled` and the client keeps waiting; its
/// next invoke finds the grant (`reacquired`) with about a second of lease left. Then renewals fail
/// (throttling again). The protected command must stop before the lease ends on lock-fn's clock,
/// and the other owner, waiting on the side, is granted only after it stopped.
///
/// The faults are aimed at requests by what they are, not by their count: lock-fn's store goes
/// through two fault proxies, and the first one's write hook, on seeing the write that grants the
/// resource, scripts the second to forward it and lose its answer, and to throttle everything
/// after. The test then checks that this path ran: one lost answer, the command's grant being the
/// lost write's (`reacquired`, same fence, seen in the Invoke API answer) with under two seconds
/// left, the command starting only after the throttling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_stops_before_the_lease_end_whichever_invoke_made_the_grant() {
    tokio::time::timeout(Duration::from_secs(60), late_grant_through_dlm_run())
        .await
        .expect("the scenario ends within a minute");
}

async fn late_grant_through_dlm_run() {
    let faults = Arc::new(FaultProxy::start(&dynalite()).await);
    let matcher = FaultProxy::start(&faults.endpoint()).await;
    let private = LocalLambda::start(
        1,
        &matcher.endpoint(),
        &[
            ("LOCK_TABLE", &table()),
            ("LOCK_STORE_ATTEMPTS", "3"),
            ("RUST_LOG", "warn"),
        ],
    )
    .await;
    let invokes = InvokeRecorder::start(&private.endpoint()).await;
    let r = resource("late-grant");
    let dir = std::env::temp_dir().join(format!("dlm-late-grant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let beats = dir.join("beats");
    let _ = std::fs::remove_file(&beats);

    let throttling = Faults {
        throttle: 1.0,
        ..Faults::default()
    };
    let hit = Arc::new(AtomicBool::new(false));
    let hook: WriteHook = {
        let (faults, hit, r) = (faults.clone(), hit.clone(), r.clone());
        Arc::new(move |request: String| {
            if is_grant_write(&request, &r) && !hit.swap(true, SeqCst) {
                // Applied, its answer lost; everything after it throttled.
                faults.then(Step::LoseAnswer(Duration::ZERO));
                faults.set(throttling);
            }
            Box::pin(async {})
        })
    };
    matcher.before_each_write(Some(hook));
    let started = Instant::now();
    let script = format!(
        "while :; do date +%s%3N >> {}; sleep 0.01; done",
        beats.display()
    );
    let dlm = tokio::process::Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(["run", &r, "--duration", "5s", "--wait", "30s", "--"])
        .args(["sh", "-c", &script])
        .env("AWS_ENDPOINT_URL_LAMBDA", invokes.endpoint())
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The grant write lands; everything after it is throttled for about four seconds.
    let until = Instant::now() + Duration::from_secs(10);
    while !hit.load(SeqCst) {
        assert!(Instant::now() < until, "lock-fn never wrote the grant");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (lease_end, stored_fence) = lease_in_table(&r)
        .await
        .expect("the grant write was applied");
    tokio::time::sleep(Duration::from_millis(3700)).await;
    let throttled_until = Instant::now();
    faults.set(Faults::default());
    // The client's next invoke re-acquires: the command starts with about a second left...
    while !beats.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "dlm never ran the command"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let work_started = Instant::now();
    // ...and its renewals are throttled from now on.
    faults.set(throttling);
    let other = client().await.with_duration(Duration::from_secs(30));
    let next = tokio::time::timeout(Duration::from_secs(20), other.acquire(&r))
        .await
        .expect("the other owner is granted")
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), dlm.wait_with_output())
        .await
        .expect("dlm ends")
        .unwrap();
    faults.set(Faults::default());
    matcher.before_each_write(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last_beat: u64 = std::fs::read_to_string(&beats)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap();

    // The path ran: one lost answer (the grant write's), the command started after the throttling
    // under that very grant, found again by a later invoke with under two seconds of lease left.
    assert_eq!(
        faults.counts.lost_answers.load(SeqCst),
        1,
        "one lost answer"
    );
    assert!(
        work_started >= throttled_until,
        "the command started {:?} before the throttling ended",
        throttled_until - work_started
    );
    let grants: Vec<_> = invokes
        .exchanges()
        .into_iter()
        .filter(|e| e.request["op"] == "acquire" && e.answer["acquired"] == true)
        .collect();
    assert_eq!(grants.len(), 1, "{grants:?}");
    let grant = &grants[0].answer;
    assert_eq!(grant["reacquired"], true, "{grant}");
    assert_eq!(grant["fence"], stored_fence, "{grant}");
    assert_eq!(grant["expires_at_ms"], lease_end, "{grant}");
    let left = grant["expires_in_ms"].as_u64().unwrap();
    assert!(left < 2000, "{left} ms left at the re-acquire: {grant}");

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
    let guard = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the wait ends")
        .unwrap()
        .expect("granted once the throttling stops");
    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert!(guard.release().await.unwrap());

    proxy.set(Faults {
        server_error: 1.0,
        ..Faults::default()
    });
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        client.acquire_timeout(&r, Duration::from_secs(20)),
    )
    .await
    .expect("the wait ends")
    .unwrap_err();
    proxy.set(Faults::default());
    assert_eq!(
        err.function_error_type(),
        Some(lock_client::protocol::ErrorType::StoreUnavailable),
        "{err}"
    );
    assert!(err.to_string().contains("may have been applied"), "{err}");
}
