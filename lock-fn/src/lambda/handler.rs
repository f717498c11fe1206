//! The Lambda handler: decode, execute, log one line, answer.

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use lock_protocol::Request;
use serde_json::Value;
use tracing::{info, warn};

use crate::engine::error::LockError;
use crate::engine::reply::Reply;
use crate::engine::LockEngine;
use crate::world::metrics::{Metric, Metrics};
use lock_protocol::AcquireResponse;

/// Handles one invocation. Every outcome is logged as one structured line (op, resource, outcome,
/// fence, DynamoDB requests, latency); owner tokens never appear in full.
pub async fn handle(engine: &LockEngine, event: LambdaEvent<Value>) -> Result<Value, LockError> {
    let started = Instant::now();
    let request = match Request::from_json(&event.payload) {
        Ok(request) => request,
        Err(e) => {
            warn!(outcome = "invalid", error = %e, "rejected request");
            return Err(e.into());
        }
    };
    let (op, resource) = (request.op(), request.resource_id().to_string());
    let metrics = engine.metrics();
    metrics.begin(&resource);
    let deadline = deadline_epoch_ms(event.context.deadline, crate::world::clock::now_ms());
    let result = engine.execute(request, deadline).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(done) => {
            count_answer(metrics, &done.reply, latency_ms);
            info!(op, resource = %resource, outcome = done.reply.outcome(), fence = done.reply.fence(),
                requests = done.requests, latency_ms, "lock operation");
            Ok(done.reply.to_json())
        }
        Err(e) => {
            match &e {
                LockError::Busy(b) => {
                    metrics.count(Metric::Refusals);
                    info!(op, resource = %resource, outcome = "busy_error",
                    fence = b.holder_fence, requests = b.attempts, latency_ms, "lock operation")
                }
                other => {
                    warn!(op, resource = %resource, outcome = "error", error_type = other.error_type().as_str(),
                    error = %other, latency_ms, "lock operation failed")
                }
            }
            Err(e)
        }
    }
}

/// Counts an acquire's answer: how long a grant the owner did not hold yet took to answer, or a
/// refusal. (Grants are counted where they are made, handoffs included.)
fn count_answer(metrics: &Metrics, reply: &Reply, latency_ms: f64) {
    match reply {
        Reply::Acquire(AcquireResponse::Granted(g)) if !g.reacquired => {
            metrics.observe(Metric::WaitToGrant, latency_ms.round());
        }
        Reply::Acquire(AcquireResponse::Busy(_)) => metrics.count(Metric::Refusals),
        _ => {}
    }
}

pub use lock_protocol::deadline_epoch_ms;
