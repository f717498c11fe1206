//! The named parts of the mutex and queue writes, as typed values (`write/expr.rs`): each condition
//! a [`Cond`], each group of actions a [`Write`], built with the values they compare or set, so a
//! placeholder without a value, or a value no expression uses, cannot be written down. DESIGN.md,
//! "The writes", shows each rendered (`write::catalogue::tests::the_catalogue_in_design_md_is_what_the_builders_render`).
//!
//! Attribute names are written out (none is a DynamoDB reserved word, which dynalite checks like
//! DynamoDB does); `:now_ms` and `:now_s` are the function's clock at the attempt.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::decide::cancel::MarkWrite;
use crate::decide::edit::{Edit, QueueVersion};
use crate::model::fence::{life_floor, release_record};
use crate::model::item::{purge_at, release_slot};
use crate::world::clock::{ceil_secs, floor_secs};
use crate::write::expr::{at, num, text, val, Cmp, Cond, Operand, Path, Step, Write};

/// `:now_ms`, the function's clock.
pub(crate) fn now_ms(now: u64) -> Operand {
    num("now_ms", now)
}

/// `:now_s`, the function's clock in whole seconds (rounded down: dynamo-dlm's `expires`).
fn now_s(now: u64) -> Operand {
    num("now_s", floor_secs(now))
}

/// `a <= b`.
pub(crate) fn le(a: Operand, b: Operand) -> Cond {
    Cond::cmp(a, Cmp::Le, b)
}

/// `a > b`.
pub(crate) fn gt(a: Operand, b: Operand) -> Cond {
    Cond::cmp(a, Cmp::Gt, b)
}

/// An attribute or nested path as an operand.
pub(crate) fn of(p: &Path) -> Operand {
    Operand::Path(p.clone())
}

/// A release slot (`rel_<fence mod 8>`), named through `#slot`.
fn slot(fence: u64) -> Path {
    Path(vec![Step::Key {
        hint: "slot",
        key: release_slot(fence),
    }])
}

/// Acquire succeeds when there is no item, the lock-fn lease has ended, or (an item dynamo-dlm
/// wrote, with no ms field) its whole-second lease has ended - the same test dynamo-dlm applies.
pub fn acquire_condition(now: u64) -> Cond {
    Cond::Or(vec![
        Cond::NotExists(Path::attr("resource_id")),
        le(at("expires_at_ms"), now_ms(now)),
        Cond::And(vec![
            Cond::NotExists(Path::attr("expires_at_ms")),
            le(at("expires"), now_s(now)),
        ]),
    ])
}

/// Nobody is queued and alive (`qx`, the latest alive-until a waiter wrote, has passed).
pub fn no_live_queue(now: u64) -> Cond {
    Cond::absent_or_at_most(Path::attr("qx"), now_ms(now))
}

/// A single try (an acquire that does not queue) is granted only when [`acquire_condition`] holds
/// and nobody is queued and alive: no barging past waiters.
pub fn try_acquire_condition(now: u64) -> Cond {
    Cond::And(vec![acquire_condition(now), no_live_queue(now)])
}

/// The lease end of a grant or renew ending at `exp` (ms): in ms, in seconds rounded up (what
/// dynamo-dlm reads), and the TTL time an hour after it.
pub fn lease_end_set(exp: u64) -> Write {
    Write::default()
        .set(Path::attr("expires_at_ms"), num("exp_ms", exp))
        .set(Path::attr("expires"), num("exp_s", ceil_secs(exp)))
        .set(Path::attr("purge_at"), num("purge", purge_at(exp)))
}

/// The grant an acquire takes: the new holder (its owner digest `me`) and lease, and the fence
/// raised - by one over the stored fence, or, when the item has none (new, deleted by TTL, or
/// overwritten by dynamo-dlm), to a floor derived from the clock that exceeds every fence issued
/// before. A claim pending from a handoff nobody claimed is cleared.
pub fn take_set(me: &str, exp: u64, now: u64) -> Write {
    Write::default()
        .set(Path::attr("release_code"), text("owner", me))
        .with(lease_end_set(exp))
        .set(Path::attr("acquired_at_ms"), now_ms(now))
        .set(
            Path::attr("fence"),
            Operand::IfNotExists(
                Path::attr("fence"),
                Box::new(num("fence_floor", life_floor(now))),
            )
            .plus(num("one", 1)),
        )
        .remove(Path::attr("claim_d"))
}

