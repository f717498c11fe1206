//! Answers lock-fn gives for each op.

use serde::{Deserialize, Serialize};

/// A granted lock: `{"acquired":true,"resource_id","owner","fence","expires_at_ms","duration_ms",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Always `true` for a grant.
    pub acquired: bool,
    /// The locked resource.
    pub resource_id: String,
    /// The owner token to release/renew with.
    pub owner: String,
    /// Fencing token: strictly larger than every earlier grant's on this resource.
    pub fence: u64,
    /// When the lease ends, in epoch milliseconds by the function's clock.
    pub expires_at_ms: u64,
    /// The lease length granted.
    pub duration_ms: u64,
    /// When the lease began, in epoch milliseconds by the function's clock.
    #[serde(default)]
    pub acquired_at_ms: u64,
    /// `true` when this owner already held the lock and this answer repeats that grant (same fence).
    #[serde(default)]
    pub reacquired: bool,
    /// How many DynamoDB requests the function sent for this answer (refused attempts included).
    #[serde(default)]
    pub attempts: u32,
    /// How long the lease still had to run when the function answered, by its clock. A caller's
    /// conservative local deadline is *when it sent the request* plus this: whichever earlier
    /// request made the grant, that deadline is never later than the lease end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
    /// A semaphore grant: the resource's limit (absent for the mutex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// A semaphore grant: how many hold it now, this grant included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holders: Option<u32>,
}

impl Grant {
    /// The lease time left at the answer: `expires_in_ms`, or (from a lock-fn that predates it)
    /// the whole `duration_ms` of a fresh grant and nothing of a repeated one.
    pub fn lease_left_ms(&self) -> u64 {
        match self.expires_in_ms {
            Some(ms) => ms,
            None if self.reacquired => 0,
            None => self.duration_ms,
        }
    }
}

/// A refused acquire: `{"acquired":false,"resource_id","retry_after_ms","holder_expires_at_ms",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Busy {
    /// Always `false` for a refusal.
    pub acquired: bool,
    /// The resource someone else holds.
    pub resource_id: String,
    /// A hint: how long to wait before trying again.
    pub retry_after_ms: u64,
    /// When the holder's lease ends (epoch ms), when the function could learn it; `null` otherwise.
    pub holder_expires_at_ms: Option<u64>,
    /// The holder's fence, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_fence: Option<u64>,
    /// How many conditional writes the function tried before answering.
    #[serde(default)]
    pub attempts: u32,
    /// The holder's public label (`holder` given at its acquire), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// The caller waits in the lock's queue (it keeps its place while it tries again in time).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
    /// The caller's place in the queue, 1 = next (queued answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// How many live waiters the queue holds (queued answers, and refusals of a full queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_length: Option<u32>,
    /// A semaphore: its limit (then `holder_expires_at_ms` is the earliest lease end among its
    /// holders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// A semaphore: how many hold it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holders: Option<u32>,
}

/// The answer to `acquire`: a grant or a refusal (told apart by `acquired`).
///
/// ```
/// use lock_protocol::AcquireResponse;
/// let busy: AcquireResponse = serde_json::from_str(
///     r#"{"acquired":false,"resource_id":"r","retry_after_ms":20,"holder_expires_at_ms":null}"#).unwrap();
/// assert!(matches!(busy, AcquireResponse::Busy(b) if b.retry_after_ms == 20));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AcquireResponse {
    /// The lock is yours.
    Granted(Grant),
    /// Someone else holds it.
    Busy(Busy),
}

impl<'de> Deserialize<'de> for AcquireResponse {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        match value.get("acquired").and_then(|v| v.as_bool()) {
            Some(true) => Grant::deserialize(value)
                .map(AcquireResponse::Granted)
                .map_err(D::Error::custom),
            Some(false) => Busy::deserialize(value)
                .map(AcquireResponse::Busy)
                .map_err(D::Error::custom),
            None => Err(D::Error::custom("acquire answer has no boolean `acquired`")),
        }
    }
}

/// The answer to `release`: `{"released":bool,"resource_id",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseResponse {
    /// `false` when the caller no longer held the lock (expired and/or taken).
    pub released: bool,
    /// The resource.
    pub resource_id: String,
    /// When the lease ended, by the function's clock (present when `released`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at_ms: Option<u64>,
    /// `true` with `released: false` when an attempt of this very release may have been applied
    /// unseen (its answer was lost) and the record that would tell was already reused, or deleted
    /// with the item: the lock is free either way, but whether this caller's lease ended by this
    /// release or ran out is unknown.
    /// The client also sets it when it had to resend the release invoke and the answer was `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
}

