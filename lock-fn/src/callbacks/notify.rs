//! Waking Step Functions waiters: `SendTaskSuccess` with the grant when the lock is theirs,
//! `SendTaskFailure` `LockBusy` when the queue is full. The client is built once at cold start
//! (`AWS_ENDPOINT_URL_SFN` is honoured).

use std::sync::Arc;

use aws_sdk_sfn::config::http::HttpResponse;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use tracing::warn;

use crate::callbacks::sim_tasks::{SimTasks, TaskSendError};
use crate::world::backoff::store_retry_delay;
use crate::world::metrics::{Metric, Metrics};

/// How a notification went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Step Functions took it.
    Delivered,
    /// The first attempt was told the task is closed (`TaskTimedOut`, `TaskDoesNotExist`,
    /// `InvalidToken`): the waiter is gone.
    Closed,
    /// Unknown: every attempt failed in a way that may or may not have delivered it (throttling,
    /// 5xx, no answer), or a retry was told the task is closed (an earlier attempt may have
    /// closed it). The grant stays; its lease is the backstop, and the waiter's re-entry (a new
    /// token) is answered the grant again.
    Unknown,
}

/// Sends task outcomes to Step Functions.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: Option<aws_sdk_sfn::Client>,
    simulated: Option<Arc<SimTasks>>,
    attempts: u32,
    metrics: Metrics,
}

/// What one attempt's failure means.
enum Failure {
    Closed(String),
    Transient(String),
    Final(String),
}

impl Notifier {
    /// A notifier that cannot send (no Step Functions client): every send is `Unknown`.
    pub fn disabled() -> Notifier {
        Notifier {
            client: None,
            simulated: None,
            attempts: 1,
            metrics: Metrics::default(),
        }
    }

    /// A notifier through `client`, trying each send at most `attempts` times.
    pub fn new(client: aws_sdk_sfn::Client, attempts: u32) -> Notifier {
        Notifier {
            client: Some(client),
            simulated: None,
            attempts: attempts.max(1),
            metrics: Metrics::default(),
        }
    }

    /// A notifier to the simulator's Step Functions.
    pub fn simulated(tasks: Arc<SimTasks>, attempts: u32) -> Notifier {
        Notifier {
            client: None,
            simulated: Some(tasks),
            attempts: attempts.max(1),
            metrics: Metrics::default(),
        }
    }

    /// The same notifier, counting its sends in `metrics`.
    pub fn counting_in(mut self, metrics: Metrics) -> Notifier {
        self.metrics = metrics;
        self
    }

    /// One attempt at the simulator's Step Functions.
    async fn simulated_send(
        tasks: &SimTasks,
        token: &str,
        outcome: Result<String, String>,
    ) -> Result<(), Failure> {
        tasks.send(token, outcome).await.map_err(|e| match e {
            TaskSendError::Closed => Failure::Closed("TaskTimedOut (simulated)".into()),
            TaskSendError::Transient => Failure::Transient("request timed out (simulated)".into()),
        })
    }

    /// A notifier from the default AWS configuration chain, SDK retries off (it retries itself).
    pub async fn from_env(attempts: u32) -> Notifier {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let config = aws_sdk_sfn::config::Builder::from(&shared)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(std::time::Duration::from_secs(3))
                    .build(),
            )
            .build();
        Notifier::new(aws_sdk_sfn::Client::from_conf(config), attempts)
    }

    /// `SendTaskSuccess(token, output)`.
    pub async fn success(&self, token: &str, output: &serde_json::Value) -> Sent {
        if let Some(tasks) = &self.simulated {
            let output = output.to_string();
            return self
                .send("SendTaskSuccess", || {
                    Self::simulated_send(tasks, token, Ok(output.clone()))
                })
                .await;
        }
        let Some(client) = &self.client else {
            return Sent::Unknown;
        };
        let output = output.to_string();
        self.send("SendTaskSuccess", || {
            let call = client
                .send_task_success()
                .task_token(token)
                .output(output.clone());
            async move { call.send().await.map(|_| ()).map_err(|e| classify(&e)) }
        })
        .await
    }

    /// `SendTaskFailure(token, error, cause)`.
    pub async fn failure(&self, token: &str, error: &str, cause: &str) -> Sent {
        if let Some(tasks) = &self.simulated {
            return self
                .send("SendTaskFailure", || {
                    Self::simulated_send(tasks, token, Err(error.to_string()))
                })
                .await;
        }
        let Some(client) = &self.client else {
            return Sent::Unknown;
        };
        self.send("SendTaskFailure", || {
            let call = client
                .send_task_failure()
                .task_token(token)
                .error(error)
                .cause(cause);
            async move { call.send().await.map(|_| ()).map_err(|e| classify(&e)) }
        })
        .await
    }

    async fn send<F, Fut>(&self, op: &'static str, attempt: F) -> Sent
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), Failure>>,
    {
        self.metrics.count(Metric::CallbackSends);
        for n in 1..=self.attempts {
            match attempt().await {
                Ok(()) => return Sent::Delivered,
                Err(Failure::Closed(m)) if n == 1 => {
                    warn!(op, error = %m, "the waiting task is closed; it is skipped");
                    return Sent::Closed;
                }
                Err(Failure::Closed(m)) => {
                    warn!(op, error = %m, "a retry found the task closed: an earlier attempt may have delivered it");
                    return Sent::Unknown;
                }
                Err(Failure::Final(m)) => {
                    warn!(op, error = %m, "Step Functions refused the notification");
                    return Sent::Unknown;
                }
                Err(Failure::Transient(m)) => {
                    warn!(op, attempt = n, error = %m, "Step Functions failed or throttled; retrying");
                    if n < self.attempts {
                        tokio::time::sleep(store_retry_delay(n)).await;
                    }
                }
            }
        }
        warn!(
            op,
            "no attempt left: the waiter may not know; its lease and its re-entry are the backstop"
        );
        Sent::Unknown
    }
}

/// Classifies a Step Functions error (any operation).
fn classify<E: ProvideErrorMetadata + std::error::Error>(
    err: &SdkError<E, HttpResponse>,
) -> Failure {
    match err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("");
            let message = format!("{code}: {}", ctx.err().message().unwrap_or(""));
            match code {
                "TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken" => Failure::Closed(message),
                "ThrottlingException"
                | "ServiceUnavailable"
                | "InternalFailure"
                | "KmsThrottlingException" => Failure::Transient(message),
                _ if ctx.raw().status().is_server_error() => Failure::Transient(message),
                _ => Failure::Final(message),
            }
        }
        other => Failure::Transient(format!("{other:?}")),
    }
}
