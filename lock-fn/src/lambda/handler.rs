//! The Lambda handler: decode, execute, log one line, answer.

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use lock_protocol::Request;
use serde_json::Value;
use tracing::{info, warn};

use crate::engine::error::LockError;
use crate::engine::LockEngine;

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
    let deadline = deadline_epoch_ms(event.context.deadline, crate::world::clock::now_ms());
    let result = engine.execute(request, deadline).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(done) => {
            info!(op, resource = %resource, outcome = done.reply.outcome(), fence = done.reply.fence(),
                requests = done.requests, latency_ms, "lock operation");
            Ok(done.reply.to_json())
        }
        Err(e) => {
            match &e {
                LockError::Busy(b) => info!(op, resource = %resource, outcome = "busy_error",
                    fence = b.holder_fence, requests = b.attempts, latency_ms, "lock operation"),
                other => {
                    warn!(op, resource = %resource, outcome = "error", error_type = other.error_type().as_str(),
                    error = %other, latency_ms, "lock operation failed")
                }
            }
            Err(e)
        }
    }
}

/// The invocation deadline in epoch ms. Real Lambda sends epoch ms; `cargo lambda watch` sends the
/// invocation's time limit in ms (600000). A value that cannot be an epoch time (before 2001) is
/// read as a limit counted from now; 0 means none was given.
pub fn deadline_epoch_ms(raw: u64, now_ms: u64) -> Option<u64> {
    match raw {
        0 => None,
        limit if limit < 1_000_000_000_000 => Some(now_ms.saturating_add(limit)),
        epoch => Some(epoch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_deadlines_pass_and_emulator_limits_count_from_now() {
        assert_eq!(
            deadline_epoch_ms(1_795_000_000_000, 1_794_999_999_000),
            Some(1_795_000_000_000)
        );
        assert_eq!(
            deadline_epoch_ms(600_000, 1_795_000_000_000),
            Some(1_795_000_600_000)
        );
        assert_eq!(deadline_epoch_ms(0, 1_795_000_000_000), None);
    }
}
