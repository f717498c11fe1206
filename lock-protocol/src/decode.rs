//! Strict decoding and validation of requests: every problem is an [`InvalidRequest`] naming the field.

use crate::limits::{
    MAX_HOLDER_BYTES, MAX_LIMIT, MAX_OWNER_BYTES, MAX_RESOURCE_ID_BYTES, MAX_TASK_TOKEN_BYTES,
    MAX_WAIT_MS, RESERVED_RESOURCE_PREFIX,
};
use crate::request::{
    AcquireRequest, CancelRequest, DescribeRequest, OnBusy, ReleaseRequest, RenewRequest, Request,
};
use serde_json::{Map, Value};
use std::fmt;

/// Why a request was rejected; `field` names the offending field when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    /// The field at fault (`None` when the request as a whole is wrong).
    pub field: Option<String>,
    /// What is wrong, for humans.
    pub message: String,
}

impl InvalidRequest {
    fn field(field: &str, message: impl Into<String>) -> Self {
        InvalidRequest {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    fn whole(message: impl Into<String>) -> Self {
        InvalidRequest {
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for InvalidRequest {}

const ACQUIRE_FIELDS: &[&str] = &[
    "fresh_owner",
    "op",
    "resource_id",
    "duration_ms",
    "owner",
    "wait_ms",
    "on_busy",
    "holder",
    "queue",
    "task_token",
    "limit",
];
const RELEASE_FIELDS: &[&str] = &["op", "resource_id", "owner", "fence"];
const RENEW_FIELDS: &[&str] = &["op", "resource_id", "owner", "duration_ms", "fence"];
const DESCRIBE_FIELDS: &[&str] = &["op", "resource_id", "owner"];
const CANCEL_FIELDS: &[&str] = &["op", "resource_id", "owner"];

impl Request {
    /// Decodes raw JSON bytes (what a Lambda invocation carries).
    ///
    /// ```
    /// let r = lock_protocol::Request::from_slice(br#"{"op":"describe","resource_id":"a"}"#);
    /// assert!(r.is_ok());
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Result<Request, InvalidRequest> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| InvalidRequest::whole(format!("request is not valid JSON: {e}")))?;
        Request::from_json(&value)
    }

    /// Decodes and validates one request. Unknown ops, unknown fields, wrong JSON types, empty or
    /// oversized strings and out-of-range numbers are all rejected.
    ///
    /// ```
    /// use lock_protocol::Request;
    /// use serde_json::json;
    /// let r = Request::from_json(&json!({"op": "acquire", "resource_id": "orders/42"})).unwrap();
    /// assert_eq!((r.op(), r.resource_id()), ("acquire", "orders/42"));
    /// let err = Request::from_json(&json!({"op": "acquire", "resource_id": "r", "duration_ms": 0})).unwrap_err();
    /// assert_eq!(err.field.as_deref(), Some("duration_ms"));
    /// ```
    pub fn from_json(value: &Value) -> Result<Request, InvalidRequest> {
        let obj = value.as_object().ok_or_else(|| {
            InvalidRequest::whole(format!(
                "request must be a JSON object with an `op`, got {}",
                json_kind(value)
            ))
        })?;
        let op = match obj.get("op") {
            None | Some(Value::Null) => return Err(InvalidRequest::field("op", "is required")),
            Some(Value::String(op)) => op.as_str(),
            Some(other) => {
                return Err(InvalidRequest::field(
                    "op",
                    format!("must be a string, got {}", json_kind(other)),
                ))
            }
        };
        let fields = Fields(obj);
        match op {
            "acquire" => {
                fields.only(ACQUIRE_FIELDS, op)?;
                let request = AcquireRequest {
                    resource_id: fields.resource_id()?,
                    duration_ms: fields.duration_ms()?,
                    owner: fields.optional_owner()?,
                    wait_ms: fields.wait_ms()?,
                    on_busy: fields.on_busy()?,
                    fresh_owner: fields.flag("fresh_owner")?,
                    holder: fields.string("holder", MAX_HOLDER_BYTES)?,
                    queue: fields.optional_flag("queue")?,
                    task_token: fields.string("task_token", MAX_TASK_TOKEN_BYTES)?,
                    limit: fields.limit()?,
                };
                if request.task_token.is_some() && request.owner.is_none() {
                    return Err(InvalidRequest::field(
                        "task_token",
                        "needs an `owner` (for example $$.Execution.Id): a waiter that comes back \
                         with a new token finds its place by its owner",
                    ));
                }
                if request.task_token.is_some() && request.queue == Some(false) {
                    return Err(InvalidRequest::field(
                        "queue",
                        "must not be false with a `task_token`: a callback waits in the queue",
                    ));
                }
                Ok(Request::Acquire(request))
            }
            "release" => {
                fields.only(RELEASE_FIELDS, op)?;
                Ok(Request::Release(ReleaseRequest {
                    resource_id: fields.resource_id()?,
                    owner: fields.required_owner()?,
                    fence: fields.millis("fence")?,
                }))
            }
            "renew" => {
                fields.only(RENEW_FIELDS, op)?;
                Ok(Request::Renew(RenewRequest {
                    resource_id: fields.resource_id()?,
                    owner: fields.required_owner()?,
                    duration_ms: fields.duration_ms()?,
                    fence: fields.millis("fence")?,
                }))
            }
            "describe" => {
                fields.only(DESCRIBE_FIELDS, op)?;
                Ok(Request::Describe(DescribeRequest {
                    resource_id: fields.resource_id()?,
                    owner: fields.optional_owner()?,
                }))
            }
            "cancel" => {
                fields.only(CANCEL_FIELDS, op)?;
                Ok(Request::Cancel(CancelRequest {
                    resource_id: fields.resource_id()?,
                    owner: fields.required_owner()?,
                }))
            }
            other => Err(InvalidRequest::field(
                "op",
                format!(
                    "unknown op {:?}; expected acquire, release, renew, describe or cancel",
                    truncate(other, 64)
                ),
            )),
        }
    }
}

/// The request object, with typed getters that name the field in every error.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn only(&self, allowed: &[&str], op: &str) -> Result<(), InvalidRequest> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(InvalidRequest::field(
                &truncate(k, 64),
                format!(
                    "unknown field for op {op:?}; allowed: {}",
                    allowed.join(", ")
                ),
            )),
        }
    }

    /// A present, non-null value.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str, max_bytes: usize) -> Result<Option<String>, InvalidRequest> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => {
                Err(InvalidRequest::field(name, "must not be empty"))
            }
            Some(Value::String(s)) if s.len() > max_bytes => Err(InvalidRequest::field(
                name,
                format!("is {} bytes long; the maximum is {max_bytes}", s.len()),
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(InvalidRequest::field(
                name,
                format!("must be a string, got {}", json_kind(other)),
            )),
        }
    }

    /// A non-negative whole number (milliseconds, or a fence).
    fn millis(&self, name: &str) -> Result<Option<u64>, InvalidRequest> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let Value::Number(n) = value else {
            return Err(InvalidRequest::field(
                name,
                format!(
                    "must be a whole number{}, got {}",
                    unit(name),
                    json_kind(value)
                ),
            ));
        };
        if let Some(v) = n.as_u64() {
            return Ok(Some(v));
        }
        let message = if n.as_i64().is_some() || n.as_f64().is_some_and(|f| f < 0.0) {
            format!("must not be negative, got {n}")
        } else if n.as_f64().is_some_and(|f| f.fract() != 0.0) {
            format!("must be a whole number{}, got {n}", unit(name))
        } else {
            format!("is out of range, got {n}")
        };
        Err(InvalidRequest::field(name, message))
    }

    fn flag(&self, name: &str) -> Result<bool, InvalidRequest> {
        Ok(self.optional_flag(name)?.unwrap_or(false))
    }

    fn optional_flag(&self, name: &str) -> Result<Option<bool>, InvalidRequest> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(InvalidRequest::field(
                name,
                format!("must be true or false, got {}", json_kind(other)),
            )),
        }
    }

    fn resource_id(&self) -> Result<String, InvalidRequest> {
        let id = self
            .string("resource_id", MAX_RESOURCE_ID_BYTES)?
            .ok_or_else(|| InvalidRequest::field("resource_id", "is required"))?;
        if id.starts_with(RESERVED_RESOURCE_PREFIX) {
            return Err(InvalidRequest::field(
                "resource_id",
                format!("may not start with {RESERVED_RESOURCE_PREFIX:?} (reserved for lock-fn's own items)"),
            ));
        }
        Ok(id)
    }

    fn optional_owner(&self) -> Result<Option<String>, InvalidRequest> {
        self.string("owner", MAX_OWNER_BYTES)
    }

    fn required_owner(&self) -> Result<String, InvalidRequest> {
        self.optional_owner()?.ok_or_else(|| {
            InvalidRequest::field("owner", "is required (the owner returned by acquire)")
        })
    }

    fn duration_ms(&self) -> Result<Option<u64>, InvalidRequest> {
        match self.millis("duration_ms")? {
            Some(0) => Err(InvalidRequest::field(
                "duration_ms",
                "must be at least 1 millisecond",
            )),
            other => Ok(other),
        }
    }

    fn limit(&self) -> Result<Option<u32>, InvalidRequest> {
        match self.millis("limit")? {
            Some(0) => Err(InvalidRequest::field(
                "limit",
                "must be at least 1 (1 is the mutex)",
            )),
            Some(v) if v > MAX_LIMIT as u64 => Err(InvalidRequest::field(
                "limit",
                format!("is {v}; the maximum is {MAX_LIMIT} holders"),
            )),
            other => Ok(other.map(|v| v as u32)),
        }
    }

    fn wait_ms(&self) -> Result<u64, InvalidRequest> {
        match self.millis("wait_ms")? {
            Some(v) if v > MAX_WAIT_MS => Err(InvalidRequest::field(
                "wait_ms",
                format!("is {v}; the maximum is {MAX_WAIT_MS} (15 minutes)"),
            )),
            other => Ok(other.unwrap_or(0)),
        }
    }

    fn on_busy(&self) -> Result<OnBusy, InvalidRequest> {
        match self.get("on_busy") {
            None => Ok(OnBusy::Result),
            Some(Value::String(s)) if s == "result" => Ok(OnBusy::Result),
            Some(Value::String(s)) if s == "error" => Ok(OnBusy::Error),
            Some(Value::String(s)) => Err(InvalidRequest::field(
                "on_busy",
                format!("must be \"result\" or \"error\", got {:?}", truncate(s, 64)),
            )),
            Some(other) => Err(InvalidRequest::field(
                "on_busy",
                format!(
                    "must be the string \"result\" or \"error\", got {}",
                    json_kind(other)
                ),
            )),
        }
    }
}

