//! The history checker: judges a run by what clients did and were told (its events) against what
//! the table really did (its log, the ground truth of one total order).
//!
//! Checked: no request the table refused as malformed; never two clients acting as the mutex's
//! holder at once, nor more than the limit on the semaphore (by true time, less the clocks'
//! possible disagreement); the same of the table's items at every change; fences strictly rising
//! per resource, in the table and across the holders' turns; lease ends never moved back, nor a
//! renew moving a grant begun after it; TTL never due before a live lease ends; every grant
//! answered was in the table; no `released: true` while the release's grant still runs, no
//! `released: false` after a release of it applied, no error to a release that saw its write
//! applied, no `Throttled` without a fault; no grant handed back to its releaser; FIFO among
//! live waiters; a task handed a grant is sent it; no answer showing a client an owner token of
//! another; and after the calm phase every resource free to take. DESIGN.md (The simulator)
//! lists each check with what it rules out.

use std::collections::{BTreeMap, BTreeSet};

use lock_protocol::owner_digest;

use super::actors::{MUTEX, SEMAPHORE};
use super::history::Event;
use super::Run;
use crate::model::item::LockItem;
use crate::store::sim_table::Change;

/// Every violation found in `run` (none: the run passed).
pub fn violations(run: &Run) -> Vec<String> {
    let tol = 2 * run.settings.max_skew_ms.unsigned_abs() + 1;
    let mut v: Vec<String> = run
        .invalid
        .iter()
        .map(|m| format!("the table refused a malformed request: {m}"))
        .collect();
    v.extend(exclusion(run, tol));
    v.extend(table_exclusion(run, tol));
    v.extend(fences(run));
    v.extend(lease_ends_never_move_back(run));
    v.extend(ttl_never_due_before_a_live_lease(run));
    v.extend(answers_match_the_table(run, tol));
    v.extend(no_token_shown_to_another(run));
    v.extend(fifo_among_live_waiters(run, tol));
    v.extend(not_held_only_when_no_release_applied(run, tol));
    v.extend(a_release_seen_applied_is_answered_released(run, tol));
    v.extend(no_grant_handed_back_to_its_releaser(run));
    v.extend(throttled_only_when_the_store_throttled(run));
    v.extend(a_renew_touches_no_grant_begun_after_it(run, tol));
    v.extend(a_task_handed_a_grant_is_woken(run));
    v.extend(a_task_handed_a_grant_unseen_is_woken(run));
    v.extend(the_waiter_set_is_the_queue(run));
    v.extend(nothing_granted_after_a_cancel(run));
    v.extend(run.events.iter().filter_map(|e| match e {
        Event::Probe {
            resource,
            granted: false,
            json,
            ..
        } => Some(format!(
            "after the calm phase {resource} could not be taken: {json}"
        )),
        _ => None,
    }));
    v
}

fn held(run: &Run, resource: &str) -> Vec<(usize, u64, u64, u64, bool)> {
    let mut h: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Held {
                client,
                resource: r,
                fence,
                from_ms,
                until_ms,
                peer,
            } if r == resource && until_ms > from_ms => {
                Some((*client, *fence, *from_ms, *until_ms, *peer))
            }
            _ => None,
        })
        .collect();
    h.sort_by_key(|x| (x.2, x.3));
    h
}

