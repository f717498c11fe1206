//! The lock item as stored in DynamoDB, and its mapping from attribute maps.
//!
//! Attributes (see DESIGN.md): `resource_id` (S, key), `release_code` (S, the owner; absent when free),
//! `expires` (N, epoch seconds rounded up; dynamo-dlm's lease end and the TTL attribute),
//! `expires_at_ms` (N, the lease end in ms; absent on items dynamo-dlm wrote), `fence` (N),
//! `acquired_at_ms` (N).

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Partition key attribute (String).
pub const ATTR_RESOURCE_ID: &str = "resource_id";
/// The holder's owner token; dynamo-dlm's name for it.
pub const ATTR_RELEASE_CODE: &str = "release_code";
/// Lease end in epoch seconds, rounded up (dynamo-dlm's field, also the TTL attribute).
pub const ATTR_EXPIRES: &str = "expires";
/// Lease end in epoch milliseconds by the function's clock.
pub const ATTR_EXPIRES_AT_MS: &str = "expires_at_ms";
/// Fencing token of the current (or last) grant.
pub const ATTR_FENCE: &str = "fence";
/// When the current grant began, epoch ms.
pub const ATTR_ACQUIRED_AT_MS: &str = "acquired_at_ms";
/// Owner of the last released grant (kept so that a repeated release is recognised).
pub const ATTR_RELEASED_BY: &str = "released_by";
/// Fence of the last released grant.
pub const ATTR_RELEASED_FENCE: &str = "released_fence";
/// When the last release happened, epoch ms.
pub const ATTR_RELEASED_AT_MS: &str = "released_at_ms";
/// How many fenced releases stay recognisable (slots `rel_0` .. `rel_7`). Each slot is about 55
/// bytes, so the item stays under 1 KB (one write unit) with owner tokens of any length.
pub const RELEASE_SLOTS: u64 = 8;

/// The owner as a slot stores it: 64 bits of FNV-1a, in hex (short whatever the owner's length;
/// only ever compared with the same owner's digest, among the last few releases).
pub fn owner_digest(owner: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in owner.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The slot attribute a fenced release of `fence` records itself in.
pub fn release_slot(fence: u64) -> String {
    format!("rel_{}", fence % RELEASE_SLOTS)
}

/// One lock item, as read back from DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockItem {
    /// The locked resource.
    pub resource_id: String,
    /// The holder, when a grant is (or was until expiry) in place.
    pub owner: Option<String>,
    /// Lease end in ms (lock-fn items).
    pub expires_at_ms: Option<u64>,
    /// Lease end in whole seconds (all items; the only one on dynamo-dlm items).
    pub expires_secs: Option<u64>,
    /// The last grant's fence (lock-fn items).
    pub fence: Option<u64>,
    /// When the last grant began (lock-fn items).
    pub acquired_at_ms: Option<u64>,
    /// The last release: who released which fence when (lock-fn items that were released).
    pub last_release: Option<LastRelease>,
    /// Recent fenced releases, from the `rel_*` slots (their `owner` is the [`owner_digest`]).
    pub slot_releases: Vec<LastRelease>,
}

/// The record a release leaves in the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRelease {
    /// The releasing owner.
    pub owner: String,
    /// The released grant's fence.
    pub fence: Option<u64>,
    /// When it was released, epoch ms.
    pub at_ms: u64,
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

    /// Whether someone holds the lock at `now_ms` by the same rule the acquire condition applies.
    pub fn is_held_at(&self, now_ms: u64) -> bool {
        self.owner.is_some() && self.lease_end_ms().is_some_and(|end| end > now_ms)
    }

    /// Whether the item records that `owner` released the grant with `fence` (any grant of that
    /// owner when `fence` is `None`); returns when.
    pub fn released_by(&self, owner: &str, fence: Option<u64>) -> Option<u64> {
        let digest = owner_digest(owner);
        let slot = fence.and_then(|f| {
            self.slot_releases
                .iter()
                .find(|r| r.owner == digest && r.fence == Some(f))
        });
        let last = self
            .last_release
            .as_ref()
            .filter(|r| r.owner == owner && (fence.is_none() || r.fence == fence));
        slot.or(last).map(|r| r.at_ms)
    }

    /// Whether `owner` holds the lock at `now_ms`.
    pub fn held_by(&self, owner: &str, now_ms: u64) -> bool {
        self.is_held_at(now_ms) && self.owner.as_deref() == Some(owner)
    }
}

impl TryFrom<&HashMap<String, AttributeValue>> for LockItem {
    type Error = ItemFormatError;

    fn try_from(map: &HashMap<String, AttributeValue>) -> Result<Self, Self::Error> {
        let resource_id = string(map, ATTR_RESOURCE_ID)?
            .ok_or_else(|| ItemFormatError(format!("no `{ATTR_RESOURCE_ID}`")))?;
        Ok(LockItem {
            resource_id,
            owner: string(map, ATTR_RELEASE_CODE)?,
            expires_at_ms: number(map, ATTR_EXPIRES_AT_MS)?,
            expires_secs: number(map, ATTR_EXPIRES)?,
            fence: number(map, ATTR_FENCE)?,
            acquired_at_ms: number(map, ATTR_ACQUIRED_AT_MS)?,
            last_release: match (
                string(map, ATTR_RELEASED_BY)?,
                number(map, ATTR_RELEASED_AT_MS)?,
            ) {
                (Some(owner), Some(at_ms)) => Some(LastRelease {
                    owner,
                    fence: number(map, ATTR_RELEASED_FENCE)?,
                    at_ms,
                }),
                _ => None,
            },
            slot_releases: (0..RELEASE_SLOTS)
                .filter_map(|i| match map.get(&release_slot(i)) {
                    Some(AttributeValue::M(slot)) => Some(slot),
                    _ => None,
                })
                .map(|slot| {
                    Ok(LastRelease {
                        owner: string(slot, "o")?.unwrap_or_default(),
                        fence: number(slot, "f")?,
                        at_ms: number(slot, "t")?.unwrap_or_default(),
                    })
                })
                .collect::<Result<_, ItemFormatError>>()?,
        })
    }
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
        ]))
        .unwrap();
        assert_eq!(item.lease_end_ms(), Some(10_500));
        assert!(item.is_held_at(10_499));
        assert!(!item.is_held_at(10_500));
        assert!(item.held_by("o", 0) && !item.held_by("p", 0));
        assert_eq!((item.fence, item.acquired_at_ms), (Some(7), Some(500)));
        assert_eq!(item.last_release, None);
    }

    #[test]
    fn the_last_release_is_recognised_by_owner_and_fence() {
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_RELEASED_BY, s("o")),
            (ATTR_RELEASED_FENCE, n("7")),
            (ATTR_RELEASED_AT_MS, n("900")),
        ]))
        .unwrap();
        assert_eq!(item.released_by("o", Some(7)), Some(900));
        assert_eq!(item.released_by("o", None), Some(900));
        assert_eq!(item.released_by("o", Some(8)), None);
        assert_eq!(item.released_by("p", Some(7)), None);
    }

    #[test]
    fn dynamo_dlm_item_is_judged_by_whole_seconds() {
        let item = LockItem::try_from(&map(&[
            (ATTR_RESOURCE_ID, s("r")),
            (ATTR_RELEASE_CODE, s("abc")),
            (ATTR_EXPIRES, n("12")),
        ]))
        .unwrap();
        assert_eq!(item.lease_end_ms(), Some(12_000));
        assert!(item.is_held_at(11_999) && !item.is_held_at(12_000));
        assert_eq!(item.fence, None);
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
