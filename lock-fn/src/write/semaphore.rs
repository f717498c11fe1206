//! The conditional writes of semaphores (`decide/semaphore.rs` decides which), from named fragments. Every
//! holder entry is addressed as `sem_holders.#me` (`#me`, `#next`, `#p0`.. name owner digests).
//! Each write takes the function's clock at the attempt.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::decide::edit::Edit;
use crate::decide::step::SemTake;
use crate::model::fence::life_floor;
use crate::model::item::{
    purge_at, release_slot, release_slot_counter, Waiter, SEM_EXPIRES_AT_MS, SEM_RELEASE_CODE,
};
use crate::write::expressions::Update;
use crate::write::mutex::Releaser;

/// A new semaphore item: only where no item is.
pub const SEM_CREATE_CONDITION: &str = "attribute_not_exists(resource_id)";
/// What a new semaphore item holds: its limit, its first holder, the fence counter (from the clock
/// floor, above every fence issued before on this resource), and the mutex fields every mutex
/// condition and dynamo-dlm read as "held by someone else, forever".
pub const SEM_CREATE_SET: &str =
    "sem_limit = :limit, sem_holders = :holders, fence = :new_fence, release_code = :sem_code, \
     expires_at_ms = :never_ms, expires = :never_s, purge_at = :purge";
/// The item is a semaphore of this limit.
pub const SEM_LIMIT_IS: &str = "sem_limit = :limit";
/// No grant since the snapshot (every grant raises the counter by one): the snapshot's live
/// holders are still all the live holders there can be, so a snapshot with a free slot still has
/// one. This is what keeps the bound N exact.
pub const SEM_NO_GRANT_SINCE: &str = "fence = :old_fence";
/// The caller has no entry...
pub const SEM_NOT_HOLDING: &str = "attribute_not_exists(sem_holders.#me)";
/// ...or only an expired one.
pub const SEM_OWN_ENTRY_EXPIRED: &str = "sem_holders.#me.x <= :now_ms";
/// A grant: the caller's entry, the counter raised, the purge time moved.
pub const SEM_TAKE_SET: &str = "sem_holders.#me = :entry, fence = :new_fence, purge_at = :purge";
/// The caller holds a running lease with fence `:fence`.
pub const SEM_HOLDER_FENCE_CONDITION: &str =
    "sem_holders.#me.x > :now_ms AND sem_holders.#me.f = :fence";
/// The caller holds a running lease that began by `:since_ms` (an unfenced release or renew: never
/// a grant that began after its first attempt).
pub const SEM_HOLDER_SINCE_CONDITION: &str =
    "sem_holders.#me.x > :now_ms AND sem_holders.#me.a <= :since_ms";
/// Renew never moves the lease end back: a renew attempt held up in the network can land after a
/// later renew (lock-fn's own retry, or the next renew) and would bring the end before the one the
/// holder was last told.
pub const SEM_RENEW_NOT_BACK: &str = "sem_holders.#me.x <= :exp_ms";
/// Renew moves the holder's lease end.
pub const SEM_RENEW_SET: &str = "sem_holders.#me.x = :exp_ms, purge_at = :purge";
/// A handoff's claim: the holder takes its pending full lease.
pub const SEM_CLAIM_CONDITION: &str =
    "sem_holders.#me.x > :now_ms AND sem_holders.#me.f = :fence AND attribute_exists(sem_holders.#me.c)";
/// Every release records itself (lock-fn's own retries recognise it by the nonce).
pub const SEM_RELEASE_RECORD_SET: &str =
    "released_nonce = :nonce, released_at_ms = :now_ms, released_fence = :released_fence";
/// The waiter a slot is handed to holds no running lease of its own.
pub const SEM_NEXT_NOT_HOLDING: &str =
    "(attribute_not_exists(sem_holders.#next) OR sem_holders.#next.x <= :now_ms)";
/// The handoff: the next waiter's entry and a new fence, in the write that removes the releaser's;
/// `purge_at` moves as for a take (a semaphore whose queue never empties is served by handoffs
/// alone, and TTL must never delete an item with live holders).
pub const SEM_HANDOFF_SET: &str =
    "sem_holders.#next = :next_entry, fence = :new_fence, hold_ms = :hold, purge_at = :purge";