/// `cancelled: true` is the end of the owner's wait: no write after that answer grants the owner
/// anything (its own invocation still waiting must answer busy; nothing may hand it the lock).
fn nothing_granted_after_a_cancel(run: &Run) -> Vec<String> {
    let mut v = Vec::new();
    for e in &run.events {
        let Event::Answer {
            client,
            owner: Some(o),
            op: "cancel",
            resource,
            at_ms,
            json,
            ..
        } = e
        else {
            continue;
        };
        if !json.contains("\"cancelled\":true") {
            continue;
        }
        let digest = owner_digest(o);
        // The owner may come back for another turn: only grants before it asks again are judged.
        let next_turn = run
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Answer {
                    owner: Some(p),
                    op: "acquire" | "task_acquire",
                    sent_ms,
                    ..
                } if p == o && sent_ms > at_ms => Some(*sent_ms),
                _ => None,
            })
            .min()
            .unwrap_or(u64::MAX);
        for c in run
            .log
            .iter()
            .filter(|c| &c.key == resource && c.at_ms > *at_ms && c.at_ms < next_turn)
        {
            let had = parse(&c.before).map(|i| grants(&i)).unwrap_or_default();
            let new = parse(&c.after).map(|i| grants(&i)).unwrap_or_default();
            if let Some(g) = new.iter().find(|g| g.0 == digest && !had.contains(g)) {
                v.push(format!(
                    "cancelled: true answered to client {client} ({digest}) at {at_ms}, then {} granted it fence {} of {resource} at {}",
                    c.by, g.1, c.at_ms
                ));
            }
        }
    }
    v
}

/// FIFO on the mutex: a write that grants the lock (a new fence) to an owner leaves no other
/// waiter queued ahead of it whose place is alive by true time beyond the clocks' disagreement; a
/// grant to an owner that is not queued (a try, a blind acquire) leaves no live waiter at all.
/// dynamo-dlm's writes replace the item, queue and all, by design: they are not judged. (The
/// semaphore's FIFO rule - a queued caller takes a free slot only when more are free than live
/// waiters are ahead of it - is left to `decide::semaphore`'s unit tests.)
fn fifo_among_live_waiters(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for c in run
        .log
        .iter()
        .filter(|c| c.key == MUTEX && c.by != "peer" && c.by != "ttl")
    {
        let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
            continue;
        };
        let Some(owner) = after.release_code.as_deref() else {
            continue;
        };
        if after.fence == before.fence || !after.is_held_at(c.at_ms) {
            continue;
        }
        let place = before.waiters.iter().position(|w| w.digest == owner);
        let ahead = &before.waiters[..place.unwrap_or(before.waiters.len())];
        for w in ahead {
            let still_queued = after.waiters.iter().any(|a| a.digest == w.digest);
            if w.digest != owner && still_queued && w.alive_until_ms > c.at_ms + tol {
                v.push(format!(
                    "fifo: {} granted {MUTEX} (fence {:?}) at {} past waiter {} alive until {}",
                    c.by, after.fence, c.at_ms, w.digest, w.alive_until_ms
                ));
            }
        }
    }
    v
}

/// Clients acting as holders: at most one on the mutex, at most the limit on the semaphore; the
/// mutex's lock-fn holders in turn carry rising fences.
fn exclusion(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for (resource, limit) in [
        (MUTEX, 1usize),
        (SEMAPHORE, run.settings.sem_limit as usize),
    ] {
        let h = held(run, resource);
        for (i, a) in h.iter().enumerate() {
            let overlapping: Vec<_> = h.iter().filter(|b| b.2 <= a.2 && b.3 > a.2 + tol).collect();
            if overlapping.len() > limit {
                v.push(format!(
                    "{} clients act as holders of {resource} (limit {limit}) at {}: {overlapping:?}",
                    overlapping.len(),
                    a.2
                ));
            }
            // Across the item's lives, fences rise only without dynamo-dlm deleting it (rule 4).
            if limit == 1 && !a.4 && run.settings.clients.peers == 0 {
                if let Some(prev) = h[..i].iter().rev().find(|p| !p.4) {
                    if prev.1 >= a.1 {
                        v.push(format!(
                            "fence {} of client {} at {} follows fence {} of client {}",
                            a.1, a.0, a.2, prev.1, prev.0
                        ));
                    }
                }
            }
        }
    }
    v
}

fn parse(item: &Option<crate::store::memory::Item>) -> Option<LockItem> {
    item.as_ref().and_then(|i| LockItem::try_from(i).ok())
}

