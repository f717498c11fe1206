//! Local processes for the benchmark binaries: free loopback ports, waiting for a listener, a
//! `cargo lambda watch` emulator (Lambda APIs only) on a given port, and function processes that
//! serve it.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to a minute) until something accepts connections on loopback `port`.
pub async fn wait_port(port: u16) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port}");
}

/// Starts `cargo lambda watch --only-lambda-apis` on 127.0.0.1:`port` (killed on drop) and waits
/// until it listens; quiet.
pub async fn start_watch(workspace: &str, port: u16) -> Child {
    start_watch_logging(workspace, port, Stdio::null(), Stdio::null()).await
}

/// [`start_watch`] with its output going to `stdout` and `stderr`. Panics when the emulator exits at
/// once (its port was taken meanwhile: [`start_private_watch`] picks another).
pub async fn start_watch_logging(
    workspace: &str,
    port: u16,
    stdout: Stdio,
    stderr: Stdio,
) -> Child {
    let mut watch = spawn_watch(workspace, port, stdout, stderr);
    wait_port(port).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        watch.try_wait().ok().flatten().is_none(),
        "cargo lambda watch exited at once: port {port} was taken"
    );
    watch
}

/// An emulator on a free port of its own: tests start several at once, and a port found free can
/// be taken by another before the emulator binds it (the emulator then exits, and the listener
/// seen is someone else's). Returns the emulator and its port.
pub async fn start_private_watch(workspace: &str) -> (Child, u16) {
    for _ in 0..10 {
        let port = free_port();
        let mut watch = spawn_watch(workspace, port, Stdio::null(), Stdio::null());
        wait_port(port).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if watch.try_wait().ok().flatten().is_none() {
            return (watch, port);
        }
    }
    panic!("could not start cargo lambda watch on a port of its own");
}

fn spawn_watch(workspace: &str, port: u16, stdout: Stdio, stderr: Stdio) -> Child {
    Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .current_dir(workspace)
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("start cargo lambda watch")
}

/// A function process (`bin`) serving `name` through the emulator on `watch_port`, its DynamoDB
/// requests going to `dynamodb`; quiet, killed on drop. Add settings, then spawn it.
pub fn function_command(bin: &str, watch_port: u16, name: &str, dynamodb: &str) -> Command {
    let mut command = Command::new(bin);
    command
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{watch_port}/.rt/{name}"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The workspace root (where `cargo lambda watch` must run).
pub fn workspace_dir() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the workspace")
        .display()
        .to_string()
}

/// The built lock-fn binary: `DLM_LOCK_FN_BIN` (the stack scripts export it), else `lock-fn` next
/// to the running test binary's profile folder (`target/<profile>/deps/..` -> `target/<profile>`).
pub fn lock_fn_binary() -> String {
    if let Ok(bin) = std::env::var("DLM_LOCK_FN_BIN") {
        return bin;
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile.join("lock-fn");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build -p lock-fn` (scripts/test.sh does)",
        bin.display()
    );
    bin.display().to_string()
}

/// A private Lambda: its own `cargo lambda watch` (Lambda APIs only) and `processes` lock-fn
/// processes whose DynamoDB requests go to `dynamodb` (for example a fault proxy), with extra
/// settings in `env`. Everything is killed when it is dropped.
pub struct LocalLambda {
    port: u16,
    _watch: Child,
    _functions: Vec<Child>,
}

impl LocalLambda {
    /// Starts the emulator and the function processes and waits until the emulator listens.
    pub async fn start(processes: usize, dynamodb: &str, env: &[(&str, &str)]) -> LocalLambda {
        LocalLambda::start_logging(processes, dynamodb, env, None).await
    }

    /// [`LocalLambda::start`], the function processes' stdout (where lock-fn writes its EMF
    /// metrics) appended to `stdout` when given.
    pub async fn start_logging(
        processes: usize,
        dynamodb: &str,
        env: &[(&str, &str)],
        stdout: Option<&std::path::Path>,
    ) -> LocalLambda {
        let (watch, port) = start_private_watch(&workspace_dir()).await;
        let bin = lock_fn_binary();
        let functions = (0..processes)
            .map(|_| {
                let mut command = function_command(&bin, port, "lock-fn", dynamodb);
                command
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "local")
                    .env("AWS_SECRET_ACCESS_KEY", "local")
                    // The emulator's fixed pool is the function's concurrency, as a reserved
                    // concurrency is on AWS: lock-fn sizes its in-function waiting budget from it.
                    .env("LOCK_RESERVED_CONCURRENCY", processes.to_string());
                for (k, v) in env {
                    command.env(k, v);
                }
                if let Some(path) = stdout {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open the function's log");
                    command.stdout(Stdio::from(file));
                }
                command.spawn().expect("start lock-fn")
            })
            .collect();
        LocalLambda {
            port,
            _watch: watch,
            _functions: functions,
        }
    }

    /// The Invoke API endpoint (`AWS_ENDPOINT_URL_LAMBDA` for clients).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A DynamoDB client for a local endpoint, with dummy credentials and SDK retries off.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "test-support",
        ))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// POSTs `body` (JSON) to `path` on loopback `port` and reads the answer (a minimal HTTP/1.1
/// client for local servers' admin APIs).
pub async fn http_post(port: u16, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok();
    answer
}
