//! A fault-injecting HTTP proxy in front of dynalite (the project's own test tooling), used by
//! lock-fn's store-fault test and by `dlm-faults`; lock-client's tests put it in front of the
//! Lambda emulator to lose invoke answers.
//!
//! It forwards DynamoDB requests one by one and, at set rates, answers a throttling error or a 500
//! itself, delays the request, resets the connection, or - the dangerous one - forwards the request,
//! lets dynalite apply it, and then drops the answer.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Rates (0..=1) of each fault, drawn independently per request in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Answer `ProvisionedThroughputExceededException` (not forwarded).
    pub throttle: f64,
    /// Answer HTTP 500 `InternalServerError` (not forwarded).
    pub server_error: f64,
    /// Close the connection without an answer (not forwarded).
    pub reset: f64,
    /// Forward, let it apply, then close the connection without the answer.
    pub lose_answer: f64,
    /// Delay the request by `latency` before forwarding.
    pub slow: f64,
    /// The added latency.
    pub latency: Duration,
}

/// What the proxy did so far, and what went through it (DynamoDB requests by kind).
#[derive(Debug, Default)]
pub struct Counts {
    /// Reads forwarded (`GetItem`).
    pub reads: AtomicU64,
    /// Writes forwarded (`UpdateItem`, `PutItem`, `DeleteItem`).
    pub writes: AtomicU64,
    /// Forwarded writes whose condition failed (`ConditionalCheckFailedException`).
    pub failed_writes: AtomicU64,
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub server_errors: AtomicU64,
    pub resets: AtomicU64,
    pub lost_answers: AtomicU64,
    pub delayed: AtomicU64,
}

/// What to do with one request, scripted ahead of time for the next requests (in order); scripted
/// steps win over the random rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Forward it and its answer.
    Forward,
    /// Answer a throttling error (not forwarded).
    Throttle,
    /// Answer HTTP 500 (not forwarded).
    ServerError,
    /// Forward it, let it apply, and drop the answer; the connection stays open this long first (the
    /// caller sees nothing until its own timeout, or until the connection closes).
    LoseAnswer(Duration),
    /// Hold it this long, then forward it (whether or not the caller still waits: a late write).
    Delay(Duration),
}

