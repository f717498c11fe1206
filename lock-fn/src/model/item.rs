//! The lock item as stored in DynamoDB, and its mapping from attribute maps.
//!
//! Attributes (see DESIGN.md): `resource_id` (S, key), `release_code` (S, the holder's owner digest;
//! absent when free), `expires` (N, epoch seconds rounded up; dynamo-dlm's lease end),
//! `expires_at_ms` (N, the lease end in ms; absent on items dynamo-dlm wrote), `fence` (N),
//! `acquired_at_ms` (N), `holder` (S, public label), `purge_at` (N, the TTL attribute), the last
//! release (`released_nonce`, `released_fence`, `released_at_ms`) and the fenced-release slots.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub use lock_protocol::lock_item::{
    ATTR_EXPIRES, ATTR_EXPIRES_AT_MS, ATTR_FENCE, ATTR_HOLDER, ATTR_RELEASE_CODE, ATTR_RESOURCE_ID,
    ATTR_SEM_HOLDERS, SEM_ENTRY_FENCE, SEM_ENTRY_LABEL, SEM_ENTRY_LEASE_END, SEM_RELEASE_CODE,
};
pub use lock_protocol::owner_digest;

/// When the current grant began, epoch ms.
pub const ATTR_ACQUIRED_AT_MS: &str = "acquired_at_ms";
/// When DynamoDB TTL may delete the item, epoch seconds: [`PURGE_AFTER_SECS`] after the last lease
/// end, so that no signed request still in flight can land after a deletion (see DESIGN.md).
pub const ATTR_PURGE_AT: &str = "purge_at";
/// Random id of the invocation that made the last release (recognises lock-fn's own retries).
pub const ATTR_RELEASED_NONCE: &str = "released_nonce";
/// Fence of the last released grant.
pub const ATTR_RELEASED_FENCE: &str = "released_fence";
/// When the last release happened, epoch ms.
pub const ATTR_RELEASED_AT_MS: &str = "released_at_ms";
/// The FIFO queue: a list of waiter maps `{w: owner digest, d: lease ms, x: alive until ms,
/// a: waiting in-function until ms, h: label, t: Step Functions task token}`, in the order they
/// joined.
pub const ATTR_WAITERS: &str = "waiters";
/// The queued owners' digests as a string set (for `contains` in conditions; absent when empty).
pub const ATTR_WAITER_SET: &str = "wset";
/// The queue mark (ms): never below any entry's "alive until" (joins and keep-place writes only
/// raise it; a write that leaves no live entry removes it), so someone is queued and alive only
/// while it is ahead: what a blind write checks instead of the entries.
pub const ATTR_QUEUE_ALIVE_UNTIL: &str = "qx";
/// The queue's version: every write that adds a waiter or extends a waiter's place adds one, so a
/// write decided from a snapshot can require that no waiter joined or kept its place since.
pub const ATTR_QUEUE_VERSION: &str = "qv";
/// A handoff to a waiter that is not waiting in-function: the full lease (ms) it gets on claiming.
pub const ATTR_CLAIM_MS: &str = "claim_d";
/// How long the last grant handed on by a release was held (ms): the waiters' poll hint.
pub const ATTR_HOLD_MS: &str = "hold_ms";
/// `wake_id`: the nonce of the last write that aimed the current grant at a Step Functions task
/// (the write that made the grant, or a re-entry's). Only the invocation whose nonce is still there
/// may pass the grant over when its task turns out closed. Meaningful with the grant's fence only.
pub const ATTR_WAKE_ID: &str = "wake_id";

/// Cancel marks: a map from owner digest to when its last `cancel` was applied (ms, the cancelling
/// instance's clock). An acquire invocation that started before its owner's cancel never queues or
/// takes the lock after it (see `decide/cancel.rs`).
pub const ATTR_CANCELS: &str = "cx";

