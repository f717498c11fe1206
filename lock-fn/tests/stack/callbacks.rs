//! Step Functions waiters woken by callback: the lock semantics on dynalite, the Step Functions side
//! mocked (aws-smithy-mocks) to produce each answer `SendTaskSuccess` can give, and moto_server for
//! real tokens and a real execution of statemachine/lock-wait.asl.json.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sfn::error::ErrorMetadata;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::types::error::TaskTimedOut;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lock_fn::callbacks::notify::Notifier;
use lock_fn::engine::config::Config;
use lock_fn::engine::LockEngine;
use lock_protocol::AcquireRequest;
use support::*;
use test_support::fault_proxy::{FaultProxy, Step};

fn ok() -> SendTaskSuccessOutput {
    SendTaskSuccessOutput::builder().build()
}

fn closed() -> SendTaskSuccessError {
    SendTaskSuccessError::TaskTimedOut(
        TaskTimedOut::builder()
            .message("Task Timed Out")
            .meta(ErrorMetadata::builder().code("TaskTimedOut").build())
            .build(),
    )
}

fn failing(code: &'static str) -> impl Fn() -> SendTaskSuccessError {
    move || SendTaskSuccessError::generic(ErrorMetadata::builder().code(code).build())
}

/// `SendTaskSuccess` to `token` answered by `rule` (built with `match_requests` on the token).
fn to(
    token: &'static str,
) -> impl Fn(&aws_sdk_sfn::operation::send_task_success::SendTaskSuccessInput) -> bool {
    move |r| r.task_token() == Some(token)
}

/// An engine on a fresh dynalite table whose Step Functions calls are answered by `rules`.
async fn engine(rules: &[&Rule], max_waiters: usize) -> LockEngine {
    let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()));
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let config = Config {
        max_waiters,
        ..Config::default()
    };
    engine_on(&client, &table, config).with_notifier(Notifier::new(sfn, 4))
}

fn task(resource: &str, owner: &str, token: &str) -> AcquireRequest {
    AcquireRequest {
        task_token: Some(token.into()),
        ..acq(resource, 60_000, Some(owner))
    }
}

async fn yours(engine: &LockEngine, owner: &str) -> bool {
    describe_as(engine, "r", Some(owner)).await.yours == Some(true)
}

#[tokio::test]
async fn a_free_lock_is_sent_to_the_task_at_once() {
    let sent = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| {
            r.task_token() == Some("t1") && r.output().is_some_and(|o| o.contains("\"fence\""))
        })
        .then_output(ok);
    let engine = engine(&[&sent], 64).await;
    let answer = acquire(&engine, task("r", "exec-1", "t1")).await;
    assert!(
        matches!(answer, lock_protocol::AcquireResponse::Granted(_)),
        "{answer:?}"
    );
    assert_eq!(sent.num_calls(), 1);
    assert!(yours(&engine, "exec-1").await);
}

/// The task's output is its grant: the resource, its label, the fence and lease the item holds.
/// A task that asked for busy errors still waits: its acquire answers a result (queued).
#[tokio::test]
async fn the_callback_output_is_the_grant_and_a_queued_task_is_never_answered_an_error() {
    let seen = Arc::new(std::sync::Mutex::new(None::<String>));
    let keep = Arc::clone(&seen);
    let sent = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(move |r| {
            *keep.lock().unwrap() = r.output().map(str::to_string);
            r.task_token() == Some("t1")
        })
        .then_output(ok);
    let engine = engine(&[&sent], 64).await;
    let labelled = AcquireRequest {
        holder: Some("exec-label".into()),
        ..task("r", "exec-1", "t1")
    };
    acquire(&engine, labelled).await;
    let out = seen.lock().unwrap().clone().expect("sent");
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = describe(&engine, "r").await;
    assert_eq!(out["acquired"], true);
    assert_eq!(out["resource_id"], "r");
    assert_eq!(out["holder"], "exec-label");
    assert_eq!(out["fence"].as_u64(), d.fence);
    assert_eq!(out["expires_at_ms"].as_u64(), d.expires_at_ms);
    assert_eq!(out["duration_ms"], 60_000);
    assert_eq!(
        out["acquired_at_ms"].as_u64().unwrap() + 60_000,
        out["expires_at_ms"].as_u64().unwrap()
    );
    let erroring = AcquireRequest {
        on_busy: lock_protocol::OnBusy::Error,
        ..task("r", "exec-2", "t2")
    };
    let queued = refused(&engine, erroring).await;
    assert!(queued.queued, "{queued:?}");
}

