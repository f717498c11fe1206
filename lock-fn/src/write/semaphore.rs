//! The conditional writes of semaphores (`decide/semaphore.rs` decides which), from named parts as
//! typed values (`write/expr.rs`). Every holder entry is addressed as `sem_holders.#me` (`#me`,
//! `#next`, `#p`.. name owner digests). Each write takes the function's clock at the attempt.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::decide::edit::Edit;
use crate::decide::step::SemTake;
use crate::model::fence::life_floor;
use crate::model::item::{
    purge_at, release_slot_counter, Waiter, SEM_ENTRY_FENCE, SEM_ENTRY_LABEL, SEM_ENTRY_LEASE_END,
    SEM_EXPIRES_AT_MS, SEM_RELEASE_CODE,
};
use crate::write::expr::{at, num, text, val, Cond, Path, Step, Write};
use crate::write::expressions::{
    gt, le, not_cancelled_since, now_ms, of, queue_edit, release_slot_set,
};
use crate::write::mutex::{handoff_lease, next_still_waiting_as_read, Releaser};

/// The holder entry of the owner with digest `digest`, named through `#hint`.
fn holder(hint: &'static str, digest: &str) -> Path {
    Path::attr("sem_holders").key(hint, digest)
}

/// A new semaphore item: only where no item is.
pub fn sem_create_condition() -> Cond {
    Cond::NotExists(Path::attr("resource_id"))
}

/// What a new semaphore item holds: its limit, its first holder, the fence counter (from the clock
/// floor, above every fence issued before on this resource), and the mutex fields every mutex
/// condition and dynamo-dlm read as "held by someone else, forever".
pub fn sem_create_set(limit: u32, holders: AttributeValue, fence: u64, purge: u64) -> Write {
    Write::default()
        .set(Path::attr("sem_limit"), num("limit", limit as u64))
        .set(Path::attr("sem_holders"), val("holders", holders))
        .set(Path::attr("fence"), num("new_fence", fence))
        .set(
            Path::attr("release_code"),
            text("sem_code", SEM_RELEASE_CODE),
        )
        .set(
            Path::attr("expires_at_ms"),
            num("never_ms", SEM_EXPIRES_AT_MS),
        )
        .set(
            Path::attr("expires"),
            num("never_s", SEM_EXPIRES_AT_MS / 1000),
        )
        .set(Path::attr("purge_at"), num("purge", purge))
}

/// The item is a semaphore of this limit.
pub fn sem_limit_is(limit: u32) -> Cond {
    Cond::eq(at("sem_limit"), num("limit", limit as u64))
}

/// No grant since the snapshot (every grant raises the counter by one): the snapshot's live
/// holders are still all the live holders there can be, so a snapshot with a free slot still has
/// one. This is what keeps the bound N exact.
pub fn sem_no_grant_since(old_fence: u64) -> Cond {
    Cond::eq(at("fence"), num("old_fence", old_fence))
}

/// The caller has no entry...
pub fn sem_not_holding(me: &str) -> Cond {
    Cond::NotExists(holder("me", me))
}

/// ...or only an expired one.
pub fn sem_own_entry_expired(me: &str, now: u64) -> Cond {
    le(
        of(&holder("me", me).field(SEM_ENTRY_LEASE_END)),
        now_ms(now),
    )
}

/// The caller holds a running lease with fence `:fence`.
pub fn sem_holder_fence_condition(me: &str, fence: u64, now: u64) -> Cond {
    Cond::And(vec![
        gt(
            of(&holder("me", me).field(SEM_ENTRY_LEASE_END)),
            now_ms(now),
        ),
        Cond::eq(
            of(&holder("me", me).field(SEM_ENTRY_FENCE)),
            num("fence", fence),
        ),
    ])
}

/// The caller holds a running lease that began by `:since_ms` (an unfenced release or renew: never
/// a grant that began after its first attempt).
pub fn sem_holder_since_condition(me: &str, since: u64, now: u64) -> Cond {
    Cond::And(vec![
        gt(
            of(&holder("me", me).field(SEM_ENTRY_LEASE_END)),
            now_ms(now),
        ),
        le(of(&holder("me", me).field("a")), num("since_ms", since)),
    ])
}

/// The holder condition of a request: its fence when it names one, else its first attempt.
fn sem_holder_grant_condition(me: &str, fence: Option<u64>, since: u64, now: u64) -> Cond {
    match fence {
        Some(f) => sem_holder_fence_condition(me, f, now),
        None => sem_holder_since_condition(me, since, now),
    }
}