/// Sets the holder label, or clears an old one.
pub fn label(holder: Option<&str>) -> Write {
    match holder {
        Some(h) => Write::default().set(Path::attr("holder"), text("holder", h)),
        None => Write::default().remove(Path::attr("holder")),
    }
}

/// Sets the grant's `wake_id` (the nonce a Step Functions task is woken with), or clears an old
/// one (a grant that no task waits for).
pub fn aim_at(wake: Option<&str>) -> Write {
    match wake {
        Some(w) => Write::default().set(Path::attr("wake_id"), text("wake", w)),
        None => Write::default().remove(Path::attr("wake_id")),
    }
}

/// The single try: [`take_set`], labelled, aimed at no task, under [`try_acquire_condition`].
pub fn try_acquire(
    me: &str,
    holder: Option<&str>,
    duration_ms: u64,
    since: Option<u64>,
    now: u64,
) -> Write {
    take_set(me, now.saturating_add(duration_ms), now)
        .with(label(holder))
        .with(aim_at(None))
        .require(try_acquire_condition(now))
        .with(not_cancelled_since(me, since))
}

/// Holder-only operations require the caller (`:owner` is its digest) to hold a lease that has
/// not ended.
pub fn holder_condition(me: &str, now: u64) -> Cond {
    Cond::And(vec![
        Cond::eq(at("release_code"), text("owner", me)),
        gt(at("expires_at_ms"), now_ms(now)),
    ])
}

/// [`holder_condition`] for the grant with this fence only.
pub fn holder_fence_condition(me: &str, fence: u64, now: u64) -> Cond {
    Cond::And(vec![
        holder_condition(me, now),
        Cond::eq(at("fence"), num("fence", fence)),
    ])
}

/// A release or renew that does not name its fence acts only on a grant that had begun when it was
/// first tried (`:since_ms`): a retry or a late attempt never ends (or moves) a newer grant of the
/// same owner.
pub fn holder_since_condition(me: &str, since: u64, now: u64) -> Cond {
    Cond::And(vec![
        holder_condition(me, now),
        le(at("acquired_at_ms"), num("since_ms", since)),
    ])
}

/// The holder condition of a request: its fence when it names one, else its first attempt.
pub fn holder_grant_condition(me: &str, fence: Option<u64>, since: u64, now: u64) -> Cond {
    match fence {
        Some(f) => holder_fence_condition(me, f, now),
        None => holder_since_condition(me, since, now),
    }
}

/// Re-acquire by the current holder writes nothing new: it only confirms (and returns) the grant.
pub fn confirm(me: &str, now: u64) -> Write {
    Write::default()
        .set(Path::attr("release_code"), text("owner", me))
        .require(holder_condition(me, now))
}

/// Renew never moves the lease end back: a renew attempt held up in the network can land after a
/// later renew (lock-fn's own retry of it, or the holder's next renew), and would bring the end
/// before the one the holder was last told - the holder would work past its lease.
pub fn renew_not_back(exp: u64) -> Cond {
    le(at("expires_at_ms"), num("exp_ms", exp))
}

/// Renew moves the lease end (ms and seconds) and the purge time; the fence stays.
pub fn renew(me: &str, fence: Option<u64>, since: u64, duration_ms: u64, now: u64) -> Write {
    let exp = now.saturating_add(duration_ms);
    lease_end_set(exp)
        .require(holder_grant_condition(me, fence, since, now))
        .require(renew_not_back(exp))
}

/// The end of a lease with nobody to hand it to: the ms end is now, `expires` becomes now (rounded
/// down) so dynamo-dlm clients see the lock free at once, the item kept an hour (the fence keeps
/// counting up).
pub fn release_end_set(now: u64) -> Write {
    Write::default()
        .set(Path::attr("expires_at_ms"), now_ms(now))
        .set(Path::attr("expires"), now_s(now))
        .set(Path::attr("purge_at"), num("purge", purge_at(now)))
}

