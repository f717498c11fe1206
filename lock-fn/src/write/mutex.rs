//! The conditional writes of the queue paths, put together from the named fragments in
//! `expressions.rs` and a queue edit (`decide/edit.rs`). Each takes the function's clock at the attempt.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::decide::edit::Edit;
use crate::model::fence::life_floor;
use crate::model::item::{purge_at, release_slot, Waiter};
use crate::world::clock::{ceil_secs, floor_secs};
use crate::write::expressions::*;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn vals(pairs: Vec<(&str, AttributeValue)>) -> Vec<(String, AttributeValue)> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A queued acquire takes the free lock: the grant of [`TAKE_SET`] for the owner with digest `me`,
/// under [`ACQUIRE_CONDITION`], with the queue edit (its own entry, dead ones; for a caller that was
/// not queued, the edit also requires that nobody joined since the snapshot showed no live waiter);
/// `wake`: the grant goes to a Step Functions task, aimed with this nonce
/// ([`crate::model::item::ATTR_WAKE_ID`]).
pub fn take(
    me: &str,
    holder: Option<&str>,
    duration_ms: u64,
    wake: Option<&str>,
    edit: &Edit,
    now: u64,
) -> Update {
    let exp = now.saturating_add(duration_ms);
    let mut u = Update {
        set: vec![TAKE_SET.into()],
        remove: vec!["claim_d".into()],
        conditions: vec![ACQUIRE_CONDITION.into()],
        values: vals(vec![
            (":owner", s(me)),
            (":exp_ms", n(exp)),
            (":exp_s", n(ceil_secs(exp))),
            (":purge", n(purge_at(exp))),
            (":now_ms", n(now)),
            (":now_s", n(floor_secs(now))),
            (":fence_floor", n(life_floor(now))),
            (":one", n(1)),
        ]),
        ..Update::default()
    };
    label(&mut u, holder);
    aim_at(&mut u, wake);
    u.with_edit(edit)
}

/// Sets the grant's `wake_id`, or clears an old one (a grant that no task waits for).
fn aim_at(u: &mut Update, wake: Option<&str>) {
    match wake {
        Some(w) => {
            u.set.push("wake_id = :wake".into());
            u.values.push((":wake".into(), s(w)));
        }
        None => u.remove.push("wake_id".into()),
    }
}

/// A Step Functions task of the holder aims the grant (`fence`) at itself: `SET wake_id = :wake`
/// under [`AIM_CONDITION`].
pub fn aim(me: &str, fence: u64, wake: &str, now: u64) -> Update {
    Update {
        set: vec!["wake_id = :wake".into()],
        conditions: vec![AIM_CONDITION.into()],
        values: vals(vec![
            (":owner", s(me)),
            (":fence", n(fence)),
            (":now_ms", n(now)),
            (":wake", s(wake)),
        ]),
        ..Update::default()
    }
}

/// Sets the holder label, or clears an old one.
fn label(u: &mut Update, holder: Option<&str>) {
    match holder {
        Some(h) => {
            u.set.push("holder = :holder".into());
            u.values.push((":holder".into(), s(h)));
        }
        None => u.remove.push("holder".into()),
    }
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
    /// unless someone raised it further since ([`QUEUE_MARK_RAISED`]).
    Raise(u64),
    /// The mark as read covers this already: leave it, and require that it still does
    /// ([`QUEUE_MARK_COVERS`]) - nobody lowers it but a write that found no live entry, and then
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

    fn apply(self, u: &mut Update) {
        match self {
            Mark::Raise(qx) => {
                u.set.push("qx = :qx".into());
                u.conditions.push(QUEUE_MARK_RAISED.into());
                u.values.push((":qx".into(), n(qx)));
            }
            Mark::Covers(qx) => {
                u.conditions.push(QUEUE_MARK_COVERS.into());
                u.values.push((":qx".into(), n(qx)));
            }
        }
    }
}

