//! One request/response invocation of lock-fn through the Lambda Invoke API.

use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ClientError;
use crate::lambda_api::{LambdaApi, Reply, SendError};
use crate::protocol::{ErrorType, FunctionError, Request, MAYBE_APPLIED};

/// How many times a transport failure (never a function answer) is retried.
const TRANSPORT_ATTEMPTS: u32 = 3;

/// Invokes one function; cheap to clone (one shared connection pool).
#[derive(Debug, Clone)]
pub struct Invoker {
    /// The Invoke API, or why `SdkConfig` could not give one (then every call fails with it).
    api: Result<Arc<LambdaApi>, ClientError>,
    function: String,
}

impl Invoker {
    /// An invoker of `function` (name or ARN) with `config`'s credentials, Region, Lambda endpoint
    /// (`AWS_ENDPOINT_URL_LAMBDA` is honoured) and timeouts (connect, read, per attempt).
    pub fn new(config: &aws_types::SdkConfig, function: impl Into<String>) -> Self {
        let api = LambdaApi::http_client(Some(config))
            .and_then(|http| LambdaApi::new(config, http))
            .map(Arc::new);
        Invoker {
            api,
            function: function.into(),
        }
    }

    /// As [`Invoker::new`], sending through `http` (a pool shared with aws-config, say).
    pub(crate) fn with_http(
        config: &aws_types::SdkConfig,
        http: reqwest::Client,
        function: impl Into<String>,
    ) -> Self {
        Invoker {
            api: LambdaApi::new(config, http).map(Arc::new),
            function: function.into(),
        }
    }

