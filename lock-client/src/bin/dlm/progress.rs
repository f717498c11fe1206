//! Waiting progress on stderr, shown only when stderr is a terminal.

use std::cell::Cell;
use std::io::Write;

use lock_client::protocol::now_ms;
use lock_client::WaitProgress;

/// Redraws one status line while waiting.
pub struct Progress {
    enabled: bool,
    drawn: Cell<bool>,
}

impl Progress {
    /// A progress line; silent unless `enabled`.
    pub fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            drawn: Cell::new(false),
        }
    }

    /// Shows the latest state.
    pub fn update(&self, p: &WaitProgress) {
        if !self.enabled {
            return;
        }
        let until = p.holder_expires_at_ms.map(until).unwrap_or_default();
        let place = p
            .position
            .map(|n| format!(", number {n} in the queue"))
            .unwrap_or_default();
        eprint!(
            "\r\x1b[2Kwaiting for lock {:?}: {:.1}s elapsed{place}{until}",
            p.resource_id,
            p.elapsed.as_secs_f64()
        );
        let _ = std::io::stderr().flush();
        self.drawn.set(true);
    }

    /// Ends the status line.
    pub fn finish(&self) {
        if self.drawn.get() {
            eprintln!();
        }
    }
}

/// ", holder's lease ends in 1.2s" for a lease end in epoch ms.
pub fn until(expires_at_ms: u64) -> String {
    let left = expires_at_ms.saturating_sub(now_ms());
    format!(", holder's lease ends in {:.1}s", left as f64 / 1000.0)
}
