//! Every DynamoDB expression lock-fn sends, as named constants (DESIGN.md explains each).
//!
//! Attribute names are written out (none is a DynamoDB reserved word, which dynalite checks like
//! DynamoDB does); values are placeholders: `:now_ms` and `:now_s` are the function's clock.

/// Acquire succeeds when there is no item, the lock-fn lease has ended, or (an item dynamo-dlm wrote,
/// with no ms field) its whole-second lease has ended - the same test dynamo-dlm applies.
pub const ACQUIRE_CONDITION: &str =
    "attribute_not_exists(resource_id) OR expires_at_ms <= :now_ms \
     OR (attribute_not_exists(expires_at_ms) AND expires <= :now_s)";

/// Acquire writes the new holder (its owner digest) and lease, and raises the fence: by one over
/// the stored fence, or, when the item has none (new, deleted by TTL, or overwritten by dynamo-dlm),
/// to a floor derived from the clock that exceeds every fence issued before. `purge_at` (the TTL
/// attribute) moves an hour past the lease end. The holder label is cleared, and so are a claim
/// pending from a handoff nobody claimed and an old grant's `wake_id`.
pub const ACQUIRE_UPDATE: &str =
    "SET release_code = :owner, expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge, \
     acquired_at_ms = :now_ms, fence = if_not_exists(fence, :fence_floor) + :one \
     REMOVE holder, claim_d, wake_id";

/// [`ACQUIRE_UPDATE`] for a request that gives a public holder label.
pub const ACQUIRE_LABELLED_UPDATE: &str =
    "SET release_code = :owner, expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge, \
     acquired_at_ms = :now_ms, fence = if_not_exists(fence, :fence_floor) + :one, holder = :holder \
     REMOVE claim_d, wake_id";

/// Holder-only operations (idempotent re-acquire; renew and release add the grant, below) require
/// the caller (`:owner` is its digest) to hold a lease that has not ended.
pub const HOLDER_CONDITION: &str = "release_code = :owner AND expires_at_ms > :now_ms";

/// [`HOLDER_CONDITION`] for the grant with fence `:fence` only.
pub const HOLDER_FENCE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND fence = :fence";

/// A release or renew that does not name its fence acts only on a grant that had begun when it was
/// first tried (`:since_ms`): a retry or a late attempt never ends (or moves) a newer grant of the
/// same owner.
pub const HOLDER_SINCE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND acquired_at_ms <= :since_ms";

/// Renew never moves the lease end back: a renew attempt held up in the network can land after a
/// later renew (lock-fn's own retry of it, or the holder's next renew), and would bring the end
/// before the one the holder was last told - the holder would work past its lease.
#[cfg(test)]
pub const RENEW_NOT_BACK: &str = "expires_at_ms <= :exp_ms";

/// A fenced renew: [`HOLDER_FENCE_CONDITION`] and `RENEW_NOT_BACK`.
pub const RENEW_FENCED_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND fence = :fence \
     AND expires_at_ms <= :exp_ms";

/// An unfenced renew: [`HOLDER_SINCE_CONDITION`] and `RENEW_NOT_BACK`.
pub const RENEW_SINCE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND acquired_at_ms <= :since_ms \
     AND expires_at_ms <= :exp_ms";

/// Renew moves the lease end (ms and seconds) and the purge time; the fence stays.
pub const RENEW_UPDATE: &str = "SET expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge";

/// Release ends the lease now but keeps the item, so the fence keeps counting up; `expires` becomes
/// "now" (rounded down) so dynamo-dlm clients see the lock free at once. It records the releasing
/// invocation's nonce and the released fence, so that lock-fn's own retries are recognised exactly.
pub const RELEASE_UPDATE: &str =
    "SET expires_at_ms = :now_ms, expires = :now_s, purge_at = :purge, released_nonce = :nonce, \
     released_at_ms = :now_ms, released_fence = fence REMOVE release_code, acquired_at_ms, holder";

