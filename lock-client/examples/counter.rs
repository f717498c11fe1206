//! Several tasks increment one counter under the lock, each passing its fence along.
//!
//! Run against the local stack:
//! `bash scripts/stack.sh up && source .stack/env && cargo run -p lock-client --example counter`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lock_client::{ClientError, LockClient};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let client = LockClient::from_env()
        .await?
        .with_duration(Duration::from_secs(5));
    let resource = format!("example/counter-{}", std::process::id());
    // (value, highest fence seen): a fenced store rejects writes with an older fence.
    let store = Arc::new(Mutex::new((0u32, 0u64)));
    let mut tasks = Vec::new();
    for task in 0..4 {
        let (client, resource, store) = (client.clone(), resource.clone(), store.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let guard = client.acquire(&resource).await?;
                {
                    let mut s = store.lock().unwrap();
                    assert!(guard.fence() > s.1, "a stale holder would be rejected here");
                    *s = (s.0 + 1, guard.fence());
                    println!("task {task}: counter -> {} (fence {})", s.0, guard.fence());
                }
                guard.release().await?;
            }
            Ok::<_, ClientError>(())
        }));
    }
    for t in tasks {
        t.await.expect("task panicked")?;
    }
    println!("final counter {}", store.lock().unwrap().0);
    Ok(())
}
