//! Rejected events write nothing: generated invalid events go through the real Lambda handler with a
//! DynamoDB client that counts every request it is asked to send.

mod support;

use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use lock_fn::handler::handle;
use lock_protocol::Request;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::mocks::{mock_engine, no_sdk_retries, not_found};

fn event_strategy() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("resource_id"),
        Just("owner"),
        Just("duration_ms"),
        Just("wait_ms"),
        Just("on_busy"),
        Just("op"),
        Just("extra"),
    ];
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
        Just(json!("x".repeat(3000))),
        Just(json!([1, 2])),
        Just(json!({"nested": {"deeper": []}})),
        Just(json!("acquire")),
        Just(json!("release")),
    ];
    // A valid request of each op, then zero to three fields overwritten with arbitrary values.
    let base = prop_oneof![
        Just(json!({"op": "acquire", "resource_id": "r", "duration_ms": 1000})),
        Just(json!({"op": "release", "resource_id": "r", "owner": "o"})),
        Just(json!({"op": "renew", "resource_id": "r", "owner": "o"})),
        Just(json!({"op": "describe", "resource_id": "r"})),
    ];
    (base, prop::collection::vec((field, value), 0..4)).prop_map(|(mut base, changes)| {
        for (k, v) in changes {
            base[k] = v;
        }
        base
    })
}

#[test]
fn rejected_events_never_reach_dynamodb() {
    let update = mock!(Client::update_item)
        .then_error(|| UpdateItemError::ResourceNotFoundException(not_found()));
    let get =
        mock!(Client::get_item).then_error(|| GetItemError::ResourceNotFoundException(not_found()));
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&update, &get],
        no_sdk_retries
    );
    let engine = mock_engine(client, 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let calls = || update.num_calls() + get.num_calls();
    let (rejected, accepted) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 5_000,
        ..ProptestConfig::default()
    });
    runner
        .run(&event_strategy(), |event| {
            let before = calls();
            let valid = Request::from_json(&event).is_ok();
            let result = runtime.block_on(handle(
                &engine,
                LambdaEvent::new(event.clone(), Context::default()),
            ));
            let err = result.expect_err("the mock store fails every write, so nothing can succeed");
            if !valid {
                prop_assert_eq!(err.error_type().as_str(), "InvalidRequest", "{}", &event);
            }
            if err.error_type().as_str() == "InvalidRequest" {
                // Malformed, or well-formed but out of range (e.g. a lease above the maximum).
                rejected.set(rejected.get() + 1);
                prop_assert_eq!(
                    calls(),
                    before,
                    "a rejected event reached DynamoDB: {}",
                    &event
                );
            } else {
                accepted.set(accepted.get() + 1);
                prop_assert_eq!(err.error_type().as_str(), "Misconfigured");
                prop_assert!(calls() > before);
            }
            Ok(())
        })
        .unwrap();
    let (rejected, accepted) = (rejected.get(), accepted.get());
    eprintln!("{rejected} rejected without a write, {accepted} accepted");
    assert!(
        rejected > 1000 && accepted > 10,
        "the generator must produce both kinds"
    );
}
