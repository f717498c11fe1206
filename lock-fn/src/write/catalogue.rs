//! Every mutex, queue and semaphore write lock-fn sends (the budget's slot writes are in `engine/wait_budget.rs`), once each with sample values, and every named part rendered: what the
//! tests read back as DynamoDB would, and what DESIGN.md's catalogue of writes shows (generated
//! from here: `the_catalogue_in_design_md_is_what_the_builders_render`).

use crate::decide::cancel::MarkWrite;
use crate::decide::edit::{Edit, QueueVersion, Removal};
use crate::decide::step::SemTake;
use crate::model::item::Waiter;
use crate::write::expr::{Cond, Write};
use crate::write::expressions::*;
use crate::write::mutex::*;
use crate::write::semaphore::*;

const NOW: u64 = 1_000;

fn waiter(active_until_ms: u64, token: Option<&str>) -> Waiter {
    Waiter {
        duration_ms: 60_000,
        active_until_ms,
        holder: Some("label".into()),
        token: token.map(Into::into),
        ..Waiter::sample("next", 5_000)
    }
}

/// Removes the next waiter (index 1) and a dead one (index 0); no live entry left.
fn edit() -> Edit {
    Edit {
        removed: vec![Removal::dead(0, "dead"), Removal::entry(1, "next")],
        unchanged_since: Some(QueueVersion(Some(4))),
        clears_mark: true,
    }
}

fn releaser(fence: Option<u64>, wake_id: Option<&'static str>) -> Releaser<'static> {
    Releaser {
        me: "me",
        fence,
        since: 900,
        nonce: "nonce",
        wake_id,
    }
}

fn sem_take_of(create: bool, relimit_from: Option<u32>, queued: bool) -> SemTake {
    SemTake {
        create,
        old_fence: 9,
        purge: vec!["expired".into()],
        own_expired: false,
        relimit_from,
        queued,
        stored_purge: Some(5),
        edit: if queued {
            Edit {
                removed: vec![Removal::entry(0, "me")],
                ..Edit::default()
            }
        } else {
            Edit {
                unchanged_since: Some(QueueVersion(Some(4))),
                ..Edit::default()
            }
        },
    }
}

fn place(token: Option<&str>) -> Place<'_> {
    Place {
        alive_until_ms: 5_000,
        active_until_ms: 0,
        token,
        duration_ms: 30_000,
    }
}