/// A waiter joins the tail ([`JOIN_CONDITION`], `JOIN_UPDATE`, [`NOT_HOLDING`]) of a queue of at
/// most `cap` entries, with the queue mark as `mark` says.
pub fn join(waiter: &Waiter, cap: usize, mark: Mark, now: u64) -> Update {
    let mut u = Update {
        set: vec![
            "waiters = list_append(if_not_exists(waiters, :empty), :entry)".into(),
            QUEUE_VERSION_SET.into(),
        ],
        add: vec!["wset :me_set".into()],
        conditions: vec![JOIN_CONDITION.into(), NOT_HOLDING.into()],
        values: vals(vec![
            (":empty", AttributeValue::L(vec![])),
            (":entry", AttributeValue::L(vec![entry(waiter)])),
            (":me", s(&waiter.digest)),
            (":me_set", AttributeValue::Ss(vec![waiter.digest.clone()])),
            (":cap", n(cap as u64)),
            (":one", n(1)),
            (":now_ms", n(now)),
            (":qv_floor", n(life_floor(now))),
        ]),
        names: vec![("#me".into(), waiter.digest.clone())],
        ..Update::default()
    };
    mark.apply(&mut u);
    u
}

/// A queued waiter keeps its place: its entry at `index` (checked to be its own) is alive until
/// `alive_until_ms`, an invocation waits for it in-function until `active_until_ms`, and (a Step
/// Functions waiter that came back with a new task token) it is woken through `token`. The queue
/// mark as `mark` says.
pub fn refresh(
    index: usize,
    me: &str,
    alive_until_ms: u64,
    active_until_ms: u64,
    token: Option<&str>,
    mark: Mark,
    now: u64,
) -> Update {
    let mut u = Update {
        set: vec![
            format!("waiters[{index}].x = :x"),
            format!("waiters[{index}].a = :a"),
            QUEUE_VERSION_SET.into(),
        ],
        conditions: vec![format!("waiters[{index}].w = :me")],
        values: vals(vec![
            (":x", n(alive_until_ms)),
            (":a", n(active_until_ms)),
            (":me", s(me)),
            (":one", n(1)),
            (":qv_floor", n(life_floor(now))),
        ]),
        ..Update::default()
    };
    mark.apply(&mut u);
    match token {
        Some(t) => {
            u.set.push(format!("waiters[{index}].t = :t"));
            u.values.push((":t".into(), s(t)));
        }
        // The owner waits without a task now: a token left from an earlier task of its own must
        // not make a handoff (or a wake) send its grant to that task and pass it over as closed.
        None => u.remove.push(format!("waiters[{index}].t")),
    }
    u
}

/// The take a waiter makes for the Step Functions task heading the queue of a free lock (see
/// `wake_head.rs`): [`take`] for it, aimed at its task, with the guards of a handoff - its place
/// still alive, and still waiting through the token read.
pub fn wake_take(head: usize, task: &Waiter, wake: &str, edit: &Edit, now: u64) -> Update {
    let mut u = take(
        &task.digest,
        task.holder.as_deref(),
        task.duration_ms,
        Some(wake),
        edit,
        now,
    );
    next_still_waiting_as_read(&mut u, head, task);
    u
}

/// When a place taken or kept at `now` for `ttl` ms ends: rounded up to [`PLACE_STEP_MS`], so that
/// waiters writing within one step write the same `x` and the same queue mark, and do not refuse
/// each other's joins and keep-places ([`QUEUE_MARK_RAISED`]).
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
    fn apply(&self, u: &mut Update, now: u64) {
        u.set.push(RELEASE_RECORD_SET.into());
        u.values.push((":owner".into(), s(self.me)));
        u.values.push((":nonce".into(), s(self.nonce)));
        if let Some(w) = self.wake_id {
            u.conditions.push(WAKE_ID_CONDITION.into());
            u.values.push((":wake_id".into(), s(w)));
        }
        match self.fence {
            Some(f) => {
                u.conditions.push(HOLDER_FENCE_CONDITION.into());
                u.values.push((":fence".into(), n(f)));
                u.set.push("#slot = :record".into());
                u.names.push(("#slot".into(), release_slot(f)));
                u.values.push((
                    ":record".into(),
                    crate::model::fence::release_record(self.me, f, now),
                ));
            }
            None => {
                u.conditions.push(HOLDER_SINCE_CONDITION.into());
                u.values.push((":since_ms".into(), n(self.since)));
            }
        }
    }
}

