//! A successful answer of any op, with what the one-line operation log needs to know about it.

use lock_protocol::{
    AcquireResponse, CancelResponse, DescribeResponse, ReleaseResponse, RenewResponse,
};
use serde_json::Value;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer to `acquire` (granted or busy).
    Acquire(AcquireResponse),
    /// Answer to `release`.
    Release(ReleaseResponse),
    /// Answer to `renew`.
    Renew(RenewResponse),
    /// Answer to `describe`.
    Describe(DescribeResponse),
    /// Answer to `cancel`.
    Cancel(CancelResponse),
}

impl Reply {
    /// A one-word outcome for logs and metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Reply::Acquire(AcquireResponse::Granted(g)) if g.reacquired => "reacquired",
            Reply::Acquire(AcquireResponse::Granted(_)) => "granted",
            Reply::Acquire(AcquireResponse::Busy(b)) if b.queued => "queued",
            Reply::Acquire(AcquireResponse::Busy(_)) => "busy",
            Reply::Release(r) if r.released => "released",
            Reply::Release(_) => "not_holder",
            Reply::Renew(r) if r.renewed => "renewed",
            Reply::Renew(_) => "not_holder",
            Reply::Describe(d) if d.held => "held",
            Reply::Describe(_) => "free",
            Reply::Cancel(c) if c.cancelled => "cancelled",
            Reply::Cancel(_) => "not_waiting",
        }
    }

    /// The fence the answer carries, if any.
    pub fn fence(&self) -> Option<u64> {
        match self {
            Reply::Acquire(AcquireResponse::Granted(g)) => Some(g.fence),
            Reply::Acquire(AcquireResponse::Busy(b)) => b.holder_fence,
            Reply::Release(_) => None,
            Reply::Renew(r) => r.renewal.as_ref().map(|r| r.fence),
            Reply::Describe(d) => d.fence,
            Reply::Cancel(_) => None,
        }
    }

    /// The JSON the function returns.
    pub fn to_json(&self) -> Value {
        let v = match self {
            Reply::Acquire(r) => serde_json::to_value(r),
            Reply::Release(r) => serde_json::to_value(r),
            Reply::Renew(r) => serde_json::to_value(r),
            Reply::Describe(r) => serde_json::to_value(r),
            Reply::Cancel(r) => serde_json::to_value(r),
        };
        v.expect("responses always serialize")
    }
}