#[tokio::test]
async fn the_release_that_hands_over_wakes_the_waiting_task() {
    let sent = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t2"))
        .then_output(ok);
    let engine = engine(&[&sent], 64).await;
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    let queued = refused(&engine, task("r", "exec-2", "t2")).await;
    assert!(queued.queued && queued.position == Some(1), "{queued:?}");
    assert_eq!(sent.num_calls(), 0, "nothing to send while it waits");
    assert!(
        release_fenced(&engine, "r", "holder", Some(h.fence))
            .await
            .released
    );
    assert_eq!(sent.num_calls(), 1, "woken by the handoff");
    assert!(yours(&engine, "exec-2").await);
    let d = describe(&engine, "r").await;
    assert_eq!(d.fence, Some(h.fence + 1));
    assert!(
        d.expires_at_ms.unwrap() >= h.expires_at_ms,
        "its full lease, at once"
    );
}

#[tokio::test]
async fn a_closed_task_is_skipped_and_the_lock_handed_to_the_next() {
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("ta"))
        .then_error(closed);
    let alive = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("tb"))
        .then_output(ok);
    let engine = engine(&[&dead, &alive], 64).await;
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-a", "ta")).await;
    refused(&engine, task("r", "exec-b", "tb")).await;
    assert!(
        release_fenced(&engine, "r", "holder", Some(h.fence))
            .await
            .released
    );
    assert_eq!((dead.num_calls(), alive.num_calls()), (1, 1));
    assert!(
        yours(&engine, "exec-b").await,
        "the lock went on to the next waiter"
    );
    assert_eq!(describe(&engine, "r").await.fence, Some(h.fence + 2));
    // What operators see: two tasks queued (places 1 and 2), two sends, one pass-over; the
    // holder's grant and the two handoffs are the three grants made.
    use lock_fn::world::metrics::Metric;
    let counts = engine.metrics().take();
    let total = |m| counts.total(m);
    assert_eq!(
        [
            Metric::Grants,
            Metric::Handoffs,
            Metric::CallbackSends,
            Metric::CallbackPassOvers
        ]
        .map(total),
        [3, 2, 2, 1],
        "{counts:?}"
    );
    assert_eq!(counts.values[&Metric::QueueDepthAtJoin], [1.0, 2.0]);
    assert_eq!(total(Metric::LostLeases), 0);
}

/// Found by the simulator: a Step Functions waiter heading the queue of a lock whose lease ran out
/// (its holder died: nobody released, so nobody handed it the lock) was never woken, and the
/// waiter behind it waited for the task's re-entry - or, its execution gone, for its place to end
/// (15 minutes here). The waiter behind now takes the lock for the task and wakes it; the task is
/// closed, so its grant is passed on, to that waiter.
#[tokio::test]
async fn a_task_heading_a_lock_whose_lease_ran_out_is_woken_by_the_waiter_behind_it() {
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("gone"))
        .then_error(closed);
    let engine = engine(&[&dead], 64).await;
    let h = granted(&engine, acq("r", 300, Some("holder"))).await;
    refused(&engine, task("r", "exec-gone", "gone")).await;
    let behind = AcquireRequest {
        wait_ms: 3_000,
        queue: Some(true),
        ..acq("r", 1_000, Some("behind"))
    };
    let answer = acquire(&engine, behind).await;
    let lock_protocol::AcquireResponse::Granted(g) = answer else {
        panic!("the waiter behind a dead task was not granted: {answer:?}")
    };
    assert_eq!(
        dead.num_calls(),
        1,
        "the task was woken once, and found closed"
    );
    assert_eq!(
        g.fence,
        h.fence + 2,
        "one grant to the task, passed over, then this one"
    );
    assert!(yours(&engine, "behind").await);
}

