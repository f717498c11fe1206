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
/// until it listens.
pub async fn start_watch(workspace: &str, port: u16) -> Child {
    let watch = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .current_dir(workspace)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start cargo lambda watch");
    wait_port(port).await;
    watch
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
