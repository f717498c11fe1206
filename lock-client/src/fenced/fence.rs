//! [`Fence`]: what a fenced write needs from a grant.

use crate::protocol::{owner_digest, Grant};

/// A grant as a fenced write checks it: the resource, its holder's owner digest (never the token)
/// and the grant's fence. Take one from a [`Grant`] (`guard.grant()`, or a Step Functions task's
/// grant JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    resource_id: String,
    owner_digest: String,
    fence: u64,
    semaphore: bool,
}

impl Fence {
    /// The fence of `grant` (a mutex or a semaphore grant).
    pub fn of(grant: &Grant) -> Fence {
        match grant.limit {
            Some(_) => Fence::semaphore(&grant.resource_id, &grant.owner, grant.fence),
            None => Fence::mutex(&grant.resource_id, &grant.owner, grant.fence),
        }
    }

    /// The fence of a mutex grant known by its parts (a Step Functions task's state, say).
    pub fn mutex(resource_id: impl Into<String>, owner: &str, fence: u64) -> Fence {
        Fence {
            resource_id: resource_id.into(),
            owner_digest: owner_digest(owner),
            fence,
            semaphore: false,
        }
    }

    /// The fence of a semaphore holder's grant known by its parts.
    pub fn semaphore(resource_id: impl Into<String>, owner: &str, fence: u64) -> Fence {
        Fence {
            semaphore: true,
            ..Fence::mutex(resource_id, owner, fence)
        }
    }

    /// The locked resource.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    /// The grant's fencing token.
    pub fn value(&self) -> u64 {
        self.fence
    }

    /// Whether the grant is a semaphore's (its fence is in its holder entry).
    pub fn is_semaphore(&self) -> bool {
        self.semaphore
    }

    pub(crate) fn owner_digest(&self) -> &str {
        &self.owner_digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_with_a_limit_is_a_semaphore_fence_and_parts_make_the_same_fence() {
        let mut grant: Grant = serde_json::from_value(serde_json::json!({
            "acquired": true, "resource_id": "r", "owner": "o", "fence": 7,
            "expires_at_ms": 1, "duration_ms": 1
        }))
        .unwrap();
        assert_eq!(Fence::of(&grant), Fence::mutex("r", "o", 7));
        assert!(!Fence::of(&grant).is_semaphore());
        grant.limit = Some(3);
        assert_eq!(Fence::of(&grant), Fence::semaphore("r", "o", 7));
        assert!(Fence::of(&grant).is_semaphore());
        assert_eq!(Fence::of(&grant).owner_digest(), owner_digest("o"));
        assert_ne!(Fence::mutex("r", "o", 7), Fence::mutex("r", "p", 7));
    }
}
