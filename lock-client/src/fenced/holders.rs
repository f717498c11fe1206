//! Who holds a lock now, read from its lock item (the `ALL_OLD` of a refused check, or a read).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::error::HolderNow;
use crate::protocol::lock_item::{
    ATTR_EXPIRES, ATTR_EXPIRES_AT_MS, ATTR_FENCE, ATTR_HOLDER, ATTR_RELEASE_CODE, ATTR_SEM_HOLDERS,
    SEM_ENTRY_FENCE, SEM_ENTRY_LABEL, SEM_ENTRY_LEASE_END, SEM_RELEASE_CODE,
};

/// The holders a lock item names: a mutex's one holder (none when released), or a semaphore's
/// entries. Labels, fences and lease ends only - never the owner digests.
pub(crate) fn holders_now(item: &HashMap<String, AttributeValue>) -> Vec<HolderNow> {
    let release_code = item.get(ATTR_RELEASE_CODE).and_then(|v| v.as_s().ok());
    match release_code {
        None => Vec::new(),
        Some(code) if code == SEM_RELEASE_CODE => {
            let Some(Ok(entries)) = item.get(ATTR_SEM_HOLDERS).map(|v| v.as_m()) else {
                return Vec::new();
            };
            let mut holders: Vec<HolderNow> = entries
                .values()
                .filter_map(|v| v.as_m().ok())
                .map(|entry| HolderNow {
                    label: text(entry, SEM_ENTRY_LABEL),
                    fence: number(entry, SEM_ENTRY_FENCE),
                    expires_at_ms: number(entry, SEM_ENTRY_LEASE_END),
                })
                .collect();
            holders.sort_by_key(|h| h.fence);
            holders
        }
        Some(_) => vec![HolderNow {
            label: text(item, ATTR_HOLDER),
            fence: number(item, ATTR_FENCE).filter(|_| item.contains_key(ATTR_EXPIRES_AT_MS)),
            expires_at_ms: number(item, ATTR_EXPIRES_AT_MS)
                .or_else(|| number(item, ATTR_EXPIRES).map(|s| s.saturating_mul(1000))),
        }],
    }
}

fn text(m: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    m.get(name)?.as_s().ok().cloned()
}

pub(crate) fn number(m: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    m.get(name)?.as_n().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }
    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_mutex_names_its_one_holder_and_a_released_one_nobody() {
        let held = item(&[
            (ATTR_RELEASE_CODE, s("d1")),
            (ATTR_HOLDER, s("worker-7")),
            (ATTR_FENCE, n(42)),
            (ATTR_EXPIRES_AT_MS, n(9_000)),
        ]);
        assert_eq!(
            holders_now(&held),
            vec![HolderNow {
                label: Some("worker-7".into()),
                fence: Some(42),
                expires_at_ms: Some(9_000)
            }]
        );
        let released = item(&[(ATTR_FENCE, n(42)), (ATTR_EXPIRES_AT_MS, n(9_000))]);
        assert_eq!(holders_now(&released), vec![]);
    }

    #[test]
    fn a_dynamo_dlm_holder_has_no_fence_and_a_lease_in_whole_seconds() {
        let python = item(&[(ATTR_RELEASE_CODE, s("abc")), (ATTR_EXPIRES, n(12))]);
        assert_eq!(
            holders_now(&python),
            vec![HolderNow {
                label: None,
                fence: None,
                expires_at_ms: Some(12_000)
            }]
        );
    }

    #[test]
    fn a_semaphore_names_its_entries_in_fence_order_without_digests() {
        let entry = |f: u64, h: Option<&str>| {
            let mut m = HashMap::from([
                (SEM_ENTRY_FENCE.to_string(), n(f)),
                (SEM_ENTRY_LEASE_END.to_string(), n(f * 10)),
            ]);
            if let Some(h) = h {
                m.insert(SEM_ENTRY_LABEL.to_string(), s(h));
            }
            AttributeValue::M(m)
        };
        let sem = item(&[
            (ATTR_RELEASE_CODE, s(SEM_RELEASE_CODE)),
            (ATTR_FENCE, n(9)),
            (
                ATTR_SEM_HOLDERS,
                AttributeValue::M(HashMap::from([
                    ("d2".to_string(), entry(8, None)),
                    ("d1".to_string(), entry(7, Some("a"))),
                ])),
            ),
        ]);
        let holders = holders_now(&sem);
        assert_eq!(holders.len(), 2);
        assert_eq!(holders[0].label.as_deref(), Some("a"));
        assert_eq!(holders[0].fence, Some(7));
        assert_eq!(holders[1].expires_at_ms, Some(80));
    }
}
