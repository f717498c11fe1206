//! What operators count: grants, refusals, waits, handoffs, lost leases, queue depth, callbacks,
//! DynamoDB retries and throttles. Every layer records into one [`Metrics`] per engine; the Lambda
//! layer takes the counts after each invocation (its after-answer work included) and writes them
//! as CloudWatch Embedded Metric Format (`lambda/emf.rs`): no API call, no extra latency.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One metric lock-fn reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Grants made: by an acquire's write, or by a release handing the lock on (those are
    /// [`Metric::Handoffs`] too). An answer repeating a grant already made is not one.
    Grants,
    /// Acquires answered without a grant: busy, queued, or `LockBusy`.
    Refusals,
    /// Per acquire answered with a grant the owner did not hold before it: milliseconds from the
    /// request's arrival to the answer (in-function waits included; a waiter handed the lock while
    /// away is answered `reacquired` and not measured).
    WaitToGrant,
    /// Releases (and cancels) whose write handed the lock or a slot to the next waiter.
    Handoffs,
    /// Grants that ended by running out, not by a release: seen when a later grant takes over.
    LostLeases,
    /// Per join of a queue: the place taken (1 = head).
    QueueDepthAtJoin,
    /// Step Functions callbacks sent (`SendTaskSuccess` / `SendTaskFailure`), retries not counted.
    CallbackSends,
    /// Grants passed over because the waiting task was closed when it was woken.
    CallbackPassOvers,
    /// DynamoDB requests sent again after a throttle or a transient failure.
    StoreRetries,
    /// DynamoDB requests refused as throttled (capacity, request limits).
    StoreThrottles,
    /// DynamoDB requests refused because a caller's transaction held the item (a fenced
    /// transaction's check on the lock item): retried like throttles, but not a capacity problem.
    StoreConflicts,
}

impl Metric {
    /// Every metric, in the order they are reported.
    pub const ALL: [Metric; 11] = [
        Metric::Grants,
        Metric::Refusals,
        Metric::WaitToGrant,
        Metric::Handoffs,
        Metric::LostLeases,
        Metric::QueueDepthAtJoin,
        Metric::CallbackSends,
        Metric::CallbackPassOvers,
        Metric::StoreRetries,
        Metric::StoreThrottles,
        Metric::StoreConflicts,
    ];

    /// The metric's name in CloudWatch.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Grants => "Grants",
            Metric::Refusals => "Refusals",
            Metric::WaitToGrant => "WaitToGrant",
            Metric::Handoffs => "Handoffs",
            Metric::LostLeases => "LostLeases",
            Metric::QueueDepthAtJoin => "QueueDepthAtJoin",
            Metric::CallbackSends => "CallbackSends",
            Metric::CallbackPassOvers => "CallbackPassOvers",
            Metric::StoreRetries => "StoreRetries",
            Metric::StoreThrottles => "StoreThrottles",
            Metric::StoreConflicts => "StoreConflicts",
        }
    }

    /// The CloudWatch unit.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::WaitToGrant => "Milliseconds",
            _ => "Count",
        }
    }

    /// Whether each observation is reported as a value of its own (a distribution), not summed.
    pub fn is_distribution(self) -> bool {
        matches!(self, Metric::WaitToGrant | Metric::QueueDepthAtJoin)
    }
}

/// What was recorded since the last [`Metrics::take`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Summed metrics (only those recorded).
    pub totals: BTreeMap<Metric, u64>,
    /// Distributions: every value observed, in order.
    pub values: BTreeMap<Metric, Vec<f64>>,
    /// The resource of the invocation these counts belong to (see [`Metrics::begin`]).
    pub resource: Option<String>,
}

impl Counts {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty() && self.values.is_empty()
    }

    /// The sum for `metric` (a distribution's number of values).
    pub fn total(&self, metric: Metric) -> u64 {
        match self.values.get(&metric) {
            Some(v) => v.len() as u64,
            None => self.totals.get(&metric).copied().unwrap_or(0),
        }
    }
}

/// A shared recorder (cheap to clone; clones record into the same counts).
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Mutex<Counts>>);

impl Metrics {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds `n` to a summed metric.
    pub fn add(&self, metric: Metric, n: u64) {
        if n > 0 {
            *self.counts().totals.entry(metric).or_default() += n;
        }
    }

    /// Adds one to a summed metric.
    pub fn count(&self, metric: Metric) {
        self.add(metric, 1);
    }

    /// Records one value of a distribution.
    pub fn observe(&self, metric: Metric, value: f64) {
        self.counts().values.entry(metric).or_default().push(value);
    }

    /// Names the resource of the invocation that starts now (the per-resource dimension, when
    /// asked for); everything recorded until the next [`Metrics::take`] belongs to it.
    pub fn begin(&self, resource: &str) {
        self.counts().resource = Some(resource.to_string());
    }

    /// Everything recorded so far, leaving nothing behind.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_and_take_leaves_nothing() {
        let m = Metrics::default();
        let clone = m.clone();
        m.count(Metric::Grants);
        clone.add(Metric::Grants, 2);
        clone.add(Metric::Refusals, 0);
        m.observe(Metric::WaitToGrant, 5.0);
        m.observe(Metric::WaitToGrant, 7.0);
        m.begin("r");
        let c = m.take();
        assert_eq!(c.total(Metric::Grants), 3);
        assert_eq!(c.total(Metric::WaitToGrant), 2);
        assert_eq!(c.values[&Metric::WaitToGrant], [5.0, 7.0]);
        assert!(
            !c.totals.contains_key(&Metric::Refusals),
            "zero is not recorded"
        );
        assert_eq!(c.resource.as_deref(), Some("r"));
        assert!(m.take().is_empty());
        assert_eq!(m.take().resource, None);
    }

    #[test]
    fn names_are_distinct_and_units_known() {
        let names: std::collections::BTreeSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::WaitToGrant.unit(), "Milliseconds");
        assert_eq!(Metric::Grants.unit(), "Count");
        assert!(Metric::QueueDepthAtJoin.is_distribution());
        assert!(!Metric::LostLeases.is_distribution());
    }
}