/// The write that takes the lock for the task applied with its answer lost: the retry is refused
/// (the task holds the lock now), and the item DynamoDB returns with the refusal (moto, as
/// DynamoDB) shows the grant aimed with this wake's own `wake_id`: the task is still woken - here
/// found closed and passed over to the waiter behind - instead of holding the lock for its lease.
#[tokio::test]
async fn a_wake_whose_answer_was_lost_still_wakes_the_task() {
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("gone"))
        .then_error(closed);
    let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&dead], |c| c
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()));
    let table = fresh_table(&client(&moto_endpoint())).await;
    let proxy = FaultProxy::start(&moto_endpoint()).await;
    let config = Config {
        store_attempts: 3,
        ..Config::default()
    };
    let engine =
        engine_on(&client(&proxy.endpoint()), &table, config).with_notifier(Notifier::new(sfn, 4));
    // A lease long enough to outlast the task's refused acquire on a busy moto (300 ms did not,
    // once), short enough for the waiter behind to outwait it.
    granted(&engine, acq("r", 1_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-gone", "gone")).await;
    proxy.then_matching("wake_id = :wake", Step::LoseAnswer(Duration::ZERO));
    let behind = AcquireRequest {
        wait_ms: 3_000,
        queue: Some(true),
        ..acq("r", 1_000, Some("behind"))
    };
    let answer = acquire(&engine, behind).await;
    assert!(
        matches!(answer, lock_protocol::AcquireResponse::Granted(_)),
        "{answer:?}"
    );
    assert_eq!(
        dead.num_calls(),
        1,
        "the task was woken although the answer was lost"
    );
}

/// The same for a single try: it used to be refused for as long as the dead task kept its place.
#[tokio::test]
async fn a_try_on_a_lock_whose_lease_ran_out_wakes_the_task_heading_its_queue() {
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("gone"))
        .then_error(closed);
    let engine = engine(&[&dead], 64).await;
    granted(&engine, acq("r", 300, Some("holder"))).await;
    refused(&engine, task("r", "exec-gone", "gone")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let answer = acquire(&engine, acq("r", 1_000, None)).await;
    assert!(
        matches!(answer, lock_protocol::AcquireResponse::Granted(_)),
        "{answer:?}"
    );
    assert_eq!(dead.num_calls(), 1);
}

/// The release hands the lock to a task that turns out closed, and passing its grant on then
/// fails (the store is down): the release itself was applied, so it is answered `released: true`;
/// the closed task's grant is left to its lease.
#[tokio::test]
async fn a_failed_pass_over_still_answers_the_applied_release() {
    let (engine, proxy, _) = proxied_engine_with(2, None).await;
    let proxy = Arc::new(proxy);
    let p = proxy.clone();
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("ta"))
        .then_error(move || {
            // From here on every store request fails.
            p.set(test_support::fault_proxy::Faults {
                server_error: 1.0,
                ..Default::default()
            });
            closed()
        });
    let alive = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("tb"))
        .then_output(ok);
    let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[&dead, &alive], |c| c
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()));
    let engine = engine.with_notifier(Notifier::new(sfn, 4));
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-a", "ta")).await;
    refused(&engine, task("r", "exec-b", "tb")).await;
    let answer = release_fenced(&engine, "r", "holder", Some(h.fence)).await;
    proxy.set(test_support::fault_proxy::Faults::default());
    assert!(answer.released, "the release was applied: {answer:?}");
    assert_eq!((dead.num_calls(), alive.num_calls()), (1, 0));
    assert!(
        yours(&engine, "exec-a").await,
        "the grant stays with the closed task"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let flaky = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t"))
        .sequence()
        .error(failing("ThrottlingException"))
        .error(failing("InternalFailure"))
        .output(ok)
        .build();
    let engine = engine(&[&flaky], 64).await;
    granted(&engine, task("r", "exec", "t")).await;
    assert_eq!(flaky.num_calls(), 3);
    assert!(yours(&engine, "exec").await);
}