/// A semaphore item's limit (N): present only on semaphore items (see `decide/semaphore.rs`).
pub const ATTR_SEM_LIMIT: &str = "sem_limit";
/// The `expires_at_ms` of every semaphore item (9999-12-31): a mutex acquire never finds it ended.
pub const SEM_EXPIRES_AT_MS: u64 = 253_402_300_799_999;

/// How many fenced releases stay recognisable (slots `rel_0` .. `rel_7`). Each slot holds a fence,
/// a 32-character owner digest and a time: about 60 bytes.
pub const RELEASE_SLOTS: u64 = 8;
/// How long after the last lease end TTL may delete an item: far longer than any signed DynamoDB
/// request can still be applied (SigV4 requests expire within 15 minutes of signing).
pub const PURGE_AFTER_SECS: u64 = 3600;

/// The `purge_at` value for an item whose lease ends at `lease_end_ms`.
pub fn purge_at(lease_end_ms: u64) -> u64 {
    lease_end_ms.div_ceil(1000) + PURGE_AFTER_SECS
}

/// The slot attribute a fenced release of `fence` records itself in.
pub fn release_slot(fence: u64) -> String {
    format!("rel_{}", fence % RELEASE_SLOTS)
}

/// Beside a semaphore's slot: the item's fence counter when that release was applied (copied by
/// the write itself, `rel_<k>_g = fence`), which orders it against grants without any clock.
pub fn release_slot_counter(fence: u64) -> String {
    format!("{}_g", release_slot(fence))
}

/// One lock item, as read back from DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockItem {
    /// The locked resource.
    pub resource_id: String,
    /// `release_code`: the holder's owner digest (lock-fn items) or dynamo-dlm's own release code,
    /// when a grant is (or was until expiry) in place.
    pub release_code: Option<String>,
    /// The holder's public label.
    pub holder: Option<String>,
    /// Lease end in ms (lock-fn items).
    pub expires_at_ms: Option<u64>,
    /// Lease end in whole seconds (all items; the only one on dynamo-dlm items).
    pub expires_secs: Option<u64>,
    /// The last grant's fence (lock-fn items).
    pub fence: Option<u64>,
    /// When the last grant began (lock-fn items).
    pub acquired_at_ms: Option<u64>,
    /// The last release (lock-fn items that were released).
    pub last_release: Option<LastRelease>,
    /// Recent fenced releases, from the `rel_*` slots.
    pub slot_releases: Vec<SlotRelease>,
    /// The queue, in order (dead waiters included until someone prunes them).
    pub waiters: Vec<Waiter>,
    /// `qx`: at least the latest alive-until of any entry (see [`ATTR_QUEUE_ALIVE_UNTIL`]).
    pub queue_alive_until_ms: Option<u64>,
    /// `qv`: the queue's version (see [`ATTR_QUEUE_VERSION`]).
    pub queue_version: Option<u64>,
    /// `purge_at`: when TTL may delete the item (epoch s).
    pub purge_at: Option<u64>,
    /// `claim_d`: the grant was handed to a waiter that has yet to claim its full lease.
    pub claim_ms: Option<u64>,
    /// `hold_ms`: how long the last handed-on grant was held.
    pub hold_ms: Option<u64>,
    /// `wake_id`: see [`ATTR_WAKE_ID`].
    pub wake_id: Option<String>,
    /// A semaphore item's limit and holders (`None`: a mutex item).
    pub semaphore: Option<Semaphore>,
    /// `cx`: the cancel marks, as (owner digest, cancelled at ms), oldest first; `None` when the
    /// item has no `cx` map.
    pub cancels: Option<Vec<(String, u64)>>,
}

/// The semaphore part of an item: at most `limit` live holders, each with its own lease and fence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Semaphore {
    /// The bound N.
    pub limit: u32,
    /// Every holder entry (expired ones too, until a grant purges them), by fence.
    pub holders: Vec<SemHolder>,
}

