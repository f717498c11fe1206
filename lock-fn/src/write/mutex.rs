//! The conditional writes of the queue paths, put together from the named parts in
//! `expressions.rs` and a queue edit (`decide/edit.rs`). Each takes the function's clock at the attempt.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::decide::cancel::MarkWrite;
use crate::decide::edit::Edit;
use crate::model::item::Waiter;
use crate::write::expr::{at, num, text, val, Cond, Operand, Path, Val, Write};
use crate::write::expressions::*;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A queued acquire takes the free lock: [`take_set`] for the owner with digest `me`, under
/// [`acquire_condition`], with the queue edit (its own entry, dead ones; for a caller that was
/// not queued, the edit also requires that nobody joined since the snapshot showed no live waiter);
/// `wake`: the grant goes to a Step Functions task, aimed with this nonce
/// ([`crate::model::item::ATTR_WAKE_ID`]).
pub fn take(
    me: &str,
    holder: Option<&str>,
    duration_ms: u64,
    wake: Option<&str>,
    edit: &Edit,
    since: Option<u64>,
    now: u64,
) -> Write {
    take_set(me, now.saturating_add(duration_ms), now)
        .with(label(holder))
        .with(aim_at(wake))
        .require(acquire_condition(now))
        .with(queue_edit(edit, now))
        .with(not_cancelled_since(me, since))
}

/// An ended grant of `me` goes (`end_of_grant::end_ended`): `REMOVE release_code, acquired_at_ms,
/// holder`, only while the item holds that very grant (owner, fence and lease end as read).
pub fn mutex_end_ended(me: &str, fence: u64, lease_end_ms: u64) -> Write {
    Write::default()
        .remove(Path::attr("release_code"))
        .remove(Path::attr("acquired_at_ms"))
        .remove(Path::attr("holder"))
        .require(Cond::eq(at("release_code"), text("owner", me)))
        .require(Cond::eq(at("fence"), num("fence", fence)))
        .require(Cond::eq(
            at("expires_at_ms"),
            num("lease_end", lease_end_ms),
        ))
}

/// A Step Functions task of the holder aims the grant (`fence`) at itself: `SET wake_id = :wake`
/// under [`holder_fence_condition`] (a new `wake_id`, so that no earlier sender can pass the grant
/// over on a "task closed" answer that may be about this delivery).
pub fn aim(me: &str, fence: u64, wake: &str, now: u64) -> Write {
    aim_at(Some(wake)).require(holder_fence_condition(me, fence, now))
}

/// The queue entry of a waiter.
pub fn entry(waiter: &Waiter) -> AttributeValue {
    let mut m = HashMap::from([
        ("w".to_string(), s(&waiter.digest)),
        ("d".to_string(), n(waiter.duration_ms)),
        ("x".to_string(), n(waiter.alive_until_ms)),
        ("a".to_string(), n(waiter.active_until_ms)),
    ]);
    if let Some(h) = &waiter.holder {
        m.insert("h".to_string(), s(h));
    }
    if let Some(t) = &waiter.token {
        m.insert("t".to_string(), s(t));
    }
    AttributeValue::M(m)
}

/// What a join or keep-place does with the queue mark `qx`, decided from the item as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The mark as read is below this (the writer's own `x`, or an entry's): raise it to this,
    /// unless someone raised it further since ([`queue_mark_raised`]).
    Raise(u64),
    /// The mark as read covers this already: leave it, and require that it still does
    /// ([`queue_mark_covers`]) - nobody lowers it but a write that found no live entry, and then
    /// this write reads again.
    Covers(u64),
}

impl Mark {
    /// The mark for a write decided from `item` whose own entry lives until `x`.
    pub fn for_entry(item: Option<&crate::model::item::LockItem>, x: u64) -> Mark {
        let read = item.and_then(|i| i.queue_alive_until_ms);
        let needed = item.map_or(x, |i| crate::decide::queue::queue_mark(i).max(x));
        match read {
            Some(qx) if qx >= needed => Mark::Covers(needed),
            _ => Mark::Raise(needed),
        }
    }

    /// The mark's part of a write.
    fn write(self) -> Write {
        match self {
            Mark::Raise(qx) => Write::default()
                .set(Path::attr("qx"), num("qx", qx))
                .require(queue_mark_raised(qx)),
            Mark::Covers(qx) => Write::default().require(queue_mark_covers(qx)),
        }
    }
}