/// A release that names its fence also records itself in slot `#slot` = `rel_<fence mod 8>`,
/// `{f: fence, o: owner digest, t: time}`: the last eight grants' releases stay recognisable however
/// many other releases follow (fences of one item's life are consecutive).
pub const RELEASE_FENCED_UPDATE: &str =
    "SET expires_at_ms = :now_ms, expires = :now_s, purge_at = :purge, released_nonce = :nonce, \
     released_at_ms = :now_ms, released_fence = fence, #slot = :record \
     REMOVE release_code, acquired_at_ms, holder";

/// Re-acquire by the current holder writes nothing new: it only confirms (and returns) the grant.
pub const CONFIRM_UPDATE: &str = "SET release_code = :owner";

/// Nobody is queued and alive (`qx`, the latest alive-until a waiter wrote, has passed).
#[cfg(test)]
pub const NO_LIVE_QUEUE: &str = "(attribute_not_exists(qx) OR qx <= :now_ms)";

/// A single try (an acquire that does not queue) is granted only when [`ACQUIRE_CONDITION`] holds
/// and nobody is queued and alive: no barging past waiters.
pub const TRY_ACQUIRE_CONDITION: &str =
    "(attribute_not_exists(resource_id) OR expires_at_ms <= :now_ms \
     OR (attribute_not_exists(expires_at_ms) AND expires <= :now_s)) \
     AND (attribute_not_exists(qx) OR qx <= :now_ms)";

/// [`HOLDER_SINCE_CONDITION`] (an unfenced release) when nobody is queued and alive: the release
/// that hands nothing on.
pub const RELEASE_ALONE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND acquired_at_ms <= :since_ms \
     AND (attribute_not_exists(qx) OR qx <= :now_ms)";

/// [`HOLDER_FENCE_CONDITION`] (a fenced release) when nobody is queued and alive.
pub const RELEASE_FENCED_ALONE_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND fence = :fence \
     AND (attribute_not_exists(qx) OR qx <= :now_ms)";

/// The grant a queued acquire takes (as [`ACQUIRE_UPDATE`], clearing a pending claim).
pub const TAKE_SET: &str =
    "release_code = :owner, expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge, \
     acquired_at_ms = :now_ms, fence = if_not_exists(fence, :fence_floor) + :one";

/// The grant a release hands to the next waiter in the same write: its owner digest and lease
/// (`:next_*`), a new fence, and how long the releaser held (`hold_ms`, the waiters' poll hint).
pub const HANDOFF_SET: &str =
    "release_code = :next, expires_at_ms = :next_exp_ms, expires = :next_exp_s, \
     purge_at = :next_purge, acquired_at_ms = :now_ms, fence = fence + :one, hold_ms = :hold";

/// What every release records of itself (see [`RELEASE_UPDATE`]); `released_fence = fence` reads
/// the fence before the write, also when the same write raises it for a handoff.
pub const RELEASE_RECORD_SET: &str =
    "released_nonce = :nonce, released_at_ms = :now_ms, released_fence = fence";

/// The end of a lease with nobody to hand it to (see [`RELEASE_UPDATE`]).
pub const RELEASE_END_SET: &str = "expires_at_ms = :now_ms, expires = :now_s, purge_at = :purge";

/// A waiter joins the tail of the queue, once (`wset` holds the queued digests): its entry goes to
/// the end of `waiters`, its digest into `wset`. A full queue refuses, and so does a missing item
/// (a peer deleted it since the read, e.g. dynamo-dlm's release): an upsert would leave an item
/// holding only a queue, with no lease attributes any acquire could ever take and no TTL time.
pub const JOIN_CONDITION: &str = "attribute_exists(resource_id) \
     AND (attribute_not_exists(wset) OR NOT contains(wset, :me)) \
     AND (attribute_not_exists(waiters) OR size(waiters) < :cap)";