/// One semaphore holder entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SemHolder {
    /// Its owner digest (the map key).
    pub digest: String,
    /// Its grant's fence.
    pub fence: u64,
    /// Its lease end, ms.
    pub lease_end_ms: u64,
    /// When its grant began, ms.
    pub acquired_at_ms: u64,
    /// Its public label.
    pub holder: Option<String>,
    /// A handoff's pending full lease (ms), taken when it claims.
    pub claim_ms: Option<u64>,
    /// The nonce its grant was aimed at a Step Functions task with.
    pub wake_id: Option<String>,
}

impl SemHolder {
    /// Whether its lease runs at `now_ms`.
    pub fn live_at(&self, now_ms: u64) -> bool {
        self.lease_end_ms > now_ms
    }
}

impl Semaphore {
    /// The holders whose lease runs at `now_ms`.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &SemHolder> {
        self.holders.iter().filter(move |h| h.live_at(now_ms))
    }

    /// How many hold it at `now_ms`.
    pub fn live_count(&self, now_ms: u64) -> usize {
        self.live(now_ms).count()
    }

    /// The entry of the owner with digest `digest`, live or not.
    pub fn entry(&self, digest: &str) -> Option<&SemHolder> {
        self.holders.iter().find(|h| h.digest == digest)
    }

    /// The live entry of the owner with digest `digest`.
    pub fn held_by(&self, digest: &str, now_ms: u64) -> Option<&SemHolder> {
        self.entry(digest).filter(|h| h.live_at(now_ms))
    }

    /// The earliest lease end among the live holders.
    pub fn first_end(&self, now_ms: u64) -> Option<u64> {
        self.live(now_ms).map(|h| h.lease_end_ms).min()
    }
}

/// One waiter in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    /// Its owner digest.
    pub digest: String,
    /// The lease it asked for, ms.
    pub duration_ms: u64,
    /// It keeps its place until then (epoch ms) unless it tries again.
    pub alive_until_ms: u64,
    /// An invocation waits for it in-function until then (epoch ms; 0: none).
    pub active_until_ms: u64,
    /// Its public label.
    pub holder: Option<String>,
    /// Its Step Functions task token, when lock-fn is to wake it (`SendTaskSuccess`).
    pub token: Option<String>,
}

impl Waiter {
    /// A passive waiter for unit tests: a 1 s lease, no label, no task token.
    #[cfg(test)]
    pub fn sample(digest: &str, alive_until_ms: u64) -> Waiter {
        Waiter {
            digest: digest.into(),
            duration_ms: 1000,
            alive_until_ms,
            active_until_ms: 0,
            holder: None,
            token: None,
        }
    }

    /// Whether it still has its place at `now_ms`.
    pub fn alive_at(&self, now_ms: u64) -> bool {
        self.alive_until_ms > now_ms
    }

    /// Whether an invocation waits for it in-function at `now_ms`.
    pub fn active_at(&self, now_ms: u64) -> bool {
        self.active_until_ms > now_ms
    }
}

/// The record the last release left in the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRelease {
    /// The releasing invocation's nonce.
    pub nonce: String,
    /// The released grant's fence.
    pub fence: Option<u64>,
    /// When it was released, epoch ms.
    pub at_ms: u64,
}

/// A fenced release kept in its slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRelease {
    /// The released grant's fence.
    pub fence: u64,
    /// Its owner's digest.
    pub owner_digest: String,
    /// When it was released, epoch ms.
    pub at_ms: u64,
    /// The item's fence counter when the release was applied (semaphore items).
    pub counter_at_release: Option<u64>,
}

/// An item that does not have the lock format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFormatError(pub String);

impl std::fmt::Display for ItemFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lock item has an unexpected format: {}", self.0)
    }
}

impl std::error::Error for ItemFormatError {}

impl LockItem {
    /// When the lease ends, in ms: `expires_at_ms`, or `expires` seconds on dynamo-dlm items.
    pub fn lease_end_ms(&self) -> Option<u64> {
        self.expires_at_ms
            .or_else(|| self.expires_secs.map(|s| s.saturating_mul(1000)))
    }