/// A waiter joins the tail ([`join_condition`], [`not_holding`]) of a queue of at most `cap`
/// entries: its entry appended to `waiters`, its digest added to `wset`, the queue's version
/// raised, the queue mark as `mark` says.
pub fn join(waiter: &Waiter, cap: usize, mark: Mark, since: Option<u64>, now: u64) -> Write {
    Write::default()
        .set(
            Path::attr("waiters"),
            Operand::ListAppend(
                Box::new(Operand::IfNotExists(
                    Path::attr("waiters"),
                    Box::new(val("empty", AttributeValue::L(vec![]))),
                )),
                Box::new(val("entry", AttributeValue::L(vec![entry(waiter)]))),
            ),
        )
        .with(queue_version_set(now))
        .add(
            Path::attr("wset"),
            Val {
                hint: "me_set",
                value: AttributeValue::Ss(vec![waiter.digest.clone()]),
            },
        )
        .require(join_condition(&waiter.digest, cap))
        .require(not_holding(&waiter.digest, now))
        .with(mark.write())
        .with(not_cancelled_since(&waiter.digest, since))
}

/// What a keep-place writes into the waiter's entry.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The entry is alive until then (ms).
    pub alive_until_ms: u64,
    /// An invocation waits for it in-function until then (ms; 0: none).
    pub active_until_ms: u64,
    /// A Step Functions waiter's new task token.
    pub token: Option<&'a str>,
    /// The lease the waiter asks for now: a handoff grants it this (a caller sizing its lease from
    /// its own deadline asks for less as its wait goes on).
    pub duration_ms: u64,
}

/// A queued waiter keeps its place: its entry at `index` (checked to be its own) is alive until
/// `alive_until_ms`, an invocation waits for it in-function until `active_until_ms`, a handoff
/// grants it the lease of `duration_ms` it asks for now, and (a Step Functions waiter that came
/// back with a new task token) it is woken through `token`. The queue mark as `mark` says.
pub fn refresh(
    index: usize,
    me: &str,
    place: Place,
    mark: Mark,
    since: Option<u64>,
    now: u64,
) -> Write {
    let Place {
        alive_until_ms,
        active_until_ms,
        token,
        duration_ms,
    } = place;
    let at_index = waiter_at(index);
    let w = Write::default()
        .set(at_index.clone().field("x"), num("x", alive_until_ms))
        .set(at_index.clone().field("a"), num("a", active_until_ms))
        .set(at_index.clone().field("d"), num("d", duration_ms))
        .with(queue_version_set(now))
        .require(Cond::eq(of(&at_index.clone().field("w")), text("me", me)))
        .with(mark.write())
        // A stale keep-place (its invocation started before the owner's cancel) must not land on
        // the entry of the owner's later turn at the same index.
        .with(not_cancelled_since(me, since));
    match token {
        Some(t) => w.set(at_index.field("t"), text("t", t)),
        // The owner waits without a task now: a token left from an earlier task of its own must
        // not make a handoff (or a wake) send its grant to that task and pass it over as closed.
        None => w.remove(at_index.field("t")),
    }
}

/// The take a waiter makes for the Step Functions task heading the queue of a free lock (see
/// `wake_head.rs`): [`take`] for it, aimed at its task, with the guards of a handoff - its place
/// still alive, and still waiting through the token read.
pub fn wake_take(head: usize, task: &Waiter, wake: &str, edit: &Edit, now: u64) -> Write {
    take(
        &task.digest,
        task.holder.as_deref(),
        task.duration_ms,
        Some(wake),
        edit,
        None,
        now,
    )
    .with(next_still_waiting_as_read(head, task, now))
}

/// When a place taken or kept at `now` for `ttl` ms ends: rounded up to [`PLACE_STEP_MS`], so that
/// waiters writing within one step write the same `x` and the same queue mark, and do not refuse
/// each other's joins and keep-places ([`queue_mark_raised`]).
pub fn place_until(now: u64, ttl: u64) -> u64 {
    now.saturating_add(ttl).div_ceil(PLACE_STEP_MS) * PLACE_STEP_MS
}

/// The granularity of a place's end.
pub const PLACE_STEP_MS: u64 = 250;

