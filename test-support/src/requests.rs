//! Generated lock requests for the fuzz tests, and an independent oracle that says which of them are
//! valid. The oracle is written from the protocol table in DESIGN.md, not from lock-protocol's
//! decoder, so that a decoder that ignored a field (say, a negative `fence`) is caught.

use std::collections::BTreeSet;

use lock_protocol::{
    MAX_HOLDER_BYTES, MAX_LIMIT, MAX_OWNER_BYTES, MAX_RESOURCE_ID_BYTES, MAX_TASK_TOKEN_BYTES,
    MAX_WAIT_MS,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Every request field any op knows, plus near misses.
pub const FIELDS: &[&str] = &[
    "op",
    "resource_id",
    "owner",
    "duration_ms",
    "wait_ms",
    "on_busy",
    "fresh_owner",
    "holder",
    "fence",
    "queue",
    "task_token",
    "limit",
    "resourceId",
    "extra",
];

/// What a field must hold.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A non-empty string of at most this many UTF-8 bytes.
    Text(usize),
    /// A JSON whole number in this range.
    Whole(u64, u64),
    Flag,
    OnBusy,
}

/// The fields of `op`: (name, kind, required).
fn spec(op: &str, max_duration_ms: u64) -> Option<Vec<(&'static str, Kind, bool)>> {
    let resource = ("resource_id", Kind::Text(MAX_RESOURCE_ID_BYTES), true);
    let duration = ("duration_ms", Kind::Whole(1, max_duration_ms), false);
    let fence = ("fence", Kind::Whole(0, u64::MAX), false);
    Some(match op {
        "acquire" => vec![
            resource,
            duration,
            ("owner", Kind::Text(MAX_OWNER_BYTES), false),
            ("wait_ms", Kind::Whole(0, MAX_WAIT_MS), false),
            ("on_busy", Kind::OnBusy, false),
            ("fresh_owner", Kind::Flag, false),
            ("holder", Kind::Text(MAX_HOLDER_BYTES), false),
            ("queue", Kind::Flag, false),
            ("task_token", Kind::Text(MAX_TASK_TOKEN_BYTES), false),
            ("limit", Kind::Whole(1, MAX_LIMIT as u64), false),
        ],
        "release" => vec![
            resource,
            ("owner", Kind::Text(MAX_OWNER_BYTES), true),
            fence,
        ],
        "renew" => vec![
            resource,
            ("owner", Kind::Text(MAX_OWNER_BYTES), true),
            duration,
            fence,
        ],
        "describe" => vec![resource, ("owner", Kind::Text(MAX_OWNER_BYTES), false)],
        "cancel" => vec![resource, ("owner", Kind::Text(MAX_OWNER_BYTES), true)],
        _ => return None,
    })
}

fn fits(kind: Kind, v: &Value) -> bool {
    match (kind, v) {
        (Kind::Text(max), Value::String(s)) => !s.is_empty() && s.len() <= max,
        (Kind::Whole(lo, hi), Value::Number(n)) => n.as_u64().is_some_and(|x| x >= lo && x <= hi),
        (Kind::Flag, Value::Bool(_)) => true,
        (Kind::OnBusy, Value::String(s)) => s == "result" || s == "error",
        _ => false,
    }
}

/// The oracle's verdict on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A request lock-fn must accept.
    Valid,
    /// To be rejected as `InvalidRequest`; `fields` are the ones at fault (empty: the request as a
    /// whole, e.g. not an object). The error must name one of them.
    Invalid {
        /// The offending fields.
        fields: BTreeSet<String>,
    },
}

/// Judges `event` as the decoder must (durations of any length).
pub fn judge(event: &Value) -> Verdict {
    judge_with(event, u64::MAX)
}

/// Judges `event` as lock-fn's handler must: also rejects leases above `max_duration_ms`.
pub fn judge_with(event: &Value, max_duration_ms: u64) -> Verdict {
    let invalid = |fields: &[&str]| Verdict::Invalid {
        fields: fields.iter().map(|f| f.to_string()).collect(),
    };
    let Some(obj) = event.as_object() else {
        return invalid(&[]);
    };
    let Some(op) = obj.get("op").and_then(Value::as_str) else {
        return invalid(&["op"]);
    };
    let Some(spec) = spec(op, max_duration_ms) else {
        return invalid(&["op"]);
    };
    let mut bad = BTreeSet::new();
    for key in obj.keys() {
        if key != "op" && !spec.iter().any(|(name, _, _)| name == key) {
            bad.insert(key.clone());
        }
    }
    for (name, kind, required) in spec {
        match obj.get(name).filter(|v| !v.is_null()) {
            None if required => {
                bad.insert(name.to_string());
            }
            None => {}
            Some(v) if !fits(kind, v) => {
                bad.insert(name.to_string());
            }
            Some(_) => {}
        }
    }
    // A Step Functions waiter must name its owner (its re-entry finds its place by it).
    let present = |f: &str| obj.get(f).is_some_and(|v| !v.is_null());
    if op == "acquire" && present("task_token") && !present("owner") {
        bad.insert("task_token".to_string());
    }
    if op == "acquire" && present("task_token") && obj.get("queue") == Some(&Value::Bool(false)) {
        // ...and a callback always waits in the queue.
        bad.insert("queue".to_string());
    }
    // lock-fn's own items (its waiting budget) are not resources callers may name.
    if obj
        .get("resource_id")
        .and_then(Value::as_str)
        .is_some_and(|id| id.starts_with(".lock-fn/"))
    {
        bad.insert("resource_id".to_string());
    }
    if bad.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid { fields: bad }
    }
}