/// The update for [`JOIN_CONDITION`] (with [`NOT_HOLDING`], and [`QUEUE_MARK_RAISED`] with `qx =
/// :qx` or [`QUEUE_MARK_COVERS`]).
#[cfg(test)]
pub const JOIN_UPDATE: &str = "SET waiters = list_append(if_not_exists(waiters, :empty), :entry), \
     qv = if_not_exists(qv, :qv_floor) + :one ADD wset :me_set";

/// Every join and keep-place raises the queue's version; a life of the item (after a dynamo-dlm
/// PutItem, a DeleteItem, TTL) starts it from the writer's clock, as fences do
/// ([`life_floor`](crate::model::fence::life_floor)), so that a write decided on one life's version
/// never matches the next life's.
pub const QUEUE_VERSION_SET: &str = "qv = if_not_exists(qv, :qv_floor) + :one";

/// A joiner does not hold the lock (mutex or semaphore, `#me` names its digest): two invocations of
/// one owner race, one takes the lock while the other's join lands; a holder with a live entry of
/// its own would be handed the lock back by its own release.
pub const NOT_HOLDING: &str =
    "(attribute_not_exists(release_code) OR release_code <> :me OR expires_at_ms <= :now_ms) \
     AND (attribute_not_exists(sem_holders.#me) OR sem_holders.#me.x <= :now_ms)";

/// The queue mark only ever rises while entries come and stay: a join or keep-place sets `qx =
/// :qx`, the larger of its own entry's `x` and the mark it read, and only if nobody raised it past
/// that since. (A normal waiter's 5 s place must never lower the mark below a Step Functions
/// task's 15-minute place: tries would barge past the task, and releases skip it.)
pub const QUEUE_MARK_RAISED: &str = "(attribute_not_exists(qx) OR qx <= :qx)";

/// The queue mark still covers a place the writer did not raise it for (it read a mark at least
/// that high): only a write that found no live entry lowers it, and then this write reads again.
pub const QUEUE_MARK_COVERS: &str = "qx >= :qx";

/// The queue is as the snapshot showed it: nobody joined or kept a place since (every join and
/// keep-place adds one to `qv`). Required by the writes decided from "nobody alive is queued" and
/// by those that remove the mark.
pub const QUEUE_UNCHANGED: &str = "qv = :qv";
/// [`QUEUE_UNCHANGED`] for a snapshot without `qv`.
pub const QUEUE_NEVER_CHANGED: &str = "attribute_not_exists(qv)";

/// A claim: the waiter the lock was handed to (with a short claim lease) takes its full lease.
pub const CLAIM_CONDITION: &str =
    "release_code = :owner AND expires_at_ms > :now_ms AND fence = :fence AND attribute_exists(claim_d)";
/// The update for [`CLAIM_CONDITION`].
#[cfg(test)]
pub const CLAIM_UPDATE: &str =
    "SET expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge REMOVE claim_d";

/// A Step Functions task that finds its owner holding the lock aims the grant at itself before it
/// is sent the grant: a new `wake_id`, so that no earlier sender can pass the grant over on a
/// "task closed" answer that may be about this delivery.
pub const AIM_CONDITION: &str = HOLDER_FENCE_CONDITION;

/// A grant is passed over (its task closed) only if nobody aimed it at a task since the sender did.
pub const WAKE_ID_CONDITION: &str = "wake_id = :wake_id";

/// Whether `expression` has an `OR` outside all parentheses.
fn has_top_level_or(expression: &str) -> bool {
    let mut depth = 0i32;
    let bytes = expression.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b' ' if depth == 0 && expression[i..].starts_with(" OR ") => return true,
            _ => {}
        }
    }
    false
}

