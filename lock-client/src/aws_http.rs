//! reqwest as aws-config's HTTP client, for the calls aws-config itself makes while finding
//! credentials and the Region (STS for web identity and assumed roles, IMDS on EC2, the container
//! credentials endpoint on ECS/EKS). With it, aws-config needs neither the SDK's hyper client nor
//! its TLS stack: one connection pool serves those calls and the lock's invokes.

use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// aws-config's HTTP client, sending through one shared `reqwest::Client`.
#[derive(Debug, Clone)]
pub(crate) struct ReqwestHttpClient {
    http: reqwest::Client,
}

impl ReqwestHttpClient {
    pub(crate) fn new(http: reqwest::Client) -> Self {
        ReqwestHttpClient { http }
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ReqwestConnector {
            http: self.http.clone(),
            // The pool's connect timeout stands; a read timeout asked for bounds each request.
            timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug, Clone)]
struct ReqwestConnector {
    http: reqwest::Client,
    timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (http, timeout) = (self.http.clone(), self.timeout);
        HttpConnectorFuture::new(async move {
            let method = reqwest::Method::from_bytes(request.method().as_bytes())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let mut builder = http.request(method, request.uri());
            for (name, value) in request.headers() {
                builder = builder.header(name, value);
            }
            let body = request.body().bytes().ok_or_else(|| {
                ConnectorError::other("a streaming request body (not supported here)".into(), None)
            })?;
            builder = builder.body(body.to_vec());
            if let Some(t) = timeout {
                builder = builder.timeout(t);
            }
            let response = builder.send().await.map_err(connector_error)?;
            let status = StatusCode::try_from(response.status().as_u16())
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            let headers = response.headers().clone();
            let bytes = response.bytes().await.map_err(connector_error)?;
            let mut out = HttpResponse::new(status, SdkBody::from(bytes.to_vec()));
            for (name, value) in &headers {
                if let Ok(value) = value.to_str() {
                    out.headers_mut()
                        .append(name.as_str().to_owned(), value.to_owned());
                }
            }
            Ok(out)
        })
    }
}

fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}
