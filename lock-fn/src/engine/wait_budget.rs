//! The in-function waiting budget: at most `LOCK_WAIT_BUDGET` invocations of the function wait
//! in-function at once, all locks together. A wait is an instance taken from the function; with
//! every instance waiting, releases, renewals, claims and cancels would queue behind the waits
//! (`cargo lambda watch`) or be throttled (Lambda at its reserved concurrency), and the waits would
//! starve the very operations that end them. Every wait beyond the budget is answered at once with
//! a hint of when to come back.
//!
//! The budget is a set of slot items in the lock table (`.lock-fn/wait-slot/<k>`, k < budget),
//! each held by one waiting invocation until its wait ends (or, should the instance die, until the
//! wait's end plus a margin): taking one is one conditional write on a slot picked at random (and
//! its neighbour when that one is taken), giving it back one more.

use lock_protocol::RESERVED_RESOURCE_PREFIX;
use tracing::warn;

use crate::engine::LockEngine;
use crate::write::expr::{at, num, text, Cmp, Cond, Path, Write};

/// A slot of the waiting budget, held by this invocation.
#[derive(Debug)]
pub(crate) struct WaitSlot {
    key: String,
    nonce: String,
}

/// The slot is free, or its holder's wait is over - or it is this invocation's already (an earlier
/// attempt applied, its answer lost).
#[cfg(test)]
pub const SLOT_FREE: &str =
    "attribute_not_exists(wait_until) OR wait_until <= :now_ms OR wait_by = :nonce";
/// The holder takes the slot until its wait ends.
#[cfg(test)]
pub const SLOT_TAKE: &str = "SET wait_until = :until, wait_by = :nonce";
/// The slot is still this invocation's.
#[cfg(test)]
pub const SLOT_MINE: &str = "wait_by = :nonce";
/// The holder gives the slot back.
#[cfg(test)]
pub const SLOT_GIVE_BACK: &str = "REMOVE wait_until, wait_by";

/// A slot outlives its holder's wait by this much (a holder that died mid-wait frees it then).
const SLOT_MARGIN_MS: u64 = 1_000;

/// The resource id of budget slot `k`.
pub fn slot_key(k: usize) -> String {
    format!("{RESERVED_RESOURCE_PREFIX}wait-slot/{k}")
}

impl LockEngine {
    /// How many of a lock's first places may wait in-function: `LOCK_ACTIVE_WAITERS`, but never
    /// more than the whole function's budget.
    pub(crate) fn in_function_places(&self) -> usize {
        let active = self.config.active_waiters;
        self.config.wait_budget.map_or(active, |b| active.min(b))
    }

    /// Makes sure this invocation holds a slot of the waiting budget for a wait until `until_ms`
    /// (taking one when it has none); `false` when the budget is spent (or the store cannot say):
    /// the caller answers at once instead of waiting. `requests` counts what it took.
    pub(crate) async fn hold_wait_slot(
        &self,
        slot: &mut Option<WaitSlot>,
        until_ms: u64,
        stop_at: Option<u64>,
        requests: &mut u32,
    ) -> bool {
        let Some(budget) = self.config.wait_budget else {
            return true;
        };
        if slot.is_some() {
            return true;
        }
        if budget == 0 {
            return false;
        }
        let nonce = self.store.fresh_token();
        // The slot this instance gave back last is most likely free (one invocation at a time per
        // instance): try it first, then a random other one.
        let first = self
            .last_wait_slot()
            .filter(|k| *k < budget)
            .unwrap_or_else(|| fastrand::usize(..budget));
        let second = (first + 1 + fastrand::usize(..budget.max(2) - 1)) % budget;
        for k in [first, second].into_iter().take(budget.min(2)) {
            let key = slot_key(k);
            let until = until_ms.saturating_add(SLOT_MARGIN_MS);
            let taken = self
                .store
                .apply("wait_slot", &key, stop_at, |now| {
                    take_slot(&nonce, until, now)
                })
                .await;
            match taken {
                Ok(write) => {
                    *requests += write.attempts;
                    if write.value.is_ok() {
                        self.remember_wait_slot(k);
                        *slot = Some(WaitSlot { key, nonce });
                        return true;
                    }
                }
                Err(e) => {
                    warn!(slot = %key, error = %e, "could not take a waiting slot; answering at once");
                    return false;
                }
            }
        }
        false
    }