/// A write never brings the TTL time back: another deployment (or this one before its maximum lease
/// was lowered) may have granted a lease that outlives this write's own `now + LOCK_MAX_DURATION_MS`.
pub const SEM_PURGE_NOT_LOWERED: &str = "(attribute_not_exists(purge_at) OR purge_at <= :purge)";
/// A grant passed over (its task closed) only while nobody aimed it at a task since.
pub const SEM_WAKE_ID_CONDITION: &str = "sem_holders.#me.k = :wake_id";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn value(u: &mut Update, name: &str, v: AttributeValue) {
    u.values.push((name.to_string(), v));
}

fn name(u: &mut Update, placeholder: &str, digest: &str) {
    u.names.push((placeholder.to_string(), digest.to_string()));
}

/// A holder entry `{f, x, a, h?, c?, k?}`.
fn entry(
    fence: u64,
    lease_end_ms: u64,
    now: u64,
    holder: Option<&str>,
    claim_ms: Option<u64>,
    wake: Option<&str>,
) -> AttributeValue {
    let mut m = HashMap::from([
        ("f".to_string(), n(fence)),
        ("x".to_string(), n(lease_end_ms)),
        ("a".to_string(), n(now)),
    ]);
    if let Some(h) = holder {
        m.insert("h".into(), s(h));
    }
    if let Some(c) = claim_ms {
        m.insert("c".into(), n(c));
    }
    if let Some(k) = wake {
        m.insert("k".into(), s(k));
    }
    AttributeValue::M(m)
}

/// Sets the purge time of a semaphore item written at `now`: an hour after the longest lease any
/// holder can have (`max_ms`), or the `stored` one when that is later (the item as read), and never
/// lower than what is stored when the write lands ([`SEM_PURGE_NOT_LOWERED`]): TTL must never
/// delete an item with a live holder.
fn purge(u: &mut Update, now: u64, max_ms: u64, stored: Option<u64>) {
    let at = purge_at(now.saturating_add(max_ms)).max(stored.unwrap_or(0));
    value(u, ":purge", n(at));
    u.conditions.push(SEM_PURGE_NOT_LOWERED.into());
}

/// What a grant asks for.
#[derive(Debug, Clone, Copy)]
pub struct SemAsk<'a> {
    /// The caller's owner digest.
    pub me: &'a str,
    /// Its label.
    pub holder: Option<&'a str>,
    /// Its lease.
    pub duration_ms: u64,
    /// The limit it names.
    pub limit: u32,
    /// Aimed at a Step Functions task with this nonce.
    pub wake: Option<&'a str>,
    /// The function's longest lease (for the purge time).
    pub max_ms: u64,
}