/// What every release records of itself: the invocation's nonce, when, and the fence it ended
/// (`released_fence = fence` reads the fence before the write, also when the same write raises it
/// for a handoff), so that lock-fn's own retries are recognised exactly.
pub fn release_record_set(nonce: &str, now: u64) -> Write {
    Write::default()
        .set(Path::attr("released_nonce"), text("nonce", nonce))
        .set(Path::attr("released_at_ms"), now_ms(now))
        .set(Path::attr("released_fence"), at("fence"))
}

/// A release that names its fence also records itself in slot `#slot` = `rel_<fence mod 8>`,
/// `{f: fence, o: owner digest, t: time}`: the last eight grants' releases stay recognisable however
/// many other releases follow (fences of one item's life are consecutive).
pub fn release_slot_set(me: &str, fence: u64, now: u64) -> Write {
    Write::default().set(slot(fence), val("record", release_record(me, fence, now)))
}

/// The single release, when nobody alive is queued: ends the lease, keeps the item, records
/// itself (fenced: also in its slot); an unfenced one ends only a grant begun by `since`.
pub fn release_alone(me: &str, fence: Option<u64>, nonce: &str, since: u64, now: u64) -> Write {
    let w = release_end_set(now)
        .with(release_record_set(nonce, now))
        .remove(Path::attr("release_code"))
        .remove(Path::attr("acquired_at_ms"))
        .remove(Path::attr("holder"))
        .require(holder_grant_condition(me, fence, since, now))
        .require(no_live_queue(now));
    match fence {
        Some(f) => w.with(release_slot_set(me, f, now)),
        None => w,
    }
}

/// The grant a release hands to the next waiter (digest `next`) in the same write: its lease
/// (`:next_*`), a new fence, and how long the releaser held (`hold_ms`, the waiters' poll hint).
pub fn handoff_set(next: &str, exp: u64, hold_ms: u64, now: u64) -> Write {
    Write::default()
        .set(Path::attr("release_code"), text("next", next))
        .set(Path::attr("expires_at_ms"), num("next_exp_ms", exp))
        .set(Path::attr("expires"), num("next_exp_s", ceil_secs(exp)))
        .set(Path::attr("purge_at"), num("next_purge", purge_at(exp)))
        .set(Path::attr("acquired_at_ms"), now_ms(now))
        .set(Path::attr("fence"), at("fence").plus(num("one", 1)))
        .set(Path::attr("hold_ms"), num("hold", hold_ms))
}

/// A waiter joins the tail of the queue, once (`wset` holds the queued digests), and the queue
/// holds at most `cap` entries. A missing item refuses (a peer deleted it since the read, e.g.
/// dynamo-dlm's release): an upsert would leave an item holding only a queue, with no lease
/// attributes any acquire could ever take and no TTL time.
pub fn join_condition(me: &str, cap: usize) -> Cond {
    Cond::And(vec![
        Cond::Exists(Path::attr("resource_id")),
        not_queued(me),
        Cond::Or(vec![
            Cond::NotExists(Path::attr("waiters")),
            Cond::cmp(
                Operand::Size(Path::attr("waiters")),
                Cmp::Lt,
                num("cap", cap as u64),
            ),
        ]),
    ])
}

/// The owner with digest `me` has no queue entry (`wset` does not hold it).
pub fn not_queued(me: &str) -> Cond {
    Cond::Or(vec![
        Cond::NotExists(Path::attr("wset")),
        !Cond::Contains(Path::attr("wset"), text("me", me)),
    ])
}

/// Every join and keep-place raises the queue's version; a life of the item (after a dynamo-dlm
/// PutItem, a DeleteItem, TTL) starts it from the writer's clock, as fences do
/// ([`life_floor`]), so that a write decided on one life's version never matches the next life's.
pub fn queue_version_set(now: u64) -> Write {
    Write::default().set(
        Path::attr("qv"),
        Operand::IfNotExists(Path::attr("qv"), Box::new(num("qv_floor", life_floor(now))))
            .plus(num("one", 1)),
    )
}