/// Whether `item` records a release of the grant with `fence`.
fn released_in(item: &LockItem, fence: u64) -> bool {
    item.last_release.as_ref().and_then(|r| r.fence) == Some(fence)
        || item.slot_releases.iter().any(|r| r.fence == fence)
}

/// The grants an item shows, live or not: (owner digest or release code, fence, lease end).
fn grants(item: &LockItem) -> Vec<(String, u64, u64)> {
    match &item.semaphore {
        Some(s) => s
            .holders
            .iter()
            .map(|h| (h.digest.clone(), h.fence, h.lease_end_ms))
            .collect(),
        None => item
            .release_code
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    item.fence.unwrap_or_default(),
                    item.lease_end_ms().unwrap_or_default(),
                )
            })
            .collect(),
    }
}

/// The table never shows more live grants than the limit (a grant counts as live until its end
/// less the clocks' disagreement).
fn table_exclusion(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for c in run
        .log
        .iter()
        .filter(|c| c.key == MUTEX || c.key == SEMAPHORE)
    {
        let Some(after) = parse(&c.after) else {
            continue;
        };
        let before = parse(&c.before);
        let limit = after.semaphore.as_ref().map_or(1, |s| s.limit as usize);
        let live: Vec<_> = grants(&after)
            .into_iter()
            .filter(|g| g.2 > c.at_ms + tol)
            .collect();
        // A mutex item holds one grant by construction: the one it replaced must have ended, or
        // been released by this very write (a handoff records the release it makes).
        let released = |fence: u64| released_in(&after, fence);
        let replaced = before.as_ref().and_then(|b| {
            grants(b).into_iter().find(|g| {
                after.semaphore.is_none()
                    && g.2 > c.at_ms + tol
                    && !live.iter().any(|l| l.0 == g.0)
                    && !live.is_empty()
                    && !released(g.1)
            })
        });
        if live.len() > limit || replaced.is_some() {
            v.push(format!(
                "{} live grants of {} at {} by {}: {live:?}, replacing {replaced:?}",
                live.len(),
                c.key,
                c.at_ms,
                c.by
            ));
        }
    }
    v
}

/// A grant's lease end never moves back, but by its release (which the item records).
fn lease_ends_never_move_back(run: &Run) -> Vec<String> {
    let mut v = Vec::new();
    for c in &run.log {
        let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
            continue;
        };
        let released = |fence: u64| released_in(&after, fence);
        for (owner, fence, end) in grants(&before) {
            let moved = grants(&after)
                .into_iter()
                .find(|g| g.0 == owner && g.1 == fence && g.2 < end);
            if let Some(g) = moved.filter(|_| !released(fence)) {
                v.push(format!(
                    "the lease end of grant {fence} of {} moved back from {end} to {} at {} by {}",
                    c.key, g.2, c.at_ms, c.by
                ));
            }
        }
    }
    v
}

/// DynamoDB TTL may delete an item once `purge_at` has passed: it must never be due before the
/// hour after any live grant's end (the simulation is shorter than that hour, so this is checked
/// on every change rather than by deleting).
fn ttl_never_due_before_a_live_lease(run: &Run) -> Vec<String> {
    let mut v = Vec::new();
    for c in &run.log {
        let Some(after) = parse(&c.after) else {
            continue;
        };
        let Some(purge) = after.purge_at else {
            continue;
        };
        for (_, fence, end) in grants(&after).into_iter().filter(|g| g.2 > c.at_ms) {
            // DESIGN's promise, written out here rather than read from the code it judges.
            if purge < end.div_ceil(1000) + 3600 {
                v.push(format!(
                    "TTL is due at {purge} s on {}, before the hour after grant {fence}'s end {end} (at {} by {})",
                    c.key, c.at_ms, c.by
                ));
            }
        }
    }
    v
}

