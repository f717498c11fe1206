//! The client's own Invoke API transport (reqwest + aws-sigv4) sends what aws-sdk-lambda sends, and
//! signs it so that an independent SigV4 implementation (botocore's, the one boto3 callers use)
//! computes the same signature. No local part checks signatures (the emulator ignores them), so
//! this is the test that a real Lambda endpoint would accept the client's requests.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A function ARN: its `:`s are escaped in the path, and signed escaped twice.
const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:dlm-lock:live";

/// One request as it arrived.
#[derive(Debug, Clone)]
struct Captured {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Captured {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP endpoint that records each request and answers it with HTTP 200 and `answer(request)`.
async fn capture(
    answer: impl Fn(&Captured) -> Value + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Captured>>>) {
    let answer = Arc::new(answer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (recorded, answer) = (recorded.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = conn.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "the request ended early");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap().split(' ');
                let (method, path) = (first.next().unwrap(), first.next().unwrap());
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < length {
                    let n = conn.read(&mut chunk).await.unwrap();
                    body.extend_from_slice(&chunk[..n]);
                }
                let request = Captured {
                    method: method.into(),
                    path: path.into(),
                    headers,
                    body,
                };
                let answer = answer(&request).to_string();
                recorded.lock().unwrap().push(request);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                conn.write_all(response.as_bytes()).await.unwrap();
            });
        }
    });
    (endpoint, seen)
}

fn credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session/token+with=odd&chars".into()),
        None,
        "tests",
    )
}

fn config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials()),
        )
        .endpoint_url(endpoint)
        .build()
}

/// What botocore's SigV4 computes for `request`, at the request's own `x-amz-date`, over the
/// headers the request says it signed.
fn botocore_signature(request: &Captured, endpoint: &str) -> String {
    let python = std::env::var("DLM_PY_TOOLS")
        .expect("DLM_PY_TOOLS (a Python with boto3; `source scripts/env.sh`)");
    let authorization = request.header("authorization").expect("signed");
    let signed: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    let headers: serde_json::Map<String, Value> = signed
        .iter()
        .map(|h| {
            (
                h.to_string(),
                json!(request.header(h).expect("a signed header was sent")),
            )
        })
        .collect();
    let c = credentials();
    let input = json!({
        "method": request.method,
        "url": format!("{endpoint}{}", request.path),
        "headers": headers,
        "body": String::from_utf8(request.body.clone()).unwrap(),
        "key": c.access_key_id(), "secret": c.secret_access_key(), "token": c.session_token(),
    });
    let script = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
i = json.load(sys.stdin)
req = AWSRequest(method=i["method"], url=i["url"], data=i["body"].encode(), headers=i["headers"])
req.context["timestamp"] = i["headers"]["x-amz-date"]
auth = SigV4Auth(Credentials(i["key"], i["secret"], i["token"]), "lambda", "us-east-1")
canonical = auth.canonical_request(req)
print(auth.signature(auth.string_to_sign(req, canonical), req))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run botocore");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "botocore failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test]
async fn requests_go_where_the_sdk_sends_them_signed_as_botocore_signs() {
    let (endpoint, seen) = capture(|_| json!({"acquired": false})).await;
    let ours = lock_client::LockClient::new(&config(&endpoint), FUNCTION);
    let payload = json!({"op": "describe", "resource_id": "orders/42 ü"});
    let answer: Value = ours.raw().invoker().call_raw(&payload).await.unwrap();
    assert_eq!(answer, json!({"acquired": false}));

    let sdk = aws_sdk_lambda::Client::new(&config(&endpoint));
    sdk.invoke()
        .function_name(FUNCTION)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap();

    let seen = seen.lock().unwrap().clone();
    let [ours, sdk] = &seen[..] else {
        panic!("{seen:?}")
    };
    assert_eq!((&ours.method, &ours.path), (&sdk.method, &sdk.path));
    assert_eq!(
        ours.path,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Adlm-lock%3Alive/invocations"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&ours.body).unwrap(),
        payload
    );
    assert_eq!(
        ours.header("x-amz-security-token"),
        sdk.header("x-amz-security-token")
    );
    let authorization = ours.header("authorization").unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && authorization.contains("/us-east-1/lambda/aws4_request"),
        "{authorization}"
    );
    let signature = authorization.rsplit("Signature=").next().unwrap();
    assert_eq!(signature, botocore_signature(ours, &endpoint));
    // The SDK's own request checks out the same way, and a request changed after signing does not.
    let sdk_signature = sdk
        .header("authorization")
        .unwrap()
        .rsplit("Signature=")
        .next()
        .unwrap();
    assert_eq!(sdk_signature, botocore_signature(sdk, &endpoint));
    let mut tampered = ours.clone();
    tampered.body = br#"{"op":"release"}"#.to_vec();
    assert_ne!(signature, botocore_signature(&tampered, &endpoint));
}

/// `dlm` (`LockClient::from_env`) on a machine whose credentials come from a container credentials
/// endpoint (ECS, EKS Pod Identity): aws-config fetches them through the client's own HTTP client
/// (it has no other), and the invoke is signed with them.
#[tokio::test]
async fn from_env_fetches_container_credentials_through_reqwest_and_signs_with_them() {
    let (endpoint, seen) = capture(|r| {
        if r.path == "/creds" {
            json!({"AccessKeyId": "ASIACONTAINER", "SecretAccessKey": "s3cr3t",
                   "Token": "container-token", "Expiration": "2099-01-01T00:00:00Z"})
        } else {
            json!({"resource_id": "orders/42", "held": false, "owner": null,
                   "fence": null, "expires_at_ms": null})
        }
    })
    .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_dlm"))
        .args(["status", "orders/42"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ENDPOINT_URL_LAMBDA", &endpoint)
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{endpoint}/creds"),
        )
        .env("DLM_FUNCTION", "lock-fn")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/creds", "/2015-03-31/functions/lock-fn/invocations"],
        "{seen:?}"
    );
    let invoke = &seen[1];
    assert!(
        invoke
            .header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=ASIACONTAINER/")
            && invoke
                .header("authorization")
                .unwrap()
                .contains("/eu-west-1/lambda/"),
        "{invoke:?}"
    );
    assert_eq!(
        invoke.header("x-amz-security-token"),
        Some("container-token")
    );
}