#[tokio::test]
async fn a_closed_answer_to_a_retry_keeps_the_grant() {
    // The first attempt may have been delivered (its answer lost): a "closed" answer to the retry
    // could be about that delivery, so the grant stays (its lease is the backstop).
    let ambiguous = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t"))
        .sequence()
        .error(failing("InternalFailure"))
        .error(closed)
        .build();
    let engine = engine(&[&ambiguous], 64).await;
    granted(&engine, task("r", "exec", "t")).await;
    assert_eq!(ambiguous.num_calls(), 2);
    assert!(yours(&engine, "exec").await, "kept, not skipped");
}

#[tokio::test]
async fn a_send_that_never_happened_is_healed_by_the_tasks_re_entry() {
    // lock-fn could not deliver the grant (every attempt failed); the execution's task times out
    // (TimeoutSeconds) and its Catch re-enters the acquire with the same owner and a new token.
    let lost = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t1"))
        .then_error(failing("ServiceUnavailable"));
    let second = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t2"))
        .then_output(ok);
    let engine = engine(&[&lost, &second], 64).await;
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec", "t1")).await;
    assert!(
        release_fenced(&engine, "r", "holder", Some(h.fence))
            .await
            .released
    );
    assert_eq!(
        lost.num_calls(),
        4,
        "retried, then left to the lease and the re-entry"
    );
    assert!(yours(&engine, "exec").await, "the grant is kept");
    let again = granted(&engine, task("r", "exec", "t2")).await;
    assert_eq!(again.fence, h.fence + 1, "the same grant, to the new token");
    assert_eq!(second.num_calls(), 1);
}

#[tokio::test]
async fn a_waiter_that_comes_back_with_a_new_token_keeps_its_place() {
    let sent = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t-new"))
        .then_output(ok);
    let engine = engine(&[&sent], 64).await;
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-1", "t-old")).await;
    refused(&engine, task("r", "exec-2", "t-2")).await;
    let back = refused(&engine, task("r", "exec-1", "t-new")).await;
    assert_eq!(back.position, Some(1), "still first: {back:?}");
    assert!(
        release_fenced(&engine, "r", "holder", Some(h.fence))
            .await
            .released
    );
    assert_eq!(sent.num_calls(), 1, "woken through its new token");
    assert!(yours(&engine, "exec-1").await);
}

#[tokio::test]
async fn a_full_queue_fails_the_task_with_lock_busy() {
    let failure = mock!(aws_sdk_sfn::Client::send_task_failure)
        .match_requests(|r| r.task_token() == Some("t-late") && r.error() == Some("LockBusy"))
        .then_output(|| SendTaskFailureOutput::builder().build());
    let engine = engine(&[&failure], 1).await;
    granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-1", "t-1")).await;
    let full = refused(&engine, task("r", "exec-2", "t-late")).await;
    assert!(!full.queued, "{full:?}");
    assert_eq!(failure.num_calls(), 1);
}

#[tokio::test]
async fn a_repeated_invoke_told_closed_keeps_the_grant() {
    // A second invoke with the token the grant was already delivered to: Step Functions answers
    // "closed" (the task was closed by that very delivery), which must not end the grant.
    let sends = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t"))
        .sequence()
        .output(ok)
        .error(closed)
        .build();
    let engine = engine(&[&sends], 64).await;
    let g = granted(&engine, task("r", "exec", "t")).await;
    let again = granted(&engine, task("r", "exec", "t")).await;
    assert_eq!(sends.num_calls(), 2);
    assert_eq!(again.fence, g.fence);
    assert!(
        yours(&engine, "exec").await,
        "kept: the first send delivered it"
    );
}

/// A Step Functions client to `endpoint` (moto, or a proxy in front of it), SDK retries off.
fn sfn_client(endpoint: &str) -> aws_sdk_sfn::Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .region(aws_sdk_sfn::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sfn::Client::from_conf(config)
}