/// Numbers of every shape: huge, negative, fractional, zero, the limits.
pub fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN/inf", |f| f.is_finite())
            .prop_map(Value::from),
        (0u64..=2000).prop_map(Value::from),
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(1.0)),
        Just(json!(2.5)),
        Just(json!(MAX_WAIT_MS)),
        Just(json!(MAX_WAIT_MS + 1)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
    ]
}

/// Strings of every shape: control characters, escapes, the size limits and one byte over.
pub fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\\\\"\\u{0}-\\u{1f}\\u{d7ff}\\u{e000}-\\u{ffff}]{0,20}",
        Just("\\ud800".to_string()),
        Just("x".repeat(MAX_RESOURCE_ID_BYTES)),
        Just("x".repeat(MAX_RESOURCE_ID_BYTES + 1)),
        Just("o".repeat(MAX_OWNER_BYTES)),
        Just("o".repeat(MAX_OWNER_BYTES + 1)),
        Just("h".repeat(MAX_HOLDER_BYTES + 1)),
        Just("é".repeat(MAX_RESOURCE_ID_BYTES / 2 + 1)),
        Just(String::new()),
        Just("result".to_string()),
        Just("error".to_string()),
        Just("acquire".to_string()),
        Just("t".repeat(MAX_TASK_TOKEN_BYTES + 1)),
    ]
}

/// Any JSON value, nested.
pub fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number(),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid request of each op with every field it takes (or none of the optional ones).
fn full_request() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"op": "acquire", "resource_id": "r"})),
        Just(
            json!({"op": "acquire", "resource_id": "r", "duration_ms": 1000, "owner": "o",
                    "wait_ms": 10, "on_busy": "error", "fresh_owner": true, "holder": "h"})
        ),
        Just(json!({"op": "release", "resource_id": "r", "owner": "o"})),
        Just(json!({"op": "release", "resource_id": "r", "owner": "o", "fence": 7})),
        Just(
            json!({"op": "renew", "resource_id": "r", "owner": "o", "duration_ms": 1000, "fence": 7})
        ),
        Just(json!({"op": "describe", "resource_id": "r"})),
        Just(json!({"op": "describe", "resource_id": "r", "owner": "o"})),
        Just(
            json!({"op": "acquire", "resource_id": "r", "owner": "o", "queue": true, "task_token": "tk"})
        ),
        Just(json!({"op": "cancel", "resource_id": "r", "owner": "o"})),
    ]
}

/// Events that look like requests: a valid request of some op, then zero to four of its (or any
/// other op's) fields overwritten with arbitrary values - every field, every kind of value.
pub fn near_request() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        4 => any_number(),
        4 => any_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any_json(),
    ];
    (
        full_request(),
        prop::collection::vec((prop::sample::select(FIELDS), value), 0..5),
    )
        .prop_map(|(mut base, changes)| {
            let m: &mut Map<String, Value> = base.as_object_mut().unwrap();
            for (k, v) in changes {
                m.insert(k.to_string(), v);
            }
            base
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracle_knows_the_protocol_table() {
        assert_eq!(
            judge(&json!({"op": "release", "resource_id": "r", "owner": "o", "fence": 3})),
            Verdict::Valid
        );
        let fields = |v: Value| match judge(&v) {
            Verdict::Invalid { fields } => fields.into_iter().collect::<Vec<_>>(),
            Verdict::Valid => vec!["<valid>".into()],
        };
        assert_eq!(
            fields(json!({"op": "release", "resource_id": "r", "owner": "o", "fence": -3})),
            ["fence"]
        );
        assert_eq!(
            fields(json!({"op": "acquire", "resource_id": "r", "fresh_owner": 1})),
            ["fresh_owner"]
        );
        assert_eq!(
            fields(json!({"op": "describe", "resource_id": "r", "fence": 1})),
            ["fence"]
        );
        assert_eq!(
            fields(json!({"op": "acquire", "resource_id": "r", "duration_ms": 1.0})),
            ["duration_ms"]
        );
        assert_eq!(
            fields(json!({"op": "renew", "resource_id": null, "owner": "o"})),
            ["resource_id"]
        );
        assert_eq!(fields(json!([1])), Vec::<String>::new());
        assert_eq!(
            judge_with(
                &json!({"op": "acquire", "resource_id": "r", "duration_ms": 11}),
                10
            ),
            Verdict::Invalid {
                fields: ["duration_ms".to_string()].into()
            }
        );
    }
}
