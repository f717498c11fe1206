//! Where the write time goes: lock-fn's conditional writes against the bare dynamo-dlm ones, from the
//! same process to the same dynalite (used with `--only store` while tuning).

use std::time::Instant;

use lock_protocol::new_owner_token;
use serde_json::{json, Value};

use crate::cycle::bare_put;
use crate::env::Stack;
use crate::stats::summarize;

pub async fn run(stack: &Stack, table: &str, n: usize) -> Value {
    let store = lock_fn_store(stack, table);
    let (mut bare, mut ours, mut ours_release) = (Vec::new(), Vec::new(), Vec::new());
    let mut ours_marked = Vec::new();
    for _ in 0..n {
        let key = format!("cost/{}", new_owner_token());
        let t = Instant::now();
        bare_put(stack, table, &key, "o").await.unwrap();
        bare.push(t.elapsed());
        let key = format!("cost/{}", new_owner_token());
        let t = Instant::now();
        store
            .acquire(&key, "o", None, 10_000, None, None)
            .await
            .unwrap();
        ours.push(t.elapsed());
        let t = Instant::now();
        store
            .release(&key, "o", None, "n", u64::MAX, None)
            .await
            .unwrap();
        ours_release.push(t.elapsed());
        // The same single try with the cancel mark's condition (an owner's acquire carries its
        // start, `since`): what that condition costs the store, side by side.
        let key = format!("cost/{}", new_owner_token());
        let since = lock_fn::world::clock::now_ms();
        let t = Instant::now();
        store
            .acquire(&key, "o", None, 10_000, Some(since), None)
            .await
            .unwrap();
        ours_marked.push(t.elapsed());
    }
    json!({
        "bare_conditional_put": summarize(&bare),
        "lock_fn_acquire_update": summarize(&ours),
        "lock_fn_acquire_update_with_cancel_check": summarize(&ours_marked),
        "lock_fn_release_update": summarize(&ours_release),
        "n": n,
    })
}

fn lock_fn_store(stack: &Stack, table: &str) -> lock_fn::store::LockStore {
    lock_fn::store::LockStore::new(stack.dynamodb.clone(), table, 1)
}
