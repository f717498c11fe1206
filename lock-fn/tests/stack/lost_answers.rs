//! One caller, half of all DynamoDB answers lost: every grant must be answered once and every
//! release of a held lock must be answered `released: true`.

use crate::support;

use lock_fn::engine::reply::Reply;
use lock_protocol::{AcquireResponse, ReleaseRequest};
use support::fault_proxy::Faults;
use support::*;

#[tokio::test]
async fn lost_answers_never_turn_a_held_release_into_false() {
    // Each attempt's answer is lost with probability 1/2, so 12 attempts (a store operation giving
    // up as unavailable) happened once in 4096 operations: about one run in thirty. 24 attempts
    // make it one in sixteen million operations.
    let (engine, proxy) = proxied_engine(24).await;
    proxy.set(Faults {
        lose_answer: 0.5,
        ..Faults::default()
    });
    for i in 0..40 {
        let g = match engine
            .acquire(acq("r", 60_000, None), None)
            .await
            .unwrap()
            .reply
        {
            Reply::Acquire(AcquireResponse::Granted(g)) => g,
            other => panic!("round {i}: {other:?}"),
        };
        let req = ReleaseRequest {
            resource_id: "r".into(),
            owner: g.owner.clone(),
            fence: Some(g.fence),
        };
        let done = engine.release(req, None).await.unwrap();
        let Reply::Release(answer) = done.reply else {
            panic!()
        };
        assert!(
            answer.released,
            "round {i}: {g:?} -> {answer:?} after {} requests",
            done.requests
        );
    }
    assert!(
        proxy
            .counts
            .lost_answers
            .load(std::sync::atomic::Ordering::Relaxed)
            > 20
    );
}
