//! Property-based fuzzing of the request decoder: 100,000 generated events (deep nesting, huge and
//! negative numbers, escapes, oversized strings, near-miss requests) each get a request or an
//! `InvalidRequest`, never a panic.

use lock_client::protocol::{Request, MAX_OWNER_BYTES, MAX_RESOURCE_ID_BYTES};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN/inf", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!(0)),
        Just(json!(u64::MAX)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\\\\"\\u{0}-\\u{1f}\\u{d7ff}\\u{e000}-\\u{ffff}]{0,20}",
        Just("\\ud800".to_string()),
        Just("x".repeat(MAX_RESOURCE_ID_BYTES + 1)),
        Just("o".repeat(MAX_OWNER_BYTES + 1)),
        Just("é".repeat(MAX_RESOURCE_ID_BYTES / 2 + 1)),
        Just(String::new()),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
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

/// Objects that look like requests: a known op, known fields with any values, maybe an extra field.
fn near_request() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just(json!("acquire")),
        Just(json!("release")),
        Just(json!("renew")),
        Just(json!("describe")),
        any_json()
    ];
    let field = prop_oneof![
        Just("resource_id"),
        Just("owner"),
        Just("duration_ms"),
        Just("wait_ms"),
        Just("on_busy"),
        Just("op"),
        Just("resourceId"),
    ];
    let value = prop_oneof![
        any_json(),
        any_number(),
        any_string().prop_map(Value::String)
    ];
    (op, prop::collection::vec((field, value), 0..6)).prop_map(|(op, fields)| {
        let mut m = Map::new();
        m.insert("op".into(), op);
        for (k, v) in fields {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in any_json()) {
        let _ = Request::from_json(&v);
    }

    #[test]
    fn near_requests_are_decoded_or_rejected_with_a_field(v in near_request()) {
        match Request::from_json(&v) {
            Ok(r) => prop_assert_eq!(Request::from_json(&r.to_json()).unwrap(), r),
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Request::from_slice(&bytes);
    }
}

#[test]
fn very_deep_nesting_is_rejected_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Request::from_slice(deep.as_bytes()).is_err());
    let deep_field = format!(
        "{{\"op\":\"acquire\",\"resource_id\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(Request::from_slice(deep_field.as_bytes()).is_err());
}