/// Renew never moves the lease end back: a renew attempt held up in the network can land after a
/// later renew (lock-fn's own retry, or the next renew) and would bring the end before the one the
/// holder was last told.
pub fn sem_renew_not_back(me: &str, exp: u64) -> Cond {
    le(
        of(&holder("me", me).field(SEM_ENTRY_LEASE_END)),
        num("exp_ms", exp),
    )
}

/// An ended grant of `me` goes (`end_of_grant::end_ended`): `REMOVE sem_holders.#me`, only while
/// the entry is that very grant (fence and lease end as read).
pub fn sem_end_ended(me: &str, fence: u64, lease_end_ms: u64) -> Write {
    let entry = holder("me", me);
    Write::default()
        .remove(entry.clone())
        .require(Cond::eq(
            of(&entry.clone().field(SEM_ENTRY_FENCE)),
            num("fence", fence),
        ))
        .require(Cond::eq(
            of(&entry.field(SEM_ENTRY_LEASE_END)),
            num("lease_end", lease_end_ms),
        ))
}

/// A handoff's claim: the holder takes its pending full lease.
pub fn sem_claim_condition(me: &str, fence: u64, now: u64) -> Cond {
    Cond::And(vec![
        sem_holder_fence_condition(me, fence, now),
        Cond::Exists(holder("me", me).field("c")),
    ])
}

/// Every release records itself (lock-fn's own retries recognise it by the nonce), with the fence
/// of the grant it ended (from the snapshot).
pub fn sem_release_record_set(nonce: &str, released_fence: u64, now: u64) -> Write {
    Write::default()
        .set(Path::attr("released_nonce"), text("nonce", nonce))
        .set(Path::attr("released_at_ms"), now_ms(now))
        .set(
            Path::attr("released_fence"),
            num("released_fence", released_fence),
        )
}

/// The waiter a slot is handed to holds no running lease of its own.
pub fn sem_next_not_holding(next: &str, now: u64) -> Cond {
    Cond::absent_or_at_most(holder("next", next).field(SEM_ENTRY_LEASE_END), now_ms(now))
}

/// A write never brings the TTL time back: another deployment (or this one before its maximum lease
/// was lowered) may have granted a lease that outlives this write's own `now + LOCK_MAX_DURATION_MS`.
pub fn sem_purge_not_lowered(purge: u64) -> Cond {
    Cond::absent_or_at_most(Path::attr("purge_at"), num("purge", purge))
}

/// A grant passed over (its task closed) only while nobody aimed it at a task since.
pub fn sem_wake_id_condition(me: &str, wake_id: &str) -> Cond {
    Cond::eq(of(&holder("me", me).field("k")), text("wake_id", wake_id))
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
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
        (SEM_ENTRY_FENCE.to_string(), n(fence)),
        (SEM_ENTRY_LEASE_END.to_string(), n(lease_end_ms)),
        ("a".to_string(), n(now)),
    ]);
    if let Some(h) = holder {
        m.insert(SEM_ENTRY_LABEL.into(), s(h));
    }
    if let Some(c) = claim_ms {
        m.insert("c".into(), n(c));
    }
    if let Some(k) = wake {
        m.insert("k".into(), s(k));
    }
    AttributeValue::M(m)
}

/// The purge time of a semaphore item written at `now`: an hour after the longest lease any
/// holder can have (`max_ms`), or the `stored` one when that is later (the item as read), and never
/// lower than what is stored when the write lands ([`sem_purge_not_lowered`]): TTL must never
/// delete an item with a live holder.
fn purge(now: u64, max_ms: u64, stored: Option<u64>) -> Write {
    let at = purge_at(now.saturating_add(max_ms)).max(stored.unwrap_or(0));
    Write::default()
        .set(Path::attr("purge_at"), num("purge", at))
        .require(sem_purge_not_lowered(at))
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
    /// The floor for the caller's cancel mark (`decide/cancel.rs`); `None` for an owner-less caller.
    pub since: Option<u64>,
}

