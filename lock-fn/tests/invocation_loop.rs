//! lock-fn's invocation loop against the real Runtime API of `cargo lambda watch`: answers, function
//! errors and panics reach the caller, the loop outlives a panic, and - the reason it exists - the
//! process environment is never written (lambda_runtime's `set_var` per invocation leaks in glibc).
//! Alone in its test binary: it points this process's Lambda environment at the emulator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A function name the emulator accepts (a binary of the workspace) that the test stack does not
/// run itself.
const FUNCTION: &str = "echo-fn";

static AFTER_DONE: AtomicBool = AtomicBool::new(false);
/// Told by the test once the answer of the invocation whose work goes on after it has arrived.
static ANSWER_SEEN: tokio::sync::Notify = tokio::sync::Notify::const_new();

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    if let Some(kind) = event.payload.get("fail").and_then(Value::as_str) {
        return Err(Diagnostic {
            error_type: kind.into(),
            error_message: "asked to fail".into(),
        });
    }
    if event.payload.get("panic").is_some() {
        panic!("asked to panic");
    }
    if event.payload.get("after").is_some() {
        // Work after the answer (as lock-fn gives a waiting slot back): done only once the
        // caller has its answer.
        lock_fn::engine::after_answer::spawn(async {
            ANSWER_SEEN.notified().await;
            // Slower than the next invocation would be, were it not held back until this ends.
            tokio::time::sleep(Duration::from_millis(300)).await;
            AFTER_DONE.store(true, Ordering::SeqCst);
        });
    }
    if event.payload.get("after_done").is_some() {
        return Ok(json!({"after_done": AFTER_DONE.load(Ordering::SeqCst)}));
    }
    Ok(json!({"echo": event.payload, "request_id": event.context.request_id}))
}

/// POSTs `payload` to the Invoke API; the HTTP status and the answer's JSON.
async fn invoke(endpoint: &str, payload: &Value) -> (u16, Value) {
    let addr = endpoint.trim_start_matches("http://");
    let body = payload.to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /2015-03-31/functions/{FUNCTION}/invocations HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("the emulator answers")
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap();
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[tokio::test]
async fn answers_go_back_the_environment_is_left_alone_and_after_answer_work_ends_before_next() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_LAMBDA")
        .expect("run through scripts/test.sh: AWS_ENDPOINT_URL_LAMBDA is not set");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    for (k, v) in [
        (
            "AWS_LAMBDA_RUNTIME_API",
            format!("{endpoint}/.rt/{FUNCTION}"),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION.into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
    ] {
        std::env::set_var(k, v);
    }
    std::env::remove_var("_X_AMZN_TRACE_ID");
    let env_before: Vec<(String, String)> = std::env::vars().collect();
    let serving = tokio::spawn(lock_fn::lambda::invocation_loop::run(handler));

    let (status, answer) = invoke(&endpoint, &json!({"n": 1})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["echo"], json!({"n": 1}));
    assert!(answer["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    // The emulator answers function errors with HTTP 500 and the error JSON (real Lambda: 200 +
    // X-Amz-Function-Error); either way the errorType is the handler's.
    let (status, answer) = invoke(&endpoint, &json!({"fail": "LockBusy"})).await;
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["errorType"], "LockBusy", "{answer}");

    let (status, answer) = invoke(&endpoint, &json!({"panic": true})).await;
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["errorType"], "Panic", "{answer}");
    assert_eq!(answer["errorMessage"], "asked to panic", "{answer}");

    for n in 2..50 {
        let (status, answer) = invoke(&endpoint, &json!({ "n": n })).await;
        assert_eq!((status, &answer["echo"]), (200, &json!({ "n": n })));
    }
    assert!(
        !serving.is_finished(),
        "the loop outlives errors and panics"
    );

    // Work started after the answer is done before the instance asks for its next invocation
    // (from then on Lambda may freeze it): the next invocation, sent at once, already sees it.
    let (status, _) = invoke(&endpoint, &json!({"after": true})).await;
    assert_eq!(status, 200);
    assert!(
        !AFTER_DONE.load(Ordering::SeqCst),
        "answered before the work is done"
    );
    ANSWER_SEEN.notify_one();
    let (_, answer) = invoke(&endpoint, &json!({"after_done": true})).await;
    assert_eq!(
        answer["after_done"], true,
        "the next invocation came before the work after the answer was done: {answer}"
    );
    let written: Vec<(String, String)> = std::env::vars()
        .filter(|kv| !env_before.contains(kv))
        .collect();
    assert!(
        written.is_empty(),
        "the loop must never write the environment (each new _X_AMZN_TRACE_ID leaks in glibc): {written:?}"
    );
    serving.abort();
}