/// " of milliseconds" for durations; nothing for counters such as `fence`.
fn unit(field: &str) -> &'static str {
    if field.ends_with("_ms") {
        " of milliseconds"
    } else {
        ""
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most `max_chars` characters of `s`, so that error messages stay short.
fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_string(),
        Some((i, _)) => format!("{}...", &s[..i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reject(v: Value) -> InvalidRequest {
        Request::from_json(&v).expect_err(&format!("{v} should be rejected"))
    }

    #[test]
    fn acquire_with_only_resource_gets_defaults() {
        let r = Request::from_json(&json!({"op":"acquire","resource_id":"orders/42"})).unwrap();
        assert_eq!(
            r,
            Request::Acquire(AcquireRequest {
                resource_id: "orders/42".into(),
                duration_ms: None,
                owner: None,
                wait_ms: 0,
                on_busy: OnBusy::Result,
                fresh_owner: false,
                holder: None,
                queue: None,
                task_token: None,
                limit: None,
            })
        );
    }

    #[test]
    fn full_requests_round_trip_through_serialize() {
        let requests = [
            Request::Acquire(AcquireRequest {
                resource_id: "r".into(),
                duration_ms: Some(5),
                owner: Some("me".into()),
                wait_ms: 7,
                on_busy: OnBusy::Error,
                fresh_owner: true,
                holder: Some("exec-1".into()),
                queue: Some(true),
                task_token: Some("AQB8token".into()),
                limit: Some(4),
            }),
            Request::Cancel(CancelRequest {
                resource_id: "r".into(),
                owner: "me".into(),
            }),
            Request::Release(ReleaseRequest {
                resource_id: "r".into(),
                owner: "me".into(),
                fence: Some(3),
            }),
            Request::Renew(RenewRequest {
                resource_id: "r".into(),
                owner: "me".into(),
                duration_ms: Some(9),
                fence: Some(4),
            }),
            Request::Describe(DescribeRequest {
                resource_id: "r".into(),
                owner: Some("me".into()),
            }),
        ];
        for r in requests {
            assert_eq!(Request::from_json(&r.to_json()).unwrap(), r);
        }
    }

    #[test]
    fn nulls_mean_absent_for_optional_fields() {
        let r = Request::from_json(&json!({"op":"acquire","resource_id":"r","owner":null,"duration_ms":null,"wait_ms":null,"on_busy":null})).unwrap();
        assert!(matches!(r, Request::Acquire(a) if a.owner.is_none() && a.duration_ms.is_none()));
    }

    #[test]
    fn every_invalid_case_names_its_field() {
        let long_id = "x".repeat(MAX_RESOURCE_ID_BYTES + 1);
        let long_owner = "o".repeat(MAX_OWNER_BYTES + 1);
        let cases: Vec<(Value, Option<&str>, &str)> = vec![
            (json!("acquire"), None, "JSON object"),
            (json!([1]), None, "JSON object"),
            (json!({}), Some("op"), "required"),
            (json!({"op": 3}), Some("op"), "must be a string"),
            (
                json!({"op":"lock","resource_id":"r"}),
                Some("op"),
                "unknown op",
            ),
            (json!({"op":"acquire"}), Some("resource_id"), "required"),
            (
                json!({"op":"acquire","resource_id":""}),
                Some("resource_id"),
                "empty",
            ),
            (
                json!({"op":"acquire","resource_id":7}),
                Some("resource_id"),
                "must be a string",
            ),
            (
                json!({"op":"acquire","resource_id":long_id}),
                Some("resource_id"),
                "maximum is 2048",
            ),
            (
                json!({"op":"acquire","resource_id":"r","duration_ms":0}),
                Some("duration_ms"),
                "at least 1",
            ),
            (
                json!({"op":"acquire","resource_id":"r","duration_ms":-5}),
                Some("duration_ms"),
                "negative",
            ),
            (
                json!({"op":"acquire","resource_id":"r","duration_ms":1.5}),
                Some("duration_ms"),
                "whole number",
            ),
            (
                json!({"op":"acquire","resource_id":"r","duration_ms":"10s"}),
                Some("duration_ms"),
                "whole number",
            ),
            (
                json!({"op":"acquire","resource_id":"r","duration_ms":1e300}),
                Some("duration_ms"),
                "out of range",
            ),
            (
                json!({"op":"acquire","resource_id":"r","owner":""}),
                Some("owner"),
                "empty",
            ),
            (
                json!({"op":"acquire","resource_id":"r","owner":long_owner}),
                Some("owner"),
                "maximum is 1024",
            ),
            (
                json!({"op":"acquire","resource_id":"r","owner":{"a":1}}),
                Some("owner"),
                "must be a string",
            ),
            (
                json!({"op":"acquire","resource_id":"r","wait_ms":-1}),
                Some("wait_ms"),
                "negative",
            ),
            (
                json!({"op":"acquire","resource_id":"r","limit":0}),
                Some("limit"),
                "at least 1",
            ),
            (
                json!({"op":"acquire","resource_id":"r","limit":MAX_LIMIT + 1}),
                Some("limit"),
                "maximum",
            ),
            (
                json!({"op":"acquire","resource_id":"r","limit":2.5}),
                Some("limit"),
                "whole number",
            ),
            (
                json!({"op":"acquire","resource_id":"r","wait_ms":MAX_WAIT_MS + 1}),
                Some("wait_ms"),
                "maximum",
            ),
            (
                json!({"op":"acquire","resource_id":"r","on_busy":"panic"}),
                Some("on_busy"),
                "\"result\" or \"error\"",
            ),
            (
                json!({"op":"acquire","resource_id":"r","on_busy":true}),
                Some("on_busy"),
                "must be the string",
            ),
            (
                json!({"op":"acquire","resource_id":"r","colour":"red"}),
                Some("colour"),
                "unknown field",
            ),
            (
                json!({"op":"release","resource_id":"r"}),
                Some("owner"),
                "required",
            ),
            (
                json!({"op":"release","resource_id":"r","owner":"o","duration_ms":5}),
                Some("duration_ms"),
                "unknown field",
            ),
            (
                json!({"op":"renew","resource_id":"r"}),
                Some("owner"),
                "required",
            ),
            (
                json!({"op":"renew","resource_id":"r","owner":"o","duration_ms":0}),
                Some("duration_ms"),
                "at least 1",
            ),
            (
                json!({"op":"describe","resource_id":"r","fence":1}),
                Some("fence"),
                "unknown field",
            ),
            (
                json!({"op":"acquire","resource_id":"r","holder":"h".repeat(MAX_HOLDER_BYTES + 1)}),
                Some("holder"),
                "maximum is 256",
            ),
            (
                json!({"op":"acquire","resource_id":"r","task_token":"t"}),
                Some("task_token"),
                "needs an `owner`",
            ),
            (
                json!({"op":"acquire","resource_id":"r","owner":"o","task_token":"t","queue":false}),
                Some("queue"),
                "must not be false",
            ),
            (
                json!({"op":"renew","resource_id":"r","owner":"o","fence":-2}),
                Some("fence"),
                "negative",
            ),
        ];
        for (value, field, needle) in cases {
            let err = reject(value.clone());
            assert_eq!(err.field.as_deref(), field, "field for {value}");
            assert!(
                err.to_string().contains(needle),
                "message for {value} was {err:?}, wanted {needle:?}"
            );
        }
    }

    #[test]
    fn limits_are_inclusive() {
        let id = "x".repeat(MAX_RESOURCE_ID_BYTES);
        let owner = "o".repeat(MAX_OWNER_BYTES);
        assert!(Request::from_json(
            &json!({"op":"acquire","resource_id":id,"owner":owner,"wait_ms":MAX_WAIT_MS})
        )
        .is_ok());
    }

    #[test]
    fn bytes_that_are_not_json_are_rejected() {
        let err = Request::from_slice(b"{\"op\":").unwrap_err();
        assert!(err.message.contains("not valid JSON"));
    }
}
