//! Work that runs after an invocation's answer and before the instance asks for its next one.
//!
//! Lambda freezes an execution environment once it asks the Runtime API for its next invocation
//! and thaws it only when one comes (maybe never): a task merely spawned when the handler returns
//! may never run. Tasks started with [`spawn`] run beside the answer's delivery, and the invocation
//! loop awaits them all ([`finish`]) before it asks for the next invocation.

use std::future::Future;
use std::sync::Mutex;

use tokio::task::JoinHandle;

static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Runs `work` as a task of its own on the current runtime, finished before this instance takes
/// its next invocation. Outside a runtime it does nothing (the work is best effort).
pub fn spawn(work: impl Future<Output = ()> + Send + 'static) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let handle = runtime.spawn(work);
    let mut pending = PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // A caller that never finishes (an engine outside the invocation loop) keeps no finished ones.
    pending.retain(|task| !task.is_finished());
    pending.push(handle);
}

/// Awaits every task [`spawn`] started (bounded by the work itself: each carries its deadline).
pub async fn finish() {
    loop {
        let pending = std::mem::take(
            &mut *PENDING
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if pending.is_empty() {
            return;
        }
        for task in pending {
            // A task that panicked has nothing left to do.
            let _ = task.await;
        }
    }
}