    /// Whether lock-fn wrote the current lease (dynamo-dlm items have no `expires_at_ms`).
    pub fn is_lock_fn_lease(&self) -> bool {
        self.expires_at_ms.is_some()
    }

    /// Whether someone holds the lock at `now_ms` by the same rule the acquire condition applies.
    pub fn is_held_at(&self, now_ms: u64) -> bool {
        self.release_code.is_some() && self.lease_end_ms().is_some_and(|end| end > now_ms)
    }

    /// Whether the owner with digest `digest` holds a lock-fn lease at `now_ms`. Never true of an
    /// item dynamo-dlm wrote, whatever its release code.
    pub fn held_by(&self, digest: &str, now_ms: u64) -> bool {
        self.is_lock_fn_lease()
            && self.is_held_at(now_ms)
            && self.release_code.as_deref() == Some(digest)
    }

    /// The owner digest `describe` shows for the holder: ours as stored, a dynamo-dlm code digested
    /// (its code is its credential and is never shown).
    pub fn public_owner(&self) -> Option<String> {
        let code = self.release_code.as_deref()?;
        Some(if self.is_lock_fn_lease() {
            code.to_string()
        } else {
            owner_digest(code)
        })
    }

    /// When the grant with `fence` of the owner with digest `digest` was released, if its slot still
    /// records it (exact: fences identify grants).
    pub fn released_in_slot(&self, digest: &str, fence: u64) -> Option<u64> {
        self.slot_releases
            .iter()
            .find(|r| r.fence == fence && r.owner_digest == digest)
            .map(|r| r.at_ms)
    }

    /// Where the owner with digest `digest` stands in the queue (list index), if queued.
    pub fn queue_index(&self, digest: &str) -> Option<usize> {
        self.waiters.iter().position(|w| w.digest == digest)
    }

    /// How many waiters still have their place at `now_ms`.
    pub fn live_waiters(&self, now_ms: u64) -> usize {
        self.waiters.iter().filter(|w| w.alive_at(now_ms)).count()
    }

    /// Whether anyone is queued and alive at `now_ms` by the rule the try condition applies (`qx`).
    pub fn queue_alive_at(&self, now_ms: u64) -> bool {
        self.queue_alive_until_ms.is_some_and(|qx| qx > now_ms)
    }

    /// The fence of the running grant of the owner with digest `digest`, mutex or semaphore.
    pub fn grant_of(&self, digest: &str, now_ms: u64) -> Option<u64> {
        self.live_grant(digest, now_ms).map(|g| g.fence)
    }

    /// The item as its grant to `digest` reads (a semaphore: that holder's fence, lease and label
    /// in the mutex fields); a mutex item as it is.
    pub fn grant_view(&self, digest: &str) -> LockItem {
        let Some(h) = self.semaphore.as_ref().and_then(|s| s.entry(digest)) else {
            return self.clone();
        };
        LockItem {
            release_code: Some(h.digest.clone()),
            fence: Some(h.fence),
            expires_at_ms: Some(h.lease_end_ms),
            acquired_at_ms: Some(h.acquired_at_ms),
            holder: h.holder.clone(),
            claim_ms: h.claim_ms,
            wake_id: h.wake_id.clone(),
            ..self.clone()
        }
    }

    /// The item as a waiter sees it: a semaphore shows the live holder whose lease ends first in
    /// the mutex fields (none when a slot is free); a mutex item as it is.
    pub fn waiters_view(&self, now_ms: u64) -> LockItem {
        let Some(sem) = &self.semaphore else {
            return self.clone();
        };
        if (sem.live_count(now_ms) as u32) < sem.limit {
            return LockItem {
                release_code: None,
                expires_at_ms: Some(0),
                ..self.clone()
            };
        }
        match sem.live(now_ms).min_by_key(|h| h.lease_end_ms) {
            Some(first) => self.grant_view(&first.digest.clone()),
            None => self.clone(),
        }
    }