/// Every new grant in the table carries a fence above every fence the resource had before.
fn fences(run: &Run) -> Vec<String> {
    let mut v = Vec::new();
    let mut highest: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &run.log {
        let Some(after) = parse(&c.after) else {
            // DESIGN's fencing rule 4: after dynamo-dlm deletes the item, a late lock-fn write can
            // restart the fence from its older clock. Fences rise within each life of the item.
            if c.by == "peer" {
                highest.remove(c.key.as_str());
            }
            continue;
        };
        if !after.is_lock_fn_lease() && after.semaphore.is_none() {
            continue;
        }
        let old: BTreeSet<u64> = parse(&c.before)
            .map(|b| grants(&b).into_iter().map(|g| g.1).collect())
            .unwrap_or_default();
        let top = highest.entry(c.key.as_str()).or_default();
        for (_, fence, _) in grants(&after) {
            if !old.contains(&fence) {
                if fence <= *top {
                    v.push(format!(
                        "a new grant of {} at {} by {} has fence {fence}, not above {}",
                        c.key, c.at_ms, c.by, *top
                    ));
                }
                *top = (*top).max(fence);
            }
        }
    }
    v
}

/// Every grant answered was in the table (that owner, that fence) by the time of the answer; no
/// release answered `released: true` while its grant still ran in the table.
fn answers_match_the_table(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for e in &run.events {
        let Event::Answer {
            client,
            owner,
            op,
            resource,
            sent_ms,
            at_ms,
            json,
            ..
        } = e
        else {
            continue;
        };
        let Ok(answer) = serde_json::from_str::<serde_json::Value>(json) else {
            continue;
        };
        let until: Vec<_> = run
            .log
            .iter()
            .filter(|c| &c.key == resource && c.at_ms <= *at_ms)
            .collect();
        if (*op == "acquire" || *op == "callback") && answer["acquired"] == true {
            // A callback's output names no owner: it is the execution's.
            let token = answer["owner"]
                .as_str()
                .or(owner.as_deref())
                .unwrap_or_default();
            let (digest, fence) = (owner_digest(token), answer["fence"].as_u64().unwrap_or(0));
            let has = |c: &&&Change| {
                parse(&c.after)
                    .is_some_and(|i| grants(&i).iter().any(|g| g.0 == digest && g.1 == fence))
            };
            // An answer's grant must still be in the table when it is answered (the last change
            // before). A callback's may have ended since - its sends are retried with backoff, and
            // the execution goes by `expires_at_ms` - but it must have been in the table.
            // An answer that says the lease is already over (`expires_in_ms: 0`: its write landed
            // late) promises no time: it too must only have been in the table.
            let over = answer["expires_in_ms"] == 0;
            let ok = match *op {
                "acquire" if !over => until.last().is_some_and(|c| has(&c)),
                _ => until.iter().any(|c| has(&c)),
            };
            if !ok {
                v.push(format!(
                    "a grant answered at {at_ms} is not in the table then: {json}"
                ));
            }
        }
        // The queue never fills in a simulation (64 places): `LockBusy` to a task is a lie.
        if *op == "callback" && json.contains("LockBusy") {
            v.push(format!(
                "a task was failed with LockBusy at {at_ms}: {json}"
            ));
        }
        if *op == "release" && answer["released"] == true {
            let Some(token) = owner else { continue };
            let digest = owner_digest(token);
            // Some write from this owner's first release on must have ended its grant (and
            // recorded that release of it).
            let since = first_release_of_turn(run, *client, token, resource, *sent_ms);
            let ended = until
                .iter()
                .filter(|c| c.at_ms >= since)
                .any(|c| ends_a_grant_of(c, &digest, 0));
            if !ended {
                v.push(format!(
                    "released: true at {at_ms}, but no write since {since} released the grant: {json}"
                ));
            }
            let last = until.last().and_then(|c| parse(&c.after));
            if let Some(g) = last
                .iter()
                .flat_map(grants)
                .find(|g| g.0 == digest && g.2 > at_ms + tol)
            {
                v.push(format!(
                    "released: true at {at_ms}, but the grant {g:?} still runs: {json}"
                ));
            }
        }
    }
    v
}