#[tokio::test]
async fn a_re_entry_while_the_handoff_is_sent_keeps_its_grant() {
    // The handoff's SendTaskSuccess is held back by a proxy; meanwhile the execution's task timed
    // out and came back with a new token (its re-entry finds the grant and is sent it). The held
    // send then answers "closed" (moto: InvalidToken for these tokens): about the old task, not the
    // execution, so the grant must not be passed over to the next waiter.
    let proxy = FaultProxy::start(&moto_endpoint()).await;
    proxy.then(Step::Delay(Duration::from_millis(800)));
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let engine = Arc::new(
        engine_on(&client, &table, Config::default())
            .with_notifier(Notifier::new(sfn_client(&proxy.endpoint()), 4)),
    );
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-a", "old-token")).await;
    refused(&engine, task("r", "exec-b", "b-token")).await;
    let releasing = {
        let engine = engine.clone();
        tokio::spawn(async move { release_fenced(&engine, "r", "holder", Some(h.fence)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reentry = granted(&engine, task("r", "exec-a", "new-token")).await;
    assert_eq!(reentry.fence, h.fence + 1, "the re-entry finds the handoff");
    assert!(releasing.await.unwrap().released);
    assert_eq!(proxy.scripted(), 0, "the handoff's send was held back");
    let d = describe(&engine, "r").await;
    assert_eq!(d.fence, Some(h.fence + 1), "not passed over: {d:?}");
    assert!(yours(&engine, "exec-a").await);
}

#[tokio::test]
async fn a_grant_made_to_a_closed_task_is_passed_over_through_moto() {
    // The same path without a re-entry: moto answers InvalidToken, the grant goes on to the next.
    let client = client(&dynalite_endpoint());
    let table = fresh_table(&client).await;
    let engine = engine_on(&client, &table, Config::default())
        .with_notifier(Notifier::new(sfn_client(&moto_endpoint()), 4));
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    refused(&engine, task("r", "exec-a", "dead-token")).await;
    refused(&engine, task("r", "exec-b", "b-token")).await;
    assert!(
        release_fenced(&engine, "r", "holder", Some(h.fence))
            .await
            .released
    );
    let d = describe(&engine, "r").await;
    assert!(
        !d.held && d.queue_length == 0,
        "a and b passed over (both tokens are closed): {d:?}"
    );
    let next = granted(&engine, acq("r", 60_000, Some("next"))).await;
    assert_eq!(
        next.fence,
        h.fence + 3,
        "each was granted, then passed over"
    );
}

/// statemachine/lock-wait.asl.json as deployed, with the task's `TimeoutSeconds` (and the place's
/// `wait_ms`, which outlasts it) shortened so that a missing wake-up shows in seconds.
fn lock_wait_definition(timeout_s: u64) -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../statemachine/lock-wait.asl.json");
    let function = std::env::var("DLM_FUNCTION").unwrap_or_else(|_| "lock-fn".into());
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("${LockFunctionArn}", &function);
    let mut asl: serde_json::Value = serde_json::from_str(&text).unwrap();
    let acquire = &mut asl["States"]["AcquireLock"];
    acquire["TimeoutSeconds"] = timeout_s.into();
    acquire["Parameters"]["Payload"]["wait_ms"] = (timeout_s * 1000 + 5_000).into();
    asl.to_string()
}

#[tokio::test]
async fn a_handoff_whose_send_never_happens_ends_with_the_tasks_re_entry() {
    // A lock-wait execution in moto_server queues (its acquire goes through the stack's emulator to
    // lock-fn). The holder's release is made by an engine that writes the handoff and never sends
    // it, as a lock-fn killed between the write and the send would. The task times out
    // (TimeoutSeconds), the Catch loop acquires again with a new token, finds the grant and is sent
    // it: the execution goes on with the very grant the handoff made.
    let timeout_s = 3;
    let sfn = sfn_client(&moto_endpoint());
    let machine = sfn
        .create_state_machine()
        .name(format!("lock-wait-killed-send-{}", lock_protocol::now_ms()))
        .definition(lock_wait_definition(timeout_s))
        .role_arn("arn:aws:iam::123456789012:role/lock-wait")
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let client = client(&dynalite_endpoint());
    let table = std::env::var("LOCK_TABLE").unwrap_or_else(|_| "dynamo_dlm_locks".into());
    let silent = engine_on(&client, &table, Config::default());
    let r = format!("killed-send/{}", lock_protocol::now_ms());
    let h = granted(&silent, acq(&r, 60_000, Some("holder"))).await;
    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(format!("run-{}", lock_protocol::now_ms()))
        .input(serde_json::json!({"resource_id": r, "work_seconds": 0}).to_string())
        .send()
        .await
        .unwrap()
        .execution_arn;
    let joined = tokio::time::Instant::now() + Duration::from_secs(20);
    while describe(&silent, &r).await.queue_length != 1 {
        assert!(
            tokio::time::Instant::now() < joined,
            "the execution never queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        release_fenced(&silent, &r, "holder", Some(h.fence))
            .await
            .released
    );
    let released = std::time::Instant::now();
    let d = describe_as(&silent, &r, Some(&execution)).await;
    assert_eq!(
        (d.yours, d.fence),
        (Some(true), Some(h.fence + 1)),
        "handed over"
    );

    let done = loop {
        let d = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        if d.status != aws_sdk_sfn::types::ExecutionStatus::Running {
            break d;
        }
        assert!(
            released.elapsed() < Duration::from_secs(30),
            "still running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let waited = released.elapsed();
    assert_eq!(
        done.status,
        aws_sdk_sfn::types::ExecutionStatus::Succeeded,
        "{done:?}"
    );
    let output: serde_json::Value = serde_json::from_str(done.output().unwrap()).unwrap();
    assert_eq!(
        output["lock"]["fence"],
        h.fence + 1,
        "the grant the handoff made"
    );
    assert!(
        waited < Duration::from_secs(timeout_s + 5),
        "ended within TimeoutSeconds and one re-entry: {waited:?}"
    );
    let history = sfn
        .get_execution_history()
        .execution_arn(&execution)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let count = |t: aws_sdk_sfn::types::HistoryEventType| {
        history.events().iter().filter(|e| e.r#type == t).count()
    };
    use aws_sdk_sfn::types::HistoryEventType::{TaskScheduled, TaskTimedOut};
    assert_eq!(count(TaskTimedOut), 1, "one wake-up was missed");
    assert_eq!(count(TaskScheduled), 3, "acquire, the re-entry, release");
    assert!(
        !describe(&silent, &r).await.held,
        "released by the execution"
    );
}

fn sem_task(resource: &str, owner: &str, token: &str) -> AcquireRequest {
    AcquireRequest {
        limit: Some(2),
        ..task(resource, owner, token)
    }
}

#[tokio::test]
async fn a_freed_semaphore_slot_wakes_the_waiting_task_and_a_closed_one_is_passed_over() {
    let now = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("free"))
        .then_output(ok);
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("dead"))
        .then_error(closed);
    let alive = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| {
            r.task_token() == Some("alive") && r.output().is_some_and(|o| o.contains("\"limit\":2"))
        })
        .then_output(ok);
    let engine = engine(&[&now, &dead, &alive], 64).await;
    let a = granted(
        &engine,
        AcquireRequest {
            limit: Some(2),
            ..acq("r", 60_000, Some("a"))
        },
    )
    .await;
    let b = granted(&engine, sem_task("r", "exec-b", "free")).await;
    assert_eq!(now.num_calls(), 1, "a free slot is sent at once");
    refused(&engine, sem_task("r", "exec-dead", "dead")).await;
    refused(&engine, sem_task("r", "exec-alive", "alive")).await;
    assert!(
        release_fenced(&engine, "r", "a", Some(a.fence))
            .await
            .released
    );
    assert_eq!((dead.num_calls(), alive.num_calls()), (1, 1));
    let d = describe(&engine, "r").await;
    let holders: Vec<_> = d
        .holders
        .iter()
        .map(|h| (h.owner.clone(), h.fence))
        .collect();
    assert_eq!(
        holders,
        [
            (lock_protocol::owner_digest("exec-b"), b.fence),
            (lock_protocol::owner_digest("exec-alive"), b.fence + 2)
        ],
        "the closed task's grant (fence +1) was passed over"
    );
    assert_eq!(d.queue_length, 0);
}

/// A proxied engine (DynamoDB through a fault proxy, `attempts` tries per write) whose Step
/// Functions calls are answered by `rules`; also the table.
async fn proxied_task_engine(
    rules: &[&Rule],
    attempts: u32,
) -> (LockEngine, Arc<FaultProxy>, String) {
    let (engine, proxy, table) = proxied_engine_with(attempts, None).await;
    let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |c| c
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()));
    (
        engine.with_notifier(Notifier::new(sfn, 4)),
        Arc::new(proxy),
        table,
    )
}

/// The release's handoff write to a waiting task is applied but its answer lost, and lock-fn's
/// retry is refused (the item changed: the handoff itself). The release is recognised as applied
/// (`released: true`) - and the task it handed the lock to must be woken, not left waiting for its
/// `TimeoutSeconds` while holding a 60 s lease.
#[tokio::test]
async fn a_task_is_woken_when_the_handoffs_answer_was_lost() {
    let sent = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t1"))
        .then_output(ok);
    let (engine, proxy, _) = proxied_task_engine(&[&sent], 3).await;
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    assert!(refused(&engine, task("r", "exec-1", "t1")).await.queued);
    proxy.then_matching("release_code = :next", Step::LoseAnswer(Duration::ZERO));
    let released = release_fenced(&engine, "r", "holder", Some(h.fence)).await;
    assert_eq!(proxy.aimed(), 0, "the handoff's answer was lost");
    assert!(released.released, "{released:?}");
    assert!(yours(&engine, "exec-1").await, "handed to the task");
    assert_eq!(sent.num_calls(), 1, "the task is woken");
}

/// A task's own take of a free lock is applied but its answer lost; lock-fn finds the grant on its
/// retry. When the task then turns out closed, that grant - made by this very invocation - is
/// passed over, not left to a closed task for a whole lease.
#[tokio::test]
async fn a_take_whose_answer_was_lost_is_still_passed_over_when_its_task_is_closed() {
    let dead = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("t1"))
        .then_error(closed);
    let (engine, proxy, _) = proxied_task_engine(&[&dead], 3).await;
    proxy.then_matching("acquired_at_ms = :now_ms", Step::LoseAnswer(Duration::ZERO));
    let answer = acquire(&engine, task("r", "exec-1", "t1")).await;
    assert_eq!(proxy.aimed(), 0, "the take's answer was lost");
    assert!(
        matches!(answer, lock_protocol::AcquireResponse::Granted(_)),
        "{answer:?}"
    );
    assert_eq!(dead.num_calls(), 1);
    let d = describe(&engine, "r").await;
    assert!(!d.held, "passed over: {d:?}");
}

/// A task's re-entry (a new token) lands between the releasing invocation's read and its handoff
/// write: the handoff must wake the task through the token it holds now, not pass the grant over
/// because the old token's task is closed.
#[tokio::test]
async fn a_handoff_wakes_the_token_stored_when_it_is_written() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let old = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("old-token"))
        .then_error(closed);
    let new = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(to("new-token"))
        .then_output(ok);
    let (engine, proxy, table) = proxied_task_engine(&[&old, &new], 3).await;
    let direct = Arc::new(direct_engine(&table));
    let h = granted(&engine, acq("r", 60_000, Some("holder"))).await;
    assert!(
        refused(&engine, task("r", "exec-a", "old-token"))
            .await
            .queued
    );
    let once = Arc::new(AtomicBool::new(false));
    let (d, o) = (direct.clone(), once.clone());
    proxy.before_each_write(Some(Arc::new(move |request: String| {
        let (d, o) = (d.clone(), o.clone());
        Box::pin(async move {
            if request.contains("release_code = :next") && !o.swap(true, Ordering::SeqCst) {
                assert!(refused(&d, task("r", "exec-a", "new-token")).await.queued);
            }
        })
    })));
    assert!(
        release_fenced(&engine, "r", "holder", Some(h.fence))
            .await
            .released
    );
    proxy.before_each_write(None);
    assert!(
        once.load(Ordering::SeqCst),
        "the re-entry landed before the handoff"
    );
    assert_eq!((old.num_calls(), new.num_calls()), (0, 1));
    assert!(yours(&engine, "exec-a").await);
}