/// The write of a [`SemTake`]: create the item, or add the caller's entry (purging expired holders)
/// under [`SEM_NO_GRANT_SINCE`] and [`SEM_LIMIT_IS`] (or, re-limiting an idle semaphore, the stored
/// limit); a caller not queued (and a re-limit) also requires, through the queue edit, that nobody
/// joined since the snapshot showed no live waiter.
pub fn sem_take(t: &SemTake, ask: &SemAsk, now: u64) -> Update {
    let exp = now.saturating_add(ask.duration_ms);
    let mut u = Update::default();
    value(&mut u, ":limit", n(ask.limit as u64));
    if t.create {
        value(
            &mut u,
            ":purge",
            n(purge_at(now.saturating_add(ask.max_ms))),
        );
        let fence = life_floor(now) + 1;
        u.set.push(SEM_CREATE_SET.into());
        u.conditions.push(SEM_CREATE_CONDITION.into());
        let holders = HashMap::from([(
            ask.me.to_string(),
            entry(fence, exp, now, ask.holder, None, ask.wake),
        )]);
        value(&mut u, ":holders", AttributeValue::M(holders));
        value(&mut u, ":new_fence", n(fence));
        value(&mut u, ":sem_code", s(SEM_RELEASE_CODE));
        value(&mut u, ":never_ms", n(SEM_EXPIRES_AT_MS));
        value(&mut u, ":never_s", n(SEM_EXPIRES_AT_MS / 1000));
        return u;
    }
    purge(&mut u, now, ask.max_ms, t.stored_purge);
    let fence = t.old_fence + 1;
    u.set.push(SEM_TAKE_SET.into());
    name(&mut u, "#me", ask.me);
    value(
        &mut u,
        ":entry",
        entry(fence, exp, now, ask.holder, None, ask.wake),
    );
    value(&mut u, ":new_fence", n(fence));
    value(&mut u, ":old_fence", n(t.old_fence));
    value(&mut u, ":now_ms", n(now));
    u.conditions.push(SEM_NO_GRANT_SINCE.into());
    match t.relimit_from {
        Some(stored) => {
            u.set.push("sem_limit = :limit".into());
            u.conditions.push("sem_limit = :stored_limit".into());
            value(&mut u, ":stored_limit", n(stored as u64));
        }
        None => u.conditions.push(SEM_LIMIT_IS.into()),
    }
    u.conditions.push(if t.own_expired {
        SEM_OWN_ENTRY_EXPIRED.into()
    } else {
        SEM_NOT_HOLDING.into()
    });
    for (i, digest) in t.purge.iter().enumerate() {
        let p = format!("#p{i}");
        u.remove.push(format!("sem_holders.{p}"));
        u.conditions.push(format!("sem_holders.{p}.x <= :now_ms"));
        name(&mut u, &p, digest);
    }
    let mut u = u.with_edit(&t.edit);
    // `:now_ms` is compared only by some of the conditions above (DynamoDB rejects unused values).
    let used = format!("{} {}", u.expression(), u.condition());
    u.values.retain(|(k, _)| used.contains(k.as_str()));
    u
}

/// The holder aims its grant (`fence`) at its Step Functions task (`wake`).
pub fn sem_aim(me: &str, fence: u64, wake: &str, now: u64) -> Update {
    let mut u = Update {
        set: vec!["sem_holders.#me.k = :wake".into()],
        conditions: vec![SEM_HOLDER_FENCE_CONDITION.into()],
        ..Update::default()
    };
    name(&mut u, "#me", me);
    value(&mut u, ":wake", s(wake));
    value(&mut u, ":fence", n(fence));
    value(&mut u, ":now_ms", n(now));
    u
}

/// The holder handed a slot with a claim lease takes its full lease ([`SEM_CLAIM_CONDITION`]).
pub fn sem_claim(
    me: &str,
    fence: u64,
    duration_ms: u64,
    wake: Option<&str>,
    max_ms: u64,
    stored_purge: Option<u64>,
    now: u64,
) -> Update {
    let mut u = Update {
        set: vec!["sem_holders.#me.x = :exp_ms, purge_at = :purge".into()],
        remove: vec!["sem_holders.#me.c".into()],
        conditions: vec![SEM_CLAIM_CONDITION.into()],
        ..Update::default()
    };
    match wake {
        Some(w) => {
            u.set.push("sem_holders.#me.k = :wake".into());
            value(&mut u, ":wake", s(w));
        }
        None => u.remove.push("sem_holders.#me.k".into()),
    }
    name(&mut u, "#me", me);
    value(&mut u, ":fence", n(fence));
    value(&mut u, ":now_ms", n(now));
    value(&mut u, ":exp_ms", n(now.saturating_add(duration_ms)));
    purge(&mut u, now, max_ms, stored_purge);
    u
}

/// Renew: the holder's lease ends `duration_ms` from now (of the grant `fence`, when named; else of
/// a grant that began by `since`, the renew's first attempt, never a newer grant of the owner).
pub fn sem_renew(
    me: &str,
    fence: Option<u64>,
    since: u64,
    duration_ms: u64,
    max_ms: u64,
    stored_purge: Option<u64>,
    now: u64,
) -> Update {
    let mut u = Update {
        set: vec![SEM_RENEW_SET.into()],
        ..Update::default()
    };
    match fence {
        Some(f) => {
            u.conditions.push(SEM_HOLDER_FENCE_CONDITION.into());
            value(&mut u, ":fence", n(f));
        }
        None => {
            u.conditions.push(SEM_HOLDER_SINCE_CONDITION.into());
            value(&mut u, ":since_ms", n(since));
        }
    }
    name(&mut u, "#me", me);
    value(&mut u, ":now_ms", n(now));
    value(&mut u, ":exp_ms", n(now.saturating_add(duration_ms)));
    u.conditions.push(SEM_RENEW_NOT_BACK.into());
    purge(&mut u, now, max_ms, stored_purge);
    u
}

