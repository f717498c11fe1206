//! One request/response invocation of lock-fn through the Lambda Invoke API.

use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::primitives::Blob;
use serde::de::DeserializeOwned;
use std::time::Duration;

use crate::error::ClientError;
use crate::protocol::{FunctionError, Request};
use lock_protocol::error_chain::error_chain;

/// How many times a transport failure (never a function answer) is retried.
const TRANSPORT_ATTEMPTS: u32 = 3;

/// Invokes one function; cheap to clone (one shared connection pool).
#[derive(Debug, Clone)]
pub struct Invoker {
    lambda: aws_sdk_lambda::Client,
    function: String,
}

impl Invoker {
    /// An invoker of `function` (name or ARN) through `lambda`.
    pub fn new(lambda: aws_sdk_lambda::Client, function: impl Into<String>) -> Self {
        Invoker {
            lambda,
            function: function.into(),
        }
    }

    /// The function invoked.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The Lambda client's configuration (its retries are off: see [`crate::LockClient::new`]).
    pub fn sdk_config(&self) -> &aws_sdk_lambda::Config {
        self.lambda.config()
    }

    /// The same connection pool, another function.
    pub fn with_function(&self, function: impl Into<String>) -> Self {
        Invoker {
            lambda: self.lambda.clone(),
            function: function.into(),
        }
    }

    /// Sends `request` and decodes the answer as `T`.
    ///
    /// Function errors come back as [`ClientError::Function`] whether the endpoint says so the way
    /// real Lambda does (HTTP 200 + `X-Amz-Function-Error`) or the way `cargo lambda watch` does
    /// (HTTP 500 with the error JSON). Transport failures are retried a few times with the *same*
    /// request: every lock request is idempotent for its owner, so a retry cannot create a second grant.
    pub async fn call<T: DeserializeOwned>(&self, request: &Request) -> Result<T, ClientError> {
        self.call_raw(&request.to_json()).await
    }

