//! A [`LockClient`] configured from the environment.

use std::time::Duration;

use crate::aws_http::ReqwestHttpClient;
use crate::client::LockClient;
use crate::duration::parse_duration;
use crate::error::ClientError;
use crate::invoke::Invoker;
use crate::lambda_api::LambdaApi;
pub use crate::protocol::DEFAULT_FUNCTION;

/// Environment variable naming the lock function (name or ARN).
pub const ENV_FUNCTION: &str = "DLM_FUNCTION";
/// Environment variable with the default lease, as a human duration (`500ms`, `10s`, `2m`).
pub const ENV_DURATION: &str = "DLM_DURATION";
/// dynamo-dlm's default lease.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl LockClient {
    /// A client configured from the environment: AWS credentials, region and endpoint from the default
    /// chain (`AWS_ENDPOINT_URL_LAMBDA` is honoured), the function from `DLM_FUNCTION` (default
    /// `dynamo-dlm-lock`) and the lease from `DLM_DURATION` (default 10 s).
    pub async fn from_env() -> Result<LockClient, ClientError> {
        let function = std::env::var(ENV_FUNCTION).unwrap_or_else(|_| DEFAULT_FUNCTION.to_string());
        let duration = match std::env::var(ENV_DURATION) {
            Ok(v) => parse_duration(&v)
                .map_err(|e| ClientError::Config(format!("{ENV_DURATION}: {e}")))?,
            Err(_) => DEFAULT_DURATION,
        };
        // One connection pool for the invokes and for aws-config's own calls (STS, IMDS, ...).
        let http = LambdaApi::http_client(None)?;
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(ReqwestHttpClient::new(http.clone()))
            .load()
            .await;
        Ok(
            LockClient::with_invoker(Invoker::with_http(&shared, http, function))
                .with_duration(duration),
        )
    }
}