/// When the release that a release answered at `sent_ms` repeats was first sent: the owner's
/// first release since its client's last turn as a holder began (an owner may hold turn after
/// turn; each turn's releases are judged on their own).
fn first_release_of_turn(
    run: &Run,
    client: usize,
    owner: &str,
    resource: &str,
    sent_ms: u64,
) -> u64 {
    let held: Vec<(u64, u64)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Held {
                client: c,
                resource: r,
                fence,
                from_ms,
                ..
            } if *c == client && r == resource && *from_ms <= sent_ms => Some((*from_ms, *fence)),
            _ => None,
        })
        .collect();
    // A turn that re-acquired the grant of the turn before (its release never applied) holds the
    // same grant: the two are one turn.
    let last = held.iter().max().map(|h| h.1);
    let turn = held
        .iter()
        .filter(|h| Some(h.1) == last)
        .map(|h| h.0)
        .min()
        .unwrap_or(0);
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::Answer {
                owner: Some(o),
                op: "release",
                resource: r,
                sent_ms: s,
                ..
            } if o == owner && r == resource && *s >= turn => Some(*s),
            _ => None,
        })
        .min()
        .unwrap_or(sent_ms)
}

/// Whether change `c` released a grant of owner `digest` (the item after records a release of
/// it that the item before did not) whose lease ran past `live_until` (0: any).
fn ends_a_grant_of(c: &Change, digest: &str, live_until: u64) -> bool {
    let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
        return false;
    };
    grants(&before)
        .iter()
        .filter(|g| g.0 == digest)
        .any(|g| g.2 > live_until && released_in(&after, g.1) && !released_in(&before, g.1))
}

/// `released: false` (without `uncertain`) says that no release of the owner's was applied: no
/// write since its first release may have ended its grant while it was live (a release may
/// clear a grant whose lease has run out, and answer `false` for it). A release sent again
/// without a fence is exempt: lock-fn cannot tell it from a new release, and the protocol has
/// the caller that resent it read its `false` as uncertain (as lock-client does).
fn not_held_only_when_no_release_applied(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for e in &run.events {
        let Event::Answer {
            client,
            owner: Some(o),
            op: "release",
            resource,
            sent_ms,
            at_ms,
            json,
            request,
            from_fn: true,
            ..
        } = e
        else {
            continue;
        };
        let answer: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        if answer["released"] != false || answer["uncertain"] == true {
            continue;
        }
        let (digest, since) = (
            owner_digest(o),
            first_release_of_turn(run, *client, o, resource, *sent_ms),
        );
        let request: serde_json::Value = serde_json::from_str(request).unwrap_or_default();
        if since < *sent_ms && request["fence"].is_null() {
            continue;
        }
        if let Some(c) = run.log.iter().find(|c| {
            &c.key == resource
                && (since..=*at_ms).contains(&c.at_ms)
                && ends_a_grant_of(c, &digest, c.at_ms + tol)
        }) {
            v.push(format!(
                "released: false at {at_ms}, but {} released the owner's grant at {}: {json}",
                c.by, c.at_ms
            ));
        }
    }
    v
}

/// An invocation that was told its own write released the owner's grant answers `released:
/// true` - not an error, not `false`: it knows.
fn a_release_seen_applied_is_answered_released(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for e in &run.events {
        let Event::Answer {
            owner: Some(o),
            op: op @ ("release" | "cancel"),
            at_ms,
            json,
            invocation: Some(i),
            from_fn: true,
            ..
        } = e
        else {
            continue;
        };
        let answer: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        if answer["released"] == true {
            continue;
        }
        let digest = owner_digest(o);
        if let Some(c) = run.log.iter().find(|c| {
            c.invocation == Some(*i) && c.seen && ends_a_grant_of(c, &digest, c.at_ms + tol)
        }) {
            v.push(format!(
                "a {op} answered at {at_ms} without `released: true`, though its own write at {} released the grant and was answered: {json}",
                c.at_ms
            ));
        }
    }
    v
}