/// The release hands the lock to `next` in the same write ([`HANDOFF_SET`]): a new fence, the
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
) -> Update {
    let active = next.active_at(now);
    let lease = if active {
        next.duration_ms
    } else {
        next.duration_ms.min(claim_ms)
    };
    let exp = now.saturating_add(lease);
    let mut u = Update {
        set: vec![HANDOFF_SET.into()],
        values: vals(vec![
            (":next", s(&next.digest)),
            (":next_exp_ms", n(exp)),
            (":next_exp_s", n(ceil_secs(exp))),
            (":next_purge", n(purge_at(exp))),
            (":now_ms", n(now)),
            (":one", n(1)),
            (":hold", n(hold_ms)),
        ]),
        ..Update::default()
    };
    if lease < next.duration_ms {
        u.set.push("claim_d = :claim".into());
        u.values.push((":claim".into(), n(next.duration_ms)));
    } else {
        u.remove.push("claim_d".into());
    }
    label(&mut u, next.holder.as_deref());
    aim_at(&mut u, wake);
    releaser.apply(&mut u, now);
    let index = edit
        .removed
        .iter()
        .find(|(_, d, _)| *d == next.digest)
        .map(|(i, _, _)| *i)
        .expect("the edit removes the next holder");
    next_still_waiting_as_read(&mut u, index, next);
    u.with_edit(edit)
}

/// A grant made to the waiter `next` read at `index` (a handoff, or a wake): its place is still
/// alive, and it still waits through the task token it read - a re-entry with a new token since
/// would be woken through the old one, answered "closed", and passed over - or still through none.
pub(crate) fn next_still_waiting_as_read(u: &mut Update, index: usize, next: &Waiter) {
    u.conditions.push(format!("waiters[{index}].x > :now_ms"));
    match &next.token {
        Some(t) => {
            u.conditions
                .push(format!("waiters[{index}].t = :next_token"));
            u.values.push((":next_token".into(), s(t)));
        }
        None => u
            .conditions
            .push(format!("attribute_not_exists(waiters[{index}].t)")),
    }
}

/// A release with nobody alive to hand to, after a read: ends the lease ([`RELEASE_END_SET`]) and
/// prunes the dead waiters of `edit`.
pub fn release_pruning(releaser: &Releaser, edit: &Edit, now: u64) -> Update {
    let mut u = Update {
        set: vec![RELEASE_END_SET.into()],
        remove: vec![
            "release_code".into(),
            "acquired_at_ms".into(),
            "holder".into(),
            "claim_d".into(),
            "wake_id".into(),
        ],
        values: vals(vec![
            (":now_ms", n(now)),
            (":now_s", n(floor_secs(now))),
            (":purge", n(purge_at(now))),
        ]),
        ..Update::default()
    };
    releaser.apply(&mut u, now);
    u.with_edit(edit)
}

/// Only the queue edit: a waiter leaving (`cancel`: its entry, and dead ones), or dead waiters
/// pruned (a queue full of them).
pub fn edit_only(edit: &Edit, now: u64) -> Update {
    let mut u = Update::default().with_edit(edit);
    if edit.removed.iter().any(|(_, _, dead)| *dead) {
        u.values.push((":now_ms".into(), n(now)));
    }
    u
}

