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
        Fence {
            resource_id: grant.resource_id.clone(),
            owner_digest: owner_digest(&grant.owner),
            fence: grant.fence,
            semaphore: grant.limit.is_some(),
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