/// A write that releases an owner's grant never grants that owner anew (the lock goes to
/// someone else, or is free).
fn no_grant_handed_back_to_its_releaser(run: &Run) -> Vec<String> {
    let mut v = Vec::new();
    for c in &run.log {
        let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
            continue;
        };
        let had = grants(&before);
        for g in had
            .iter()
            .filter(|g| released_in(&after, g.1) && !released_in(&before, g.1))
        {
            if let Some(n) = grants(&after)
                .iter()
                .find(|n| n.0 == g.0 && !had.contains(n))
            {
                v.push(format!(
                    "{} released fence {} of {} at {} and granted its owner fence {} in the same write",
                    c.by, g.1, c.key, c.at_ms, n.1
                ));
            }
        }
    }
    v
}

/// A release answers `Throttled` only when the table met some request of its invocation with a
/// fault (throttled, failed, its answer lost or late). Without one, only losing the race to other
/// writers 16 rounds in a row answers it (release, `MAX_ROUNDS`): by design, but out of reach of
/// a run's dozen clients - a release that keeps failing with no fault is a defect here.
fn throttled_only_when_the_store_throttled(run: &Run) -> Vec<String> {
    let mut v = Vec::new();
    for e in &run.events {
        if let Event::Answer {
            op: "release",
            at_ms,
            json,
            invocation: Some(i),
            from_fn: true,
            ..
        } = e
        {
            if json.contains("Throttled") && !run.faulted.contains(i) {
                v.push(format!(
                    "a release answered Throttled at {at_ms}, though the table throttled none of its requests: {json}"
                ));
            }
        }
    }
    v
}

/// When a grant of `fence` began, as `item` records it.
fn began(item: &LockItem, fence: u64) -> Option<u64> {
    match &item.semaphore {
        Some(s) => s
            .holders
            .iter()
            .find(|h| h.fence == fence)
            .map(|h| h.acquired_at_ms),
        None => item.acquired_at_ms.filter(|_| item.fence == Some(fence)),
    }
}

/// A renew moves only a grant its owner had when it sent the renew: never one begun after (a late
/// renew landing on the owner's next grant).
fn a_renew_touches_no_grant_begun_after_it(run: &Run, tol: u64) -> Vec<String> {
    let mut v = Vec::new();
    for e in &run.events {
        let Event::Answer {
            owner: Some(o),
            op: "renew",
            sent_ms,
            invocation: Some(i),
            ..
        } = e
        else {
            continue;
        };
        let digest = owner_digest(o);
        for c in run.log.iter().filter(|c| c.invocation == Some(*i)) {
            let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
                continue;
            };
            for g in grants(&before).iter().filter(|g| g.0 == digest) {
                let late = began(&before, g.1).is_some_and(|b| b > sent_ms + tol);
                let moved = grants(&after)
                    .iter()
                    .any(|n| n.0 == g.0 && n.1 == g.1 && n.2 != g.2);
                if late && moved {
                    v.push(format!(
                        "a renew sent at {sent_ms} moved fence {} of {}, begun after it, at {}",
                        g.1, c.key, c.at_ms
                    ));
                }
            }
        }
    }
    v
}

/// How long after the write that hands a Step Functions task a grant lock-fn may take to send
/// it: the writer's own retries and its pass-overs, each within a 3 s attempt timeout.
const WAKE_WITHIN_MS: u64 = 10_000;