/// A conditional update put together from the named fragments above plus a queue edit: each
/// removed entry `waiters[i]` is checked to still be the one the snapshot showed (`.w`) and, for a
/// dead one, still dead (`.x <= :now_ms`); entries go in descending index order (DynamoDB removes
/// them all from the original list; dynalite removes one after another, and descending order means
/// the same to both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// `SET` actions.
    pub set: Vec<String>,
    /// `REMOVE` actions.
    pub remove: Vec<String>,
    /// `ADD` actions.
    pub add: Vec<String>,
    /// `DELETE` actions.
    pub delete: Vec<String>,
    /// Conditions, ANDed.
    pub conditions: Vec<String>,
    /// Placeholder values.
    pub values: Vec<(String, aws_sdk_dynamodb::types::AttributeValue)>,
    /// Placeholder names.
    pub names: Vec<(String, String)>,
}

impl Update {
    /// The update expression.
    pub fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (keyword, actions) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
            ("DELETE", &self.delete),
        ] {
            if !actions.is_empty() {
                parts.push(format!("{keyword} {}", actions.join(", ")));
            }
        }
        parts.join(" ")
    }

    /// The condition expression: the conditions ANDed, each in parentheses only where it needs
    /// them (a top-level `OR`; DynamoDB rejects redundant parentheses).
    pub fn condition(&self) -> String {
        self.conditions
            .iter()
            .map(|c| {
                if has_top_level_or(c) {
                    format!("({c})")
                } else {
                    c.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Adds the queue edit's checks and removals.
    pub fn with_edit(mut self, edit: &crate::decide::edit::Edit) -> Self {
        use aws_sdk_dynamodb::types::AttributeValue;
        for (i, digest, dead) in &edit.removed {
            self.conditions.push(format!("waiters[{i}].w = :qw{i}"));
            if *dead {
                self.conditions.push(format!("waiters[{i}].x <= :now_ms"));
            }
            self.values
                .push((format!(":qw{i}"), AttributeValue::S(digest.clone())));
        }
        for (i, _, _) in edit.removed.iter().rev() {
            self.remove.push(format!("waiters[{i}]"));
        }
        if !edit.removed.is_empty() {
            self.delete.push("wset :gone".into());
            self.values
                .push((":gone".into(), AttributeValue::Ss(edit.digests())));
        }
        if let Some(crate::decide::edit::QueueVersion(version)) = edit.unchanged_since {
            match version {
                Some(v) => {
                    self.conditions.push(QUEUE_UNCHANGED.into());
                    self.values
                        .push((":qv".into(), AttributeValue::N(v.to_string())));
                }
                None => self.conditions.push(QUEUE_NEVER_CHANGED.into()),
            }
        }
        if edit.clears_mark {
            self.remove.push("qx".into());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::item::*;

    #[test]
    fn expressions_name_only_item_attributes() {
        let known = [
            ATTR_RESOURCE_ID,
            ATTR_RELEASE_CODE,
            ATTR_EXPIRES,
            ATTR_EXPIRES_AT_MS,
            ATTR_FENCE,
            ATTR_ACQUIRED_AT_MS,
            ATTR_HOLDER,
            ATTR_PURGE_AT,
            ATTR_RELEASED_NONCE,
            ATTR_RELEASED_FENCE,
            ATTR_RELEASED_AT_MS,
            ATTR_WAITERS,
            ATTR_WAITER_SET,
            ATTR_QUEUE_ALIVE_UNTIL,
            ATTR_CLAIM_MS,
            ATTR_HOLD_MS,
            ATTR_WAKE_ID,
            ATTR_QUEUE_VERSION,
        ];
        let keywords = [
            "SET",
            "REMOVE",
            "OR",
            "AND",
            "attribute_not_exists",
            "attribute_exists",
            "if_not_exists",
            "list_append",
            "contains",
            "size",
            "NOT",
            "ADD",
        ];
        for e in [
            ACQUIRE_CONDITION,
            ACQUIRE_UPDATE,
            ACQUIRE_LABELLED_UPDATE,
            HOLDER_CONDITION,
            HOLDER_SINCE_CONDITION,
            RENEW_UPDATE,
            RELEASE_UPDATE,
            CONFIRM_UPDATE,
            HOLDER_FENCE_CONDITION,
            RELEASE_FENCED_UPDATE,
            NO_LIVE_QUEUE,
            TRY_ACQUIRE_CONDITION,
            RELEASE_ALONE_CONDITION,
            RELEASE_FENCED_ALONE_CONDITION,
            TAKE_SET,
            HANDOFF_SET,
            RELEASE_RECORD_SET,
            RELEASE_END_SET,
            JOIN_CONDITION,
            JOIN_UPDATE,
            CLAIM_CONDITION,
            CLAIM_UPDATE,
            QUEUE_MARK_RAISED,
            QUEUE_MARK_COVERS,
            QUEUE_UNCHANGED,
            QUEUE_NEVER_CHANGED,
            RENEW_NOT_BACK,
            RENEW_FENCED_CONDITION,
            RENEW_SINCE_CONDITION,
        ] {
            // `#slot` names a release slot.
            let e = e.replace("#slot", "");
            for word in e.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                let word = word.trim_start_matches(|c: char| c.is_ascii_digit());
                if word.is_empty() || word.starts_with(':') || keywords.contains(&word) {
                    continue;
                }
                assert!(
                    known.contains(&word),
                    "{word:?} in {e:?} is not a lock item attribute"
                );
            }
        }
    }
}

#[cfg(test)]
mod composed {
    use super::*;
    use crate::decide::edit::Edit;

    #[test]
    fn the_composed_conditions_are_the_named_ones() {
        assert_eq!(
            TRY_ACQUIRE_CONDITION.split_whitespace().collect::<Vec<_>>(),
            format!("({ACQUIRE_CONDITION}) AND {NO_LIVE_QUEUE}")
                .split_whitespace()
                .collect::<Vec<_>>()
        );
        assert_eq!(
            RELEASE_ALONE_CONDITION
                .split_whitespace()
                .collect::<Vec<_>>(),
            format!("{HOLDER_SINCE_CONDITION} AND {NO_LIVE_QUEUE}")
                .split_whitespace()
                .collect::<Vec<_>>()
        );
        assert_eq!(
            RELEASE_FENCED_ALONE_CONDITION
                .split_whitespace()
                .collect::<Vec<_>>(),
            format!("{HOLDER_FENCE_CONDITION} AND {NO_LIVE_QUEUE}")
                .split_whitespace()
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_edit_checks_what_it_removes_and_removes_from_the_end() {
        let u = Update {
            set: vec![TAKE_SET.into()],
            conditions: vec![ACQUIRE_CONDITION.into()],
            ..Update::default()
        }
        .with_edit(&Edit {
            removed: vec![(0, "dead".into(), true), (2, "me".into(), false)],
            unchanged_since: Some(crate::decide::edit::QueueVersion(Some(5))),
            clears_mark: true,
        });
        assert!(u
            .expression()
            .ends_with("REMOVE waiters[2], waiters[0], qx DELETE wset :gone"));
        let c = u.condition();
        for part in [
            "waiters[0].w = :qw0 AND",
            "waiters[0].x <= :now_ms AND",
            "waiters[2].w = :qw2 AND",
            "qv = :qv",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(c.starts_with(&format!("({ACQUIRE_CONDITION}) AND")), "{c}");
        assert!(!c.contains("(("), "no redundant parentheses: {c}");
        let with_queue_check = Update {
            conditions: vec![HOLDER_CONDITION.into(), NO_LIVE_QUEUE.into()],
            ..Update::default()
        };
        assert_eq!(
            with_queue_check.condition(),
            format!("{HOLDER_CONDITION} AND {NO_LIVE_QUEUE}")
        );
        assert!(
            !c.contains("waiters[2].x"),
            "the taker's own entry need not be dead: {c}"
        );
    }
}
