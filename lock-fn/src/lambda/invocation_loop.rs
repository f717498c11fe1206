//! The Lambda invocation loop: `lambda_runtime::run` without its per-invocation memory leak.
//!
//! `lambda_runtime` 1.5 (sequential mode) calls `std::env::set_var("_X_AMZN_TRACE_ID", ..)` before
//! every invocation. glibc's `setenv` never frees a value it has stored (other code may still point
//! at it), and every invocation brings a new trace id, so a warm instance grows by about 140 bytes
//! per invocation, without bound (measured: 40 -> 93 MB for 4 instances over a 5-minute soak; the
//! Rust heap stayed flat; heaptrack pointed at `__add_to_environ`). A lock function serving
//! hundreds of short invocations a second would run out of memory within hours. This loop speaks
//! the same Runtime API (next / response / error, the same `Context`) and leaves the environment
//! alone: the trace id is in `Context::xray_trace_id`.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use http::{Method, Request};
use http_body_util::BodyExt;
use lambda_runtime::{Config, Context, Diagnostic, Error, LambdaEvent};
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, Client};
use serde_json::Value;
use tracing::Instrument;

use crate::engine::error::LockError;

/// Header naming the invocation (Lambda Managed Instances); echoed back on the answer.
const INVOCATION_ID: &str = "lambda-runtime-invocation-id";

/// Serves invocations with `handler` until the Runtime API goes away. Handler errors become
/// function errors (`errorType` from their `Diagnostic`); a panic becomes a `Panic` function error
/// and the loop goes on, as with `lambda_runtime::run`.
pub async fn run<F, Fut, E>(handler: F) -> Result<(), Error>
where
    F: Fn(LambdaEvent<Value>) -> Fut,
    Fut: Future<Output = Result<Value, E>>,
    E: Into<Diagnostic>,
{
    run_then(handler, || {}).await
}

/// [`run`], calling `after_each` once an invocation is answered and its after-answer work is
/// done, before the next invocation is asked for (where lock-fn writes its metrics).
pub async fn run_then<F, Fut, E>(handler: F, after_each: impl Fn()) -> Result<(), Error>
where
    F: Fn(LambdaEvent<Value>) -> Fut,
    Fut: Future<Output = Result<Value, E>>,
    E: Into<Diagnostic>,
{
    let config = Arc::new(Config::from_env());
    let client = Client::builder().build()?;
    loop {
        let next = client.call(next_request()?).await?;
        let (parts, body) = next.into_parts();
        let body = body.collect().await?.to_bytes();
        let request_id = parts
            .headers
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .ok_or("the Runtime API sent an invocation without a request id")?
            .to_string();
        let invocation_id = parts.headers.get(INVOCATION_ID).cloned();
        let context = Context::new(&request_id, config.clone(), &parts.headers)?;
        let span = tracing::info_span!("Lambda runtime invoke", requestId = %request_id,
            xrayTraceId = context.xray_trace_id.as_deref().unwrap_or_default());
        let outcome: Result<Value, Diagnostic> = match serde_json::from_slice::<Value>(&body) {
            Ok(payload) => match AssertUnwindSafe(handler(LambdaEvent::new(payload, context)))
                .catch_unwind()
                .instrument(span)
                .await
            {
                Ok(answered) => answered.map_err(Into::into),
                Err(panic) => Err(panic_diagnostic(panic.as_ref())),
            },
            Err(e) => {
                Err(LockError::InvalidRequest(format!("the payload is not JSON: {e}")).into())
            }
        };
        let answer = match outcome {
            Ok(value) => response_request(&request_id, serde_json::to_vec(&value)?),
            Err(diagnostic) => error_request(&request_id, diagnostic),
        };
        let mut answer = answer?;
        if let Some(id) = invocation_id {
            answer.headers_mut().insert(INVOCATION_ID, id);
        }
        // Read the Runtime API's acknowledgement to the end so that the connection is reused.
        client.call(answer).await?.into_body().collect().await?;
        // Lambda may freeze this environment once it asks for the next invocation.
        crate::engine::after_answer::finish().await;
        after_each();
    }
}

fn next_request() -> Result<Request<Body>, Error> {
    Ok(build_request()
        .method(Method::GET)
        .uri("/2018-06-01/runtime/invocation/next")
        .body(Body::empty())?)
}

fn response_request(request_id: &str, json: Vec<u8>) -> Result<Request<Body>, Error> {
    Ok(build_request()
        .method(Method::POST)
        .uri(format!(
            "/2018-06-01/runtime/invocation/{request_id}/response"
        ))
        .body(Body::from(json))?)
}

fn error_request(request_id: &str, diagnostic: Diagnostic) -> Result<Request<Body>, Error> {
    Ok(build_request()
        .method(Method::POST)
        .uri(format!("/2018-06-01/runtime/invocation/{request_id}/error"))
        .header("lambda-runtime-function-error-type", "unhandled")
        .body(Body::from(serde_json::to_vec(&diagnostic)?))?)
}

fn panic_diagnostic(panic: &(dyn std::any::Any + Send)) -> Diagnostic {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    tracing::error!(error = %message, "the handler panicked");
    Diagnostic {
        error_type: "Panic".into(),
        error_message: message,
    }
}