/// Every builder, with sample values: (what it is, the write).
pub fn samples() -> Vec<(&'static str, Write)> {
    let ask = SemAsk {
        me: "me",
        holder: Some("label"),
        duration_ms: 10_000,
        limit: 3,
        wake: None,
        max_ms: 60_000,
        since: Some(900),
    };
    vec![
        (
            "try_acquire",
            try_acquire("me", None, 10_000, Some(900), NOW),
        ),
        (
            "try_acquire, labelled",
            try_acquire("me", Some("label"), 10_000, None, NOW),
        ),
        ("confirm", confirm("me", NOW)),
        ("renew, fenced", renew("me", Some(7), 900, 10_000, NOW)),
        ("renew, unfenced", renew("me", None, 900, 10_000, NOW)),
        (
            "mutex_end_ended (a refused release or renew, its own grant run out)",
            mutex_end_ended("me", 7, 950),
        ),
        (
            "release_alone, fenced",
            release_alone("me", Some(7), "nonce", 900, NOW),
        ),
        (
            "release_alone, unfenced",
            release_alone("me", None, "nonce", 900, NOW),
        ),
        (
            "take",
            take("me", None, 10_000, None, &Edit::default(), None, NOW),
        ),
        (
            "take, queued, for a task",
            take(
                "me",
                Some("label"),
                10_000,
                Some("wake"),
                &edit(),
                Some(900),
                NOW,
            ),
        ),
        (
            "wake_take",
            wake_take(1, &waiter(0, Some("token")), "wake", &edit(), NOW),
        ),
        ("aim", aim("me", 7, "wake", NOW)),
        (
            "cancel, queued, first mark",
            cancel("me", Some(&edit()), false, MarkWrite::First, &[], NOW),
        ),
        (
            "cancel, not queued, dropping an old mark",
            cancel(
                "me",
                None,
                false,
                MarkWrite::Raise,
                &[("old".into(), 1_000)],
                NOW,
            ),
        ),
        (
            "cancel, holding, a later mark kept",
            cancel("me", None, true, MarkWrite::KeepLater, &[], NOW),
        ),
        (
            "join, raising the mark",
            join(&waiter(0, None), 64, Mark::Raise(5_000), Some(900), NOW),
        ),
        (
            "join, under a mark that covers it",
            join(&waiter(0, None), 64, Mark::Covers(5_000), None, NOW),
        ),
        (
            "refresh",
            refresh(3, "me", place(None), Mark::Raise(5_000), Some(900), NOW),
        ),
        (
            "refresh, a task's new token",
            refresh(
                3,
                "me",
                place(Some("token")),
                Mark::Covers(5_000),
                None,
                NOW,
            ),
        ),
        (
            "handoff, fenced, to a waiter in-function",
            handoff(
                &releaser(Some(7), None),
                &waiter(9_000, None),
                300,
                2_000,
                None,
                &edit(),
                NOW,
            ),
        ),
        (
            "handoff, unfenced, passing a closed task's grant over, to a task",
            handoff(
                &releaser(None, Some("wake_id")),
                &waiter(0, Some("token")),
                300,
                2_000,
                Some("wake"),
                &edit(),
                NOW,
            ),
        ),
        (
            "release_pruning, fenced",
            release_pruning(&releaser(Some(7), None), &edit(), NOW),
        ),
        (
            "release_pruning, unfenced, passing over, nobody queued",
            release_pruning(&releaser(None, Some("wake_id")), &Edit::default(), NOW),
        ),
        ("edit_only", edit_only(&edit(), NOW)),
        ("claim", claim("me", 7, 10_000, None, NOW)),
        (
            "claim, for a task",
            claim("me", 7, 10_000, Some("wake"), NOW),
        ),
        (
            "sem_take, creating the item",
            sem_take(&sem_take_of(true, None, false), &ask, NOW),
        ),
        (
            "sem_take",
            sem_take(&sem_take_of(false, None, false), &ask, NOW),
        ),
        (
            "sem_take, queued",
            sem_take(&sem_take_of(false, None, true), &ask, NOW),
        ),
        (
            "sem_take, with a new limit",
            sem_take(&sem_take_of(false, Some(2), false), &ask, NOW),
        ),
        (
            "sem_take, over its own expired entry, for a task",
            sem_take(
                &SemTake {
                    own_expired: true,
                    purge: vec![],
                    ..sem_take_of(false, None, false)
                },
                &SemAsk {
                    wake: Some("wake"),
                    ..ask
                },
                NOW,
            ),
        ),
        ("sem_aim", sem_aim("me", 7, "wake", NOW)),
        (
            "sem_claim",
            sem_claim("me", 7, 10_000, None, 60_000, Some(5), NOW),
        ),
        (
            "sem_claim, for a task",
            sem_claim("me", 7, 10_000, Some("wake"), 60_000, None, NOW),
        ),
        (
            "sem_renew, fenced",
            sem_renew("me", Some(7), 900, 10_000, 60_000, None, NOW),
        ),
        (
            "sem_renew, unfenced",
            sem_renew("me", None, 900, 10_000, 60_000, Some(5), NOW),
        ),
        (
            "sem_end_ended (a refused release or renew, its own grant run out)",
            sem_end_ended("me", 7, 950),
        ),
        (
            "sem_release_alone, fenced",
            sem_release_alone(&releaser(Some(7), None), 7, &Edit::default(), NOW),
        ),
        (
            "sem_release_alone, unfenced, passing over",
            sem_release_alone(&releaser(None, Some("wake_id")), 7, &edit(), NOW),
        ),
        (
            "sem_handoff",
            sem_handoff(
                &releaser(Some(7), None),
                7,
                9,
                &waiter(0, None),
                300,
                2_000,
                60_000,
                Some(5),
                None,
                &edit(),
                NOW,
            ),
        ),
        (
            "sem_handoff, to a task",
            sem_handoff(
                &releaser(None, Some("wake_id")),
                7,
                9,
                &waiter(9_000, Some("token")),
                300,
                2_000,
                60_000,
                None,
                Some("wake"),
                &edit(),
                NOW,
            ),
        ),
    ]
}

fn cond(c: Cond) -> String {
    Write::default()
        .require(c)
        .render()
        .condition
        .unwrap_or_default()
}

fn update(w: Write) -> String {
    w.render().update
}

