//! A scripted stand-in for the Lambda Invoke API (no lock-fn behind it), and a recorder that sits in
//! front of a real one: for client behaviour that the real function cannot be made to show on cue
//! (an answer that says "may have been applied", an invoke still running when the caller gives up,
//! a release answered `uncertain`), and for reading the answers a `dlm` process got.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake function answers to one invoke.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The function's JSON answer.
    Json(Value),
    /// A function error (`X-Amz-Function-Error`, as real Lambda sends it).
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The connection closes without an answer (the caller cannot tell whether the function ran).
    Drop,
}

impl Answer {
    /// A function error.
    pub fn error(error_type: &str, message: &str) -> Answer {
        Answer::Error {
            error_type: error_type.into(),
            message: message.into(),
        }
    }
}

type Handler = Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

/// One invoke the fake saw: its payload and when it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The request payload.
    pub payload: Value,
    /// When it arrived.
    pub at: Instant,
}

impl Seen {
    /// The request's `op`.
    pub fn op(&self) -> &str {
        self.payload["op"].as_str().unwrap_or_default()
    }
}

/// A running fake Invoke API endpoint; it stops when dropped (well: its listener task ends with
/// the test's runtime).
pub struct FakeLambda {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeLambda {
    /// Serves every invoke with `handler` (called with the payload, possibly concurrently).
    pub async fn start<F, Fut>(handler: F) -> FakeLambda
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |v| Box::pin(handler(v)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (handler, recorded) = (handler.clone(), recorded.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, handler, recorded).await;
                });
            }
        });
        FakeLambda { addr, seen }
    }

    /// The endpoint (`AWS_ENDPOINT_URL_LAMBDA`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every invoke so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The ops invoked so far, in arrival order.
    pub fn ops(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.op().to_string()).collect()
    }

    /// Waits (up to `within`) until `n` invokes of `op` arrived; all invokes seen by then.
    pub async fn wait_for(&self, op: &str, n: usize, within: Duration) -> Vec<Seen> {
        let until = Instant::now() + within;
        loop {
            let seen = self.seen();
            if seen.iter().filter(|s| s.op() == op).count() >= n {
                return seen;
            }
            if Instant::now() >= until {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A grant answer for `request` (an acquire): `fence`, a lease of `lease_ms` starting now.
pub fn grant(request: &Value, fence: u64, lease_ms: u64) -> Value {
    let now = lock_client::protocol::now_ms();
    serde_json::json!({
        "acquired": true,
        "resource_id": request["resource_id"],
        "owner": request["owner"],
        "fence": fence,
        "expires_at_ms": now + lease_ms,
        "duration_ms": lease_ms,
        "acquired_at_ms": now,
        "reacquired": false,
        "attempts": 1,
        "expires_in_ms": lease_ms,
    })
}

/// A queued refusal for `request`: come back in `retry_after_ms`.
pub fn queued(request: &Value, retry_after_ms: u64) -> Value {
    serde_json::json!({
        "acquired": false,
        "resource_id": request["resource_id"],
        "retry_after_ms": retry_after_ms,
        "holder_expires_at_ms": null,
        "attempts": 1,
        "queued": true,
        "position": 1,
        "queue_length": 1,
    })
}

/// A renewal of `request` for its `duration_ms`.
pub fn renewed(request: &Value, fence: u64) -> Value {
    let d = request["duration_ms"].as_u64().unwrap_or(10_000);
    serde_json::json!({
        "renewed": true,
        "resource_id": request["resource_id"],
        "expires_at_ms": lock_client::protocol::now_ms() + d,
        "fence": fence,
        "duration_ms": d,
        "expires_in_ms": d,
    })
}

/// A cancel answer.
pub fn cancelled(request: &Value) -> Value {
    serde_json::json!({"cancelled": true, "resource_id": request["resource_id"], "released": false})
}

/// A fake lock function for one holder: acquires are granted (`fence`, a lease of `lease_ms`),
/// renewals answered as asked (refused when `renew_ok` is false), the release with `release`.
pub async fn holder(fence: u64, lease_ms: u64, renew_ok: bool, release: Answer) -> FakeLambda {
    FakeLambda::start(move |req: Value| {
        let release = release.clone();
        async move {
            match req["op"].as_str().unwrap_or_default() {
                "acquire" => Answer::Json(grant(&req, fence, lease_ms)),
                "renew" if renew_ok => Answer::Json(renewed(&req, fence)),
                "renew" => Answer::Json(
                    serde_json::json!({"renewed": false, "resource_id": req["resource_id"]}),
                ),
                "release" => release,
                "cancel" => Answer::Json(cancelled(&req)),
                op => panic!("unexpected {op}"),
            }
        }
    })
    .await
}

/// A lock-fn error message that says an earlier attempt may have been applied (lock-fn's wording).
pub const MAYBE_APPLIED: &str =
    "an earlier attempt may have been applied: retry with the same owner (and fence)";

/// An AWS configuration for `endpoint` with dummy credentials, Region us-east-1 and a 30 s
/// attempt timeout.
pub fn config_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("local", "local", None, None, "tests"),
            ),
        )
        .endpoint_url(endpoint)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        )
        .build()
}

