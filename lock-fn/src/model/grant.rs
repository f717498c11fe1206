//! One model for the mutex and the semaphore: a resource has `limit` slots (1: a mutex), each held
//! by at most one grant. The two item layouts differ where they must - a mutex keeps its grant in
//! dynamo-dlm 1.0's attributes (`release_code`, `expires`) plus ours, a semaphore its N grants in
//! `sem_holders` - and are read here into the same [`Grant`], so that what is decided from a grant
//! (who holds, whose grant a release or renew names, who may be handed a slot) is written once.

use crate::model::item::LockItem;

/// One holder's grant, from either layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant<'a> {
    /// The holder's owner digest.
    pub digest: &'a str,
    /// The grant's fence.
    pub fence: u64,
    /// When it began, ms (`None`: not recorded, so it is never proved to have begun by a time).
    pub acquired_at_ms: Option<u64>,
    /// Its lease end, ms.
    pub lease_end_ms: u64,
    /// A handoff's pending full lease (ms), taken when the holder claims.
    pub claim_ms: Option<u64>,
}

impl Grant<'_> {
    /// Whether its lease runs at `now_ms`.
    pub fn live_at(&self, now_ms: u64) -> bool {
        self.lease_end_ms > now_ms
    }

    /// Whether it is the grant a release or renew names: the one with `fence` when given, else
    /// (no fence named) one that began by `since`, the operation's first attempt.
    pub fn is_named_by(&self, fence: Option<u64>, since: u64) -> bool {
        match fence {
            Some(f) => self.fence == f,
            None => self.acquired_at_ms.is_some_and(|at| at <= since),
        }
    }
}

impl LockItem {
    /// The grant of the owner with digest `digest` as stored, its lease running or not. A mutex
    /// item shows lock-fn's grant only (a dynamo-dlm holder has no fence: not a grant of ours).
    pub fn grant(&self, digest: &str) -> Option<Grant<'_>> {
        match &self.semaphore {
            Some(sem) => sem.entry(digest).map(|h| Grant {
                digest: &h.digest,
                fence: h.fence,
                acquired_at_ms: Some(h.acquired_at_ms),
                lease_end_ms: h.lease_end_ms,
                claim_ms: h.claim_ms,
            }),
            None => {
                let code = self.release_code.as_deref().filter(|c| *c == digest)?;
                Some(Grant {
                    digest: code,
                    fence: self.fence?,
                    acquired_at_ms: self.acquired_at_ms,
                    lease_end_ms: self.expires_at_ms?,
                    claim_ms: self.claim_ms,
                })
            }
        }
    }

    /// The grant of the owner with digest `digest` whose lease runs at `now_ms`.
    pub fn live_grant(&self, digest: &str, now_ms: u64) -> Option<Grant<'_>> {
        self.grant(digest).filter(|g| g.live_at(now_ms))
    }

    /// The owner's own grant that a release or renew names (`fence`, else begun by `since`) whose
    /// lease ended by `now_ms` with nobody taking the slot since (a take or handoff replaces it):
    /// what a late renew of that grant could still bring back, so the owner's refused release or
    /// renew ends it for good (`write/end_of_grant.rs::end_ended`).
    pub fn ended_grant(
        &self,
        digest: &str,
        fence: Option<u64>,
        since: u64,
        now_ms: u64,
    ) -> Option<Grant<'_>> {
        self.grant(digest)
            .filter(|g| !g.live_at(now_ms) && g.is_named_by(fence, since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item::{SemHolder, Semaphore};

    fn mutex(code: &str, fence: Option<u64>, ms: Option<u64>) -> LockItem {
        LockItem {
            resource_id: "r".into(),
            release_code: Some(code.into()),
            fence,
            expires_at_ms: ms,
            expires_secs: Some(1),
            acquired_at_ms: Some(3),
            claim_ms: Some(9),
            ..LockItem::default()
        }
    }

    #[test]
    fn a_mutex_item_has_one_grant_and_only_lock_fns() {
        let item = mutex("a", Some(4), Some(50));
        let g = item.live_grant("a", 10).unwrap();
        assert_eq!((g.digest, g.fence, g.lease_end_ms), ("a", 4, 50));
        assert_eq!((g.acquired_at_ms, g.claim_ms), (Some(3), Some(9)));
        assert!(item.live_grant("a", 50).is_none(), "the lease ended at 50");
        assert!(item.grant("a").is_some(), "still stored");
        assert!(item.grant("b").is_none());
        // dynamo-dlm's lease (whole seconds, no fence): held, but no grant of ours.
        assert!(mutex("a", None, None).grant("a").is_none());
        assert!(mutex("a", Some(4), None).grant("a").is_none());
    }

    #[test]
    fn a_semaphore_item_has_one_grant_per_holder() {
        let h = |d: &str, fence, end| SemHolder {
            digest: d.into(),
            fence,
            lease_end_ms: end,
            acquired_at_ms: fence,
            ..SemHolder::default()
        };
        let item = LockItem {
            semaphore: Some(Semaphore {
                limit: 3,
                holders: vec![h("a", 1, 50), h("b", 2, 5)],
            }),
            ..mutex("a", Some(9), Some(99))
        };
        assert_eq!(
            item.live_grant("a", 10).unwrap().fence,
            1,
            "not the mutex fields"
        );
        assert!(item.live_grant("b", 10).is_none());
        assert_eq!(item.grant("b").unwrap().fence, 2);
    }

    #[test]
    fn a_grant_is_named_by_its_fence_or_else_by_having_begun_in_time() {
        let g = mutex("a", Some(4), Some(50));
        let g = g.grant("a").unwrap();
        assert!(g.is_named_by(Some(4), 0));
        assert!(!g.is_named_by(Some(5), 100));
        assert!(g.is_named_by(None, 3));
        assert!(!g.is_named_by(None, 2), "began after the first attempt");
        let unknown = Grant {
            acquired_at_ms: None,
            ..g
        };
        assert!(!unknown.is_named_by(None, u64::MAX));
    }
}
