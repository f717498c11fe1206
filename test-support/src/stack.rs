//! The local stack, started one way for every suite: dynalite (DynamoDB), optionally moto (Step
//! Functions in server mode), `cargo lambda watch --only-lambda-apis` (the Lambda Invoke and
//! Runtime APIs) and prebuilt lock-fn (and echo-fn) processes, all on 127.0.0.1.
//!
//! `scripts/stack.sh` runs it through the `dlm-stack` binary (which leaves it running, with an env
//! file and PID files); the process fault suite (`dlm-faults`) keeps it in-process so that it can
//! kill and restart its parts.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::local_procs::{
    free_port, function_command, start_watch_logging, wait_port, workspace_dir,
};
use crate::lock_table::create_lock_table;

/// What to start.
#[derive(Debug, Clone)]
pub struct StackSpec {
    /// lock-fn processes serving `lock-fn` through the emulator.
    pub functions: usize,
    /// The lock-fn binary.
    pub lock_fn_bin: PathBuf,
    /// echo-fn processes (the benchmark's invoke floor) and their binary.
    pub echo: Option<(usize, PathBuf)>,
    /// dynalite's `cli.js`.
    pub dynalite_cli: PathBuf,
    /// Keep dynalite's data in this folder (so that it survives a restart); in memory when `None`.
    pub dynalite_path: Option<PathBuf>,
    /// moto's `moto_server`, to start it (in Step Functions server mode).
    pub moto_server: Option<PathBuf>,
    /// The lock table to create.
    pub table: String,
    /// Where the processes' output goes (one file each); discarded when `None`.
    pub log_dir: Option<PathBuf>,
    /// `RUST_LOG` for the function processes.
    pub rust_log: String,
    /// Ports to use instead of free ones (dynalite, emulator, moto).
    pub ports: (Option<u16>, Option<u16>, Option<u16>),
}

impl StackSpec {
    /// `functions` lock-fn processes of `lock_fn_bin` on an in-memory dynalite, nothing else.
    pub fn new(
        functions: usize,
        lock_fn_bin: impl Into<PathBuf>,
        dynalite_cli: impl Into<PathBuf>,
    ) -> Self {
        StackSpec {
            functions,
            lock_fn_bin: lock_fn_bin.into(),
            echo: None,
            dynalite_cli: dynalite_cli.into(),
            dynalite_path: None,
            moto_server: None,
            table: "dynamo_dlm_locks".into(),
            log_dir: None,
            rust_log: "error".into(),
            ports: (None, None, None),
        }
    }
}

/// A running stack. Its processes are killed when it is dropped, unless [`Stack::detach`]ed.
pub struct Stack {
    spec: StackSpec,
    dynalite_port: u16,
    watch_port: u16,
    moto_port: Option<u16>,
    dynalite: Option<Child>,
    watch: Option<Child>,
    moto: Option<Child>,
    functions: Vec<Option<Child>>,
    echo: Vec<Child>,
    /// Where lock-fn processes send DynamoDB requests, when not straight to dynalite.
    via: Option<String>,
}

impl Stack {
    /// Starts everything `spec` names, creates the lock table and waits until all listen.
    pub async fn start(spec: StackSpec) -> Stack {
        if let Some(dir) = &spec.log_dir {
            std::fs::create_dir_all(dir).expect("log folder");
        }
        let mut stack = Stack {
            dynalite_port: spec.ports.0.unwrap_or_else(free_port),
            watch_port: spec.ports.1.unwrap_or_else(free_port),
            moto_port: spec
                .moto_server
                .as_ref()
                .map(|_| spec.ports.2.unwrap_or_else(free_port)),
            spec,
            dynalite: None,
            watch: None,
            moto: None,
            functions: Vec::new(),
            echo: Vec::new(),
            via: None,
        };
        stack.start_dynalite().await;
        let dynamodb = crate::local_procs::dynamodb_client(&stack.dynamodb_endpoint());
        create_lock_table(&dynamodb, &stack.spec.table, false).await;
        let (out, err) = (stack.log("watch"), stack.log("watch"));
        let watch = start_watch_logging(&workspace_dir(), stack.watch_port, out, err).await;
        stack.watch = Some(watch);
        if let (Some(server), Some(port)) = (stack.spec.moto_server.clone(), stack.moto_port) {
            stack.moto = Some(start_moto(&server, port, stack.watch_port, stack.log("moto")).await);
        }
        for i in 0..stack.spec.functions {
            stack.functions.push(None);
            stack.start_function(i);
        }
        if let Some((n, bin)) = stack.spec.echo.clone() {
            for _ in 0..n {
                let mut command = function_command(
                    &bin.display().to_string(),
                    stack.watch_port,
                    "echo-fn",
                    &stack.dynamodb_endpoint(),
                );
                command
                    .stdout(stack.log("echo-fn"))
                    .stderr(stack.log("echo-fn"));
                stack.echo.push(command.spawn().expect("start echo-fn"));
            }
        }
        stack
    }