/// The write of a [`SemTake`]: create the item, or add the caller's entry (purging expired holders)
/// under [`sem_no_grant_since`] and [`sem_limit_is`] (or, re-limiting an idle semaphore, the stored
/// limit); a caller not queued (and a re-limit) also requires, through the queue edit, that nobody
/// joined since the snapshot showed no live waiter.
pub fn sem_take(t: &SemTake, ask: &SemAsk, now: u64) -> Write {
    let exp = now.saturating_add(ask.duration_ms);
    if t.create {
        let fence = life_floor(now) + 1;
        let holders = HashMap::from([(
            ask.me.to_string(),
            entry(fence, exp, now, ask.holder, None, ask.wake),
        )]);
        return sem_create_set(
            ask.limit,
            AttributeValue::M(holders),
            fence,
            purge_at(now.saturating_add(ask.max_ms)),
        )
        .require(sem_create_condition());
    }
    let fence = t.old_fence + 1;
    let mut w = Write::default()
        .set(
            holder("me", ask.me),
            val("entry", entry(fence, exp, now, ask.holder, None, ask.wake)),
        )
        .set(Path::attr("fence"), num("new_fence", fence))
        .with(purge(now, ask.max_ms, t.stored_purge))
        .require(sem_no_grant_since(t.old_fence))
        .with(not_cancelled_since(ask.me, ask.since));
    w = match t.relimit_from {
        Some(stored) => w
            .set(Path::attr("sem_limit"), num("limit", ask.limit as u64))
            .require(Cond::eq(
                at("sem_limit"),
                num("stored_limit", stored as u64),
            )),
        None => w.require(sem_limit_is(ask.limit)),
    };
    w = w.require(if t.own_expired {
        sem_own_entry_expired(ask.me, now)
    } else {
        sem_not_holding(ask.me)
    });
    for digest in &t.purge {
        w = w.remove(holder("p", digest)).require(le(
            of(&holder("p", digest).field(SEM_ENTRY_LEASE_END)),
            now_ms(now),
        ));
    }
    w.with(queue_edit(&t.edit, now))
}

/// The holder aims its grant (`fence`) at its Step Functions task (`wake`).
pub fn sem_aim(me: &str, fence: u64, wake: &str, now: u64) -> Write {
    Write::default()
        .set(holder("me", me).field("k"), text("wake", wake))
        .require(sem_holder_fence_condition(me, fence, now))
}

/// The holder handed a slot with a claim lease takes its full lease ([`sem_claim_condition`]).
pub fn sem_claim(
    me: &str,
    fence: u64,
    duration_ms: u64,
    wake: Option<&str>,
    max_ms: u64,
    stored_purge: Option<u64>,
    now: u64,
) -> Write {
    let exp = now.saturating_add(duration_ms);
    let w = Write::default()
        .set(
            holder("me", me).field(SEM_ENTRY_LEASE_END),
            num("exp_ms", exp),
        )
        .with(purge(now, max_ms, stored_purge))
        .remove(holder("me", me).field("c"))
        .require(sem_claim_condition(me, fence, now))
        .require(sem_renew_not_back(me, exp));
    match wake {
        Some(k) => w.set(holder("me", me).field("k"), text("wake", k)),
        None => w.remove(holder("me", me).field("k")),
    }
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
) -> Write {
    let exp = now.saturating_add(duration_ms);
    Write::default()
        .set(
            holder("me", me).field(SEM_ENTRY_LEASE_END),
            num("exp_ms", exp),
        )
        .with(purge(now, max_ms, stored_purge))
        .require(sem_holder_grant_condition(me, fence, since, now))
        .require(sem_renew_not_back(me, exp))
}

/// The releaser's holder condition (its fence, else its first attempt's clock; when passing a
/// grant over, also its `wake_id`), the removal of its entry and the release record (and, fenced,
/// the grant's release slot and the counter as the release applies, `#slotg`).
fn release(r: &Releaser, released_fence: u64, now: u64) -> Write {
    let mut w = sem_release_record_set(r.nonce, released_fence, now)
        .remove(holder("me", r.me))
        .require(sem_holder_grant_condition(r.me, r.fence, r.since, now));
    if let Some(id) = r.wake_id {
        w = w.require(sem_wake_id_condition(r.me, id));
    }
    if let Some(f) = r.fence {
        w = w.with(release_slot_set(r.me, f, now)).set(
            Path(vec![Step::Key {
                hint: "slotg",
                key: release_slot_counter(f),
            }]),
            at("fence"),
        );
    }
    w
}

/// A release with nobody alive to hand its slot to: removes the entry, prunes `edit`'s dead
/// waiters; `released_fence` is the grant's (from the snapshot).
pub fn sem_release_alone(r: &Releaser, released_fence: u64, edit: &Edit, now: u64) -> Write {
    release(r, released_fence, now).with(queue_edit(edit, now))
}