/// A joiner does not hold the lock (mutex or semaphore, `#me` names its digest): two invocations of
/// one owner race, one takes the lock while the other's join lands; a holder with a live entry of
/// its own would be handed the lock back by its own release.
pub fn not_holding(me: &str, now: u64) -> Cond {
    let entry = Path::attr("sem_holders").key("me", me);
    Cond::And(vec![
        Cond::Or(vec![
            Cond::NotExists(Path::attr("release_code")),
            Cond::cmp(at("release_code"), Cmp::Ne, text("me", me)),
            le(at("expires_at_ms"), now_ms(now)),
        ]),
        Cond::absent_or_at_most(entry.field("x"), now_ms(now)),
    ])
}

/// An acquire invocation of an owner that cancelled after it started (`decide/cancel.rs`) never
/// queues or takes the lock: the owner's mark in `cx`, if any, is below `:started` (the
/// invocation's start less the clock skew). Empty for an owner-less caller (`since` absent).
pub fn not_cancelled_since(me: &str, since: Option<u64>) -> Write {
    let Some(since) = since else {
        return Write::default();
    };
    let mark = Path::attr("cx").key("me", me);
    Write::default().require(Cond::absent_or_below(mark, num("started", since)))
}

/// A cancel leaves its mark (`cx.#me = :now_ms`) and drops the marks `drop` names (each checked
/// unchanged); never creates the item. `how` ([`MarkWrite`]): the map created when the item has
/// none (checked still absent); else (the map checked still there) the mark set only where it is
/// absent or older
/// (`cx.#me < :now_ms`: a delayed earlier cancel never moves it back); or, a later mark already
/// there, kept (`SET cx.#me = cx.#me`, checked still at least now).
pub fn cancel_mark_set(me: &str, how: MarkWrite, drop: &[(String, u64)], now: u64) -> Write {
    let w = Write::default().require(Cond::Exists(Path::attr("resource_id")));
    let mark = Path::attr("cx").key("me", me);
    let w = match how {
        MarkWrite::First => {
            let map = HashMap::from([(me.to_string(), AttributeValue::N(now.to_string()))]);
            return w
                .set(Path::attr("cx"), val("marks", AttributeValue::M(map)))
                .require(Cond::NotExists(Path::attr("cx")));
        }
        MarkWrite::Raise => w
            .set(mark.clone(), now_ms(now))
            .require(Cond::Exists(Path::attr("cx")))
            .require(Cond::absent_or_below(mark.clone(), now_ms(now))),
        // Rewritten as it is: a cancel without a queue edit still makes one conditional write.
        MarkWrite::KeepLater => {
            w.set(mark.clone(), of(&mark))
                .require(Cond::cmp(of(&mark), Cmp::Ge, now_ms(now)))
        }
    };
    drop.iter().fold(w, |w, (digest, at_ms)| {
        let old = Path::attr("cx").key("old", digest.clone());
        w.remove(old.clone())
            .require(Cond::eq(of(&old), num("old_ms", *at_ms)))
    })
}

/// The queue mark only ever rises while entries come and stay: a join or keep-place sets `qx =
/// :qx`, the larger of its own entry's `x` and the mark it read, and only if nobody raised it past
/// that since. (A normal waiter's 5 s place must never lower the mark below a Step Functions
/// task's 15-minute place: tries would barge past the task, and releases skip it.)
pub fn queue_mark_raised(qx: u64) -> Cond {
    Cond::absent_or_at_most(Path::attr("qx"), num("qx", qx))
}

/// The queue mark still covers a place the writer did not raise it for (it read a mark at least
/// that high): only a write that found no live entry lowers it, and then this write reads again.
pub fn queue_mark_covers(qx: u64) -> Cond {
    Cond::cmp(at("qx"), Cmp::Ge, num("qx", qx))
}

/// The queue is as the snapshot showed it: nobody joined or kept a place since (every join and
/// keep-place adds one to `qv`; a snapshot without `qv`: still none). Required by the writes
/// decided from "nobody alive is queued" and by those that remove the mark.
pub fn queue_unchanged(version: QueueVersion) -> Cond {
    match version.0 {
        Some(v) => Cond::eq(at("qv"), num("qv", v)),
        None => Cond::NotExists(Path::attr("qv")),
    }
}