    /// When the owner with digest `digest` last cancelled, if its mark is still in the item.
    pub fn cancelled_at(&self, digest: &str) -> Option<u64> {
        self.cancels
            .iter()
            .flatten()
            .find(|(d, _)| d == digest)
            .map(|(_, at)| *at)
    }

    /// When the release made by the invocation with `nonce` happened, if it is still the last one.
    pub fn released_with_nonce(&self, nonce: &str) -> Option<u64> {
        self.last_release
            .as_ref()
            .filter(|r| r.nonce == nonce)
            .map(|r| r.at_ms)
    }
}

impl TryFrom<&HashMap<String, AttributeValue>> for LockItem {
    type Error = ItemFormatError;

    fn try_from(map: &HashMap<String, AttributeValue>) -> Result<Self, Self::Error> {
        let resource_id = string(map, ATTR_RESOURCE_ID)?
            .ok_or_else(|| ItemFormatError(format!("no `{ATTR_RESOURCE_ID}`")))?;
        Ok(LockItem {
            resource_id,
            release_code: string(map, ATTR_RELEASE_CODE)?,
            holder: string(map, ATTR_HOLDER)?,
            expires_at_ms: number(map, ATTR_EXPIRES_AT_MS)?,
            expires_secs: number(map, ATTR_EXPIRES)?,
            fence: number(map, ATTR_FENCE)?,
            acquired_at_ms: number(map, ATTR_ACQUIRED_AT_MS)?,
            last_release: match (
                string(map, ATTR_RELEASED_NONCE)?,
                number(map, ATTR_RELEASED_AT_MS)?,
            ) {
                (Some(nonce), Some(at_ms)) => Some(LastRelease {
                    nonce,
                    fence: number(map, ATTR_RELEASED_FENCE)?,
                    at_ms,
                }),
                _ => None,
            },
            slot_releases: (0..RELEASE_SLOTS)
                .filter_map(|i| match map.get(&release_slot(i)) {
                    Some(AttributeValue::M(slot)) => Some((i, slot)),
                    _ => None,
                })
                .map(|(i, slot)| {
                    Ok(SlotRelease {
                        fence: number(slot, "f")?.unwrap_or_default(),
                        owner_digest: string(slot, "o")?.unwrap_or_default(),
                        at_ms: number(slot, "t")?.unwrap_or_default(),
                        counter_at_release: number(map, &release_slot_counter(i))?,
                    })
                })
                .collect::<Result<_, ItemFormatError>>()?,
            waiters: match map.get(ATTR_WAITERS) {
                None | Some(AttributeValue::Null(_)) => Vec::new(),
                Some(AttributeValue::L(list)) => list
                    .iter()
                    .map(waiter)
                    .collect::<Result<_, ItemFormatError>>()?,
                Some(other) => {
                    return Err(ItemFormatError(format!(
                        "`{ATTR_WAITERS}` is {other:?}, not a list"
                    )))
                }
            },
            queue_alive_until_ms: number(map, ATTR_QUEUE_ALIVE_UNTIL)?,
            queue_version: number(map, ATTR_QUEUE_VERSION)?,
            purge_at: number(map, ATTR_PURGE_AT)?,
            claim_ms: number(map, ATTR_CLAIM_MS)?,
            hold_ms: number(map, ATTR_HOLD_MS)?,
            wake_id: string(map, ATTR_WAKE_ID)?,
            semaphore: semaphore(map)?,
            cancels: cancels(map)?,
        })
    }
}

fn cancels(
    map: &HashMap<String, AttributeValue>,
) -> Result<Option<Vec<(String, u64)>>, ItemFormatError> {
    let marks = match map.get(ATTR_CANCELS) {
        None | Some(AttributeValue::Null(_)) => return Ok(None),
        Some(AttributeValue::M(m)) => m,
        Some(other) => {
            return Err(ItemFormatError(format!(
                "`{ATTR_CANCELS}` is {other:?}, not a map"
            )))
        }
    };
    let mut marks = marks
        .keys()
        .map(|digest| Ok((digest.clone(), number(marks, digest)?.unwrap_or_default())))
        .collect::<Result<Vec<_>, ItemFormatError>>()?;
    marks.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(Some(marks))
}