    /// Gives the slot back, off the answer's path: the write runs as a task of its own beside the
    /// answer's delivery, finished before the instance asks for its next invocation (Lambda may
    /// freeze the environment from then on: see [`crate::engine::after_answer`]), so the grant a wait ends
    /// with is answered one write sooner. Best effort: a slot not given back (the write failed, the
    /// invocation's deadline passed) frees itself when its wait is over plus a second.
    pub(crate) fn give_back_wait_slot(&self, slot: Option<WaitSlot>, stop_at: Option<u64>) {
        let Some(WaitSlot { key, nonce }) = slot else {
            return;
        };
        let store = self.store.clone();
        crate::engine::after_answer::spawn(async move {
            if let Err(e) = store
                .apply("wait_slot", &key, stop_at, |_| give_back(&nonce))
                .await
            {
                warn!(slot = %key, error = %e, "could not give a waiting slot back; it frees itself");
            }
        });
    }
}

/// `SLOT_FREE`, then `SLOT_TAKE`.
fn take_slot(nonce: &str, until: u64, now: u64) -> Write {
    Write::default()
        .set(Path::attr("wait_until"), num("until", until))
        .set(Path::attr("wait_by"), text("nonce", nonce))
        .require(Cond::Or(vec![
            Cond::NotExists(Path::attr("wait_until")),
            Cond::cmp(at("wait_until"), Cmp::Le, num("now_ms", now)),
            Cond::eq(at("wait_by"), text("nonce", nonce)),
        ]))
}

/// `SLOT_MINE`, then `SLOT_GIVE_BACK`.
fn give_back(nonce: &str) -> Write {
    Write::default()
        .remove(Path::attr("wait_until"))
        .remove(Path::attr("wait_by"))
        .require(Cond::eq(at("wait_by"), text("nonce", nonce)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the in-memory table: one holder per slot; its own retry and a holder after the wait's
    /// end take it; only the holder gives it back.
    #[test]
    fn a_slot_has_one_holder_until_its_wait_ends_or_it_is_given_back() {
        use crate::store::memory::{Applied, MemoryTable};
        let mut table = MemoryTable::default();
        let key = slot_key(0);
        let mut take = |nonce: &str, until: u64, now: u64| {
            matches!(
                table.update("resource_id", &key, &take_slot(nonce, until, now)),
                Ok(Applied::Written(_))
            )
        };
        assert!(take("a", 100, 10), "a free slot");
        assert!(!take("b", 200, 50), "taken until 100");
        assert!(take("a", 100, 60), "the holder's own retry");
        assert!(!take("b", 200, 99), "still taken");
        assert!(take("b", 200, 100), "the wait is over");
        let mut give = |nonce: &str| {
            matches!(
                table.update("resource_id", &key, &give_back(nonce)),
                Ok(Applied::Written(_))
            )
        };
        assert!(!give("a"), "not a's any more");
        assert!(give("b"));
        assert!(!give("b"), "given back once");
        let mut take = |nonce: &str, until: u64, now: u64| {
            matches!(
                table.update("resource_id", &key, &take_slot(nonce, until, now)),
                Ok(Applied::Written(_))
            )
        };
        assert!(
            take("c", 300, 150),
            "free again before b's wait would have ended"
        );
    }

    #[test]
    fn slots_are_reserved_resources_and_their_writes_are_the_named_ones() {
        assert!(slot_key(3).starts_with(RESERVED_RESOURCE_PREFIX));
        let t = take_slot("n", 10, 5).render();
        assert_eq!(
            (t.update, t.condition),
            (SLOT_TAKE.to_string(), Some(SLOT_FREE.to_string()))
        );
        let g = give_back("n").render();
        assert_eq!(
            (g.update, g.condition),
            (SLOT_GIVE_BACK.to_string(), Some(SLOT_MINE.to_string()))
        );
    }
}