/// The releaser's holder condition (its fence, else its first attempt's clock; when passing a
/// grant over, also its `wake_id`), the removal of its entry and the release record (and, fenced,
/// the grant's release slot, as for the mutex).
fn apply_release(r: &Releaser, u: &mut Update, released_fence: u64, now: u64) {
    name(u, "#me", r.me);
    u.remove.push("sem_holders.#me".into());
    u.set.push(SEM_RELEASE_RECORD_SET.into());
    value(u, ":nonce", s(r.nonce));
    value(u, ":released_fence", n(released_fence));
    value(u, ":now_ms", n(now));
    if let Some(w) = r.wake_id {
        u.conditions.push(SEM_WAKE_ID_CONDITION.into());
        value(u, ":wake_id", s(w));
    }
    match r.fence {
        Some(f) => {
            u.conditions.push(SEM_HOLDER_FENCE_CONDITION.into());
            value(u, ":fence", n(f));
            u.set.push("#slot = :record".into());
            name(u, "#slot", &release_slot(f));
            u.set.push("#slotg = fence".into());
            name(u, "#slotg", &release_slot_counter(f));
            value(
                u,
                ":record",
                crate::model::fence::release_record(r.me, f, now),
            );
        }
        None => {
            u.conditions.push(SEM_HOLDER_SINCE_CONDITION.into());
            value(u, ":since_ms", n(r.since));
        }
    }
}

/// A release with nobody alive to hand its slot to: removes the entry, prunes `edit`'s dead
/// waiters; `released_fence` is the grant's (from the snapshot).
pub fn sem_release_alone(r: &Releaser, released_fence: u64, edit: &Edit, now: u64) -> Update {
    let mut u = Update::default();
    apply_release(r, &mut u, released_fence, now);
    u.with_edit(edit)
}

