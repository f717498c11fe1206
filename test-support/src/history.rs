//! A checker for lock histories: no two grants overlap by the function's clock and fences rise.
//!
//! Every grant a test (or an auditor) observed is recorded as an interval on lock-fn's clock: it begins
//! at `acquired_at_ms` and ends at the release time the function reported, or at `expires_at_ms` when
//! the holder did not release in time. Because the acquire condition compares against exactly these
//! stored values, a correct lock never yields two intervals that overlap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use lock_protocol::Grant;

/// One observed grant on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantRecord {
    /// The grant's fencing token.
    pub fence: u64,
    /// Lease start, epoch ms (function clock).
    pub acquired_at_ms: u64,
    /// Lease end: the release time when released in time, else the (last renewed) expiry.
    pub ended_at_ms: u64,
}

impl GrantRecord {
    /// `grant` as ended by its release: at `released_at_ms` (the function's release time) when the
    /// release ended it in time, else (`None`) at its (last renewed) expiry.
    pub fn ended_by(grant: &Grant, released_at_ms: Option<u64>) -> GrantRecord {
        GrantRecord {
            fence: grant.fence,
            acquired_at_ms: grant.acquired_at_ms,
            ended_at_ms: released_at_ms.unwrap_or(grant.expires_at_ms),
        }
    }
}

/// A broken invariant: the two grants involved, in grant order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What is wrong.
    pub reason: &'static str,
    /// The earlier grant.
    pub first: GrantRecord,
    /// The later grant.
    pub second: GrantRecord,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {:?} then {:?}",
            self.reason, self.first, self.second
        )
    }
}

impl std::error::Error for Violation {}

/// Checks one resource's grants; `Ok` carries how many were checked.
///
/// ```
/// use test_support::history::{check, GrantRecord};
/// let a = GrantRecord { fence: 1, acquired_at_ms: 0, ended_at_ms: 10 };
/// let b = GrantRecord { fence: 2, acquired_at_ms: 10, ended_at_ms: 20 };
/// assert_eq!(check(&[b, a]), Ok(2));
/// let overlapping = GrantRecord { fence: 3, acquired_at_ms: 15, ended_at_ms: 30 };
/// assert!(check(&[a, b, overlapping]).is_err());
/// ```
///
/// Sorted by start time, each grant must begin no earlier than the previous one ended, and carry a
/// strictly greater fence. Two grants with the same fence are a double grant.
pub fn check(records: &[GrantRecord]) -> Result<usize, Violation> {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|r| (r.acquired_at_ms, r.fence));
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.fence == b.fence {
            return Err(Violation {
                reason: "one fence granted twice",
                first: a,
                second: b,
            });
        }
        if b.acquired_at_ms < a.ended_at_ms {
            return Err(Violation {
                reason: "grants overlap",
                first: a,
                second: b,
            });
        }
        if b.fence < a.fence {
            return Err(Violation {
                reason: "fence went down",
                first: a,
                second: b,
            });
        }
    }
    Ok(sorted.len())
}

/// Checks one semaphore's grants: fences strictly rise in grant order (no fence twice) and at no
/// instant do more than `limit` grants overlap. `Ok` carries how many were checked and the most
/// that ever overlapped.
///
/// ```
/// use test_support::history::{check_limit, GrantRecord};
/// let g = |fence, acquired_at_ms, ended_at_ms| GrantRecord { fence, acquired_at_ms, ended_at_ms };
/// assert_eq!(check_limit(&[g(1, 0, 10), g(2, 5, 20), g(3, 10, 30)], 2), Ok((3, 2)));
/// assert!(check_limit(&[g(1, 0, 10), g(2, 5, 20), g(3, 6, 30)], 2).is_err());
/// ```
pub fn check_limit(records: &[GrantRecord], limit: usize) -> Result<(usize, usize), Violation> {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|r| (r.acquired_at_ms, r.fence));
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.fence >= b.fence {
            return Err(Violation {
                reason: if a.fence == b.fence {
                    "one fence granted twice"
                } else {
                    "fence went down"
                },
                first: a,
                second: b,
            });
        }
    }
    // Sweep: at each grant's start, count the grants still running (ended strictly later).
    let mut most = 0;
    for (i, b) in sorted.iter().enumerate() {
        let running: Vec<&GrantRecord> = sorted[..i]
            .iter()
            .filter(|a| a.ended_at_ms > b.acquired_at_ms)
            .collect();
        if running.len() + 1 > limit {
            return Err(Violation {
                reason: "more holders than the limit",
                first: *running[0],
                second: *b,
            });
        }
        most = most.max(running.len() + 1);
    }
    Ok((sorted.len(), most))
}

