//! Rejected events write nothing: generated events (every field of every op, every kind of value;
//! test-support's `requests`) go through the real Lambda handler with a DynamoDB client that counts
//! every request it is asked to send. Validity is judged by the independent oracle, never by the
//! decoder under test; a rejection must name a field the oracle found at fault.

use crate::support;

use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use lock_fn::lambda::handler::handle;
use proptest::prelude::*;
use support::mocks::{mock_engine, no_sdk_retries, not_found};
use test_support::requests::{judge_with, near_request, Verdict};

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
    let max_duration_ms = engine.config().max_duration.as_millis() as u64;
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
        .run(&near_request(), |event| {
            let before = calls();
            let verdict = judge_with(&event, max_duration_ms);
            let result = runtime.block_on(handle(
                &engine,
                LambdaEvent::new(event.clone(), Context::default()),
            ));
            let err = result.expect_err("the mock store fails every write, so nothing can succeed");
            if let Verdict::Invalid { fields } = &verdict {
                prop_assert_eq!(err.error_type().as_str(), "InvalidRequest", "{}", &event);
                let message = err.to_string();
                prop_assert!(
                    fields.is_empty() || fields.iter().any(|f| message.contains(&format!("`{f}`"))),
                    "{} rejected with {:?}, which names none of {:?}",
                    &event,
                    message,
                    fields
                );
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