/// A successful renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    /// The new end of the lease, epoch ms.
    pub expires_at_ms: u64,
    /// The grant's fence (unchanged by renewal).
    pub fence: u64,
    /// The lease length counted from the renewal.
    pub duration_ms: u64,
    /// The lease time left when the function answered (see [`Grant::expires_in_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
}

/// The answer to `renew`: `{"renewed":true,"expires_at_ms","fence",..}` or `{"renewed":false,..}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    /// `false` when the caller no longer holds the lock.
    pub renewed: bool,
    /// The resource.
    pub resource_id: String,
    /// The renewed lease (present when `renewed`).
    #[serde(flatten, default)]
    pub renewal: Option<Renewal>,
}

/// The answer to `describe`. It never contains an owner token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeResponse {
    /// The resource.
    pub resource_id: String,
    /// Whether a lease is running now.
    pub held: bool,
    /// The holder's *owner digest* ([`crate::owner_digest`] of its token; `null` when free). Before
    /// lock-protocol 0.2 this was the token itself.
    pub owner: Option<String>,
    /// The holder's public label, when it gave one at acquire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Whether the caller holds the lock: present only when the request carried an `owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yours: Option<bool>,
    /// The holder's fence (`null` when free or when a dynamo-dlm client holds it).
    pub fence: Option<u64>,
    /// When the holder's lease ends (`null` when free).
    pub expires_at_ms: Option<u64>,
    /// How many live waiters are queued.
    #[serde(default)]
    pub queue_length: u32,
    /// The live waiters in queue order: owner digest and label, never tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<QueuedWaiter>,
    /// A semaphore: its limit (absent for the mutex). `held` then means "anyone holds it", and
    /// `owner`, `holder`, `fence`, `expires_at_ms` describe the holder whose lease ends first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// A semaphore: its live holders, by fence (owner digests and labels, never tokens).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holders: Vec<HolderInfo>,
}

/// A semaphore holder as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderInfo {
    /// Its owner digest.
    pub owner: String,
    /// Its public label, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Its grant's fence.
    pub fence: u64,
    /// When its lease ends (epoch ms, the function's clock).
    pub expires_at_ms: u64,
}

/// A waiter as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedWaiter {
    /// Its owner digest.
    pub owner: String,
    /// Its public label, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// An invocation waits for it in-region right now (it is handed the lock at once).
    #[serde(default)]
    pub waiting_now: bool,
}

/// The answer to `cancel`: `{"cancelled":bool,"resource_id","released":bool}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResponse {
    /// The owner was queued, or held a grant, and is neither any more.
    pub cancelled: bool,
    /// The resource.
    pub resource_id: String,
    /// A grant of this owner (made while it waited) was released, and handed on.
    #[serde(default)]
    pub released: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grant_and_busy_have_the_documented_fields() {
        let g = AcquireResponse::Granted(Grant {
            acquired: true,
            resource_id: "r".into(),
            owner: "o".into(),
            fence: 3,
            expires_at_ms: 20,
            duration_ms: 10,
            acquired_at_ms: 10,
            reacquired: false,
            attempts: 1,
            expires_in_ms: Some(10),
            limit: None,
            holders: None,
        });
        let v = serde_json::to_value(&g).unwrap();
        for key in [
            "acquired",
            "resource_id",
            "owner",
            "fence",
            "expires_at_ms",
            "duration_ms",
        ] {
            assert!(v.get(key).is_some(), "grant lacks {key}");
        }
        assert_eq!(serde_json::from_value::<AcquireResponse>(v).unwrap(), g);

        let b = AcquireResponse::Busy(Busy {
            acquired: false,
            resource_id: "r".into(),
            retry_after_ms: 5,
            holder_expires_at_ms: None,
            holder_fence: None,
            attempts: 1,
            ..Busy::default()
        });
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(
            v["holder_expires_at_ms"],
            json!(null),
            "null must be present"
        );
        assert_eq!(v["acquired"], json!(false));
        assert_eq!(serde_json::from_value::<AcquireResponse>(v).unwrap(), b);
    }

    #[test]
    fn renew_flattens_the_renewal() {
        let r = RenewResponse {
            renewed: true,
            resource_id: "r".into(),
            renewal: Some(Renewal {
                expires_at_ms: 9,
                fence: 2,
                duration_ms: 4,
                expires_in_ms: None,
            }),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"renewed":true,"resource_id":"r","expires_at_ms":9,"fence":2,"duration_ms":4})
        );
        assert_eq!(serde_json::from_value::<RenewResponse>(v).unwrap(), r);
        let lost: RenewResponse =
            serde_json::from_value(json!({"renewed":false,"resource_id":"r"})).unwrap();
        assert_eq!(lost.renewal, None);
    }
}
