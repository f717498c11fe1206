//! Property-based fuzzing of the request decoder: 100,000 generated events (deep nesting, huge and
//! negative numbers, escapes, oversized strings, near-miss requests over every field) each get a
//! request or an `InvalidRequest`, never a panic; and for requests the verdict is that of an
//! independent oracle (test-support's `requests`), with the error naming a field at fault.

use lock_protocol::Request;
use proptest::prelude::*;
use test_support::requests::{any_json, judge, near_request, Verdict};

proptest! {
    #![proptest_config(ProptestConfig { cases: 40_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in any_json()) {
        let _ = Request::from_json(&v);
    }

    #[test]
    fn near_requests_are_judged_as_the_oracle_judges_them(v in near_request()) {
        match (Request::from_json(&v), judge(&v)) {
            (Ok(r), Verdict::Valid) => prop_assert_eq!(Request::from_json(&r.to_json()).unwrap(), r),
            (Ok(r), Verdict::Invalid { fields }) => {
                prop_assert!(false, "{} was accepted as {:?}; the oracle rejects {:?}", v, r, fields)
            }
            (Err(e), Verdict::Valid) => prop_assert!(false, "{} was rejected: {}", v, e),
            (Err(e), Verdict::Invalid { fields }) => {
                let named = e.field.clone().unwrap_or_default();
                prop_assert!(
                    fields.is_empty() || fields.contains(&named),
                    "{} rejected naming {:?}, the oracle's fields are {:?}", v, e.field, fields
                );
                prop_assert!(fields.is_empty() || e.to_string().contains(&format!("`{named}`")), "{}", e);
            }
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
