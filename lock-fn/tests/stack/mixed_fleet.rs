//! Mixed fleet: the real Python dynamo-dlm 1.0.0 package and lock-fn on one dynalite table, both ways.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use lock_fn::world::clock::{ceil_secs, now_ms};
use serde_json::Value;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct Peer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

/// Starts a dynamo-dlm 1.0.0 client (see tests/py/dlm_peer.py).
fn peer(table: &str, resource: &str, duration_s: u64, hold_s: f64, mode: &str) -> Peer {
    let python = std::env::var("DLM_PY_DLM1")
        .expect("DLM_PY_DLM1 (python with dynamo-dlm 1.0.0): run via scripts/test.sh");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/dlm_peer.py");
    let mut child = Command::new(python)
        .args([
            script,
            table,
            resource,
            &duration_s.to_string(),
            &hold_s.to_string(),
            mode,
        ])
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynalite_endpoint())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Peer { child, lines }
}

impl Peer {
    /// Waits for the next event line and returns its `at_ms`.
    async fn event(&mut self, name: &str) -> u64 {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {name} event in 30 s"))
            .unwrap()
            .unwrap_or_else(|| panic!("python exited before {name}"));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], name, "{line}");
        v["at_ms"].as_u64().unwrap()
    }

    async fn finish(mut self) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "python peer failed: {status}");
    }
}

#[tokio::test]
async fn dynamo_dlm_holder_is_honoured_until_it_releases() {
    let (engine, _, table) = dynalite_engine().await;
    let mut py = peer(&table, "shared", 10, 1.0, "release");
    py.event("acquired").await;
    let busy = refused(&engine, acq("shared", 1000, None)).await;
    assert_eq!(busy.resource_id, "shared");
    let released = py.event("released").await;
    py.finish().await;
    let g = granted(&engine, acq("shared", 1000, None)).await;
    assert!(g.acquired_at_ms >= released);
}

#[tokio::test]
async fn dynamo_dlm_lease_is_honoured_until_its_whole_second_expiry() {
    let (engine, _, table) = dynalite_engine().await;
    let mut py = peer(&table, "shared", 2, 0.0, "expire");
    let acquired = py.event("acquired").await;
    py.finish().await;
    refused(&engine, acq("shared", 1000, None)).await;
    let req = lock_protocol::AcquireRequest {
        wait_ms: 5_000,
        ..acq("shared", 1000, None)
    };
    let g = granted(&engine, req).await;
    // dynamo-dlm wrote expires = int(time) + 2: its lease ends on that whole second, not before.
    let python_end = (acquired / 1000 + 2) * 1000;
    assert!(
        g.acquired_at_ms >= python_end,
        "took over at {} but the python lease ran to {python_end}",
        g.acquired_at_ms
    );
}

#[tokio::test]
async fn dynamo_dlm_waits_for_our_lease_to_end() {
    let (engine, _, table) = dynalite_engine().await;
    let ours = granted(&engine, acq("shared", 1500, None)).await;
    let mut py = peer(&table, "shared", 5, 0.0, "release");
    let theirs = py.event("acquired").await;
    py.finish().await;
    assert!(
        theirs >= ceil_secs(ours.expires_at_ms) * 1000 - 1,
        "python acquired at {theirs}, our lease ran to {}",
        ours.expires_at_ms
    );
    assert!(!release(&engine, "shared", &ours.owner).await.released);
}

#[tokio::test]
async fn dynamo_dlm_gets_the_lock_as_soon_as_we_release() {
    let (engine, _, table) = dynalite_engine().await;
    let ours = granted(&engine, acq("shared", 60_000, None)).await;
    let mut py = peer(&table, "shared", 5, 0.0, "release");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rel = release(&engine, "shared", &ours.owner).await;
    assert!(rel.released);
    let theirs = py.event("acquired").await;
    py.finish().await;
    assert!(
        theirs < ours.expires_at_ms - 50_000,
        "python waited for the lease instead of the release"
    );
    assert!(theirs + 1 >= rel.released_at_ms.unwrap() / 1000 * 1000);
    // Our next grant after dynamo-dlm deleted the item still gets a higher fence: it restarts at
    // the clock floor (acquired_at_ms x 1000), above every fence of the item's earlier life.
    let next = granted(&engine, acq("shared", 1000, None)).await;
    assert!(next.fence > ours.fence);
    assert!(
        next.fence > next.acquired_at_ms * lock_fn::model::fence::FENCE_FLOOR_PER_MS,
        "a fence-less item restarts at the clock floor: {next:?}"
    );
    assert_eq!(lock_fn::model::fence::FENCE_FLOOR_PER_MS, 1000);
    assert!(next.acquired_at_ms <= now_ms());
}