/// How the holder's release is to be recognised and which grant it ends: the owner digest, the
/// fence when named (else the first attempt's clock, `since`), the invocation's nonce.
#[derive(Debug, Clone)]
pub struct Releaser<'a> {
    /// Owner digest.
    pub me: &'a str,
    /// The grant's fence, when the request named it.
    pub fence: Option<u64>,
    /// The release's first attempt (an unfenced release ends only a grant begun by then).
    pub since: u64,
    /// This invocation's nonce.
    pub nonce: &'a str,
    /// A grant passed over on behalf of a closed Step Functions task: the `wake_id` it was aimed
    /// with (the write is refused when someone aimed it since).
    pub wake_id: Option<&'a str>,
}

impl<'a> Releaser<'a> {
    /// The grant `fence` of the owner with digest `me`, passed over because its Step Functions
    /// task is closed: only while nobody aimed it at a task since `wake_id` was written (`since`: the
    /// function's now).
    pub fn passing_over(
        me: &'a str,
        fence: Option<u64>,
        wake_id: &'a str,
        nonce: &'a str,
        since: u64,
    ) -> Self {
        Releaser {
            me,
            fence,
            since,
            nonce,
            wake_id: Some(wake_id),
        }
    }

    /// The holder condition, the release record and (fenced) its slot.
    fn write(&self, now: u64) -> Write {
        let mut w = release_record_set(self.nonce, now)
            .require(holder_grant_condition(self.me, self.fence, self.since, now));
        if let Some(id) = self.wake_id {
            w = w.require(wake_id_condition(id));
        }
        match self.fence {
            Some(f) => w.with(release_slot_set(self.me, f, now)),
            None => w,
        }
    }
}

/// The release hands the lock to `next` in the same write ([`handoff_set`]): a new fence, the
/// waiter's own lease when it is waiting in-function (it takes the grant at once), else the short
/// `claim_ms` lease with its full lease pending (`claim_d`) until it comes back. `wake`: the
/// nonce the grant is aimed at the waiter's Step Functions task with (it has a token).
pub fn handoff(
    releaser: &Releaser,
    next: &Waiter,
    hold_ms: u64,
    claim_ms: u64,
    wake: Option<&str>,
    edit: &Edit,
    now: u64,
) -> Write {
    let (lease, pending) = handoff_lease(next, claim_ms, now);
    let mut w = handoff_set(&next.digest, now.saturating_add(lease), hold_ms, now);
    w = match pending {
        Some(full) => w.set(Path::attr("claim_d"), num("claim", full)),
        None => w.remove(Path::attr("claim_d")),
    };
    let index = edit
        .index_of(&next.digest)
        .expect("the edit removes the next holder");
    w.with(label(next.holder.as_deref()))
        .with(aim_at(wake))
        .with(releaser.write(now))
        .with(next_still_waiting_as_read(index, next, now))
        .with(queue_edit(edit, now))
}

/// The lease a handoff (mutex or semaphore) gives the waiter `next`: its own lease when it is
/// waiting in-function (it takes the grant at once), else the short `claim_ms` lease, with its full
/// lease pending (the second value) until it comes back to claim it.
pub(crate) fn handoff_lease(next: &Waiter, claim_ms: u64, now: u64) -> (u64, Option<u64>) {
    let lease = if next.active_at(now) {
        next.duration_ms
    } else {
        next.duration_ms.min(claim_ms)
    };
    (
        lease,
        (lease < next.duration_ms).then_some(next.duration_ms),
    )
}

/// A grant made to the waiter `next` read at `index` (a handoff, or a wake): its place is still
/// alive, and it still waits through the task token it read - a re-entry with a new token since
/// would be woken through the old one, answered "closed", and passed over - or still through none.
pub(crate) fn next_still_waiting_as_read(index: usize, next: &Waiter, now: u64) -> Write {
    let at_index = waiter_at(index);
    let w = Write::default().require(gt(of(&at_index.clone().field("x")), now_ms(now)));
    match &next.token {
        Some(t) => w.require(Cond::eq(of(&at_index.field("t")), text("next_token", t))),
        None => w.require(Cond::NotExists(at_index.field("t"))),
    }
}

/// A release with nobody alive to hand to, after a read: ends the lease ([`release_end_set`]) and
/// prunes the dead waiters of `edit`.
pub fn release_pruning(releaser: &Releaser, edit: &Edit, now: u64) -> Write {
    let mut w = release_end_set(now);
    for gone in [
        "release_code",
        "acquired_at_ms",
        "holder",
        "claim_d",
        "wake_id",
    ] {
        w = w.remove(Path::attr(gone));
    }
    w.with(releaser.write(now)).with(queue_edit(edit, now))
}

