//! The Lambda Invoke API as one signed HTTP request: `POST /2015-03-31/functions/{name}/invocations`
//! over reqwest, signed with SigV4 (aws-sigv4), with credentials, Region and endpoint from an
//! `SdkConfig`. What the answer means is [`crate::invoke`]'s business.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_types::SdkConfig;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::credentials_cache::CredentialsCache;
use crate::error::ClientError;
use crate::lambda_endpoint::lambda_endpoint;
use lock_protocol::error_chain::error_chain;

/// The SDK's default connect timeout.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

/// What the SDK escapes in a path label: everything but RFC 3986's unreserved characters (so an
/// ARN's `:` travels as `%3A`, and is signed double-encoded, as SigV4 wants outside S3).
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One HTTP connection pool, signing for one account and Region.
#[derive(Debug, Clone)]
pub(crate) struct LambdaApi {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credentials: CredentialsCache,
    attempt_timeout: Option<Duration>,
}

/// How the Invoke API answered.
#[derive(Debug)]
pub(crate) enum Reply {
    /// HTTP 2xx: the function's answer, or (with `X-Amz-Function-Error`) its error.
    Invoked {
        status: u16,
        function_error: bool,
        body: Vec<u8>,
    },
    /// The service refused or failed the request (HTTP 4xx/5xx): its error code (e.g.
    /// `ResourceNotFoundException`) and message when it sent them.
    Refused {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        body: Vec<u8>,
    },
}

/// Why no answer came.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Nothing was sent: no credentials, or the request could not be signed. (Resolving
    /// credentials may fail for a moment, e.g. an instance metadata endpoint under load.)
    NotSent(String),
    /// Connection refused or reset, DNS, a timeout: the request may have run unseen.
    Unreachable(String),
}

impl LambdaApi {
    /// An API client for `config`'s credentials, Region and Lambda endpoint, over `http`.
    pub(crate) fn new(config: &SdkConfig, http: reqwest::Client) -> Result<LambdaApi, ClientError> {
        let endpoint = lambda_endpoint(config)?;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| ClientError::Config("no AWS Region to sign for".into()))?;
        let provider = config.credentials_provider().ok_or_else(|| {
            ClientError::Config("no AWS credentials provider in the configuration".into())
        })?;
        let timeouts = config.timeout_config();
        Ok(LambdaApi {
            http,
            endpoint,
            region,
            credentials: CredentialsCache::new(provider),
            attempt_timeout: timeouts
                .and_then(|t| t.operation_attempt_timeout().or(t.operation_timeout())),
        })
    }

    /// A connection pool with `config`'s connect and read timeouts (the SDK's connect timeout
    /// when none is set). It follows no proxy settings, as the SDK's own client did not.
    pub(crate) fn http_client(config: Option<&SdkConfig>) -> Result<reqwest::Client, ClientError> {
        let timeouts = config.and_then(|c| c.timeout_config());
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(
                timeouts
                    .and_then(|t| t.connect_timeout())
                    .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            )
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(read) = timeouts.and_then(|t| t.read_timeout()) {
            builder = builder.read_timeout(read);
        }
        builder
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {}", error_chain(&e))))
    }

    /// Invokes `function` (name or ARN) synchronously with `payload`.
    pub(crate) async fn invoke(&self, function: &str, payload: &[u8]) -> Result<Reply, SendError> {
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.endpoint,
            utf8_percent_encode(function, LABEL)
        );
        let credentials = self.credentials.get().await.map_err(SendError::NotSent)?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SendError::NotSent(error_chain(&e)))?
            .into();
        const CONTENT_TYPE: (&str, &str) = ("content-type", "application/json");
        let signable = SignableRequest::new(
            "POST",
            &url,
            std::iter::once(CONTENT_TYPE),
            SignableBody::Bytes(payload),
        )
        .map_err(|e| SendError::NotSent(error_chain(&e)))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SendError::NotSent(error_chain(&e)))?
            .into_parts();
        let mut request = self
            .http
            .post(&url)
            .header(CONTENT_TYPE.0, CONTENT_TYPE.1)
            .body(payload.to_vec());
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        if let Some(t) = self.attempt_timeout {
            request = request.timeout(t);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let code = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(error_code);
        let body = response.bytes().await.map_err(unreachable)?.to_vec();
        if (200..300).contains(&status) {
            return Ok(Reply::Invoked {
                status,
                function_error,
                body,
            });
        }
        let (body_code, message) = error_body(&body);
        Ok(Reply::Refused {
            status,
            code: code.or(body_code),
            message,
            body,
        })
    }
}

fn unreachable(e: reqwest::Error) -> SendError {
    SendError::Unreachable(error_chain(&e))
}

/// `ResourceNotFoundException:http://internal.amazon.com/...` → `ResourceNotFoundException`
/// (and a `namespace#Code` `__type` → `Code`).
fn error_code(raw: &str) -> String {
    let code = raw.split(':').next().unwrap_or(raw);
    code.rsplit('#').next().unwrap_or(code).to_string()
}

/// The error code and message of a restJson1 error body (`__type`/`code`, `message`/`Message`).
fn error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| m.get(*k).and_then(|v| v.as_str()).map(str::to_string))
    };
    (
        text(&["__type", "code"]).map(|c| error_code(&c)),
        text(&["message", "Message", "errorMessage"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_and_messages_are_read_as_the_sdk_reads_them() {
        assert_eq!(
            error_code("ResourceNotFoundException:http://internal.amazon.com/coral/x/"),
            "ResourceNotFoundException"
        );
        assert_eq!(
            error_code("com.amazonaws.lambda#TooManyRequestsException"),
            "TooManyRequestsException"
        );
        assert_eq!(
            error_body(br#"{"Type":"User","message":"Function not found: f"}"#),
            (None, Some("Function not found: f".into()))
        );
        assert_eq!(
            error_body(br#"{"__type":"x#ServiceException","Message":"boom"}"#),
            (Some("ServiceException".into()), Some("boom".into()))
        );
        assert_eq!(error_body(b"not json"), (None, None));
    }

    #[test]
    fn function_names_and_arns_are_escaped_as_path_labels() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:dlm-lock:live";
        assert_eq!(
            utf8_percent_encode(arn, LABEL).to_string(),
            "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Adlm-lock%3Alive"
        );
        assert_eq!(
            utf8_percent_encode("a_b.c~d-e", LABEL).to_string(),
            "a_b.c~d-e"
        );
    }
}