/// A claim: the waiter the lock was handed to (with a short claim lease) takes its full lease.
pub fn claim_condition(me: &str, fence: u64, now: u64) -> Cond {
    Cond::And(vec![
        holder_fence_condition(me, fence, now),
        Cond::Exists(Path::attr("claim_d")),
    ])
}

/// A grant is passed over (its task closed) only if nobody aimed it at a task since the sender did.
pub fn wake_id_condition(wake_id: &str) -> Cond {
    Cond::eq(at("wake_id"), text("wake_id", wake_id))
}

/// Entry `i` of the queue, or its field `f`.
pub(crate) fn waiter_at(i: usize) -> Path {
    Path::attr("waiters").index(i)
}

/// The queue edit of a write (decided by `decide/edit.rs`): each removed entry `waiters[i]` is
/// checked to still be the one the snapshot showed (`.w`) and, for a dead one, still dead (`.x <=
/// :now_ms`); its digest leaves `wset`; a write relying on the snapshot's queue requires it
/// unchanged; one that leaves no live entry removes the mark. (The renderer removes list elements
/// highest index first: DynamoDB removes them all from the original list, dynalite one after
/// another, and that order means the same to both.)
pub fn queue_edit(edit: &Edit, now: u64) -> Write {
    let mut w = Write::default();
    for r in &edit.removed {
        w = w.require(Cond::eq(
            of(&waiter_at(r.index).field("w")),
            text("qw", &r.digest),
        ));
        if r.dead {
            w = w.require(le(of(&waiter_at(r.index).field("x")), now_ms(now)));
        }
        w = w.remove(waiter_at(r.index));
    }
    if !edit.removed.is_empty() {
        w = w.delete(
            Path::attr("wset"),
            crate::write::expr::Val {
                hint: "gone",
                value: AttributeValue::Ss(edit.digests()),
            },
        );
    }
    if let Some(version) = edit.unchanged_since {
        w = w.require(queue_unchanged(version));
    }
    if edit.clears_mark {
        w = w.remove(Path::attr("qx"));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::edit::Removal;
    use crate::model::item::*;

    /// Every attribute a write names at the top level is one of the lock item's.
    #[test]
    fn writes_name_only_item_attributes() {
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
            ATTR_SEM_LIMIT,
            ATTR_SEM_HOLDERS,
            ATTR_CANCELS,
        ];
        for (name, w) in crate::write::catalogue::samples() {
            for p in w.paths() {
                if let Some(Step::Name(root)) = p.0.first() {
                    assert!(
                        known.contains(root),
                        "{root} in {name} is no item attribute"
                    );
                }
            }
        }
    }

    #[test]
    fn an_edit_checks_what_it_removes_and_removes_from_the_end() {
        let w = take_set("me", 100, 10)
            .require(acquire_condition(10))
            .with(queue_edit(
                &Edit {
                    removed: vec![Removal::dead(0, "dead"), Removal::entry(2, "me")],
                    unchanged_since: Some(QueueVersion(Some(5))),
                    clears_mark: true,
                },
                10,
            ))
            .render();
        assert!(
            w.update
                .ends_with("REMOVE claim_d, qx, waiters[2], waiters[0] DELETE wset :gone"),
            "{}",
            w.update
        );
        let c = w.condition.unwrap();
        for part in [
            "waiters[0].w = :qw AND",
            "waiters[0].x <= :now_ms AND",
            "waiters[2].w = :qw_2 AND",
            "qv = :qv",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(
            c.starts_with("(attribute_not_exists(resource_id) OR "),
            "{c}"
        );
        assert!(!c.contains("(("), "no redundant parentheses: {c}");
        assert!(
            !c.contains("waiters[2].x"),
            "the taker's own entry need not be dead: {c}"
        );
        assert_eq!(w.values[":qw"], AttributeValue::S("dead".into()));
        assert_eq!(w.values[":qw_2"], AttributeValue::S("me".into()));
        assert_eq!(
            w.values[":gone"],
            AttributeValue::Ss(vec!["dead".into(), "me".into()])
        );
    }
}
