//! Request types. Serialize them to call lock-fn; lock-fn decodes them with [`Request::from_json`].

use serde::Serialize;

/// One lock operation, as sent on the wire (`{"op": "acquire", ...}`).
///
/// ```
/// use lock_protocol::{AcquireRequest, OnBusy, Request};
/// let r = Request::Acquire(AcquireRequest {
///     resource_id: "orders/42".into(),
///     duration_ms: Some(30_000),
///     owner: None,
///     wait_ms: 0,
///     on_busy: OnBusy::Error,
///     ..AcquireRequest::default()
/// });
/// assert_eq!(r.to_json(), serde_json::json!(
///     {"op": "acquire", "resource_id": "orders/42", "duration_ms": 30000, "on_busy": "error"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    /// Take the lock (or confirm that this owner already holds it).
    Acquire(AcquireRequest),
    /// Give the lock back (holder only).
    Release(ReleaseRequest),
    /// Extend the holder's lease.
    Renew(RenewRequest),
    /// Read who holds the lock and who waits (a consistent read).
    Describe(DescribeRequest),
    /// Stop waiting: leave the queue, and give back a grant made to this owner meanwhile.
    Cancel(CancelRequest),
}

/// `{"op":"acquire","resource_id":..,"duration_ms":..,"owner":..,"wait_ms":..,"on_busy":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct AcquireRequest {
    /// The resource to lock.
    pub resource_id: String,
    /// Lease length; the function's default (10 s) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Who asks. Re-sending the same owner while it holds the lock answers the same grant (idempotent).
    /// The function generates a 128-bit random owner when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// How long the function may keep trying in-region before answering busy; 0 = one attempt.
    #[serde(skip_serializing_if = "is_zero")]
    pub wait_ms: u64,
    /// What a refusal looks like: a result (default) or a `LockBusy` function error.
    #[serde(skip_serializing_if = "OnBusy::is_default")]
    pub on_busy: OnBusy,
    /// The caller promises that no earlier acquire with this `owner` can have been granted unseen
    /// (this is its first invoke with the owner, or every earlier one was answered). Lets the
    /// function skip the idempotency check that costs a write when DynamoDB does not return the
    /// holder on a refusal. A false promise can only make the caller's own acquire fail.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fresh_owner: bool,
    /// A public label for the holder (e.g. a Step Functions execution ARN or a host name), shown by
    /// `describe` and in refusals. Not a credential: the owner token is never shown to anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Wait in the lock's FIFO queue (keeping the place across attempts with the same owner) instead
    /// of a single try. Absent: queue when `wait_ms > 0`. A try (`false`) is refused while anyone
    /// is queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<bool>,
    /// A Step Functions task token (`$$.Task.Token` of a `lambda:invoke.waitForTaskToken` task):
    /// lock-fn answers at once and, when the lock is granted (now or at a later handoff), calls
    /// `SendTaskSuccess` with the grant itself (`SendTaskFailure` `LockBusy` when the queue is
    /// full). Implies `queue`; the place then lasts `wait_ms` (15 minutes when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    /// A semaphore: at most `limit` holders at once (2 up to [`crate::MAX_LIMIT`]); absent or 1 is
    /// the mutex. Every caller of one resource must name the same limit (`LimitMismatch`
    /// otherwise, while anyone holds or waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl AcquireRequest {
    /// The semaphore limit asked for, when this acquire is for a semaphore (`limit` above 1).
    pub fn semaphore_limit(&self) -> Option<u32> {
        self.limit.filter(|l| *l > 1)
    }

    /// Whether this acquire queues (`queue`, or by default whether it waits at all).
    pub fn queues(&self) -> bool {
        self.queue
            .unwrap_or(self.wait_ms > 0 || self.task_token.is_some())
    }
}

/// How a refused acquire is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBusy {
    /// `{"acquired": false, ...}`: a busy lock is an ordinary outcome.
    #[default]
    Result,
    /// A function error with errorType `LockBusy`, so Step Functions can `Retry` on it.
    Error,
}

impl OnBusy {
    fn is_default(&self) -> bool {
        *self == OnBusy::Result
    }

    /// The wire name (`"result"` or `"error"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnBusy::Result => "result",
            OnBusy::Error => "error",
        }
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `{"op":"release","resource_id":..,"owner":..,"fence":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ReleaseRequest {
    /// The locked resource.
    pub resource_id: String,
    /// The owner the grant was made to.
    pub owner: String,
    /// The grant's fence (optional, recommended). With it only that grant is released, and a release
    /// repeated after its first answer was lost is recognised and answered `released: true` again.
    /// Without it the owner's current grant is released, and only lock-fn's own retries of this
    /// request are recognised (see DESIGN.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
}

/// `{"op":"renew","resource_id":..,"owner":..,"duration_ms":..,"fence":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RenewRequest {
    /// The locked resource.
    pub resource_id: String,
    /// The owner the grant was made to.
    pub owner: String,
    /// New lease length counted from now; the function's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The grant's fence (optional): with it only that grant is renewed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fence: Option<u64>,
}

/// `{"op":"describe","resource_id":..,"owner":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DescribeRequest {
    /// The resource to look at.
    pub resource_id: String,
    /// The caller's own owner token (optional): the answer then says whether it is the holder
    /// (`yours`). It is never echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `{"op":"cancel","resource_id":..,"owner":..}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CancelRequest {
    /// The resource waited for.
    pub resource_id: String,
    /// The owner that waited.
    pub owner: String,
}

impl Request {
    /// The operation's wire name (`"acquire"`, ...).
    pub fn op(&self) -> &'static str {
        match self {
            Request::Acquire(_) => "acquire",
            Request::Release(_) => "release",
            Request::Renew(_) => "renew",
            Request::Describe(_) => "describe",
            Request::Cancel(_) => "cancel",
        }
    }

    /// The resource the request is about.
    pub fn resource_id(&self) -> &str {
        match self {
            Request::Acquire(r) => &r.resource_id,
            Request::Release(r) => &r.resource_id,
            Request::Renew(r) => &r.resource_id,
            Request::Describe(r) => &r.resource_id,
            Request::Cancel(r) => &r.resource_id,
        }
    }

    /// The request as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("requests always serialize")
    }
}
