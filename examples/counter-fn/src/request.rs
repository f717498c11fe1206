//! What an invocation is asked, and what it answers.

use serde::{Deserialize, Serialize};

/// Increment the counter `counter` by one, under the lock `counter/<counter>`.
#[derive(Debug, Clone, Deserialize)]
pub struct Increment {
    /// The counter's id (its item's key, and the lock's name).
    pub counter: String,
    /// Extra time spent working while holding the lock, between the read and the write (ms): to
    /// show what happens to slow holders.
    #[serde(default)]
    pub work_ms: u64,
    /// Fail after the read (the lock must still be released).
    #[serde(default)]
    pub fail: bool,
    /// Panic after the read (the lock must still be released).
    #[serde(default)]
    pub panic: bool,
}

impl Increment {
    /// The lock guarding this counter.
    pub fn lock_name(&self) -> String {
        format!("counter/{}", self.counter)
    }
}

/// The counter after this invocation's increment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incremented {
    /// The counter's id.
    pub counter: String,
    /// Its value after the increment.
    pub value: u64,
    /// The fence of the grant the increment was made under.
    pub fence: u64,
}