/// A write that grants the lock to a queued Step Functions task, and whose writer was told it
/// applied, is followed by a send to the task token its queue entry held when the write landed
/// (or, for a task's own acquire, the token it came with), within
/// [`WAKE_WITHIN_MS`] - unless the writer's instance was killed, or the grant's lease ended before
/// the write landed. A grant written unseen (its answer lost) is found by a later read at best:
/// there the task's re-entry is the way back, which this check does not judge.
fn a_task_handed_a_grant_is_woken(run: &Run) -> Vec<String> {
    // A task's own acquire that takes the lock wakes the token it came with.
    let mut own: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for e in &run.events {
        if let Event::Answer {
            owner: Some(o),
            op: "task_acquire",
            request,
            invocation: Some(i),
            ..
        } = e
        {
            let request: serde_json::Value = serde_json::from_str(request).unwrap_or_default();
            if let Some(t) = request["task_token"].as_str() {
                own.insert(*i, (owner_digest(o), t.to_string()));
            }
        }
    }
    let mut v = Vec::new();
    for c in run.log.iter().filter(|c| c.seen) {
        let Some(i) = c.invocation.filter(|i| !run.killed.contains(i)) else {
            continue;
        };
        let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
            continue;
        };
        let had = grants(&before);
        // A grant whose lease ended before its write landed needs no wake.
        let new = grants(&after)
            .into_iter()
            .filter(|g| !had.iter().any(|h| h.1 == g.1) && g.2 > c.at_ms);
        for g in new {
            let mut tokens: Vec<&String> = before
                .waiters
                .iter()
                .filter(|w| w.digest == g.0)
                .filter_map(|w| w.token.as_ref())
                .collect();
            tokens.extend(own.get(&i).filter(|(d, _)| *d == g.0).map(|(_, t)| t));
            if tokens.is_empty() {
                continue;
            }
            let woken = run.sends.iter().any(|(t, at)| {
                tokens.contains(&t) && (c.at_ms..=c.at_ms + WAKE_WITHIN_MS).contains(at)
            });
            if !woken {
                v.push(format!(
                    "{} (invocation {i}) granted fence {} of {} at {} to a task, and nothing sent to its token within {WAKE_WITHIN_MS} ms",
                    c.by, g.1, c.key, c.at_ms
                ));
            }
        }
    }
    v
}

/// A write that grants the lock to a queued Step Functions task but whose answer its writer never
/// saw (lost; the writer's retry refused) is recognised by the writer's next read: the grant stands,
/// aimed at the task with the `wake_id` the write carried, and no other write can have put that
/// nonce there. So when the writer's invocation gives its own answer (not an error) while that very
/// grant still stands and runs (by more than [`WAKE_MARGIN_MS`]), the task was sent the grant - by
/// the answer, or within [`WAKE_WITHIN_MS`] of the write.
fn a_task_handed_a_grant_unseen_is_woken(run: &Run) -> Vec<String> {
    // Each invocation's own answer: when, and the owner it answered a grant (a task's own
    // acquire that takes the lock is answered the grant itself, not sent it).
    let answered: BTreeMap<u64, (u64, Option<String>)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Answer {
                invocation: Some(i),
                from_fn: true,
                json,
                at_ms,
                owner,
                ..
            } if !json.starts_with("{\"error\"") => {
                let granted = json
                    .contains("\"acquired\":true")
                    .then(|| owner.as_deref().map(owner_digest))
                    .flatten();
                Some((*i, (*at_ms, granted)))
            }
            _ => None,
        })
        .collect();
    let mut v = Vec::new();
    for c in run.log.iter().filter(|c| !c.seen) {
        let Some(i) = c.invocation.filter(|i| !run.killed.contains(i)) else {
            continue;
        };
        let Some((answer_at, answered_grant)) = answered.get(&i).filter(|(at, _)| *at >= c.at_ms)
        else {
            continue;
        };
        let answer_at = *answer_at;
        let (Some(before), Some(after)) = (parse(&c.before), parse(&c.after)) else {
            continue;
        };
        let had = grants(&before);
        let at_answer = run
            .log
            .iter()
            .rfind(|d| d.key == c.key && d.at_ms <= answer_at)
            .and_then(|d| parse(&d.after));
        for g in grants(&after)
            .into_iter()
            .filter(|g| !had.iter().any(|h| h.1 == g.1))
        {
            let tokens: Vec<&String> = before
                .waiters
                .iter()
                .filter(|w| w.digest == g.0)
                .filter_map(|w| w.token.as_ref())
                .collect();
            let aimed = after.grant_view(&g.0).wake_id;
            if tokens.is_empty() || aimed.is_none() || answered_grant.as_ref() == Some(&g.0) {
                continue;
            }
            let stands = at_answer.as_ref().is_some_and(|item| {
                item.grant(&g.0).is_some_and(|now| {
                    now.fence == g.1 && now.lease_end_ms > answer_at + WAKE_MARGIN_MS
                }) && item.grant_view(&g.0).wake_id == aimed
            });
            if !stands {
                continue;
            }
            let woken = run.sends.iter().any(|(t, at)| {
                tokens.contains(&t)
                    && (c.at_ms..=answer_at.max(c.at_ms + WAKE_WITHIN_MS)).contains(at)
            });
            if !woken {
                v.push(format!(
                    "{} (invocation {i}) granted fence {} of {} at {} to a task, its answer unseen; the grant still stood when the invocation answered at {answer_at}, and nothing was sent to the task",
                    c.by, g.1, c.key, c.at_ms
                ));
            }
        }
    }
    v
}