/// A release that hands its slot to `next` in the same write: the next waiter's entry with a new
/// fence (its own lease when it waits in-function, else the claim lease with its full lease in
/// `c`), under [`sem_no_grant_since`] and [`sem_next_not_holding`]; `max_ms` is the longest lease
/// any holder can have (for `purge_at`, which moves as for a take: a semaphore whose queue never
/// empties is served by handoffs alone, and TTL must never delete an item with live holders).
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
) -> Write {
    let (lease, claim) = handoff_lease(next, claim_ms, now);
    let fence = old_fence + 1;
    let next_entry = entry(
        fence,
        now.saturating_add(lease),
        now,
        next.holder.as_deref(),
        claim,
        wake,
    );
    let index = edit
        .index_of(&next.digest)
        .expect("the edit removes the next holder");
    release(r, released_fence, now)
        .set(holder("next", &next.digest), val("next_entry", next_entry))
        .set(Path::attr("fence"), num("new_fence", fence))
        .set(Path::attr("hold_ms"), num("hold", hold_ms))
        .with(purge(now, max_ms, stored_purge))
        .require(sem_no_grant_since(old_fence))
        .require(sem_next_not_holding(&next.digest, now))
        .with(next_still_waiting_as_read(index, next, now))
        .with(queue_edit(edit, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(create: bool) -> SemTake {
        SemTake {
            create,
            old_fence: 9,
            purge: vec!["old".into(), "older".into()],
            own_expired: false,
            relimit_from: None,
            queued: false,
            stored_purge: Some(5),
            edit: Edit::default(),
        }
    }

    /// A semaphore item reads as held for ever to dynamo-dlm 1.0 (`expires` in the year 9999): its
    /// acquire, a PutItem under `attribute_not_exists(resource_id) OR expires <= :now`, is refused at
    /// any time a lock could run, so a dynamo-dlm peer never takes a semaphore's item over.
    #[test]
    fn a_dynamo_dlm_acquire_never_takes_a_semaphore_item() {
        use crate::store::memory::{Applied, MemoryTable};
        let ask = SemAsk {
            me: "me",
            holder: None,
            duration_ms: 100,
            limit: 3,
            wake: None,
            max_ms: 1000,
            since: None,
        };
        let mut t = MemoryTable::default();
        let created = t.update("resource_id", "s", &sem_take(&take(true), &ask, 10));
        assert!(matches!(created, Ok(Applied::Written(_))), "{created:?}");
        // dynamo-dlm's condition on 1 January 2200, its clock in whole seconds.
        let peer = Write::default().require(Cond::Or(vec![
            Cond::NotExists(Path::attr("resource_id")),
            le(at("expires"), num("now", 7_258_118_400)),
        ]));
        assert!(matches!(t.conditions_hold("s", &peer), Ok(false)));
        // The holder's task aims its grant at itself.
        let aimed = t.update("resource_id", "s", &sem_aim("me", 10_001, "w", 20));
        let Ok(Applied::Written(item)) = aimed else {
            panic!("{aimed:?}")
        };
        let AttributeValue::M(holders) = &item["sem_holders"] else {
            panic!("{item:?}")
        };
        let AttributeValue::M(me) = &holders["me"] else {
            panic!("{holders:?}")
        };
        assert_eq!(me["k"], AttributeValue::S("w".into()));
    }

    /// A slot handed to a waiter waiting in-function is its whole lease at once; to one that is
    /// not, a claim lease with its full lease pending in `c` until it comes back.
    #[test]
    fn a_handoff_gives_an_active_waiter_its_lease_and_a_passive_one_a_claim_window() {
        let r = Releaser {
            me: "me",
            fence: Some(7),
            since: 0,
            nonce: "n",
            wake_id: None,
        };
        let next = |active_until_ms| Waiter {
            duration_ms: 60_000,
            active_until_ms,
            ..Waiter::sample("next", 5_000)
        };
        let entry_of = |w: Write| {
            let AttributeValue::M(m) = w.render().values[":next_entry"].clone() else {
                panic!("an entry")
            };
            m
        };
        let edit = Edit::only_entry("next");
        let handoff =
            |w: &Waiter| sem_handoff(&r, 7, 9, w, 5, 2_000, 60_000, None, None, &edit, 10);
        let passive = entry_of(handoff(&next(0)));
        assert_eq!(passive["x"], n(2_010));
        assert_eq!(passive["c"], n(60_000));
        let active = entry_of(handoff(&next(50)));
        assert_eq!(active["x"], n(60_010));
        assert!(!active.contains_key("c"), "{active:?}");
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
            since: None,
        };
        let r = sem_take(&take(false), &ask, 10).render();
        let c = r.condition.unwrap();
        for part in [
            "fence = :old_fence",
            "sem_limit = :limit",
            "sem_holders.#p.x <= :now_ms",
            "sem_holders.#p_2.x <= :now_ms",
            "NOT purge_at > :purge",
        ] {
            assert!(c.contains(part), "{part} in {c}");
        }
        assert!(
            r.update.contains("REMOVE sem_holders.#p, sem_holders.#p_2"),
            "{}",
            r.update
        );
        assert_eq!(r.names["#p"], "old");
        assert_eq!(r.names["#p_2"], "older");
        let new = sem_take(&take(true), &ask, 10).render();
        assert_eq!(
            new.condition.as_deref(),
            Some("attribute_not_exists(resource_id)")
        );
    }
}