/// A lock client of the fake at `endpoint`.
pub fn fake_client(endpoint: &str) -> lock_client::LockClient {
    lock_client::LockClient::new(&config_at(endpoint), "lock-fn")
}

async fn serve(
    mut conn: TcpStream,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while let Some(request) = read_message(&mut conn, &mut buf).await? {
        let body = body_of(&request);
        let payload: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        seen.lock().unwrap().push(Seen {
            payload: payload.clone(),
            at: Instant::now(),
        });
        let response = match handler(payload).await {
            Answer::Json(v) => response(&v.to_string(), None),
            Answer::Error {
                error_type,
                message,
            } => response(
                &serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
                Some("Unhandled"),
            ),
            Answer::Drop => return Ok(()),
        };
        conn.write_all(&response).await?;
    }
    Ok(())
}

fn response(body: &str, function_error: Option<&str>) -> Vec<u8> {
    let error = function_error
        .map(|e| format!("X-Amz-Function-Error: {e}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\n\
         {error}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// One recorded exchange of an [`InvokeRecorder`].
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request payload.
    pub request: Value,
    /// The answer's body (a function's JSON answer or error), `Null` when none came.
    pub answer: Value,
}

/// A pass-through in front of a real Invoke API endpoint that records every payload and answer.
pub struct InvokeRecorder {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl InvokeRecorder {
    /// Forwards to `upstream` (an `http://127.0.0.1:PORT` endpoint).
    pub async fn start(upstream: &str) -> InvokeRecorder {
        let upstream: SocketAddr = upstream.trim_start_matches("http://").parse().unwrap();
        assert!(upstream.ip().is_loopback());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let recorded = log.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = relay(conn, upstream, recorded).await;
                });
            }
        });
        InvokeRecorder { addr, log }
    }

    /// The endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every exchange so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }
}

async fn relay(
    mut conn: TcpStream,
    upstream: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
) -> std::io::Result<()> {
    let mut up = TcpStream::connect(upstream).await?;
    let (mut buf, mut up_buf) = (Vec::new(), Vec::new());
    while let Some(request) = read_message(&mut conn, &mut buf).await? {
        up.write_all(&request).await?;
        let Some(answer) = read_message(&mut up, &mut up_buf).await? else {
            return Ok(());
        };
        log.lock().unwrap().push(Exchange {
            request: serde_json::from_slice(body_of(&request)).unwrap_or(Value::Null),
            answer: serde_json::from_slice(body_of(&answer)).unwrap_or(Value::Null),
        });
        conn.write_all(&answer).await?;
    }
    Ok(())
}

fn body_of(message: &[u8]) -> &[u8] {
    find(message, b"\r\n\r\n").map_or(&[][..], |i| &message[i + 4..])
}

/// Reads one HTTP/1.1 message (head and a Content-Length body); `None` at a clean end of stream.
async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Vec<u8>>> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let mut chunk = [0u8; 8192];
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(buf.drain(..head_end + length).collect()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