/// Run before the proxy forwards a write (`UpdateItem`, `PutItem`, `DeleteItem`), given the
/// request's text: a peer's change that lands between the caller's read and its conditional write.
pub type WriteHook = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A running proxy.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    script: Arc<Mutex<VecDeque<Step>>>,
    aimed: Arc<Mutex<Vec<(String, Step)>>>,
    before_write: Arc<Mutex<Option<WriteHook>>>,
    /// What it did.
    pub counts: Arc<Counts>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (an `http://127.0.0.1:PORT` endpoint) on a free loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream address");
        assert!(
            upstream.ip().is_loopback(),
            "the proxy only forwards to loopback"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Mutex::new(Faults::default()));
        let counts = Arc::new(Counts::default());
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let aimed = Arc::new(Mutex::new(Vec::new()));
        let before_write = Arc::new(Mutex::new(None));
        let shared = Shared {
            faults: faults.clone(),
            counts: counts.clone(),
            script: script.clone(),
            aimed: aimed.clone(),
            before_write: before_write.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(client, upstream, shared).await;
                });
            }
        });
        FaultProxy {
            addr,
            faults,
            script,
            aimed,
            before_write,
            counts,
        }
    }

    /// The endpoint to give the DynamoDB client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the fault rates (applies to the next request).
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// Forwards the next `n` requests and loses their answers, whatever the rates say.
    pub fn lose_next_answers(&self, n: u64) {
        for _ in 0..n {
            self.then(Step::LoseAnswer(Duration::ZERO));
        }
    }

    /// Scripts what happens to the next request not yet scripted.
    pub fn then(&self, step: Step) {
        self.script.lock().unwrap().push_back(step);
    }

    /// Scripts what happens to the next request whose text (head and body) contains `needle`, e.g.
    /// a DynamoDB update expression fragment (`"release_code = :next"`: a handoff) or an invoke's
    /// payload (`"\"op\":\"release\""`); the other requests are not affected. Aimed steps are
    /// used in the order they were set, each once, and win over the ordered script and the rates.
    pub fn then_matching(&self, needle: &str, step: Step) {
        self.aimed.lock().unwrap().push((needle.to_string(), step));
    }

    /// How many aimed steps ([`FaultProxy::then_matching`]) have not met their request yet.
    pub fn aimed(&self) -> usize {
        self.aimed.lock().unwrap().len()
    }

    /// Runs `hook` (to completion) before every write forwarded from now on; `None` stops it.
    pub fn before_each_write(&self, hook: Option<WriteHook>) {
        *self.before_write.lock().unwrap() = hook;
    }

    /// How many scripted steps are still to come.
    pub fn scripted(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

enum Action {
    Forward,
    Throttle,
    ServerError,
    Reset,
    LoseAnswer(Duration),
}

fn choose(f: &Faults) -> (Action, Option<Duration>) {
    let slow = (fastrand::f64() < f.slow).then_some(f.latency);
    let action = if fastrand::f64() < f.throttle {
        Action::Throttle
    } else if fastrand::f64() < f.server_error {
        Action::ServerError
    } else if fastrand::f64() < f.reset {
        Action::Reset
    } else if fastrand::f64() < f.lose_answer {
        Action::LoseAnswer(Duration::ZERO)
    } else {
        Action::Forward
    };
    (action, slow)
}

fn scripted(step: Step) -> (Action, Option<Duration>) {
    match step {
        Step::Forward => (Action::Forward, None),
        Step::Throttle => (Action::Throttle, None),
        Step::ServerError => (Action::ServerError, None),
        Step::LoseAnswer(hold) => (Action::LoseAnswer(hold), None),
        Step::Delay(d) => (Action::Forward, Some(d)),
    }
}

/// What every connection of one proxy shares.
#[derive(Clone)]
struct Shared {
    faults: Arc<Mutex<Faults>>,
    counts: Arc<Counts>,
    script: Arc<Mutex<VecDeque<Step>>>,
    aimed: Arc<Mutex<Vec<(String, Step)>>>,
    before_write: Arc<Mutex<Option<WriteHook>>>,
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, shared: Shared) -> std::io::Result<()> {
    let Shared {
        faults,
        counts,
        script,
        aimed,
        before_write,
    } = shared;
    let mut up: Option<TcpStream> = None;
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_message(&mut client, &mut buf).await? else {
            return Ok(());
        };
        let f = *faults.lock().unwrap();
        let text = String::from_utf8_lossy(&request).into_owned();
        let step = {
            let mut aimed = aimed.lock().unwrap();
            aimed
                .iter()
                .position(|(needle, _)| text.contains(needle.as_str()))
                .map(|i| aimed.remove(i).1)
        };
        let step = step.or_else(|| script.lock().unwrap().pop_front());
        let (action, delay) = match step {
            Some(step) => scripted(step),
            None => choose(&f),
        };
        if let Some(delay) = delay {
            counts.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        match action {
            Action::Throttle => {
                counts.throttled.fetch_add(1, Ordering::Relaxed);
                client
                    .write_all(&error_response(
                        400,
                        "ProvisionedThroughputExceededException",
                        "injected throttling",
                    ))
                    .await?;
            }
            Action::ServerError => {
                counts.server_errors.fetch_add(1, Ordering::Relaxed);
                client
                    .write_all(&error_response(
                        500,
                        "InternalServerError",
                        "injected server error",
                    ))
                    .await?;
            }
            Action::Reset => {
                counts.resets.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Action::Forward | Action::LoseAnswer(_) => {
                let hook = before_write.lock().unwrap().clone();
                if let Some(hook) = hook.filter(|_| is_write(&request)) {
                    hook(String::from_utf8_lossy(&request).into_owned()).await;
                }
                if up.is_none() {
                    up = Some(TcpStream::connect(upstream).await?);
                }
                let conn = up.as_mut().unwrap();
                conn.write_all(&request).await?;
                let mut up_buf = Vec::new();
                let Some(response) = read_message(conn, &mut up_buf).await? else {
                    return Ok(());
                };
                if let Action::LoseAnswer(hold) = action {
                    counts.lost_answers.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(hold).await;
                    return Ok(()); // applied upstream; the answer never arrives
                }
                counts.forwarded.fetch_add(1, Ordering::Relaxed);
                count_kind(&counts, &request, &response);
                client.write_all(&response).await?;
            }
        }
    }
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
    let message: Vec<u8> = buf.drain(..head_end + length).collect();
    Ok(Some(message))
}

/// A request's `X-Amz-Target` (lower case), e.g. `dynamodb_20120810.updateitem`.
fn target(request: &[u8]) -> Option<String> {
    let head_end = find(request, b"\r\n\r\n").unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("x-amz-target:"))
        .map(|t| t.trim().to_string())
}

/// An item write (`UpdateItem`, `PutItem`, `DeleteItem`).
fn is_write(request: &[u8]) -> bool {
    target(request).is_some_and(|t| t.ends_with("item") && !t.ends_with(".getitem"))
}

/// Counts a forwarded DynamoDB request by its `X-Amz-Target` and its answer.
fn count_kind(counts: &Counts, request: &[u8], response: &[u8]) {
    let Some(target) = target(request) else {
        return;
    };
    if target.ends_with(".getitem") {
        counts.reads.fetch_add(1, Ordering::Relaxed);
    } else if target.ends_with("item") {
        counts.writes.fetch_add(1, Ordering::Relaxed);
        if find(response, b"ConditionalCheckFailed").is_some() {
            counts.failed_writes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn error_response(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#);
    let reason = if status == 500 {
        "Internal Server Error"
    } else {
        "Bad Request"
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: injected\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