/// The waiter the lock was handed to with a claim lease takes its full lease (`CLAIM_UPDATE`).
/// `wake`: aimed at the claimer's Step Functions task (else any earlier aim is voided).
pub fn claim(me: &str, fence: u64, duration_ms: u64, wake: Option<&str>, now: u64) -> Update {
    let exp = now.saturating_add(duration_ms);
    let mut u = Update {
        set: vec!["expires_at_ms = :exp_ms, expires = :exp_s, purge_at = :purge".into()],
        remove: vec!["claim_d".into()],
        conditions: vec![CLAIM_CONDITION.into()],
        values: vals(vec![
            (":owner", s(me)),
            (":fence", n(fence)),
            (":now_ms", n(now)),
            (":exp_ms", n(exp)),
            (":exp_s", n(ceil_secs(exp))),
            (":purge", n(purge_at(exp))),
        ]),
        ..Update::default()
    };
    aim_at(&mut u, wake);
    u
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

    fn value<'a>(u: &'a Update, name: &str) -> Option<&'a AttributeValue> {
        u.values.iter().find(|(k, _)| k == name).map(|(_, v)| v)
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
        assert_eq!(value(&active, ":next_exp_ms"), Some(&n(60_010)));
        assert!(active.remove.contains(&"claim_d".to_string()));
        let passive = handoff(&r, &waiter(0), 3, 2000, None, &edit(), 10);
        assert_eq!(value(&passive, ":next_exp_ms"), Some(&n(2_010)));
        assert_eq!(value(&passive, ":claim"), Some(&n(60_000)));
        let c = passive.condition();
        assert!(
            c.contains("waiters[0].x > :now_ms") && c.contains("fence = :fence"),
            "{c}"
        );
        assert!(passive.expression().contains("#slot = :record"));
    }

    #[test]
    fn every_placeholder_is_given_a_value() {
        let r = Releaser {
            me: "me",
            fence: None,
            since: 5,
            nonce: "n",
            wake_id: Some("w"),
        };
        for u in [
            take("me", Some("h"), 10, Some("w"), &edit(), 10),
            take("me", None, 10, None, &Edit::default(), 10),
            aim("me", 7, "w", 10),
            join(&waiter(0), 4, Mark::Raise(50), 10),
            join(&waiter(0), 4, Mark::Covers(50), 10),
            refresh(3, "me", 100, 0, None, Mark::Raise(200), 10),
            refresh(3, "me", 100, 0, Some("token"), Mark::Covers(100), 10),
            handoff(&r, &waiter(0), 3, 2000, None, &edit(), 10),
            handoff(&r, &waiter(0), 3, 2000, Some("w"), &edit(), 10),
            release_pruning(&r, &edit(), 10),
            edit_only(&edit(), 10),
            edit_only(
                &Edit {
                    removed: vec![(0, "d".into(), true)],
                    ..Edit::default()
                },
                10,
            ),
            claim("me", 7, 100, None, 10),
            claim("me", 7, 100, Some("w"), 10),
        ] {
            let text = format!("{} {}", u.expression(), u.condition());
            let words: Vec<&str> = text
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '#'))
                .collect();
            for word in &words {
                if word.starts_with(':') {
                    assert!(value(&u, word).is_some(), "{word} has no value in {text}");
                }
                if word.starts_with('#') {
                    assert!(
                        u.names.iter().any(|(k, _)| k == word),
                        "{word} has no name in {text}"
                    );
                }
            }
            let used = u
                .values
                .iter()
                .map(|(k, _)| k)
                .chain(u.names.iter().map(|(k, _)| k));
            for name in used {
                assert!(words.contains(&name.as_str()), "{name} is unused in {text}");
            }
        }
    }
}

/// Writes applied to the in-memory table as DynamoDB gets them (expression strings, parsed).
#[cfg(test)]
mod applied {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue::{self, L, M, N, S};

    use super::*;
    use crate::decide::queue::acquire_step;
    use crate::decide::step::AcquireStep;
    use crate::store::memory::{Applied, Item, MemoryTable};
    use crate::write::parse::parse_write;

    fn apply(table: &mut MemoryTable, u: &Update) -> Applied {
        let condition = u.condition();
        let w = parse_write(
            &u.expression(),
            (!condition.is_empty()).then_some(condition.as_str()),
            &u.names.iter().cloned().collect(),
            &u.values.iter().cloned().collect(),
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
        let u = take("me", None, 1000, None, &edit, 10);
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
        let joined = apply(&mut t, &join(&waiter, 64, Mark::Raise(5000), 20));
        assert!(matches!(joined, Applied::Written(_)));
        let u = take("me", None, 1000, None, &edit, 10);
        assert!(matches!(apply(&mut t, &u), Applied::Refused(_)));
    }

    #[test]
    fn a_refresh_without_a_task_clears_the_token_an_earlier_task_left() {
        let mut t = table_with(vec![entry("me", 50, Some("old-task"))]);
        let u = refresh(0, "me", 90, 80, None, Mark::Covers(90), 10);
        assert!(matches!(apply(&mut t, &u), Applied::Written(_)));
        let L(w) = &t.get("r").unwrap()["waiters"] else {
            panic!()
        };
        let M(first) = &w[0] else { panic!() };
        assert!(!first.contains_key("t"), "{first:?}");
        assert_eq!(first["x"], N("90".into()));
    }

    #[test]
    fn a_wake_take_needs_the_task_still_alive_and_waiting_through_the_token_read() {
        let task = Waiter {
            token: Some("tok1".into()),
            ..Waiter::sample("task", 50)
        };
        let me = entry("me", 100, None);
        let edit = Edit {
            removed: vec![(0, "task".into(), false)],
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