fn semaphore(map: &HashMap<String, AttributeValue>) -> Result<Option<Semaphore>, ItemFormatError> {
    let Some(limit) = number(map, ATTR_SEM_LIMIT)? else {
        return Ok(None);
    };
    let holders = match map.get(ATTR_SEM_HOLDERS) {
        None | Some(AttributeValue::Null(_)) => HashMap::new(),
        Some(AttributeValue::M(m)) => m.clone(),
        Some(other) => {
            return Err(ItemFormatError(format!(
                "`{ATTR_SEM_HOLDERS}` is {other:?}, not a map"
            )))
        }
    };
    let mut holders = holders
        .iter()
        .map(|(digest, v)| {
            let AttributeValue::M(m) = v else {
                return Err(ItemFormatError(format!("a holder is {v:?}, not a map")));
            };
            Ok(SemHolder {
                digest: digest.clone(),
                fence: number(m, SEM_ENTRY_FENCE)?.unwrap_or_default(),
                lease_end_ms: number(m, SEM_ENTRY_LEASE_END)?.unwrap_or_default(),
                acquired_at_ms: number(m, "a")?.unwrap_or_default(),
                holder: string(m, SEM_ENTRY_LABEL)?,
                claim_ms: number(m, "c")?,
                wake_id: string(m, "k")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    holders.sort_by_key(|h| h.fence);
    Ok(Some(Semaphore {
        limit: limit.min(u32::MAX as u64) as u32,
        holders,
    }))
}

fn waiter(v: &AttributeValue) -> Result<Waiter, ItemFormatError> {
    let AttributeValue::M(m) = v else {
        return Err(ItemFormatError(format!("a waiter is {v:?}, not a map")));
    };
    Ok(Waiter {
        digest: string(m, "w")?.ok_or_else(|| ItemFormatError("a waiter has no `w`".into()))?,
        duration_ms: number(m, "d")?.unwrap_or_default(),
        alive_until_ms: number(m, "x")?.unwrap_or_default(),
        active_until_ms: number(m, "a")?.unwrap_or_default(),
        holder: string(m, "h")?,
        token: string(m, "t")?,
    })
}

fn string(
    map: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<String>, ItemFormatError> {
    match map.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ItemFormatError(format!(
            "`{name}` is {other:?}, not a string"
        ))),
    }
}

fn number(
    map: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<u64>, ItemFormatError> {
    match map.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(n)) => parse_whole_number(n).map(Some).ok_or_else(|| {
            ItemFormatError(format!("`{name}` = {n} is not a whole non-negative number"))
        }),
        Some(other) => Err(ItemFormatError(format!(
            "`{name}` is {other:?}, not a number"
        ))),
    }
}

/// DynamoDB numbers are decimal strings; Python writes integers, possibly as `10` or `10.0`.
fn parse_whole_number(n: &str) -> Option<u64> {
    if let Ok(v) = n.parse::<u64>() {
        return Some(v);
    }
    let (whole, frac) = n.split_once('.')?;
    if frac.chars().all(|c| c == '0') {
        whole.parse::<u64>().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }
    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    #[test]
    fn lock_fn_item_maps_every_attribute() {
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_RELEASE_CODE, s("o")),
            (ATTR_EXPIRES, n("11")),
            (ATTR_EXPIRES_AT_MS, n("10500")),
            (ATTR_FENCE, n("7")),
            (ATTR_ACQUIRED_AT_MS, n("500")),
            (ATTR_HOLDER, s("host-a")),
        ]))
        .unwrap();
        assert_eq!(item.lease_end_ms(), Some(10_500));
        assert!(item.is_held_at(10_499));
        assert!(!item.is_held_at(10_500));
        assert!(item.held_by("o", 0) && !item.held_by("p", 0));
        assert_eq!((item.fence, item.acquired_at_ms), (Some(7), Some(500)));
        assert_eq!(item.holder.as_deref(), Some("host-a"));
        assert_eq!(item.public_owner().as_deref(), Some("o"));
        assert_eq!(item.last_release, None);
    }

    #[test]
    fn releases_are_recognised_by_nonce_or_by_fence_and_digest() {
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_RELEASED_NONCE, s("n1")),
            (ATTR_RELEASED_FENCE, n("7")),
            (ATTR_RELEASED_AT_MS, n("900")),
            (
                "rel_7",
                AttributeValue::M(map(&[("f", n("7")), ("o", s("d")), ("t", n("900"))])),
            ),
        ]))
        .unwrap();
        assert_eq!(item.released_with_nonce("n1"), Some(900));
        assert_eq!(item.released_with_nonce("n2"), None);
        assert_eq!(item.released_in_slot("d", 7), Some(900));
        assert_eq!(
            item.released_in_slot("d", 15),
            None,
            "another grant's fence"
        );
        assert_eq!(item.released_in_slot("e", 7), None, "another owner");
    }

    #[test]
    fn dynamo_dlm_item_is_judged_by_whole_seconds_and_never_held_by_us() {
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_RELEASE_CODE, s("abc")),
            (ATTR_EXPIRES, n("12")),
        ]))
        .unwrap();
        assert_eq!(item.lease_end_ms(), Some(12_000));
        assert!(item.is_held_at(11_999) && !item.is_held_at(12_000));
        assert_eq!(item.fence, None);
        assert!(
            !item.held_by("abc", 0),
            "naming its release code is not holding it"
        );
        assert_eq!(item.public_owner(), Some(owner_digest("abc")));
    }

    #[test]
    fn the_queue_maps_in_order() {
        let entry = |w: &str, x: &str| {
            AttributeValue::M(map(&[
                ("w", s(w)),
                ("d", n("1000")),
                ("x", n(x)),
                ("a", n("0")),
            ]))
        };
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (
                ATTR_WAITERS,
                AttributeValue::L(vec![entry("a", "5"), entry("b", "50")]),
            ),
            (ATTR_QUEUE_ALIVE_UNTIL, n("50")),
        ]))
        .unwrap();
        assert_eq!(item.queue_index("b"), Some(1));
        assert_eq!(item.live_waiters(10), 1, "a's place ran out at 5");
        assert!(item.queue_alive_at(49) && !item.queue_alive_at(50));
        assert!(LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_WAITERS, AttributeValue::L(vec![n("1")])),
        ]))
        .is_err());
    }

    #[test]
    fn purge_comes_an_hour_after_the_lease_end() {
        assert_eq!(purge_at(10_001), 11 + PURGE_AFTER_SECS);
        assert_eq!(release_slot(17), "rel_1");
    }

    #[test]
    fn released_item_is_free() {
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_EXPIRES, n("5")),
            (ATTR_EXPIRES_AT_MS, n("4200")),
            (ATTR_FENCE, n("3")),
        ]))
        .unwrap();
        assert!(!item.is_held_at(0), "no owner means free");
    }

    #[test]
    fn python_style_numbers_parse_and_garbage_is_rejected() {
        let ok = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_EXPIRES, n("12.0")),
        ]))
        .unwrap();
        assert_eq!(ok.expires_secs, Some(12));
        for bad in [
            map(&[(ATTR_EXPIRES, n("1"))]),
            map(&[(ATTR_RESOURCE_ID, n("1"))]),
            map(&[(ATTR_RESOURCE_ID, s("r")), (ATTR_EXPIRES, s("12"))]),
            map(&[(ATTR_RESOURCE_ID, s("r")), (ATTR_FENCE, n("-1"))]),
            map(&[(ATTR_RESOURCE_ID, s("r")), (ATTR_FENCE, n("1.5"))]),
        ] {
            assert!(LockItem::try_from(&bad).is_err(), "{bad:?} should not map");
        }
    }
}