    /// The function invoked.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The same connection pool, another function.
    pub fn with_function(&self, function: impl Into<String>) -> Self {
        Invoker {
            api: self.api.clone(),
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
        let api = self.api.as_ref().map_err(Clone::clone)?;
        let mut payload = serde_json::to_vec(payload).expect("JSON values always serialize");
        let mut attempt = 1;
        loop {
            let sent = api.invoke(&self.function, &payload).await;
            match self.interpret(sent) {
                // Only an attempt that may have run is resent (one never sent is final).
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
                Err(Retry::Transient(e) | Retry::Final(e)) if attempt > 1 => {
                    return Err(after_resend(e))
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

    fn interpret(&self, sent: Result<Reply, SendError>) -> Result<Vec<u8>, Retry> {
        match sent {
            Ok(Reply::Invoked {
                status,
                function_error,
                body,
            }) => match function_error {
                true => Err(Retry::Final(function_error_of(&body, status))),
                false => Ok(body),
            },
            Ok(Reply::Refused {
                status,
                code,
                message,
                body,
            }) => {
                if let Ok(fe) = serde_json::from_slice::<FunctionError>(&body) {
                    // The local emulator's way of answering a function error.
                    return Err(Retry::Final(ClientError::Function {
                        error_type: fe.error_type,
                        message: fe.error_message,
                    }));
                }
                let detail = format!(
                    "{}: {} (HTTP {status})",
                    code.as_deref().unwrap_or("error"),
                    message.unwrap_or_else(|| {
                        String::from_utf8_lossy(&body).chars().take(200).collect()
                    })
                );
                let code = code.as_deref();
                if code == Some("ResourceNotFoundException")
                    || (status == 404
                        && String::from_utf8_lossy(&body).contains("Missing function"))
                {
                    Err(Retry::Final(ClientError::UnknownFunction(format!(
                        "{}: {detail}",
                        self.function
                    ))))
                } else if code == Some("TooManyRequestsException") || status == 429 {
                    Err(Retry::Transient(ClientError::Throttled(detail)))
                } else if code == Some("ServiceException") || status >= 500 {
                    Err(Retry::Transient(ClientError::Invoke(detail)))
                } else {
                    Err(Retry::Final(ClientError::Invoke(detail)))
                }
            }
            Err(SendError::Unreachable(why)) => {
                Err(Retry::Transient(ClientError::Unreachable(why)))
            }
            // Not resent: a credentials lookup that failed or timed out (10 s) is not worth
            // waiting for again and again.
            Err(SendError::NotSent(why)) => Err(Retry::Final(ClientError::NotSent(why))),
        }
    }
}

/// An answer and how many invokes it took (more than one: the request was resent after a
/// transport failure, and an earlier attempt may have run unseen; an attempt that could not be
/// sent at all is never resent).
#[derive(Debug, Clone)]
pub struct Counted<T> {
    /// The decoded answer.
    pub answer: T,
    /// Invokes sent, the answered one included.
    pub attempts: u32,
}

impl<T> Counted<T> {
    /// Whether the request was resent after an attempt that may have run unseen: the answer
    /// then says nothing of what that attempt did (it may have granted, say).
    pub fn resent(&self) -> bool {
        self.attempts > 1
    }
}

/// The failure of a resent request. Its earlier attempt went unanswered and may have been applied
/// (granted, say), which lock-fn's answer to the resend cannot know: a `Throttled` or
/// `StoreUnavailable` then says so (`may_have_been_applied`), so that the caller cancels or retries
/// with the same owner instead of leaving a grant behind.
fn after_resend(e: ClientError) -> ClientError {
    match e {
        ClientError::NotSent(why) => ClientError::Invoke(format!("{why}; {MAYBE_APPLIED}")),
        ClientError::Function {
            error_type,
            message,
        } if matches!(
            ErrorType::from_name(&error_type),
            Some(ErrorType::Throttled | ErrorType::StoreUnavailable)
        ) && !message.contains(MAYBE_APPLIED) =>
        {
            ClientError::Function {
                error_type,
                message: format!("{message}; {MAYBE_APPLIED}"),
            }
        }
        other => other,
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

fn function_error_of(bytes: &[u8], status: u16) -> ClientError {
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

    /// How each answer is classed: (error, whether it is resent).
    fn class(reply: Result<Reply, SendError>) -> (ClientError, bool) {
        let invoker = Invoker {
            api: Err(ClientError::Config("unused".into())),
            function: "f".into(),
        };
        match invoker.interpret(reply) {
            Ok(body) => panic!("answered {body:?}"),
            Err(Retry::Transient(e)) => (e, true),
            Err(Retry::Final(e)) => (e, false),
        }
    }

    fn refused(status: u16, code: Option<&str>, body: &str) -> Result<Reply, SendError> {
        Ok(Reply::Refused {
            status,
            code: code.map(str::to_string),
            message: None,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn every_kind_of_failure_is_classed_and_only_transport_failures_are_resent() {
        let function_error = br#"{"errorType":"LockBusy","errorMessage":"busy"}"#.to_vec();
        let lock_busy = ClientError::Function {
            error_type: "LockBusy".into(),
            message: "busy".into(),
        };
        let invoked = Ok(Reply::Invoked {
            status: 200,
            function_error: true,
            body: function_error.clone(),
        });
        assert_eq!(class(invoked), (lock_busy.clone(), false));
        // The emulator's form of a function error.
        let emulated = refused(500, None, std::str::from_utf8(&function_error).unwrap());
        assert_eq!(class(emulated), (lock_busy, false));
        let unknown = |(e, resent): (ClientError, bool)| {
            matches!(e, ClientError::UnknownFunction(_)) && !resent
        };
        assert!(unknown(class(refused(
            404,
            Some("ResourceNotFoundException"),
            "{}"
        ))));
        // Real Lambda names the code; an odd status does not hide it.
        assert!(unknown(class(refused(
            400,
            Some("ResourceNotFoundException"),
            "{}"
        ))));
        assert!(unknown(class(refused(404, None, "Missing function f"))));
        let (e, resent) = class(refused(404, None, "Not Found"));
        assert!(matches!(e, ClientError::Invoke(_)) && !resent, "{e:?}");
        let throttled =
            |(e, resent): (ClientError, bool)| matches!(e, ClientError::Throttled(_)) && resent;
        assert!(throttled(class(refused(
            429,
            Some("TooManyRequestsException"),
            "{}"
        ))));
        assert!(throttled(class(refused(429, None, ""))));
        assert!(throttled(class(refused(
            400,
            Some("TooManyRequestsException"),
            ""
        ))));
        let server =
            |(e, resent): (ClientError, bool)| matches!(e, ClientError::Invoke(_)) && resent;
        assert!(server(class(refused(500, Some("ServiceException"), "{}"))));
        assert!(server(class(refused(503, None, "<html>"))));
        assert!(server(class(refused(400, Some("ServiceException"), ""))));
        let (e, resent) = class(refused(403, Some("AccessDeniedException"), "{}"));
        assert!(matches!(e, ClientError::Invoke(_)) && !resent, "{e:?}");
        let (e, resent) = class(Err(SendError::Unreachable("refused".into())));
        assert!(matches!(e, ClientError::Unreachable(_)) && resent, "{e:?}");
        let (e, resent) = class(Err(SendError::NotSent("no credentials".into())));
        assert!(matches!(e, ClientError::NotSent(_)) && !resent, "{e:?}");
        assert!(!e.may_have_been_applied());
        // Never sent, but after an attempt that may have run: may have been applied.
        assert!(after_resend(e).may_have_been_applied());
        let answered = Invoker {
            api: Err(ClientError::Config("unused".into())),
            function: "f".into(),
        }
        .interpret(Ok(Reply::Invoked {
            status: 200,
            function_error: false,
            body: b"{}".to_vec(),
        }));
        assert!(matches!(answered, Ok(ref b) if b == b"{}"));
    }

    #[test]
    fn a_resent_requests_store_failure_says_an_earlier_attempt_may_have_been_applied() {
        let function = |t: &str, m: &str| ClientError::Function {
            error_type: t.into(),
            message: m.into(),
        };
        for t in ["Throttled", "StoreUnavailable"] {
            let e = after_resend(function(t, "DynamoDB is throttling"));
            assert!(e.may_have_been_applied(), "{e:?}");
            let already = function(t, &format!("x; {MAYBE_APPLIED}"));
            assert_eq!(after_resend(already.clone()), already);
        }
        let invalid = function("InvalidRequest", "owner: too long");
        assert_eq!(after_resend(invalid.clone()), invalid);
    }

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