/// A release that hands its slot to `next` in the same write: the next waiter's entry with a new
/// fence (its own lease when it waits in-function, else the claim lease with its full lease in
/// `c`), under [`SEM_NO_GRANT_SINCE`] and [`SEM_NEXT_NOT_HOLDING`]; `max_ms` is the longest lease
/// any holder can have (for `purge_at`).
#[allow(clippy::too_many_arguments)]
pub fn sem_handoff(
    r: &Releaser,
    released_fence: u64,
    old_fence: u64,
    next: &Waiter,
    hold_ms: u64,
    claim_ms: u64,
    max_ms: u64,
    stored_purge: Option<u64>,
    wake: Option<&str>,
    edit: &Edit,
    now: u64,
) -> Update {
    let mut u = Update::default();
    apply_release(r, &mut u, released_fence, now);
    purge(&mut u, now, max_ms, stored_purge);
    let active = next.active_at(now);
    let lease = if active {
        next.duration_ms
    } else {
        next.duration_ms.min(claim_ms)
    };
    let claim = (lease < next.duration_ms).then_some(next.duration_ms);
    let fence = old_fence + 1;
    u.set.push(SEM_HANDOFF_SET.into());
    u.conditions.push(SEM_NO_GRANT_SINCE.into());
    u.conditions.push(SEM_NEXT_NOT_HOLDING.into());
    name(&mut u, "#next", &next.digest);
    value(
        &mut u,
        ":next_entry",
        entry(
            fence,
            now.saturating_add(lease),
            now,
            next.holder.as_deref(),
            claim,
            wake,
        ),
    );
    value(&mut u, ":new_fence", n(fence));
    value(&mut u, ":old_fence", n(old_fence));
    value(&mut u, ":hold", n(hold_ms));
    let index = edit
        .removed
        .iter()
        .find(|(_, d, _)| *d == next.digest)
        .map(|(i, _, _)| *i)
        .expect("the edit removes the next holder");
    crate::write::mutex::next_still_waiting_as_read(&mut u, index, next);
    u.with_edit(edit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter() -> Waiter {
        Waiter {
            duration_ms: 60_000,
            holder: Some("exec-2".into()),
            ..Waiter::sample("next", 100)
        }
    }

    fn edit() -> Edit {
        Edit::only_entry("next")
    }

    fn take(create: bool, relimit: Option<u32>, queued: bool) -> SemTake {
        SemTake {
            create,
            old_fence: 9,
            purge: vec!["old".into()],
            own_expired: false,
            relimit_from: relimit,
            queued,
            stored_purge: Some(5),
            edit: if queued { edit() } else { Edit::default() },
        }
    }

    #[test]
    fn every_placeholder_is_given_a_value_and_every_value_used() {
        let ask = SemAsk {
            me: "me",
            holder: Some("h"),
            duration_ms: 100,
            limit: 3,
            wake: Some("w"),
            max_ms: 1000,
        };
        let fenced = Releaser {
            me: "me",
            fence: Some(7),
            since: 1,
            nonce: "n",
            wake_id: None,
        };
        let unfenced = Releaser {
            fence: None,
            wake_id: Some("w"),
            ..fenced.clone()
        };
        for u in [
            sem_take(&take(true, None, false), &ask, 10),
            sem_take(&take(false, None, false), &ask, 10),
            sem_take(&take(false, Some(2), false), &ask, 10),
            sem_take(&take(false, None, true), &ask, 10),
            sem_take(
                &SemTake {
                    purge: vec![],
                    ..take(false, None, true)
                },
                &ask,
                10,
            ),
            sem_aim("me", 7, "w", 10),
            sem_claim("me", 7, 100, None, 1000, None, 10),
            sem_claim("me", 7, 100, Some("w"), 1000, Some(5), 10),
            sem_renew("me", Some(7), 5, 100, 1000, None, 10),
            sem_renew("me", None, 5, 100, 1000, Some(5), 10),
            sem_release_alone(&fenced, 7, &Edit::default(), 10),
            sem_release_alone(&unfenced, 7, &edit(), 10),
            sem_handoff(
                &fenced,
                7,
                9,
                &waiter(),
                5,
                2000,
                1000,
                None,
                None,
                &edit(),
                10,
            ),
            sem_handoff(
                &unfenced,
                7,
                9,
                &waiter(),
                5,
                2000,
                1000,
                Some(5),
                Some("w"),
                &edit(),
                10,
            ),
        ] {
            let text = format!("{} {}", u.expression(), u.condition());
            for word in
                text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '#'))
            {
                if let Some(v) = word.strip_prefix(':') {
                    let v = format!(":{v}");
                    assert!(
                        u.values.iter().any(|(k, _)| *k == v),
                        "{v} has no value in {text}"
                    );
                }
                if word.starts_with('#') {
                    assert!(
                        u.names.iter().any(|(k, _)| k == word),
                        "{word} has no name in {text}"
                    );
                }
            }
            for (k, _) in &u.values {
                assert!(text.contains(k.as_str()), "{k} is unused in {text}");
            }
            for (k, _) in &u.names {
                assert!(text.contains(k.as_str()), "{k} is unused in {text}");
            }
        }
    }

    #[test]
    fn a_take_requires_no_grant_since_and_purges_only_what_is_still_expired() {
        let ask = SemAsk {
            me: "me",
            holder: None,
            duration_ms: 100,
            limit: 3,
            wake: None,
            max_ms: 1000,
        };
        let u = sem_take(&take(false, None, false), &ask, 10);
        let c = u.condition();
        assert!(
            c.contains(SEM_NO_GRANT_SINCE) && c.contains(SEM_LIMIT_IS),
            "{c}"
        );
        assert!(
            c.contains("sem_holders.#p0.x <= :now_ms") && c.contains(SEM_PURGE_NOT_LOWERED),
            "{c}"
        );
        assert!(
            u.expression().contains("REMOVE sem_holders.#p0"),
            "{}",
            u.expression()
        );
        let new = sem_take(&take(true, None, false), &ask, 10);
        assert_eq!(new.condition(), SEM_CREATE_CONDITION);
    }
}