/// Only the queue edit: a waiter leaving (`cancel`: its entry, and dead ones), or dead waiters
/// pruned (a queue full of them).
pub fn edit_only(edit: &Edit, now: u64) -> Write {
    queue_edit(edit, now)
}

/// A cancel: the owner's queue entry taken out (`edit`, when it is queued) and its cancel mark left
/// with the marks `drop` names removed ([`cancel_mark_set`]), in one write. Without an edit the
/// owner must still not be queued ([`not_queued`]), and, when the read showed it no grant
/// (`holds` false), still not hold the lock ([`not_holding`]): a join or take that landed since the
/// read (sent before the mark, which it could not see) is undone by the cancel's next round.
pub fn cancel(
    me: &str,
    edit: Option<&Edit>,
    holds: bool,
    how: MarkWrite,
    drop: &[(String, u64)],
    now: u64,
) -> Write {
    let w = cancel_mark_set(me, how, drop, now);
    match edit {
        Some(edit) => w.with(queue_edit(edit, now)),
        None if holds => w.require(not_queued(me)),
        None => w.require(not_queued(me)).require(not_holding(me, now)),
    }
}

/// The waiter the lock was handed to with a claim lease takes its full lease
/// ([`claim_condition`]), never moving the lease end back ([`renew_not_back`]). `wake`: aimed at
/// the claimer's Step Functions task (else any earlier aim is voided).
pub fn claim(me: &str, fence: u64, duration_ms: u64, wake: Option<&str>, now: u64) -> Write {
    let exp = now.saturating_add(duration_ms);
    lease_end_set(exp)
        .remove(Path::attr("claim_d"))
        .with(aim_at(wake))
        .require(claim_condition(me, fence, now))
        .require(renew_not_back(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(active_until_ms: u64) -> Waiter {
        Waiter {
            duration_ms: 60_000,
            active_until_ms,
            holder: Some("exec-2".into()),
            ..Waiter::sample("next", 100)
        }
    }

    fn edit() -> Edit {
        Edit::only_entry("next")
    }

    fn value(w: &Write, name: &str) -> Option<AttributeValue> {
        w.render().values.get(name).cloned()
    }

    #[test]
    fn a_handoff_gives_an_active_waiter_its_lease_and_a_passive_one_a_claim_window() {
        let r = Releaser {
            me: "me",
            fence: Some(7),
            since: 0,
            nonce: "n",
            wake_id: None,
        };
        let active = handoff(&r, &waiter(50), 3, 2000, None, &edit(), 10);
        assert_eq!(value(&active, ":next_exp_ms"), Some(n(60_010)));
        assert!(active.render().update.contains("REMOVE claim_d"));
        let passive = handoff(&r, &waiter(0), 3, 2000, None, &edit(), 10);
        assert_eq!(value(&passive, ":next_exp_ms"), Some(n(2_010)));
        assert_eq!(value(&passive, ":claim"), Some(n(60_000)));
        let rendered = passive.render();
        let c = rendered.condition.unwrap();
        assert!(
            c.contains("waiters[0].x > :now_ms") && c.contains("fence = :fence"),
            "{c}"
        );
        assert!(rendered.update.contains("#slot = :record"));
    }

    /// A place ends on a step boundary at or after `now + ttl`.
    #[test]
    fn a_place_ends_on_the_next_step() {
        assert_eq!(place_until(1_000, 5_000), 6_000);
        assert_eq!(place_until(1_001, 5_000), 6_250);
        assert_eq!(place_until(1_249, 0), 1_250);
    }

    /// The mark is raised only when the mark read is below what the write needs (its own place,
    /// every entry's); otherwise the write requires that it still covers that.
    #[test]
    fn a_mark_is_raised_only_when_the_mark_read_is_below_what_the_place_needs() {
        let item = |qx: Option<u64>, entry_x: u64| crate::model::item::LockItem {
            queue_alive_until_ms: qx,
            waiters: vec![Waiter::sample("a", entry_x)],
            ..crate::model::item::LockItem::default()
        };
        assert_eq!(
            Mark::for_entry(Some(&item(Some(500), 400)), 300),
            Mark::Covers(500)
        );
        assert_eq!(
            Mark::for_entry(Some(&item(Some(500), 400)), 700),
            Mark::Raise(700)
        );
        assert_eq!(
            Mark::for_entry(Some(&item(Some(500), 600)), 300),
            Mark::Raise(600)
        );
        assert_eq!(Mark::for_entry(Some(&item(None, 0)), 300), Mark::Raise(300));
        assert_eq!(Mark::for_entry(None, 300), Mark::Raise(300));
    }

    /// Every builder's write reads back as DynamoDB would read it: the parser refuses a
    /// placeholder without a value and a value no expression uses, as DynamoDB does.
    #[test]
    fn every_write_renders_to_what_dynamodb_accepts() {
        for (name, w) in crate::write::catalogue::samples() {
            let r = w.render();
            crate::write::parse::parse_write(
                &r.update,
                r.condition.as_deref(),
                &r.names.clone().into_iter().collect(),
                &r.values.clone().into_iter().collect(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e:?} in {r:?}"));
        }
    }
}

/// Writes applied to the in-memory table as DynamoDB gets them (expression strings, parsed).
#[cfg(test)]
pub(crate) mod applied {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue::{self, L, M, N, S};

    use super::*;
    use crate::decide::edit::Removal;
    use crate::decide::queue::acquire_step;
    use crate::decide::step::AcquireStep;
    use crate::store::memory::{Applied, Item, MemoryTable};
    use crate::write::parse::parse_write;

    /// Applies `w` to item `r` of `table` as DynamoDB gets it (rendered, then read back).
    pub(crate) fn apply(table: &mut MemoryTable, w: &Write) -> Applied {
        let r = w.render();
        let w = parse_write(
            &r.update,
            r.condition.as_deref(),
            &r.names.into_iter().collect(),
            &r.values.into_iter().collect(),
        )
        .expect("a well-formed write");
        table.update("resource_id", "r", &w).expect("valid")
    }

    fn entry(digest: &str, x: u64, token: Option<&str>) -> AttributeValue {
        let mut m = HashMap::from([
            ("w".to_string(), S(digest.into())),
            ("x".to_string(), N(x.to_string())),
            ("a".to_string(), N("0".into())),
            ("d".to_string(), N("1000".into())),
        ]);
        if let Some(t) = token {
            m.insert("t".into(), S(t.into()));
        }
        M(m)
    }

    fn table_with(waiters: Vec<AttributeValue>) -> MemoryTable {
        let mut t = MemoryTable::default();
        let item: Item = HashMap::from([
            ("resource_id".to_string(), S("r".into())),
            ("release_code".to_string(), S("old".into())),
            ("expires_at_ms".to_string(), N("5".into())),
            ("expires".to_string(), N("0".into())),
            ("fence".to_string(), N("7".into())),
            ("waiters".to_string(), L(waiters)),
            ("qx".to_string(), N("100".into())),
            ("purge_at".to_string(), N("9999".into())),
            ("qv".to_string(), N("1".into())),
        ]);
        t.put("r", item);
        t
    }

    /// Found by the simulator (seed 1286): a queued acquire read no item and decided to take the
    /// lock; its write, resent after a timeout 3 s later, found an item created since, its lease
    /// ended and a waiter queued alive, and took the lock past that waiter.
    #[test]
    fn a_take_decided_on_no_item_never_lands_on_an_item_with_a_queue() {
        let Some(AcquireStep::Take(edit)) = Some(acquire_step(None, "me", 10, 64)) else {
            panic!("a free lock is taken");
        };
        let mut t = table_with(vec![entry("ahead", 100, None)]);
        let u = take("me", None, 1000, None, &edit, None, 10);
        assert!(matches!(apply(&mut t, &u), Applied::Refused(_)));
        let mut none = MemoryTable::default();
        assert!(matches!(apply(&mut none, &u), Applied::Written(_)));
    }

    /// From a review: a take decided on one life of the item (its queue version `k`) landed late on
    /// the next life - dynamo-dlm's PutItem replaced the item, a waiter joined it, its whole-second
    /// lease ended - where the version started again at `k`, and took the lock past the waiter.
    #[test]
    fn a_take_decided_on_one_life_of_the_item_never_lands_on_the_next() {
        let mut t = table_with(vec![]);
        let snapshot = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        let Some(AcquireStep::Take(edit)) = Some(acquire_step(Some(&snapshot), "me", 10, 64))
        else {
            panic!("an idle lock nobody waits for is taken");
        };
        let peer: Item = HashMap::from([
            ("resource_id".to_string(), S("r".into())),
            ("release_code".to_string(), S("dynamo-dlm".into())),
            ("expires".to_string(), N("0".into())),
        ]);
        t.put("r", peer);
        let waiter = crate::model::item::Waiter {
            digest: "ahead".into(),
            duration_ms: 1000,
            alive_until_ms: 5000,
            active_until_ms: 0,
            holder: None,
            token: None,
        };
        let joined = apply(&mut t, &join(&waiter, 64, Mark::Raise(5000), None, 20));
        assert!(matches!(joined, Applied::Written(_)));
        let u = take("me", None, 1000, None, &edit, None, 10);
        assert!(matches!(apply(&mut t, &u), Applied::Refused(_)));
    }

    /// From the review of the cancel marks: the owner was not queued when its cancel read the
    /// item, and a join of an invocation that started before the cancel landed between the read
    /// and the cancel's write (no mark yet to refuse it). The mark-only write must not land over
    /// that entry as if the owner were not queued; refused, the cancel reads again and takes it out.
    #[test]
    fn a_cancel_decided_on_no_entry_never_lands_over_a_join_made_since() {
        use crate::decide::cancel::{marks_to_drop, since_floor};
        use crate::decide::queue::leave;
        let mut t = table_with(vec![]);
        let read = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        assert_eq!(
            leave(&read, "me", 20),
            None,
            "not queued when the cancel reads"
        );
        let stale = crate::model::item::Waiter {
            digest: "me".into(),
            duration_ms: 1000,
            alive_until_ms: 5000,
            active_until_ms: 0,
            holder: None,
            token: None,
        };
        let join = join(&stale, 64, Mark::Raise(5000), Some(since_floor(10)), 15);
        written(&mut t, &join);
        let mark_only = cancel(
            "me",
            None,
            false,
            MarkWrite::First,
            &marks_to_drop(&read, "me", 20),
            20,
        );
        assert!(matches!(apply(&mut t, &mark_only), Applied::Refused(_)));
        // The next round sees the entry and takes it out with the mark; the stale join, sent again,
        // is refused by the mark.
        let read = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        let edit = leave(&read, "me", 21).expect("queued now");
        written(
            &mut t,
            &cancel("me", Some(&edit), false, MarkWrite::First, &[], 21),
        );
        assert!(matches!(apply(&mut t, &join), Applied::Refused(_)));
        // A join of an invocation started well after the cancel is a new turn.
        let later = super::join(&stale, 64, Mark::Raise(5000), Some(since_floor(200)), 200);
        written(&mut t, &later);
    }

    /// From the second review of the cancel marks: a take (or single try) of an invocation that
    /// started before the cancel, landing between the cancel's read (no grant) and its mark-only
    /// write, makes the owner a holder: the write is refused, and the next round, which sees the
    /// grant, leaves the mark and releases it.
    #[test]
    fn a_cancel_decided_on_no_grant_never_lands_over_a_take_made_since() {
        use crate::decide::cancel::since_floor;
        let mut t = table_with(vec![]);
        // The sample table's queue mark is 100: the try lands after it, the lease long ended.
        let stale =
            crate::write::expressions::try_acquire("me", None, 60_000, Some(since_floor(110)), 150);
        written(&mut t, &stale);
        assert!(matches!(
            apply(
                &mut t,
                &cancel("me", None, false, MarkWrite::First, &[], 200)
            ),
            Applied::Refused(_)
        ));
        written(
            &mut t,
            &cancel("me", None, true, MarkWrite::First, &[], 201),
        );
    }

    /// From the second review: a cancel's write delayed in the network (or retried) lands after a
    /// later cancel of the same owner. It must not move the mark back: an acquire invocation that
    /// started between the two cancels would then pass the mark and queue the owner again.
    #[test]
    fn a_delayed_earlier_cancel_never_moves_the_mark_back() {
        use crate::decide::cancel::mark_write;
        let mut t = table_with(vec![]);
        let mark = |t: &MemoryTable| {
            crate::model::item::LockItem::try_from(t.get("r").unwrap())
                .unwrap()
                .cancelled_at("me")
        };
        written(
            &mut t,
            &cancel("me", None, true, MarkWrite::First, &[], 100),
        );
        let read = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        assert_eq!(mark_write(&read, "me", 200), MarkWrite::Raise);
        let earlier = cancel("me", None, true, MarkWrite::Raise, &[], 200);
        written(
            &mut t,
            &cancel("me", None, true, MarkWrite::Raise, &[], 300),
        );
        assert!(matches!(apply(&mut t, &earlier), Applied::Refused(_)));
        assert_eq!(mark(&t), Some(300));
        // Its next round, on a clock behind the later cancel's, keeps the later mark.
        let read = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        assert_eq!(mark_write(&read, "me", 250), MarkWrite::KeepLater);
        written(
            &mut t,
            &cancel("me", None, true, MarkWrite::KeepLater, &[], 250),
        );
        assert_eq!(mark(&t), Some(300));
        assert!(matches!(
            apply(
                &mut t,
                &cancel("me", None, true, MarkWrite::KeepLater, &[], 301)
            ),
            Applied::Refused(_)
        ));
    }

    /// A cancel on an item full of old marks drops a bounded number of them: its expressions stay
    /// within DynamoDB's 4 KB (and 300 operators) however many marks are old.
    #[test]
    fn a_cancel_over_many_old_marks_stays_within_dynamodbs_expression_limits() {
        use crate::decide::cancel::{marks_to_drop, CANCEL_MARK_KEEP_MS};
        let marks: HashMap<String, AttributeValue> = (0..300)
            .map(|k| (format!("{k:032x}"), N(k.to_string())))
            .collect();
        let mut t = table_with(vec![]);
        let mut item = t.get("r").unwrap().clone();
        item.insert("cx".into(), M(marks));
        t.put("r", item);
        let now = CANCEL_MARK_KEEP_MS + 1_000;
        let read = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        let w = cancel(
            "me",
            None,
            false,
            MarkWrite::Raise,
            &marks_to_drop(&read, "me", now),
            now,
        );
        let r = w.render();
        let condition = r.condition.clone().unwrap_or_default();
        assert!(r.update.len() <= 4096 && condition.len() <= 4096, "{r:?}");
        assert!(condition.matches(" AND ").count() + condition.matches(" OR ").count() < 300);
        let after = written(&mut t, &w);
        let AttributeValue::M(left) = &after["cx"] else {
            panic!("marks: {after:?}")
        };
        assert_eq!(left.len(), 300 - 16 + 1);
    }

    /// "me" takes the lock with fence 8 (the sample table's counter is 7) at 10 for a minute:
    /// how it releases that grant.
    fn taken_by_me(t: &mut MemoryTable) -> Releaser<'static> {
        written(
            t,
            &take("me", None, 60_000, None, &Edit::default(), None, 10),
        );
        Releaser {
            me: "me",
            fence: Some(8),
            since: 0,
            nonce: "n",
            wake_id: None,
        }
    }

    fn written(table: &mut MemoryTable, w: &Write) -> Item {
        match apply(table, w) {
            Applied::Written(item) => item,
            other => panic!("refused: {other:?}"),
        }
    }

    /// A confirm (an idempotent re-acquire) writes nothing new, and only for the holder.
    #[test]
    fn a_confirm_changes_nothing_and_needs_the_holder() {
        let mut t = table_with(vec![]);
        written(
            &mut t,
            &take("me", None, 60_000, None, &Edit::default(), None, 10),
        );
        let before = t.get("r").unwrap().clone();
        assert_eq!(written(&mut t, &confirm("me", 20)), before);
        assert!(matches!(
            apply(&mut t, &confirm("you", 20)),
            Applied::Refused(_)
        ));
    }

    #[test]
    fn a_take_labels_its_holder_and_clears_the_label_it_found() {
        let mut t = table_with(vec![]);
        let item = written(
            &mut t,
            &take("me", Some("h"), 1000, None, &Edit::default(), None, 10),
        );
        assert_eq!(item["holder"], S("h".into()));
        let item = written(
            &mut t,
            &take("you", None, 1000, None, &Edit::default(), None, 2000),
        );
        assert!(!item.contains_key("holder"), "{item:?}");
    }

    /// A release ends the lease at once: the next take, a millisecond later, is granted.
    #[test]
    fn a_released_lock_is_free_at_once() {
        let mut t = table_with(vec![]);
        let r = taken_by_me(&mut t);
        let item = written(&mut t, &release_pruning(&r, &Edit::default(), 20));
        assert_eq!(item["expires_at_ms"], N("20".into()));
        assert!(!item.contains_key("release_code"), "{item:?}");
        let item = written(
            &mut t,
            &take("you", None, 1000, None, &Edit::default(), None, 21),
        );
        assert_eq!(item["fence"], N("9".into()));
    }

    /// A take decided from "nobody alive is queued" is refused once someone joined since the read:
    /// every join raises the queue's version.
    #[test]
    fn a_take_relying_on_no_live_waiter_is_refused_once_someone_joined() {
        let mut t = table_with(vec![]);
        let snapshot = crate::model::item::LockItem::try_from(t.get("r").unwrap()).unwrap();
        let Some(AcquireStep::Take(edit)) = Some(acquire_step(Some(&snapshot), "me", 10, 64))
        else {
            panic!("an idle lock nobody waits for is taken");
        };
        let item = written(
            &mut t,
            &join(
                &Waiter::sample("ahead", 5000),
                64,
                Mark::Raise(5000),
                None,
                10,
            ),
        );
        assert_eq!(item["qv"], N("2".into()));
        let u = take("me", None, 1000, None, &edit, None, 10);
        assert!(matches!(apply(&mut t, &u), Applied::Refused(_)));
    }

    /// A handoff's claim lease becomes the full lease when the waiter claims it; a task's aim
    /// sets the grant's `wake_id`.
    #[test]
    fn a_claim_takes_the_full_lease_and_an_aim_marks_the_grant() {
        let mut t = table_with(vec![entry("next", 5_000, None)]);
        let r = taken_by_me(&mut t);
        let next = Waiter {
            duration_ms: 60_000,
            ..Waiter::sample("next", 5_000)
        };
        let edit = Edit {
            removed: vec![Removal::entry(0, "next")],
            unchanged_since: None,
            clears_mark: false,
        };
        let item = written(&mut t, &handoff(&r, &next, 5, 2_000, None, &edit, 20));
        assert_eq!(item["expires_at_ms"], N("2020".into()));
        assert_eq!(item["claim_d"], N("60000".into()));
        let item = written(&mut t, &claim("next", 9, 60_000, None, 30));
        assert_eq!(item["expires_at_ms"], N("60030".into()));
        assert!(!item.contains_key("claim_d"), "{item:?}");
        let item = written(&mut t, &aim("next", 9, "w", 40));
        assert_eq!(item["wake_id"], S("w".into()));
        assert!(matches!(
            apply(&mut t, &claim("next", 9, 60_000, None, 50)),
            Applied::Refused(_)
        ));
    }

    #[test]
    fn a_refresh_without_a_task_clears_the_token_an_earlier_task_left() {
        let mut t = table_with(vec![entry("me", 50, Some("old-task"))]);
        let place = Place {
            alive_until_ms: 90,
            active_until_ms: 80,
            token: None,
            duration_ms: 1_234,
        };
        let u = refresh(0, "me", place, Mark::Covers(90), None, 10);
        assert!(matches!(apply(&mut t, &u), Applied::Written(_)));
        let L(w) = &t.get("r").unwrap()["waiters"] else {
            panic!()
        };
        let M(first) = &w[0] else { panic!() };
        assert!(!first.contains_key("t"), "{first:?}");
        assert_eq!(first["x"], N("90".into()));
        assert_eq!(first["d"], N("1234".into()), "the lease it asks for now");
    }

    #[test]
    fn a_wake_take_needs_the_task_still_alive_and_waiting_through_the_token_read() {
        let task = Waiter {
            token: Some("tok1".into()),
            ..Waiter::sample("task", 50)
        };
        let me = entry("me", 100, None);
        let edit = Edit {
            removed: vec![Removal::entry(0, "task")],
            unchanged_since: None,
            clears_mark: false,
        };
        // Re-entered with a new token since the read: refused.
        let mut t = table_with(vec![entry("task", 50, Some("tok2")), me.clone()]);
        assert!(matches!(
            apply(&mut t, &wake_take(0, &task, "k", &edit, 10)),
            Applied::Refused(_)
        ));
        // Its place ended since the read: refused.
        let mut t = table_with(vec![entry("task", 50, Some("tok1")), me.clone()]);
        assert!(matches!(
            apply(&mut t, &wake_take(0, &task, "k", &edit, 60)),
            Applied::Refused(_)
        ));
        // As read: the task holds the lock, aimed with the wake's nonce, and has left the queue.
        let Applied::Written(item) = apply(&mut t, &wake_take(0, &task, "k", &edit, 10)) else {
            panic!("refused")
        };
        assert_eq!(item["release_code"], S("task".into()));
        assert_eq!(item["wake_id"], S("k".into()));
        assert_eq!(item["fence"], N("8".into()));
        let L(w) = &item["waiters"] else { panic!() };
        assert_eq!(w.len(), 1);
    }
}