/// How long a grant must still run when its writer answers for [`a_task_handed_a_grant_unseen_is_woken`]
/// to require its wake (the writer's clock may be this much ahead).
const WAKE_MARGIN_MS: u64 = 50;

/// `wset` (the set a join checks so that an owner never queues twice) names exactly the owners
/// queued, after every change: a digest left behind would keep its owner from ever queueing again.
fn the_waiter_set_is_the_queue(run: &Run) -> Vec<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut v = Vec::new();
    for c in &run.log {
        let (Some(raw), Some(item)) = (&c.after, parse(&c.after)) else {
            continue;
        };
        let set: BTreeSet<&str> = match raw.get(crate::model::item::ATTR_WAITER_SET) {
            Some(AttributeValue::Ss(s)) => s.iter().map(String::as_str).collect(),
            _ => BTreeSet::new(),
        };
        let queued: BTreeSet<&str> = item.waiters.iter().map(|w| w.digest.as_str()).collect();
        if set != queued || queued.len() != item.waiters.len() {
            v.push(format!(
                "{} at {} left {} with wset {set:?} but queue {queued:?} ({} entries)",
                c.by,
                c.at_ms,
                c.key,
                item.waiters.len()
            ));
        }
    }
    v
}

/// No answer to one client carries the owner token of another.
fn no_token_shown_to_another(run: &Run) -> Vec<String> {
    let mut tokens: BTreeMap<String, usize> = BTreeMap::new();
    for e in &run.events {
        match e {
            Event::Answer {
                client,
                owner: Some(t),
                ..
            } => {
                tokens.insert(t.clone(), *client);
            }
            // An owner-less caller is told the token lock-fn made for it, by its acquire's answer
            // (a describe's `owner` is a digest, anyone's to see).
            Event::Answer {
                client,
                owner: None,
                op: "acquire",
                json,
                ..
            } => {
                let answer: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
                if let Some(t) = answer["owner"].as_str() {
                    tokens.insert(t.to_string(), *client);
                }
            }
            _ => {}
        }
    }
    let mut v = Vec::new();
    for e in &run.events {
        if let Event::Answer { client, json, .. } = e {
            for (t, c) in &tokens {
                if c != client && json.contains(t.as_str()) {
                    v.push(format!(
                        "client {client} was shown client {c}'s token: {json}"
                    ));
                }
            }
        }
    }
    v
}