    /// A log file for `name` in the log folder (appended to), or nothing.
    fn log(&self, name: &str) -> Stdio {
        match &self.spec.log_dir {
            None => Stdio::null(),
            Some(dir) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{name}.log")))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        }
    }

    /// Starts dynalite (again, on its data when it has a path) and waits until it listens.
    pub async fn start_dynalite(&mut self) {
        let mut command = Command::new("node");
        command
            .arg(&self.spec.dynalite_cli)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &self.dynalite_port.to_string(),
            ])
            .args([
                "--createTableMs",
                "0",
                "--deleteTableMs",
                "0",
                "--updateTableMs",
                "0",
            ]);
        if let Some(path) = &self.spec.dynalite_path {
            std::fs::create_dir_all(path).expect("dynalite data folder");
            command.arg("--path").arg(path);
        }
        command
            .stdout(self.log("dynalite"))
            .stderr(self.log("dynalite"))
            .kill_on_drop(true);
        self.dynalite = Some(command.spawn().expect("start dynalite (node)"));
        wait_port(self.dynalite_port).await;
    }

    /// kill -9 of dynalite.
    pub async fn kill_dynalite(&mut self) {
        if let Some(mut d) = self.dynalite.take() {
            d.kill().await.ok();
        }
    }

    /// Starts lock-fn process `i` (again).
    pub fn start_function(&mut self, i: usize) {
        let dynamodb = self.via.clone().unwrap_or_else(|| self.dynamodb_endpoint());
        let mut command = function_command(
            &self.spec.lock_fn_bin.display().to_string(),
            self.watch_port,
            "lock-fn",
            &dynamodb,
        );
        command
            .env("LOCK_TABLE", &self.spec.table)
            .env("RUST_LOG", &self.spec.rust_log)
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            // The emulator's fixed pool is the function's concurrency, as a reserved concurrency
            // is on AWS: lock-fn sizes its in-function waiting budget from it.
            .env("LOCK_RESERVED_CONCURRENCY", self.spec.functions.to_string())
            .stdout(self.log(&format!("lock-fn-{}", i + 1)))
            .stderr(self.log(&format!("lock-fn-{}", i + 1)));
        if let Some(sfn) = self.sfn_endpoint() {
            command.env("AWS_ENDPOINT_URL_SFN", sfn);
        }
        self.functions[i] = Some(command.spawn().expect("start lock-fn"));
    }

    /// kill -9 of lock-fn process `i`.
    pub async fn kill_function(&mut self, i: usize) {
        if let Some(mut c) = self.functions[i].take() {
            c.kill().await.ok();
        }
    }

    /// Restarts every lock-fn process with its DynamoDB requests going to `endpoint` (a fault
    /// proxy, say).
    pub async fn route_functions_through(&mut self, endpoint: String) {
        self.via = Some(endpoint);
        for i in 0..self.functions.len() {
            self.kill_function(i).await;
            self.start_function(i);
        }
    }

    /// How many lock-fn processes the stack has.
    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    /// dynalite's endpoint.
    pub fn dynamodb_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.dynalite_port)
    }

    /// The Lambda Invoke API endpoint.
    pub fn lambda_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.watch_port)
    }

    /// moto's endpoint (Step Functions), when it runs.
    pub fn sfn_endpoint(&self) -> Option<String> {
        self.moto_port.map(|p| format!("http://127.0.0.1:{p}"))
    }

    /// The lock-fn processes' PIDs (alive ones).
    pub fn function_pids(&self) -> Vec<u32> {
        self.functions
            .iter()
            .flatten()
            .filter_map(Child::id)
            .collect()
    }

    /// Every process, named, with its PID.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let mut add = |name: String, c: &Option<Child>| {
            if let Some(pid) = c.as_ref().and_then(Child::id) {
                out.push((name, pid));
            }
        };
        add("dynalite".into(), &self.dynalite);
        add("watch".into(), &self.watch);
        add("moto".into(), &self.moto);
        for (i, f) in self.functions.iter().enumerate() {
            add(format!("lock-fn-{}", i + 1), f);
        }
        for (i, e) in self.echo.iter().enumerate() {
            if let Some(pid) = e.id() {
                out.push((format!("echo-fn-{}", i + 1), pid));
            }
        }
        out
    }

    /// The environment for clients, tests and `dlm` (`.stack/env`).
    pub fn env(&self) -> Vec<(String, String)> {
        // Not AWS_ENDPOINT_URL_SFN: in-process moto mocks (tests) must not be redirected; lock-fn
        // processes get it (moto's endpoint) when moto runs.
        let env = vec![
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb_endpoint()),
            ("AWS_ENDPOINT_URL_LAMBDA", self.lambda_endpoint()),
            ("DLM_TEST_DYNAMODB_ENDPOINT", self.dynamodb_endpoint()),
            (
                "DLM_TEST_MOTO_ENDPOINT",
                self.sfn_endpoint().unwrap_or_default(),
            ),
            ("DLM_FUNCTION", "lock-fn".into()),
            ("LOCK_TABLE", self.spec.table.clone()),
            (
                "DLM_LOCK_FN_BIN",
                self.spec.lock_fn_bin.display().to_string(),
            ),
        ];
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Leaves every process running after this value (and the program) is gone.
    pub fn detach(mut self) {
        let children = [self.dynalite.take(), self.watch.take(), self.moto.take()]
            .into_iter()
            .flatten()
            .chain(self.functions.drain(..).flatten())
            .chain(self.echo.drain(..));
        for child in children {
            std::mem::forget(child);
        }
    }
}

/// Starts `moto_server` on `port` in Step Functions server mode: state machines really execute, and
/// their `lambda:invoke` calls go to the emulator on `lambda_port` (moto sends them to
/// `localhost:$MOTO_PORT`, and sets `MOTO_PORT` only when it is unset).
async fn start_moto(server: &Path, port: u16, lambda_port: u16, log: Stdio) -> Child {
    let child = Command::new(server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_PORT", lambda_port.to_string())
        .stdout(log)
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start moto_server");
    wait_port(port).await;
    let body = r#"{"stepfunctions": {"execute_state_machine": true}}"#;
    crate::local_procs::http_post(port, "/moto-api/config", body).await;
    child
}