/// Every named part, rendered: (its name in `write/expressions.rs` or `write/semaphore.rs`, the
/// text DynamoDB gets).
pub fn named() -> Vec<(&'static str, String)> {
    vec![
        ("acquire_condition", cond(acquire_condition(NOW))),
        ("no_live_queue", cond(no_live_queue(NOW))),
        ("try_acquire_condition", cond(try_acquire_condition(NOW))),
        ("holder_condition", cond(holder_condition("me", NOW))),
        (
            "holder_fence_condition",
            cond(holder_fence_condition("me", 7, NOW)),
        ),
        (
            "holder_since_condition",
            cond(holder_since_condition("me", 900, NOW)),
        ),
        ("renew_not_back", cond(renew_not_back(NOW))),
        ("join_condition", cond(join_condition("me", 64))),
        ("not_queued", cond(not_queued("me"))),
        ("not_holding", cond(not_holding("me", NOW))),
        (
            "not_cancelled_since",
            not_cancelled_since("me", Some(900))
                .render()
                .condition
                .unwrap_or_default(),
        ),
        ("queue_mark_raised", cond(queue_mark_raised(NOW))),
        ("queue_mark_covers", cond(queue_mark_covers(NOW))),
        (
            "queue_unchanged",
            cond(queue_unchanged(QueueVersion(Some(4)))),
        ),
        (
            "queue_unchanged, no version read",
            cond(queue_unchanged(QueueVersion(None))),
        ),
        ("claim_condition", cond(claim_condition("me", 7, NOW))),
        ("wake_id_condition", cond(wake_id_condition("wake_id"))),
        ("lease_end_set", update(lease_end_set(NOW))),
        ("take_set", update(take_set("me", NOW, NOW))),
        ("release_end_set", update(release_end_set(NOW))),
        (
            "release_record_set",
            update(release_record_set("nonce", NOW)),
        ),
        ("release_slot_set", update(release_slot_set("me", 7, NOW))),
        ("handoff_set", update(handoff_set("next", NOW, 300, NOW))),
        ("queue_version_set", update(queue_version_set(NOW))),
        (
            "cancel_mark_set",
            update(cancel_mark_set(
                "me",
                MarkWrite::Raise,
                &[("old".into(), 1_000)],
                NOW,
            )),
        ),
        ("sem_create_condition", cond(sem_create_condition())),
        ("sem_limit_is", cond(sem_limit_is(3))),
        ("sem_no_grant_since", cond(sem_no_grant_since(9))),
        ("sem_not_holding", cond(sem_not_holding("me"))),
        (
            "sem_own_entry_expired",
            cond(sem_own_entry_expired("me", NOW)),
        ),
        (
            "sem_holder_fence_condition",
            cond(sem_holder_fence_condition("me", 7, NOW)),
        ),
        (
            "sem_holder_since_condition",
            cond(sem_holder_since_condition("me", 900, NOW)),
        ),
        ("sem_renew_not_back", cond(sem_renew_not_back("me", NOW))),
        (
            "sem_claim_condition",
            cond(sem_claim_condition("me", 7, NOW)),
        ),
        (
            "sem_next_not_holding",
            cond(sem_next_not_holding("next", NOW)),
        ),
        ("sem_purge_not_lowered", cond(sem_purge_not_lowered(NOW))),
        (
            "sem_wake_id_condition",
            cond(sem_wake_id_condition("me", "wake_id")),
        ),
        (
            "sem_release_record_set",
            update(sem_release_record_set("nonce", 7, NOW)),
        ),
    ]
}

/// DESIGN.md's generated part: the named parts, then every write as sent.
pub fn design_tables() -> String {
    let mut out = String::from("| named part | renders as |\n|---|---|\n");
    for (name, text) in named() {
        out.push_str(&format!("| `{name}` | `{text}` |\n"));
    }
    out.push_str(
        "\n| write (builder, case) | `UpdateExpression` | `ConditionExpression` |\n|---|---|---|\n",
    );
    for (name, w) in samples() {
        let r = w.render();
        out.push_str(&format!(
            "| {name} | `{}` | {} |\n",
            r.update,
            r.condition
                .map_or("(none)".to_string(), |c| format!("`{c}`"))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- generated by write::catalogue: begin -->\n";
    const END: &str = "<!-- generated by write::catalogue: end -->";

    /// DESIGN.md shows every named part and every write exactly as the builders render them.
    /// `DLM_WRITE_DESIGN=1` rewrites the generated part.
    #[test]
    fn the_catalogue_in_design_md_is_what_the_builders_render() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../DESIGN.md");
        let design = std::fs::read_to_string(path).unwrap();
        let start = design.find(BEGIN).expect("DESIGN.md has the begin marker") + BEGIN.len();
        let end = design.find(END).expect("DESIGN.md has the end marker");
        let want = design_tables();
        if design[start..end] != want {
            if std::env::var_os("DLM_WRITE_DESIGN").is_some() {
                let new = format!("{}{want}{}", &design[..start], &design[end..]);
                std::fs::write(path, new).unwrap();
            } else {
                panic!(
                    "DESIGN.md's catalogue differs from the builders (DLM_WRITE_DESIGN=1 \
                     rewrites it):\n{want}"
                );
            }
        }
    }
}