    /// Sends any JSON payload (e.g. one the protocol types cannot express, to test validation) and
    /// decodes the answer as `T`; errors and retries as for [`Invoker::call`].
    ///
    /// ```no_run
    /// # async fn demo(client: lock_client::LockClient) -> Result<(), lock_client::ClientError> {
    /// let answer: serde_json::Value = client
    ///     .raw()
    ///     .invoker()
    ///     .call_raw(&serde_json::json!({"op": "describe", "resource_id": "orders/42"}))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn call_raw<T: DeserializeOwned>(
        &self,
        payload: &serde_json::Value,
    ) -> Result<T, ClientError> {
        Ok(self.call_counted(payload).await?.answer)
    }

    /// As [`Invoker::call`], also telling whether the request had to be resent: an earlier attempt
    /// may then have run unseen (e.g. its function process died, or its answer was lost on the way).
    pub async fn call_resent<T: DeserializeOwned>(
        &self,
        request: &Request,
    ) -> Result<Counted<T>, ClientError> {
        self.call_counted(&request.to_json()).await
    }

    async fn call_counted<T: DeserializeOwned>(
        &self,
        payload: &serde_json::Value,
    ) -> Result<Counted<T>, ClientError> {
        let mut payload = serde_json::to_vec(payload).expect("JSON values always serialize");
        let mut attempt = 1;
        loop {
            let sent = self
                .lambda
                .invoke()
                .function_name(&self.function)
                .payload(Blob::new(payload.clone()))
                .send()
                .await;
            match self.interpret(sent) {
                Err(Retry::Transient(e)) if attempt < TRANSPORT_ATTEMPTS => {
                    tracing::warn!(function = %self.function, attempt, error = %e, "invoke failed; retrying");
                    // The failed invoke may have run: this owner may hold the lock now, so the
                    // retry must not promise a fresh owner.
                    payload = without_fresh_owner(payload);
                    tokio::time::sleep(Duration::from_millis(
                        20 * u64::from(attempt) + fastrand::u64(0..20),
                    ))
                    .await;
                    attempt += 1;
                }
                Err(Retry::Transient(e) | Retry::Final(e)) => return Err(e),
                Ok(bytes) => {
                    let answer = serde_json::from_slice(&bytes).map_err(|e| {
                        ClientError::BadResponse(format!(
                            "{e}: {}",
                            String::from_utf8_lossy(&bytes)
                        ))
                    })?;
                    return Ok(Counted {
                        answer,
                        attempts: attempt,
                    });
                }
            }
        }
    }

    fn interpret(
        &self,
        sent: Result<
            aws_sdk_lambda::operation::invoke::InvokeOutput,
            SdkError<InvokeError, HttpResponse>,
        >,
    ) -> Result<Vec<u8>, Retry> {
        match sent {
            Ok(out) => {
                let bytes = out
                    .payload()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                match out.function_error() {
                    Some(_) => Err(Retry::Final(function_error(
                        &bytes,
                        out.status_code() as u16,
                    ))),
                    None => Ok(bytes),
                }
            }
            Err(SdkError::ServiceError(ctx)) => {
                let status = ctx.raw().status().as_u16();
                let body = ctx.raw().body().bytes().unwrap_or_default();
                if let Ok(fe) = serde_json::from_slice::<FunctionError>(body) {
                    // The local emulator's way of answering a function error.
                    return Err(Retry::Final(ClientError::Function {
                        error_type: fe.error_type,
                        message: fe.error_message,
                    }));
                }
                let err = ctx.err();
                let detail = format!(
                    "{}: {} (HTTP {status})",
                    err.code().unwrap_or("error"),
                    err.message().map(str::to_string).unwrap_or_else(|| {
                        String::from_utf8_lossy(body).chars().take(200).collect()
                    })
                );
                if err.is_resource_not_found_exception()
                    || (status == 404 && String::from_utf8_lossy(body).contains("Missing function"))
                {
                    Err(Retry::Final(ClientError::UnknownFunction(format!(
                        "{}: {detail}",
                        self.function
                    ))))
                } else if err.is_too_many_requests_exception() || status == 429 {
                    Err(Retry::Transient(ClientError::Throttled(detail)))
                } else if err.is_service_exception() || status >= 500 {
                    Err(Retry::Transient(ClientError::Invoke(detail)))
                } else {
                    Err(Retry::Final(ClientError::Invoke(detail)))
                }
            }
            Err(e @ SdkError::DispatchFailure(_)) | Err(e @ SdkError::TimeoutError(_)) => {
                Err(Retry::Transient(ClientError::Unreachable(error_chain(&e))))
            }
            Err(e) => Err(Retry::Transient(ClientError::Invoke(error_chain(&e)))),
        }
    }
}

/// An answer and how many invokes it took (more than one: the request was resent after a
/// transport failure, and an earlier attempt may have run unseen).
#[derive(Debug, Clone)]
pub struct Counted<T> {
    /// The decoded answer.
    pub answer: T,
    /// Invokes sent, the answered one included.
    pub attempts: u32,
}

impl<T> Counted<T> {
    /// Whether the request was sent more than once.
    pub fn resent(&self) -> bool {
        self.attempts > 1
    }
}

/// The payload without `"fresh_owner": true`.
fn without_fresh_owner(payload: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&payload) {
        Ok(serde_json::Value::Object(mut m)) if m.contains_key("fresh_owner") => {
            m.remove("fresh_owner");
            serde_json::to_vec(&m).expect("JSON values always serialize")
        }
        _ => payload,
    }
}

enum Retry {
    Transient(ClientError),
    Final(ClientError),
}

fn function_error(bytes: &[u8], status: u16) -> ClientError {
    match serde_json::from_slice::<FunctionError>(bytes) {
        Ok(fe) => ClientError::Function {
            error_type: fe.error_type,
            message: fe.error_message,
        },
        Err(_) => ClientError::Function {
            error_type: "Unhandled".into(),
            message: format!("HTTP {status}: {}", String::from_utf8_lossy(bytes)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_drop_the_fresh_owner_promise() {
        let p = br#"{"op":"acquire","resource_id":"r","owner":"o","fresh_owner":true}"#.to_vec();
        let v: serde_json::Value = serde_json::from_slice(&without_fresh_owner(p)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op":"acquire","resource_id":"r","owner":"o"})
        );
        let other = br#"{"op":"describe","resource_id":"r"}"#.to_vec();
        assert_eq!(without_fresh_owner(other.clone()), other);
    }
}
