//! The simulator's Step Functions: callback tasks that wait for `SendTaskSuccess` or
//! `SendTaskFailure` until their `TimeoutSeconds`, and the faults a caller of those APIs sees - a
//! send delivered with its answer lost, a send that failed undelivered, a send delivered twice -
//! drawn from one seeded generator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    /// `SendTaskSuccess` with this output.
    Succeeded(String),
    /// `SendTaskFailure` with this error.
    Failed(String),
    /// Its timeout passed first.
    TimedOut,
}

/// What a send attempt saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSendError {
    /// `TaskTimedOut` / `TaskDoesNotExist`: the task is closed.
    Closed,
    /// Failed or unanswered: it may or may not have been delivered.
    Transient,
}

/// How often each fault strikes, per mille of sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskFaults {
    /// Delivered, and the answer lost.
    pub lost_answer: u32,
    /// Failed, not delivered.
    pub failed: u32,
    /// Delivered twice (the second finds the task closed).
    pub duplicated: u32,
}

#[derive(Debug)]
struct Task {
    timeout_at: tokio::time::Instant,
    end: Option<TaskEnd>,
    woken: Arc<Notify>,
}

#[derive(Debug)]
struct Inner {
    tasks: BTreeMap<String, Task>,
    rng: fastrand::Rng,
    faults: TaskFaults,
    sends: Vec<(String, tokio::time::Instant)>,
}

/// The simulated Step Functions task service.
#[derive(Debug)]
pub struct SimTasks {
    inner: Mutex<Inner>,
}

impl SimTasks {
    /// No tasks yet; faults drawn from `seed`.
    pub fn new(seed: u64, faults: TaskFaults) -> Arc<SimTasks> {
        Arc::new(SimTasks {
            inner: Mutex::new(Inner {
                tasks: BTreeMap::new(),
                rng: fastrand::Rng::with_seed(seed),
                faults,
                sends: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("the simulated tasks")
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: TaskFaults) {
        self.lock().faults = faults;
    }

    /// Every `SendTaskSuccess` attempt so far: the token, and when (faults or not, open task or
    /// not).
    pub fn sends(&self) -> Vec<(String, tokio::time::Instant)> {
        self.lock().sends.clone()
    }

    /// Opens a task with `token` that times out after `timeout`.
    pub fn open(&self, token: &str, timeout: Duration) {
        self.lock().tasks.insert(
            token.to_string(),
            Task {
                timeout_at: tokio::time::Instant::now() + timeout,
                end: None,
                woken: Arc::new(Notify::new()),
            },
        );
    }

    /// Closes the task with `token` as failed (its Lambda invoke failed: Step Functions fails the
    /// task, and later sends find it closed).
    pub fn close(&self, token: &str) {
        if let Some(t) = self.lock().tasks.get_mut(token) {
            t.end
                .get_or_insert(TaskEnd::Failed("Lambda.Unknown".into()));
        }
    }

    /// Waits until the task with `token` ends.
    pub async fn wait(&self, token: &str) -> TaskEnd {
        let (timeout_at, woken) = {
            let i = self.lock();
            let t = &i.tasks[token];
            if let Some(end) = &t.end {
                return end.clone();
            }
            (t.timeout_at, Arc::clone(&t.woken))
        };
        tokio::select! {
            biased;
            _ = woken.notified() => {}
            _ = tokio::time::sleep_until(timeout_at) => {}
        }
        let mut i = self.lock();
        let t = i.tasks.get_mut(token).expect("an opened task");
        t.end.get_or_insert(TaskEnd::TimedOut).clone()
    }

    /// One `SendTaskSuccess` (`Ok(output)`) or `SendTaskFailure` (`Err(error)`) attempt.
    pub async fn send(
        &self,
        token: &str,
        outcome: Result<String, String>,
    ) -> Result<(), TaskSendError> {
        let (latency, roll, f) = {
            let mut i = self.lock();
            if outcome.is_ok() {
                i.sends
                    .push((token.to_string(), tokio::time::Instant::now()));
            }
            (i.rng.u64(1..=10), i.rng.u32(0..1000), i.faults)
        };
        tokio::time::sleep(Duration::from_millis(latency)).await;
        if roll < f.failed {
            return Err(TaskSendError::Transient);
        }
        let delivered = self.deliver(token, outcome.clone());
        if roll < f.failed + f.lost_answer {
            return Err(TaskSendError::Transient);
        }
        if roll < f.failed + f.lost_answer + f.duplicated {
            let _ = self.deliver(token, outcome);
        }
        delivered
    }

    fn deliver(&self, token: &str, outcome: Result<String, String>) -> Result<(), TaskSendError> {
        let mut i = self.lock();
        let Some(t) = i.tasks.get_mut(token) else {
            return Err(TaskSendError::Closed);
        };
        if t.end.is_some() || tokio::time::Instant::now() >= t.timeout_at {
            t.end.get_or_insert(TaskEnd::TimedOut);
            return Err(TaskSendError::Closed);
        }
        t.end = Some(match outcome {
            Ok(output) => TaskEnd::Succeeded(output),
            Err(error) => TaskEnd::Failed(error),
        });
        t.woken.notify_one();
        Ok(())
    }
}
