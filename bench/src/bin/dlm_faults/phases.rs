//! The phases of the fault suite: which faults, and one report row per fault.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use test_support::fault_proxy::Faults;
use test_support::stack::Stack;

use crate::workers::{grants_in, Observed};

/// A process-level fault: which processes get kill -9.
#[derive(Clone, Copy)]
pub enum ProcessFault {
    OneFunction,
    AllFunctions,
    Dynalite,
}

impl ProcessFault {
    pub fn name(self) -> &'static str {
        match self {
            ProcessFault::OneFunction => "kill -9 one of 4 lock-fn processes",
            ProcessFault::AllFunctions => "kill -9 all lock-fn processes",
            ProcessFault::Dynalite => "kill -9 dynalite, restart on its data",
        }
    }
}

impl ProcessFault {
    /// kill -9 what the fault names.
    pub async fn kill(self, stack: &mut Stack) {
        match self {
            ProcessFault::OneFunction => stack.kill_function(0).await,
            ProcessFault::AllFunctions => {
                for i in 0..stack.function_count() {
                    stack.kill_function(i).await;
                }
            }
            ProcessFault::Dynalite => stack.kill_dynalite().await,
        }
    }

    /// Starts again what [`ProcessFault::kill`] killed.
    pub async fn restart(self, stack: &mut Stack) {
        match self {
            ProcessFault::OneFunction => stack.start_function(0),
            ProcessFault::AllFunctions => {
                (0..stack.function_count()).for_each(|i| stack.start_function(i))
            }
            ProcessFault::Dynalite => stack.start_dynalite().await,
        }
    }
}

/// Store faults the proxy between lock-fn and dynalite injects, one kind at a time.
pub fn store_faults() -> Vec<(&'static str, Faults)> {
    let none = Faults::default();
    vec![
        (
            "DynamoDB throttling 30%",
            Faults {
                throttle: 0.3,
                ..none
            },
        ),
        (
            "DynamoDB HTTP 500 20%",
            Faults {
                server_error: 0.2,
                ..none
            },
        ),
        ("connection resets 10%", Faults { reset: 0.1, ..none }),
        (
            "+40 ms latency 30%",
            Faults {
                slow: 0.3,
                latency: Duration::from_millis(40),
                ..none
            },
        ),
        (
            "writes applied, answers lost 20%",
            Faults {
                lose_answer: 0.2,
                ..none
            },
        ),
    ]
}

/// One report row per fault, with the window of grants it covers.
#[derive(Default)]
pub struct Phases {
    /// The rows, in order.
    pub rows: Vec<Value>,
    windows: Vec<(Instant, Instant)>,
    errors_before: BTreeMap<String, usize>,
}

impl Phases {
    /// Records a fault: grants/s in `before` (the fault's window), the time to the first grant
    /// after `recovered_at`, grants/s in the two seconds after, and the errors callers saw since
    /// the last row.
    pub fn record(
        &mut self,
        name: &str,
        before: (Instant, Instant),
        recovered_at: Instant,
        after: Option<Duration>,
        seen: &Observed,
    ) {
        let now = seen.errors.lock().unwrap().clone();
        let delta: BTreeMap<String, usize> = now
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v - self.errors_before.get(k).copied().unwrap_or(0),
                )
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        self.errors_before = now;
        let window = Duration::from_secs(2);
        let row = json!({
            "fault": name,
            "grants_per_s_before_or_during": grants_in(seen, before.0, before.1) as f64 / (before.1 - before.0).as_secs_f64(),
            "grants_per_s_after": grants_in(seen, recovered_at, recovered_at + window) as f64 / window.as_secs_f64(),
            "first_grant_after_recovery_ms": after.map(|d| d.as_millis() as u64),
            "errors_seen_by_callers": delta,
        });
        eprintln!("[faults] {row}");
        self.rows.push(row);
        self.windows.push((before.0, recovered_at + window));
    }

    /// Adds to each row how many grants of its window had an unknowable end (known only once every
    /// release answered: those that hung on a killed process end after the invoke timeout).
    pub fn count_unknown_ends(&mut self, seen: &Observed) {
        let unknown = seen.unknown_ends.lock().unwrap().clone();
        for (row, (from, to)) in self.rows.iter_mut().zip(&self.windows) {
            row["grants_with_unknown_end"] =
                json!(unknown.iter().filter(|t| *t >= from && *t < to).count());
        }
    }
}