/// A thread-safe collector of one resource's grants, for tests, benchmarks and audits.
#[derive(Debug, Default)]
pub struct History {
    records: Mutex<Vec<GrantRecord>>,
    lost: AtomicUsize,
    unknown_end: AtomicUsize,
}

impl History {
    /// Records `grant` as ended by its release: at `released_at_ms` when the release ended it in
    /// time, else at its expiry (and counts it as lost).
    pub fn record(&self, grant: &Grant, released_at_ms: Option<u64>) {
        if released_at_ms.is_none() {
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
        self.push(GrantRecord::ended_by(grant, released_at_ms));
    }

    /// Records a grant whose end cannot be known: its release answer was lost to the caller and a
    /// later attempt could no longer tell. What is still knowable is checked: its start, its fence,
    /// and that it lasted at least until `release_sent_ms` (when its holder first sent the release,
    /// on lock-fn's clock) or its lease end, whichever came first - no other grant may start before.
    pub fn record_unknown_end(&self, grant: &Grant, release_sent_ms: u64) {
        self.unknown_end.fetch_add(1, Ordering::SeqCst);
        self.push(GrantRecord {
            fence: grant.fence,
            acquired_at_ms: grant.acquired_at_ms,
            ended_at_ms: release_sent_ms
                .min(grant.expires_at_ms)
                .max(grant.acquired_at_ms),
        });
    }

    fn push(&self, record: GrantRecord) {
        self.records.lock().expect("history lock").push(record);
    }

    /// How many grants were recorded with [`History::record_unknown_end`].
    pub fn unknown_ends(&self) -> usize {
        self.unknown_end.load(Ordering::SeqCst)
    }

    /// How many recorded grants ran out before their release.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }

    /// Checks everything recorded so far with [`check_limit`].
    pub fn check_limit(&self, limit: usize) -> Result<(usize, usize), Violation> {
        check_limit(&self.records.lock().expect("history lock"), limit)
    }

    /// Everything recorded so far.
    pub fn records(&self) -> Vec<GrantRecord> {
        self.records.lock().expect("history lock").clone()
    }

    /// Checks everything recorded so far with [`check`].
    pub fn check(&self) -> Result<usize, Violation> {
        check(&self.records.lock().expect("history lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(fence: u64, start: u64, end: u64) -> GrantRecord {
        GrantRecord {
            fence,
            acquired_at_ms: start,
            ended_at_ms: end,
        }
    }

    #[test]
    fn back_to_back_grants_with_rising_fences_pass() {
        assert_eq!(check(&[g(3, 20, 30), g(1, 0, 10), g(2, 10, 20)]), Ok(3));
    }

    #[test]
    fn a_semaphore_history_may_overlap_up_to_its_limit() {
        let ok = [g(1, 0, 10), g(2, 1, 10), g(3, 10, 20), g(4, 11, 12)];
        assert_eq!(check_limit(&ok, 2), Ok((4, 2)));
        assert_eq!(
            check_limit(&[g(1, 0, 10), g(2, 1, 10), g(3, 9, 20)], 2)
                .unwrap_err()
                .reason,
            "more holders than the limit"
        );
        assert_eq!(
            check_limit(&[g(2, 0, 10), g(1, 1, 10)], 3)
                .unwrap_err()
                .reason,
            "fence went down"
        );
    }

    #[test]
    fn each_kind_of_violation_is_caught() {
        assert_eq!(
            check(&[g(1, 0, 10), g(2, 9, 20)]).unwrap_err().reason,
            "grants overlap"
        );
        assert_eq!(
            check(&[g(2, 0, 10), g(1, 10, 20)]).unwrap_err().reason,
            "fence went down"
        );
        assert_eq!(
            check(&[g(1, 0, 10), g(1, 10, 20)]).unwrap_err().reason,
            "one fence granted twice"
        );
    }
}
